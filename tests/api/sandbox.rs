use crate::helpers::*;
use dial_app::{
    error::AppError,
    model::{ConnectionTest, SandboxView, SiteInfo, TwilioSettingsView},
};
use std::io::{BufRead, BufReader};

async fn sandbox_app() -> TestApp {
    let mut spawn = Spawn::new().await;
    spawn.config.sandbox = true;
    // Real-looking provider settings in the environment must not be used in sandbox mode.
    spawn.config.twilio_api_base = "https://api.twilio.com".into();
    spawn.config.twilio.account_sid = Some("AC0123456789abcdef0123456789abcdef".into());
    spawn.config.livekit.url = Some("wss://real-project.livekit.cloud".into());
    let app = spawn.start().await;
    app.setup_admin().await;
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_mode_points_every_provider_at_the_fakes() {
    let app = sandbox_app().await;
    let site: SiteInfo = app.call(&new_client(), "site", &[]).await.unwrap();
    assert!(site.sandbox, "the banner shows even before login");
    let config = &app.state.config;
    assert!(
        config.twilio_api_base.starts_with("http://127.0.0.1:"),
        "{}",
        config.twilio_api_base
    );
    assert!(config.twilio_trunking_base.starts_with("http://127.0.0.1:"));
    assert!(config
        .livekit
        .url
        .as_deref()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    assert!(
        config.twilio.account_sid.is_none(),
        "environment Twilio values are dropped"
    );

    let (_, _, page) = app.get_page(&new_client(), "/login").await;
    assert!(
        page.contains("no real numbers or calls"),
        "banner on the login page"
    );
    let (_, _, page) = app.get_page(&app.client, "/dashboard").await;
    assert!(
        page.contains("no real numbers or calls"),
        "banner on the dashboard"
    );

    // Credentials are filled in; the connection test passes at once.
    let view: TwilioSettingsView = app.call(&app.client, "settings/twilio", &[]).await.unwrap();
    assert_eq!(
        view.account_sid.value,
        dial_app::server::sandbox::DEFAULT_TWILIO_ACCOUNT_SID
    );
    let ok: ConnectionTest = app
        .call(&app.client, "settings/twilio/test", &[])
        .await
        .unwrap();
    assert!(ok.ok, "{}", ok.message);
    // A wrong token shows Twilio's own error, as a real account would.
    app.call::<TwilioSettingsView>(
        &app.client,
        "settings/twilio/save",
        &[
            ("account_sid", &view.account_sid.value),
            ("auth_token", "0123456789abcdef0123456789abcdef"),
        ],
    )
    .await
    .unwrap();
    let err = app
        .call::<ConnectionTest>(&app.client, "settings/twilio/test", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AppError::Upstream { code: Some(c), .. } if c == "20003"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_page_simulates_calls_and_outcomes() {
    let app = sandbox_app().await;
    // No number is routed yet: LiveKit refuses the call, and says why.
    let refused = app
        .call::<String>(
            &app.client,
            "sandbox/inbound-call",
            &[("to", "+1 415 555 0100"), ("from", "+14155550123")],
        )
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("no inbound trunk accepts calls to +14155550100"),
        "{refused}"
    );
    let bad = app
        .call::<String>(
            &app.client,
            "sandbox/inbound-call",
            &[("to", "0100"), ("from", "x")],
        )
        .await
        .unwrap_err();
    assert!(bad.field("to").is_some() && bad.field("from").is_some());

    // Route the number in the fake LiveKit, as provisioning will: now the call lands.
    let sandbox = app.state.sandbox.clone().unwrap();
    let lk = dial_app::server::livekit::LiveKitClient::new(
        &sandbox.livekit_url,
        &sandbox.credentials.livekit_api_key,
        &secrecy::SecretString::from(sandbox.credentials.livekit_api_secret.clone()),
        std::time::Duration::from_secs(5),
    );
    let trunk = lk
        .create_inbound_trunk(dial_app::server::livekit::InboundTrunkSpec {
            name: "t".into(),
            numbers: vec!["+14155550100".into()],
            allowed_addresses: vec!["54.172.60.0/30".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    lk.create_dispatch_rule(
        dial_app::server::livekit::proto::sip_dispatch_rule::Rule::DispatchRuleIndividual(
            dial_app::server::livekit::proto::SipDispatchRuleIndividual {
                room_prefix: "call-".into(),
                ..Default::default()
            },
        ),
        livekit_api::services::sip::CreateSIPDispatchRuleOptions {
            trunk_ids: vec![trunk.sip_trunk_id],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let routed: String = app
        .call(
            &app.client,
            "sandbox/inbound-call",
            &[("to", "+14155550100"), ("from", "+14155550123")],
        )
        .await
        .unwrap();
    assert!(
        routed.starts_with("LiveKit routed the call to room call-_+14155550123_"),
        "{routed}"
    );

    app.call::<()>(
        &app.client,
        "sandbox/outcome",
        &[("number", "+1 415 555 0199"), ("outcome", "busy")],
    )
    .await
    .unwrap();
    app.call::<()>(
        &app.client,
        "sandbox/outcome",
        &[("number", ""), ("outcome", "no_answer")],
    )
    .await
    .unwrap();
    let wrong = app
        .call::<()>(&app.client, "sandbox/outcome", &[("outcome", "explode")])
        .await
        .unwrap_err();
    assert!(wrong.field("outcome").is_some());
    let view: Option<SandboxView> = app.call(&app.client, "sandbox", &[]).await.unwrap();
    let view = view.unwrap();
    assert_eq!(view.default_outcome, "no_answer");
    assert_eq!(
        view.outcomes,
        vec![("+14155550199".to_string(), "busy".to_string())]
    );
    assert_eq!(view.calls.len(), 1);
    let actions = app.audit_actions().await;
    assert!(
        actions.contains(&"sandbox.inbound_call".to_string())
            && actions.contains(&"sandbox.outcome_set".to_string())
    );

    // Owners cannot drive the sandbox.
    let (owner, _) = app.owner_client().await;
    let refused = app
        .call::<String>(
            &owner,
            "sandbox/inbound-call",
            &[("to", "+14155550100"), ("from", "+14155550123")],
        )
        .await;
    assert_eq!(refused.unwrap_err(), AppError::Forbidden);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_sandbox_mode_there_is_no_sandbox() {
    let app = spawn_with_admin().await;
    let site: SiteInfo = app.call(&app.client, "site", &[]).await.unwrap();
    assert!(!site.sandbox);
    let (_, _, page) = app.get_page(&app.client, "/dashboard").await;
    assert!(!page.contains("no real numbers or calls"));
    let view: Option<SandboxView> = app.call(&app.client, "sandbox", &[]).await.unwrap();
    assert!(view.is_none());
    let err = app
        .call::<String>(
            &app.client,
            "sandbox/inbound-call",
            &[("to", "+14155550100"), ("from", "+14155550123")],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Conflict { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dial_sandbox_serves_both_fakes_and_prints_how_to_reach_them() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dial"))
        .args([
            "sandbox",
            "--twilio-port",
            "0",
            "--livekit-port",
            "0",
            "--twilio-auth-token",
            "abcdefabcdefabcdefabcdefabcdef12",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines: Vec<String> = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take_while(|l| !l.starts_with("Press Ctrl-C"))
            .collect()
    })
    .await
    .unwrap();
    let value = |label: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(label))
            .map(|l| l[label.len()..].trim().to_string())
            .unwrap_or_else(|| panic!("{label} not printed: {lines:?}"))
    };
    let twilio = value("Twilio REST base:");
    let sid = value("Twilio account SID:");
    assert_eq!(
        value("Twilio auth token:"),
        "abcdefabcdefabcdefabcdefabcdef12"
    );
    let account = reqwest::Client::new()
        .get(format!("{twilio}/2010-04-01/Accounts/{sid}.json"))
        .basic_auth(&sid, Some("abcdefabcdefabcdefabcdefabcdef12"))
        .send()
        .await
        .unwrap();
    assert_eq!(account.status(), 200);
    let lk = dial_app::server::livekit::LiveKitClient::new(
        &value("LiveKit URL:"),
        &value("LiveKit API key:"),
        &secrecy::SecretString::from(value("LiveKit API secret:")),
        std::time::Duration::from_secs(5),
    );
    assert!(lk.list_inbound_trunks().await.unwrap().is_empty());
    child.kill().unwrap();
    let _ = child.wait();
}
