use crate::helpers::*;
use dial_app::{
    error::AppError,
    model::{ConnectionTest, LiveKitSettingsView, Source, TwilioSettingsView},
};
use dial_fakes::twilio::FakeTwilio;
use std::{net::SocketAddr, time::Duration};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "f00dbabe0123456789abcdef01234534";
const SIP_PASSWORD: &str = "Plaintext5ecretSip";

fn full_form<'a>() -> Vec<(&'a str, &'a str)> {
    vec![
        ("account_sid", SID),
        ("auth_token", TOKEN),
        ("sip_address", "dial-test.pstn.twilio.com"),
        ("sip_username", "dial"),
        ("sip_password", SIP_PASSWORD),
        ("public_url", "https://dial.example.com/"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_settings_are_saved_masked_and_never_echoed() {
    let app = spawn_with_admin().await;
    let view: TwilioSettingsView = app
        .call(&app.client, "settings/twilio/save", &full_form())
        .await
        .unwrap();
    assert_eq!(view.account_sid.value, SID);
    assert_eq!(view.account_sid.source, Source::Database);
    assert_eq!(view.auth_token.ends_with.as_deref(), Some("34"));
    assert_eq!(view.sip_password.ends_with.as_deref(), Some("ip"));
    assert_eq!(view.sip_address.value, "dial-test.pstn.twilio.com");
    assert_eq!(view.public_url.value, "https://dial.example.com");

    // Saving again with the secret fields empty keeps the stored secrets.
    let view: TwilioSettingsView = app
        .call(
            &app.client,
            "settings/twilio/save",
            &[("account_sid", SID), ("sip_username", "dial2")],
        )
        .await
        .unwrap();
    assert!(view.auth_token.is_set() && view.sip_password.is_set());
    assert_eq!(view.sip_username.value, "dial2");

    // The pages render the masked form only.
    let (_, _, page) = app
        .get_page(&app.client, "/dashboard/settings/admin/telephony/twilio")
        .await;
    assert!(
        page.contains("set · ends in ••34"),
        "masked token on the page"
    );

    // At rest the secrets are ciphertexts.
    let (token_at_rest, password_at_rest): (String, String) =
        sqlx::query_as("SELECT auth_token, sip_password FROM twilio_config")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    assert!(token_at_rest.starts_with("v1.") && !token_at_rest.contains(TOKEN));
    assert!(!password_at_rest.contains(SIP_PASSWORD));

    // Never in a response, never in a log line, never in the audit log.
    let bodies = app.all_bodies();
    assert!(!bodies.contains(TOKEN) && !bodies.contains(SIP_PASSWORD));
    let logs = captured_logs();
    assert!(!logs.is_empty(), "logs were captured");
    assert!(
        !logs.contains(TOKEN) && !logs.contains(SIP_PASSWORD),
        "secret in a log line"
    );
    let audit: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT action, detail FROM audit_log")
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap();
    assert!(audit
        .iter()
        .any(|(a, d)| a == "twilio.settings_saved"
            && d.as_deref().unwrap_or("").contains("auth token")));
    assert!(audit
        .iter()
        .all(|(_, d)| !d.as_deref().unwrap_or("").contains(TOKEN)));

    // Saved values survive a restart.
    let restarted = app.restart().await;
    restarted
        .login(&restarted.client, ADMIN, ADMIN_PASSWORD)
        .await
        .unwrap();
    let again: TwilioSettingsView = restarted
        .call(&restarted.client, "settings/twilio", &[])
        .await
        .unwrap();
    assert_eq!(again.account_sid.value, SID);
    assert_eq!(again.auth_token.ends_with.as_deref(), Some("34"));
    assert_eq!(again.sip_username.value, "dial2");
}

/// Issue 18: "Twilio settings saved" appeared when nothing changed. A save of the form as
/// it was (secrets left empty, or typed again as stored) writes nothing and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_the_twilio_settings_unchanged_writes_nothing() {
    let app = spawn_with_admin().await;
    let first: TwilioSettingsView = app
        .call(&app.client, "settings/twilio/save", &full_form())
        .await
        .unwrap();
    let mut changed = first.changed.clone().expect("a save says what it changed");
    changed.sort();
    assert!(
        changed.contains(&"account SID".to_string()) && changed.contains(&"auth token".to_string()),
        "{changed:?}"
    );
    let audit_rows = app.audit_actions().await.len();

    // The form as the page shows it after the save: plain values, secrets left empty.
    let same = [
        ("account_sid", SID),
        ("sip_address", "dial-test.pstn.twilio.com"),
        ("sip_username", "dial"),
        ("public_url", "https://dial.example.com"),
    ];
    // The same secrets typed again are no change either.
    let mut retyped = same.to_vec();
    retyped.extend([("auth_token", TOKEN), ("sip_password", SIP_PASSWORD)]);
    for form in [same.to_vec(), retyped] {
        let again: TwilioSettingsView = app
            .call(&app.client, "settings/twilio/save", &form)
            .await
            .unwrap();
        assert_eq!(again.changed, Some(Vec::new()), "{form:?}");
        assert_eq!(again.updated_at, first.updated_at, "nothing was written");
        assert_eq!(again.auth_token, first.auth_token);
    }
    assert_eq!(
        app.audit_actions().await.len(),
        audit_rows,
        "no audit row for no change"
    );

    // A real change is saved and named.
    let changed: TwilioSettingsView = app
        .call(
            &app.client,
            "settings/twilio/save",
            &[
                ("account_sid", SID),
                ("sip_address", "dial-test.pstn.twilio.com"),
                ("sip_username", "dial2"),
                ("public_url", "https://dial.example.com"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(changed.changed, Some(vec!["SIP username".to_string()]));
    assert_eq!(app.audit_actions().await.len(), audit_rows + 1);
    // Reading the settings is not a save.
    let read: TwilioSettingsView = app.call(&app.client, "settings/twilio", &[]).await.unwrap();
    assert_eq!(read.changed, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_twilio_field_gets_its_own_message() {
    let app = spawn_with_admin().await;
    let err = app
        .call::<TwilioSettingsView>(
            &app.client,
            "settings/twilio/save",
            &[
                ("account_sid", "AB123"),
                ("auth_token", "short"),
                ("sip_address", "sip:abc.pstn.twilio.com"),
                ("sip_username", &"x".repeat(40)),
                ("sip_password", "weakpassword"),
                ("public_url", "http://dial.example.com"),
            ],
        )
        .await
        .unwrap_err();
    assert!(err
        .field("account_sid")
        .unwrap()
        .contains("\"AC\" followed by 32 hexadecimal"));
    assert!(err.field("auth_token").unwrap().contains("32 hexadecimal"));
    assert!(err
        .field("sip_address")
        .unwrap()
        .contains("without \"sip:\""));
    assert!(err.field("sip_username").unwrap().contains("32"));
    assert!(err.field("sip_password").unwrap().contains("upper-case"));
    assert!(err.field("public_url").unwrap().contains("https://"));
    // Nothing was saved.
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM twilio_config")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    // localhost may use http.
    let ok: TwilioSettingsView = app
        .call(
            &app.client,
            "settings/twilio/save",
            &[("public_url", "http://localhost:3000")],
        )
        .await
        .unwrap();
    assert_eq!(ok.public_url.value, "http://localhost:3000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_values_win_and_are_read_only() {
    let mut spawn = Spawn::new().await;
    spawn.config.twilio.account_sid = Some(SID.to_string());
    spawn.config.twilio.auth_token = Some(secrecy::SecretString::from(TOKEN.to_string()));
    spawn.config.public_url = Some("https://env.example.com".into());
    let app = spawn.start().await;
    app.setup_admin().await;
    let view: TwilioSettingsView = app
        .call(
            &app.client,
            "settings/twilio/save",
            &[
                ("account_sid", "AC11111111111111111111111111111111"),
                ("sip_username", "dial"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(view.account_sid.value, SID);
    assert_eq!(view.account_sid.source, Source::Environment);
    assert_eq!(view.auth_token.source, Source::Environment);
    assert_eq!(view.public_url.source, Source::Environment);
    assert_eq!(view.sip_username.source, Source::Database);
    let (_, _, page) = app
        .get_page(&app.client, "/dashboard/settings/admin/telephony/twilio")
        .await;
    assert!(page.contains("from DIAL_TWILIO_ACCOUNT_SID"));
    assert!(!page.contains(TOKEN));
    assert!(
        !page.contains("name=\"account_sid\""),
        "no input for an environment value"
    );
}

async fn fake_twilio(token: &str) -> (FakeTwilio, SocketAddr) {
    let fake = FakeTwilio::new();
    fake.add_account(SID, token, "Dial Test Account");
    let addr = fake
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    (fake, addr)
}

async fn app_against(addr: SocketAddr, timeout: Duration) -> TestApp {
    let mut spawn = Spawn::new().await;
    spawn.config.twilio_api_base = format!("http://{addr}");
    spawn.config.twilio_timeout = timeout;
    let app = spawn.start().await;
    app.setup_admin().await;
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_reports_success_and_records_it() {
    let (fake, addr) = fake_twilio(TOKEN).await;
    let app = app_against(addr, Duration::from_secs(5)).await;
    let before = app
        .call::<ConnectionTest>(&app.client, "settings/twilio/test", &[])
        .await
        .unwrap_err();
    assert!(before
        .field("account_sid")
        .unwrap()
        .contains("before testing"));
    app.call::<TwilioSettingsView>(
        &app.client,
        "settings/twilio/save",
        &[("account_sid", SID), ("auth_token", TOKEN)],
    )
    .await
    .unwrap();
    let result: ConnectionTest = app
        .call(&app.client, "settings/twilio/test", &[])
        .await
        .unwrap();
    assert!(result.ok);
    assert!(result.message.contains("Dial Test Account"));
    assert_eq!(
        fake.requests(),
        vec![format!("GET /2010-04-01/Accounts/{SID}.json")]
    );
    let view: TwilioSettingsView = app.call(&app.client, "settings/twilio", &[]).await.unwrap();
    assert!(view.last_test.unwrap().ok);
    assert!(!app.all_bodies().contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_shows_twilios_own_error() {
    let (_fake, addr) = fake_twilio("99999999999999999999999999999999").await;
    let app = app_against(addr, Duration::from_secs(5)).await;
    app.call::<TwilioSettingsView>(
        &app.client,
        "settings/twilio/save",
        &[("account_sid", SID), ("auth_token", TOKEN)],
    )
    .await
    .unwrap();
    let err = app
        .call::<ConnectionTest>(&app.client, "settings/twilio/test", &[])
        .await
        .unwrap_err();
    let AppError::Upstream {
        provider,
        code,
        message,
    } = &err
    else {
        panic!("expected Twilio's error, got {err:?}");
    };
    assert_eq!(provider, "Twilio");
    assert_eq!(code.as_deref(), Some("20003"));
    assert!(message.starts_with("Authenticate"), "{message}");
    assert!(err.to_string().contains("error 20003"));
    let view: TwilioSettingsView = app.call(&app.client, "settings/twilio", &[]).await.unwrap();
    let last = view.last_test.unwrap();
    assert!(!last.ok && last.message.contains("20003"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_says_when_twilio_times_out() {
    let (fake, addr) = fake_twilio(TOKEN).await;
    fake.set_delay(Some(Duration::from_secs(3)));
    let app = app_against(addr, Duration::from_secs(1)).await;
    app.call::<TwilioSettingsView>(
        &app.client,
        "settings/twilio/save",
        &[("account_sid", SID), ("auth_token", TOKEN)],
    )
    .await
    .unwrap();
    let err = app
        .call::<ConnectionTest>(&app.client, "settings/twilio/test", &[])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("time-out"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn livekit_settings_show_configuration_but_never_the_secret() {
    let mut spawn = Spawn::new().await;
    spawn.config.livekit.url = Some("wss://project.livekit.cloud".into());
    spawn.config.livekit.api_key = Some("APIkey123".into());
    spawn.config.livekit.api_secret = Some(secrecy::SecretString::from(
        "livekit-secret-value".to_string(),
    ));
    let app = spawn.start().await;
    app.setup_admin().await;
    let view: LiveKitSettingsView = app
        .call(&app.client, "settings/livekit", &[])
        .await
        .unwrap();
    assert!(view.configured());
    assert_eq!(view.api_key.as_deref(), Some("APIkey123"));
    assert!(view.sip_uri.is_none());
    let (_, _, page) = app
        .get_page(&app.client, "/dashboard/settings/admin/telephony/livekit")
        .await;
    assert!(page.contains("wss://project.livekit.cloud") && page.contains("APIkey123"));
    assert!(!app.all_bodies().contains("livekit-secret-value"));

    let bare = spawn_with_admin().await;
    let view: LiveKitSettingsView = bare
        .call(&bare.client, "settings/livekit", &[])
        .await
        .unwrap();
    assert!(!view.configured());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_newest_first_and_paged() {
    let app = spawn_with_admin().await;
    // 55 more entries after the setup entry.
    for i in 0..55 {
        dial_app::server::audit::record(
            &app.state.db,
            &dial_app::server::audit::Actor {
                ip: Some("127.0.0.1".into()),
                ..dial_app::server::audit::Actor::system("test")
            },
            "test.entry",
            Some(&format!("entry {i}")),
            None,
        )
        .await
        .unwrap();
    }
    let first: dial_app::model::Page<dial_app::model::AuditEntry> = app
        .call(&app.client, "audit", &[("page", "1")])
        .await
        .unwrap();
    assert_eq!(first.items.len(), 50);
    assert!(first.total >= 56);
    assert!(
        first.items.windows(2).all(|w| w[0].id > w[1].id),
        "newest first"
    );
    assert_eq!(first.items[0].ip.as_deref(), Some("127.0.0.1"));
    let second: dial_app::model::Page<dial_app::model::AuditEntry> = app
        .call(&app.client, "audit", &[("page", "2")])
        .await
        .unwrap();
    assert!(!second.items.is_empty());
    assert!(second.items[0].id < first.items[49].id);
    assert_eq!(
        second.items.last().unwrap().action,
        "setup.first_admin_created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_shows_a_provisioning_run_as_one_entry_with_its_steps() {
    use dial_app::server::audit::{record, record_run, Actor};
    let app = spawn_with_admin().await;
    let db = &app.state.db;
    let actor = Actor::system("test");
    let run = "0b4c0d5e-1111-4222-8333-944455556666";
    let started = format!("run {run}: assign to Reception");
    record_run(
        db,
        run,
        &actor,
        "provisioning.run_started",
        Some("+14155550100"),
        Some(&started),
    )
    .await
    .unwrap();
    record(db, &actor, "test.between", None, None)
        .await
        .unwrap();
    for step in 1..=3 {
        let detail = format!("run {run} step {step} thing: created — ok");
        record_run(
            db,
            run,
            &actor,
            "provisioning.step",
            Some("+14155550100"),
            Some(&detail),
        )
        .await
        .unwrap();
    }
    let done = format!("run {run} (assign)");
    record_run(
        db,
        run,
        &actor,
        "provisioning.run_done",
        Some("+14155550100"),
        Some(&done),
    )
    .await
    .unwrap();
    // 55 later entries push the run to the second page.
    for i in 0..55 {
        record(db, &actor, "test.entry", Some(&format!("entry {i}")), None)
            .await
            .unwrap();
    }
    let first: dial_app::model::Page<dial_app::model::AuditEntry> = app
        .call(&app.client, "audit", &[("page", "1")])
        .await
        .unwrap();
    let second: dial_app::model::Page<dial_app::model::AuditEntry> = app
        .call(&app.client, "audit", &[("page", "2")])
        .await
        .unwrap();
    // Pages count entries: the run is one, its five rows never split across pages.
    let (plain,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE run_id IS NULL")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(first.total, plain as u64 + 1);
    assert_eq!(first.items.len(), 50);
    assert_eq!(first.items.len() + second.items.len(), first.total as usize);
    let all: Vec<_> = first.items.iter().chain(&second.items).collect();
    assert!(all
        .iter()
        .all(|e| e.run_id.is_none() || e.action == "provisioning.run_done"));
    let entry = second
        .items
        .iter()
        .find(|e| e.run_id.as_deref() == Some(run))
        .expect("the run on the second page");
    assert_eq!(entry.action, "provisioning.run_done");
    let steps: Vec<&str> = entry.steps.iter().map(|s| s.action.as_str()).collect();
    assert_eq!(
        steps,
        [
            "provisioning.run_started",
            "provisioning.step",
            "provisioning.step",
            "provisioning.step"
        ]
    );
    assert!(
        entry.steps.windows(2).all(|w| w[0].id < w[1].id),
        "oldest first"
    );
    // The entry between the run's rows stays an entry of its own, in its place.
    let between = all.iter().position(|e| e.action == "test.between").unwrap();
    let at = all.iter().position(|e| e.run_id.is_some()).unwrap();
    assert_eq!(between, at + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_says_when_twilio_cannot_be_reached() {
    // Nothing listens on a port we just bound and released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = app_against(
        SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(5),
    )
    .await;
    app.call::<TwilioSettingsView>(
        &app.client,
        "settings/twilio/save",
        &[("account_sid", SID), ("auth_token", TOKEN)],
    )
    .await
    .unwrap();
    let err = app
        .call::<ConnectionTest>(&app.client, "settings/twilio/test", &[])
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&format!("could not reach http://127.0.0.1:{port}")),
        "{message}"
    );
    assert!(message.to_lowercase().contains("refused"), "{message}");
}
