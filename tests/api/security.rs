use crate::helpers::*;
use dial_app::server::{config::Config, keys};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_posts_are_refused() {
    let app = spawn_with_admin().await;
    let form = [
        ("username", "eve"),
        ("password", OWNER_PASSWORD),
        ("role", "admin"),
    ];
    let from_elsewhere = app
        .client
        .post(app.url("/api/users/create"))
        .header("origin", "https://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(from_elsewhere.status(), StatusCode::FORBIDDEN);
    let marked_cross_site = app
        .client
        .post(app.url("/api/users/create"))
        .header("sec-fetch-site", "cross-site")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(marked_cross_site.status(), StatusCode::FORBIDDEN);
    let login = app
        .client
        .post(app.url("/api/login"))
        .header("origin", "null")
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::FORBIDDEN);
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username = 'eve'")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);

    // The same request from Dial's own origin goes through.
    let same = app
        .client
        .post(app.url("/api/users/create"))
        .header("origin", app.address.clone())
        .header("sec-fetch-site", "same-origin")
        .header("accept", "application/json")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_form_post_redirects_back_with_the_error() {
    // What a browser without JavaScript does: a form POST that accepts HTML.
    let app = spawn_with_admin().await;
    let response = app
        .client
        .post(app.url("/api/users/create"))
        .header("accept", "text/html")
        .header("referer", app.url("/dashboard/settings/admin/users"))
        .form(&[("username", "x"), ("password", "short"), ("role", "owner")])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection());
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&app.url("/dashboard/settings/admin/users?")),
        "{location}"
    );
    assert!(location.contains("__err="));
    // The page rendered at that address shows the messages next to the fields.
    let path = location.trim_start_matches(&app.address).to_string();
    let (status, _, body) = app.get_page(&app.client, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("Username must be 3 to 32 characters long."),
        "field error rendered without JS"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_encryption_key_is_refused_at_start_up_naming_the_variable() {
    let spawn = Spawn::new().await;
    let mut config = spawn.config.clone();
    config.encryption_key = Some(secrecy::SecretString::from("11".repeat(32)));
    let first = Spawn {
        config: config.clone(),
        dir: spawn.dir.clone(),
    }
    .start()
    .await;
    drop(first);
    config.encryption_key = Some(secrecy::SecretString::from("22".repeat(32)));
    let err = dial::startup::Application::build(config)
        .await
        .err()
        .expect("start-up must fail");
    let message = format!("{err:#}");
    assert!(message.contains("DIAL_ENCRYPTION_KEY"), "{message}");
    let mut bad = spawn.config.clone();
    bad.encryption_key = Some(secrecy::SecretString::from("not a key"));
    let err = dial::startup::Application::build(bad)
        .await
        .err()
        .expect("start-up must fail");
    assert!(format!("{err:#}").contains("DIAL_ENCRYPTION_KEY is not a valid key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_configured_key_one_is_generated_privately() {
    let app = spawn_app().await;
    let path = app.config.data_dir.join("encryption.key");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_key_re_encrypts_every_secret() {
    let app = spawn_with_admin().await;
    let token = "0123456789abcdef0123456789abcd99";
    app.call::<serde_json::Value>(
        &app.client,
        "settings/twilio/save",
        &[
            ("account_sid", "AC0123456789abcdef0123456789abcdef"),
            ("auth_token", token),
            ("sip_password", "Sup3rSecretPassw0rd"),
        ],
    )
    .await
    .unwrap();
    let config: Config = app.config.clone();
    let before: String = sqlx::query_scalar("SELECT auth_token FROM twilio_config")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();

    let rotation = keys::rotate(&app.state.db, &config, None).await.unwrap();
    assert_eq!(rotation.rewritten, 2);
    let after: String = sqlx::query_scalar("SELECT auth_token FROM twilio_config")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_ne!(before, after);
    assert!(after.starts_with(&format!("v1.{}.", rotation.new_key_id)));

    // A restart reads the key file (now the new key) and still shows the secrets.
    let restarted = app.restart().await;
    restarted
        .login(&restarted.client, ADMIN, ADMIN_PASSWORD)
        .await
        .unwrap();
    let view: dial_app::model::TwilioSettingsView = restarted
        .call(&restarted.client, "settings/twilio", &[])
        .await
        .unwrap();
    assert_eq!(view.auth_token.ends_with.as_deref(), Some("99"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_installs_use_dial_migrate_and_dial_create_admin() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database_url(dir.path()).await;
    let run = |args: &[&str], password: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dial"));
        command
            .args(args)
            .env("DIAL_DATA_DIR", dir.path())
            .env("DATABASE_URL", &database_url)
            .env_remove("DIAL_ENCRYPTION_KEY")
            .stdin(std::process::Stdio::null());
        match password {
            Some(p) => command.env("DIAL_ADMIN_PASSWORD", p),
            None => command.env_remove("DIAL_ADMIN_PASSWORD"),
        };
        command.output().unwrap()
    };
    let migrated = run(&["migrate"], None);
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert!(String::from_utf8_lossy(&migrated.stdout).contains("Database is up to date."));
    let short = run(&["create-admin", "--username", "ops"], Some("short"));
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 10 characters"));
    let created = run(&["create-admin", "--username", "ops"], Some(ADMIN_PASSWORD));
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(String::from_utf8_lossy(&created.stdout).contains("Created administrator ops."));

    // The app on that database: no first-run page, and the admin can sign in.
    let mut config = dial_app::server::config::Config::for_data_dir(dir.path().to_path_buf());
    config.database_url = Some(database_url.clone());
    let app = Spawn {
        config,
        dir: std::sync::Arc::new(dir),
    }
    .start()
    .await;
    let (_, location, _) = app.get_page(&app.client, "/setup").await;
    assert_eq!(location.as_deref(), Some("/login"));
    app.login(&app.client, "ops", ADMIN_PASSWORD).await.unwrap();
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_and_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    // A data directory left world-readable (by an older version, or by hand).
    let spawn = Spawn::new().await;
    std::fs::set_permissions(
        &spawn.config.data_dir,
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let app = spawn.start().await;
    app.setup_admin().await;
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let data = app.config.data_dir.clone();
    assert_eq!(mode(&data), 0o700, "{}", data.display());
    assert_eq!(mode(&data.join("encryption.key")), 0o600);
    if app.state.db.backend == dial_app::server::db::Backend::Sqlite {
        for name in ["dial.db", "dial.db-wal", "dial.db-shm"] {
            assert_eq!(mode(&data.join(name)), 0o600, "{name}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_a_nonce_policy_and_nothing_signed_in_is_cached() {
    let app = spawn_with_admin().await;
    let page = app
        .client
        .get(app.url("/dashboard"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    let csp = headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let script_src = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src"))
        .unwrap_or_else(|| panic!("no script-src in {csp}"));
    assert!(!script_src.contains("unsafe-inline"), "{csp}");
    let nonce = script_src
        .split_whitespace()
        .find_map(|t| t.strip_prefix("'nonce-"))
        .and_then(|t| t.strip_suffix('\''))
        .unwrap_or_else(|| panic!("no nonce in {csp}"))
        .to_string();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["cache-control"], "no-store");
    let permissions = headers["permissions-policy"].to_str().unwrap();
    assert!(permissions.contains("camera=()"), "{permissions}");
    // The microphone for Dial's own pages only (calling from the browser).
    assert!(permissions.contains("microphone=(self)"), "{permissions}");
    let body = page.text().await.unwrap();
    // Every inline script carries this render's nonce.
    let scripts = body.matches("<script").count();
    assert!(scripts > 0);
    assert_eq!(
        body.matches(&format!("nonce=\"{nonce}\"")).count(),
        scripts,
        "{body}"
    );
    // A second render gets a different nonce.
    let again = app.client.get(app.url("/dashboard")).send().await.unwrap();
    assert!(!again.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains(&nonce));
    // Server-function answers are not cached either.
    let me = app
        .client
        .post(app.url("/api/me"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(me.headers()["cache-control"], "no-store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_the_session_cookie_is_a_secure_host_cookie_with_hsts() {
    let mut spawn = Spawn::new().await;
    spawn.config.public_url = Some("https://dial.example.com".into());
    let app = spawn.start().await;
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Reached by the public URL's name (through its TLS proxy).
    let setup = bare
        .post(app.url("/api/setup"))
        .header("host", "dial.example.com")
        .header("accept", "application/json")
        .form(&[
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
            ("password_confirm", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert!(setup.status().is_success());
    assert_eq!(
        setup.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let cookie = setup.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("__Host-dial_session="), "{cookie}");
    assert!(
        cookie.contains("; Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_string();
    let me = |cookie: String| {
        let bare = bare.clone();
        let url = app.url("/api/me");
        async move {
            bare.post(url)
                .header("host", "dial.example.com")
                .header("accept", "application/json")
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert!(me(pair.clone()).await.contains("\"admin\""));
    // The same value under the plain name is not accepted over https.
    let plain = pair.replace("__Host-dial_session=", "dial_session=");
    assert_eq!(me(plain).await, "null");
    // The same server browsed by its address (the public URL only carries webhooks) keeps
    // a plain cookie, so the admin can sign in there.
    let local = new_client();
    app.login(&local, ADMIN, ADMIN_PASSWORD).await.unwrap();
    let me: Option<dial_app::model::Me> = app.call(&local, "me", &[]).await.unwrap();
    assert!(me.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_error_has_its_own_status() {
    let app = spawn_with_admin().await;
    let status = |endpoint: &'static str,
                  form: Vec<(&'static str, &'static str)>,
                  client: reqwest::Client| {
        let url = app.url(&format!("/api/{endpoint}"));
        async move {
            client
                .post(url)
                .header("accept", "application/json")
                .form(&form)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Already set up: a conflict, not a failure.
    let again = vec![
        ("username", "second"),
        ("password", ADMIN_PASSWORD),
        ("password_confirm", ADMIN_PASSWORD),
    ];
    assert_eq!(status("setup", again, app.client.clone()).await, 409);
    assert_eq!(
        status("numbers/get", vec![("id", "nope")], app.client.clone()).await,
        404
    );
    assert_eq!(
        status(
            "numbers/list",
            vec![("page", "4294967295")],
            app.client.clone()
        )
        .await,
        422
    );
    assert_eq!(
        status(
            "calls/list",
            vec![("date", "9223372036854775807-03-01")],
            app.client.clone()
        )
        .await,
        422
    );
    assert_eq!(status("numbers/list", vec![], new_client()).await, 401);
    let (owner, _) = app.owner_client().await;
    assert_eq!(status("users/list", vec![], owner).await, 403);
    assert_eq!(
        status(
            "login",
            vec![("username", ADMIN), ("password", "wrong password")],
            new_client()
        )
        .await,
        422
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_urls_get_an_answer_not_a_dropped_connection() {
    let app = spawn_with_admin().await;
    for path in [
        "/dashboard/phone-numbers?page=4294967295",
        "/dashboard/calls?page=4294967295",
        "/dashboard/calls?date=9223372036854775807-03-01",
        "/dashboard/settings/admin/audit?page=4294967295",
    ] {
        let response = app.client.get(app.url(path)).send().await;
        let response = response.unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(
            response.status().is_success() || response.status().is_client_error(),
            "{path}: {}",
            response.status()
        );
    }
    // A caller's SIP From user is whatever the caller sent: the calls pages still render.
    let now = dial_app::server::now();
    for (i, from) in [
        "+1٤١٥٥٥٥٠١٠٠",
        "+é",
        "+\u{202e}1415",
        "<script>alert(1)</script>",
    ]
    .iter()
    .enumerate()
    {
        sqlx::query(
            "INSERT INTO call_sessions (id, direction, from_number, to_number, status, status_rank, \
             twilio_call_sid, created_at, updated_at) VALUES ($1, 'inbound', $2, '+14155550100', 'ringing', 1, $3, $4, $4)",
        )
        .bind(format!("hostile-{i}"))
        .bind(*from)
        .bind("CA%_'\"")
        .bind(now)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    }
    let (status, _, page) = app.get_page(&app.client, "/dashboard/calls").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("٤١٥") && !page.contains("<script>alert(1)"));
    let (status, _, detail) = app
        .get_page(&app.client, "/dashboard/calls/hostile-0")
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");

    // After login, `next` never leads off the site, and a control character is no panic.
    for next in [
        "/\t/evil.example",
        "//evil.example",
        "/dashboard\r\nX: y",
        "/%09/evil.example",
    ] {
        let client = new_client();
        let response = client
            .post(app.url("/api/login"))
            .header("accept", "text/html")
            .header("referer", app.url("/login"))
            .form(&[
                ("username", ADMIN),
                ("password", ADMIN_PASSWORD),
                ("next", next),
            ])
            .send()
            .await
            .unwrap_or_else(|e| panic!("{next:?}: {e}"));
        assert!(response.status().is_redirection(), "{next:?}");
        assert_eq!(response.headers()["location"], "/dashboard", "{next:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_client_is_the_last_address_it_wrote() {
    let mut spawn = Spawn::new().await;
    spawn.config.trust_proxy = true;
    spawn.config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    let app = spawn.start().await;
    app.setup_admin().await;
    // The client wrote a fake first hop; the proxy (loopback here) appended the real one.
    let response = new_client()
        .post(app.url("/api/login"))
        .header("accept", "application/json")
        .header("x-forwarded-for", "6.6.6.6, 203.0.113.9")
        .form(&[("username", ADMIN), ("password", "wrong password!")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let ip: Option<String> = sqlx::query_scalar(
        "SELECT ip FROM audit_log WHERE action = 'login.failed' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(ip.as_deref(), Some("203.0.113.9"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_calls_stream_ends_with_the_session() {
    let app = spawn_with_admin().await;
    let mut stream = app
        .client
        .get(app.url("/events/calls"))
        .send()
        .await
        .unwrap();
    assert!(stream.status().is_success());
    let change = |id: &str| {
        let _ = app
            .state
            .call_changes
            .send(dial_app::server::state::CallChange {
                call_id: id.to_string(),
                owner_id: None,
            });
    };
    change("before");
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        let mut seen = String::new();
        while !seen.contains("data: before") {
            let chunk = stream.chunk().await.unwrap().expect("stream open");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(first.is_ok(), "a signed-in viewer hears about changes");
    // Signed out (in another tab): the next change ends the stream instead of reaching it.
    app.call::<()>(&app.client, "logout", &[]).await.unwrap();
    change("after");
    let ended = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        let mut seen = String::new();
        while let Ok(Some(chunk)) = stream.chunk().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        seen
    })
    .await
    .expect("the stream ended");
    assert!(!ended.contains("data: after"), "{ended}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sessions_have_statement_and_idle_transaction_time_outs() {
    let app = spawn_app().await;
    if app.state.db.backend != dial_app::server::db::Backend::Postgres {
        // SQLite has no server-side statements to time out; its writers are bounded by
        // busy_timeout (5 s), checked in db.rs.
        let pragma: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        assert_eq!(pragma, 5000);
        return;
    }
    let statement: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let idle: String = sqlx::query_scalar("SHOW idle_in_transaction_session_timeout")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!((statement.as_str(), idle.as_str()), ("30s", "1min"));
}
