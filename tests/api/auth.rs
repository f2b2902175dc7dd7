use crate::helpers::*;
use dial_app::{error::AppError, model::Me, server::users::MAX_FAILURES_PER_USER};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_leads_to_first_run_until_an_admin_exists() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/login",
        "/dashboard",
        "/dashboard/settings/admin/users",
    ] {
        let (status, location, _) = app.get_page(&app.client, path).await;
        assert!(status.is_redirection(), "{path}: {status}");
        assert_eq!(location.as_deref(), Some("/setup"), "{path}");
    }
    let (status, _, body) = app.get_page(&app.client, "/setup").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Create administrator"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_creates_the_admin_once_and_is_gone_for_good() {
    let app = spawn_app().await;
    app.call::<()>(
        &app.client,
        "setup",
        &[
            ("username", "Root"),
            ("password", ADMIN_PASSWORD),
            ("password_confirm", ADMIN_PASSWORD),
        ],
    )
    .await
    .expect("setup");
    let me: Option<Me> = app.call(&app.client, "me", &[]).await.unwrap();
    let me = me.expect("signed in after setup");
    assert_eq!(me.username, "root");
    assert!(me.is_admin());

    // A second attempt, even a direct POST from a fresh client, is refused.
    let other = new_client();
    let again = app
        .call::<()>(
            &other,
            "setup",
            &[
                ("username", "mallory"),
                ("password", ADMIN_PASSWORD),
                ("password_confirm", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert!(matches!(again, Err(AppError::Conflict { .. })), "{again:?}");
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(count, 1);

    let (status, location, _) = app.get_page(&other, "/setup").await;
    assert!(status.is_redirection());
    assert_eq!(location.as_deref(), Some("/login"));
    assert!(app
        .audit_actions()
        .await
        .contains(&"setup.first_admin_created".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_names_the_field_that_is_wrong() {
    let app = spawn_app().await;
    let err = app
        .call::<()>(
            &app.client,
            "setup",
            &[
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("password_confirm", "something else"),
            ],
        )
        .await
        .unwrap_err();
    assert!(err
        .field("password_confirm")
        .unwrap()
        .contains("do not match"));
    let err = app
        .call::<()>(
            &app.client,
            "setup",
            &[
                ("username", "a"),
                ("password", ADMIN_PASSWORD),
                ("password_confirm", ADMIN_PASSWORD),
            ],
        )
        .await
        .unwrap_err();
    assert!(err.field("username").is_some());
    let err = app
        .call::<()>(
            &app.client,
            "setup",
            &[
                ("username", "admin"),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        )
        .await
        .unwrap_err();
    assert!(err.field("password").unwrap().contains("at least 10"));
    // Nothing was created by the failed attempts: setup is still open.
    let (_, location, _) = app.get_page(&app.client, "/dashboard").await;
    assert_eq!(location.as_deref(), Some("/setup"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_logout_and_wrong_passwords() {
    let app = spawn_with_admin().await;
    let client = new_client();
    let (_, location, _) = app.get_page(&client, "/dashboard/calls").await;
    assert_eq!(
        location.as_deref(),
        Some("/login?next=%2Fdashboard%2Fcalls")
    );

    let wrong = app
        .login(&client, ADMIN, "not the password")
        .await
        .unwrap_err();
    assert_eq!(
        wrong.field("password").as_deref(),
        Some("Wrong username or password.")
    );
    let unknown = app
        .login(&client, "nobody", "not the password")
        .await
        .unwrap_err();
    assert_eq!(
        unknown, wrong,
        "unknown users and wrong passwords look the same"
    );

    app.login(&client, ADMIN, ADMIN_PASSWORD).await.unwrap();
    let (status, _, body) = app.get_page(&client, "/dashboard").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("Phone numbers") && body.contains("Assistants") && body.contains("Calls")
    );

    // Signing out without JavaScript: a form post, then the sign-in page says so.
    let response = client
        .post(app.url("/api/logout"))
        .header("accept", "text/html")
        .header("referer", app.url("/dashboard"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, "/login?signed_out=1");
    let (status, _, body) = app.get_page(&client, &location).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("You are signed out."));
    let (_, _, plain) = app.get_page(&client, "/login").await;
    assert!(!plain.contains("You are signed out."));
    let me: Option<Me> = app.call(&client, "me", &[]).await.unwrap();
    assert!(me.is_none());

    let actions = app.audit_actions().await;
    for expected in ["login.failed", "login.succeeded", "logout"] {
        assert!(
            actions.contains(&expected.to_string()),
            "{expected} in {actions:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session_on_the_server() {
    let app = spawn_with_admin().await;
    // A client without a cookie jar, so the cookie can be replayed by hand.
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = bare
        .post(app.url("/api/login"))
        .header("accept", "application/json")
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    let set_cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let me = |cookie: String| {
        let bare = bare.clone();
        let url = app.url("/api/me");
        async move {
            bare.post(url)
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
    assert!(me(cookie.clone()).await.contains("\"admin\""));
    // The database never holds the id the cookie carries: a copy of it signs no one in.
    let session_id = cookie.split_once('=').unwrap().1.to_string();
    let stored: Vec<String> = sqlx::query_scalar("SELECT id FROM sessions")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
    let hashed: String = {
        use sha2::{Digest, Sha256};
        Sha256::digest(session_id.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert!(stored.contains(&hashed), "{stored:?}");
    assert!(!stored.contains(&session_id), "{stored:?}");
    let bare_id = cookie.replace(&session_id, &hashed);
    assert_eq!(
        me(bare_id).await,
        "null",
        "the stored key is not a session id"
    );
    let logout = bare
        .post(app.url("/api/logout"))
        .header("accept", "application/json")
        .header("cookie", cookie.clone())
        .send()
        .await
        .unwrap();
    assert!(logout.status().is_success());
    // Replaying the old cookie does not bring the session back.
    assert_eq!(me(cookie).await, "null");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_issues_a_new_session_id() {
    let app = spawn_with_admin().await;
    let before: Vec<String> = sqlx::query_scalar("SELECT id FROM sessions")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
    app.login(&app.client, ADMIN, ADMIN_PASSWORD).await.unwrap();
    let after: Vec<String> = sqlx::query_scalar("SELECT id FROM sessions")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(before.len(), 1);
    assert_eq!(after.len(), 1, "the old session is replaced, not kept");
    assert_ne!(before, after, "a fresh session id at login");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_are_throttled_per_user_name() {
    let app = spawn_with_admin().await;
    let client = new_client();
    for _ in 0..MAX_FAILURES_PER_USER {
        let err = app
            .login(&client, ADMIN, "wrong password!")
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Invalid { .. }), "{err:?}");
    }
    // Even the right password is refused now, with a time to wait.
    let err = app.login(&client, ADMIN, ADMIN_PASSWORD).await.unwrap_err();
    let AppError::TooManyAttempts { retry_after_secs } = err else {
        panic!("expected throttling, got {err:?}");
    };
    assert!(retry_after_secs > 0 && retry_after_secs <= 15 * 60);
    assert!(err
        .to_string()
        .starts_with("Too many attempts. Try again in "));
    assert!(app
        .audit_actions()
        .await
        .contains(&"login.throttled".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_are_throttled_per_address() {
    let app = spawn_with_admin().await;
    let client = new_client();
    for i in 0..dial_app::server::users::MAX_FAILURES_PER_ADDRESS {
        // Different names each time: only the address links them.
        let _ = app
            .login(&client, &format!("guess{i}"), "wrong password!")
            .await;
    }
    let err = app.login(&client, ADMIN, ADMIN_PASSWORD).await.unwrap_err();
    assert!(matches!(err, AppError::TooManyAttempts { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_after_their_absolute_lifetime() {
    let mut spawn = Spawn::new().await;
    spawn.config.session_absolute = std::time::Duration::from_secs(1);
    let app = spawn.start().await;
    app.setup_admin().await;
    let me: Option<Me> = app.call(&app.client, "me", &[]).await.unwrap();
    assert!(me.is_some(), "signed in right after first-run setup");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let me: Option<Me> = app.call(&app.client, "me", &[]).await.unwrap();
    assert!(me.is_none(), "the session ended at its absolute lifetime");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_keeps_a_session_alive_and_idleness_ends_it() {
    let mut spawn = Spawn::new().await;
    spawn.config.session_idle = std::time::Duration::from_secs(4);
    let app = spawn.start().await;
    app.setup_admin().await;
    // Active for longer than the idle time-out: still signed in.
    for _ in 0..6 {
        tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
        let me: Option<Me> = app.call(&app.client, "me", &[]).await.unwrap();
        assert!(me.is_some(), "an active session stays alive");
    }
    // Idle for longer than the time-out: signed out, on the server too.
    tokio::time::sleep(std::time::Duration::from_millis(5200)).await;
    let expired: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE expiry > $1")
        .bind(dial_app::server::now())
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(expired, 0, "the stored session has expired");
    let me: Option<Me> = app.call(&app.client, "me", &[]).await.unwrap();
    assert!(me.is_none());
}

/// Reading pages leaves the stored session as it is: the pages that look for a one-time
/// confirmation (or a stashed key) on every render write the session only when there is
/// one to take. Each write would be a database transaction per page view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_pages_does_not_write_the_session() {
    let app = spawn_with_admin().await;
    let stored = || async {
        sqlx::query_as::<_, (String, i64)>("SELECT data, expiry FROM sessions")
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap()
    };
    // Signing in (here: first-run setup) notes when the session was last seen, so even
    // the first page after it need not write it to keep it alive.
    let before = stored().await;
    assert_eq!(before.len(), 1, "one session: the admin's");
    assert!(before[0].0.contains("seen_at"), "{before:?}");
    // A write would move the idle expiry, which is kept in whole seconds.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for path in [
        "/dashboard",
        "/dashboard/phone-numbers",
        "/dashboard/setup",
        "/dashboard/settings",
        "/dashboard/settings/api-keys",
        "/dashboard/settings/webhooks",
    ] {
        let (status, _, _) = app.get_page(&app.client, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    assert_eq!(stored().await, before, "no page view wrote the session");

    // A confirmation left by a form posted without JavaScript is still shown once.
    let response = app
        .client
        .post(app.url("/api/setup/check"))
        .header("accept", "text/html")
        .header("referer", app.url("/dashboard/setup"))
        .form(&[("_", "")])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    assert!(
        stored().await[0].0.contains("Checked again just now."),
        "kept in the session for the next page"
    );
    let (_, _, body) = app.get_page(&app.client, "/dashboard/setup").await;
    assert!(
        body.contains("Checked again just now."),
        "shown on the next page"
    );
    assert!(
        !stored().await[0].0.contains("Checked again just now."),
        "and taken out of the session"
    );
    let (_, _, body) = app.get_page(&app.client, "/dashboard/setup").await;
    assert!(!body.contains("Checked again just now."), "shown once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_check_reports_the_database() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The database goes away: load balancers are told at once.
    app.state.db.pool.close().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.text().await.unwrap(), "database unreachable");
}
