use crate::helpers::*;
use dial_app::{
    error::AppError,
    model::{
        AssignmentStatus, Assistant, ConnectionTest, NumberRow, RouteCheck, Routing, RunStatus,
        SandboxView, SiteInfo, TwilioSettingsView,
    },
};
use reqwest::StatusCode;
use std::{
    io::{BufRead, BufReader},
    time::Duration,
};

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
    let sandbox = app.state.sandbox().cloned().unwrap();
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
async fn the_sandbox_page_sets_a_mix_of_outcomes_and_a_call_length() {
    use dial_fakes::livekit::{CallLength, CallOutcome};
    let app = sandbox_app().await;
    let sandbox = app.state.sandbox().cloned().unwrap();
    let mix = |shares: &[(&'static str, &'static str)]| {
        let shares = shares.to_vec();
        let app = &app;
        async move {
            app.call::<String>(&app.client, "sandbox/outcome-mix", &shares)
                .await
        }
    };

    // Shares that do not add up to 100 are refused, and nothing changes.
    let short = mix(&[("answer", "60"), ("busy", "15"), ("no_answer", "20")])
        .await
        .unwrap_err();
    let message = short.field("mix").expect("the mix is named");
    assert!(message.contains("add up to 95 %"), "{message}");
    assert_eq!(sandbox.livekit.outcome_mix(), None);
    // A share that is not a whole percentage names its field.
    let bad = mix(&[("answer", "sixty"), ("busy", "101"), ("declined", "5")])
        .await
        .unwrap_err();
    assert!(
        bad.field("answer").is_some() && bad.field("busy").is_some(),
        "{bad:?}"
    );

    let saved = mix(&[
        ("answer", "60"),
        ("busy", "15 %"),
        ("no_answer", "20"),
        ("declined", "5"),
        ("trunk_auth_failure", ""),
    ])
    .await
    .unwrap();
    assert!(
        saved.contains("60 % answered, 15 % busy, 20 % no answer, 5 % declined"),
        "{saved}"
    );
    let set = sandbox.livekit.outcome_mix().expect("a mix");
    assert_eq!(
        set.shares(),
        &[
            (CallOutcome::Answer, 60),
            (CallOutcome::Busy, 15),
            (CallOutcome::NoAnswer, 20),
            (CallOutcome::Declined, 5),
        ]
    );

    // The call length: one length, a range, and what is refused.
    for (form, field) in [
        (vec![("shortest", "0")], "shortest"),
        (vec![("shortest", "90"), ("longest", "30")], "longest"),
        (vec![("longest", "30")], "shortest"),
        (vec![("shortest", "ten")], "shortest"),
        (vec![("shortest", "86401")], "shortest"),
    ] {
        let err = app
            .call::<String>(&app.client, "sandbox/call-length", &form)
            .await
            .unwrap_err();
        assert!(err.field(field).is_some(), "{form:?}: {err:?}");
    }
    assert_eq!(sandbox.livekit.call_length(), None);
    app.call::<String>(
        &app.client,
        "sandbox/call-length",
        &[("shortest", "20"), ("longest", "90")],
    )
    .await
    .unwrap();
    assert_eq!(
        sandbox.livekit.call_length(),
        Some(CallLength::between(Duration::from_secs(20), Duration::from_secs(90)).unwrap())
    );

    let view: SandboxView = app
        .call::<Option<SandboxView>>(&app.client, "sandbox", &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        view.outcome_mix,
        vec![
            ("answer".to_string(), 60),
            ("busy".to_string(), 15),
            ("no_answer".to_string(), 20),
            ("declined".to_string(), 5),
        ]
    );
    assert_eq!(view.call_length, Some((20, 90)));
    let (_, _, page) = app
        .get_page(&app.client, "/dashboard/settings/admin/sandbox")
        .await;
    assert!(
        page.contains("Answered 60 % · Busy 15 % · No answer 20 % · Declined 5 %"),
        "the page shows the mix"
    );
    assert!(page.contains("20–90 s, then the callee hangs up"));

    // Empty stops them.
    mix(&[("answer", ""), ("busy", "")]).await.unwrap();
    app.call::<String>(&app.client, "sandbox/call-length", &[("shortest", "")])
        .await
        .unwrap();
    assert_eq!(sandbox.livekit.outcome_mix(), None);
    assert_eq!(sandbox.livekit.call_length(), None);
    let actions = app.audit_actions().await;
    assert!(
        actions.contains(&"sandbox.outcome_mix_set".to_string())
            && actions.contains(&"sandbox.call_length_set".to_string())
    );

    // Owners cannot.
    let (owner, _) = app.owner_client().await;
    assert_eq!(
        app.call::<String>(&owner, "sandbox/outcome-mix", &[("answer", "100")])
            .await
            .unwrap_err(),
        AppError::Forbidden
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mix_form_works_without_javascript() {
    let app = sandbox_app().await;
    let page = app.url("/dashboard/settings/admin/sandbox");
    let post = |form: Vec<(&'static str, &'static str)>| {
        app.client
            .post(app.url("/api/sandbox/outcome-mix"))
            .header("accept", "text/html")
            .header("referer", page.clone())
            .form(&form)
            .send()
    };
    let refused = post(vec![("answer", "50"), ("busy", "20")]).await.unwrap();
    assert!(refused.status().is_redirection());
    let location = refused.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("__err="), "{location}");
    let (status, _, body) = app
        .get_page(&app.client, location.trim_start_matches(&app.address))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("The shares add up to 70 %; they must add up to 100 %"),
        "the refusal shows without JavaScript"
    );
    let saved = post(vec![("answer", "70"), ("no_answer", "30")])
        .await
        .unwrap();
    assert!(saved.status().is_redirection());
    let location = saved.headers()["location"].to_str().unwrap().to_string();
    assert!(!location.contains("__err="), "{location}");
    let (_, _, body) = app
        .get_page(&app.client, location.trim_start_matches(&app.address))
        .await;
    assert!(
        body.contains("Answered 70 % · No answer"),
        "the page shows the mix"
    );
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

/// `dial serve --sandbox` as a process, on a data directory and database that outlive it.
struct SandboxProcess {
    child: std::process::Child,
    base: String,
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SandboxProcess {
    async fn start(data_dir: &std::path::Path, database_url: &str) -> SandboxProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_dial"))
            .args(["serve", "--sandbox"])
            .env("DATABASE_URL", database_url)
            .env("DIAL_DATA_DIR", data_dir)
            .env(
                "DIAL_ENCRYPTION_KEY",
                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            )
            .env("DIAL_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start dial");
        let process = SandboxProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !reqwest::get(format!("{}/healthz", process.base))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(std::time::Instant::now() < deadline, "dial did not start");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        process
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        client: &reqwest::Client,
        endpoint: &str,
        form: &[(&str, &str)],
    ) -> Result<T, AppError> {
        let response = client
            .post(format!("{}/api/{endpoint}", self.base))
            .header("accept", "application/json")
            .form(form)
            .send()
            .await
            .expect("request");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status.is_success() {
            Ok(serde_json::from_str(&body).unwrap_or_else(|e| panic!("{endpoint}: {body}: {e}")))
        } else {
            Err(serde_json::from_str(&body).unwrap_or_else(|e| panic!("{endpoint}: {body}: {e}")))
        }
    }

    /// Waits for the number's current provisioning run to finish; returns its routing.
    async fn settled(&self, client: &reqwest::Client, number_id: &str) -> Routing {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let routing: Routing = self
                .call(client, "assignment/routing", &[("number_id", number_id)])
                .await
                .expect("routing");
            if routing
                .current
                .as_ref()
                .is_some_and(|run| run.status != RunStatus::Running)
            {
                return routing;
            }
            assert!(std::time::Instant::now() < deadline, "the run never ended");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_sandbox_is_the_same_world() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database_url(dir.path()).await;
    let data_dir = dir.path().join("data");
    let first = SandboxProcess::start(&data_dir, &database_url).await;
    let client = new_client();
    first
        .call::<()>(
            &client,
            "setup",
            &[
                ("username", ADMIN),
                ("password", ADMIN_PASSWORD),
                ("password_confirm", ADMIN_PASSWORD),
            ],
        )
        .await
        .expect("first-run setup");
    let number: NumberRow = first
        .call(&client, "numbers/buy", &[("e164", "+14155550101")])
        .await
        .expect("buy");
    let assistant: Assistant = first
        .call(
            &client,
            "assistants/create",
            &[("name", "Reception"), ("agent_name", "reception-agent")],
        )
        .await
        .expect("assistant");
    let _run: String = first
        .call(
            &client,
            "assignment/assign",
            &[("number_id", &number.id), ("assistant_id", &assistant.id)],
        )
        .await
        .expect("assign");
    let routed = first.settled(&client, &number.id).await;
    assert_eq!(routed.number.assignment_status, AssignmentStatus::Active);
    let check: RouteCheck = first
        .call(
            &client,
            "assignment/test-route",
            &[("number_id", &number.id)],
        )
        .await
        .expect("route test");
    assert!(check.ok, "{check:?}");
    // The sandbox user's choice of how calls to a number end is part of the world too.
    let _: () = first
        .call(
            &client,
            "sandbox/outcome",
            &[("number", "+14155550142"), ("outcome", "busy")],
        )
        .await
        .expect("outcome");

    // kill -9: the world on disk is whatever the last change left there.
    drop(first);
    let second = SandboxProcess::start(&data_dir, &database_url).await;
    let client = new_client();
    second
        .call::<()>(
            &client,
            "login",
            &[("username", ADMIN), ("password", ADMIN_PASSWORD)],
        )
        .await
        .expect("login");
    let check: RouteCheck = second
        .call(
            &client,
            "assignment/test-route",
            &[("number_id", &number.id)],
        )
        .await
        .expect("route test after the restart");
    assert!(
        check.ok,
        "the restarted sandbox routes the number: {check:?}"
    );
    let view: SandboxView = second.call(&client, "sandbox", &[]).await.unwrap();
    assert!(
        view.outcomes
            .iter()
            .any(|(n, o)| n == "+14155550142" && o == "busy"),
        "{:?}",
        view.outcomes
    );
    // Reassigning and releasing work against the restored providers.
    let _run: String = second
        .call(
            &client,
            "assignment/assign",
            &[("number_id", &number.id), ("assistant_id", &assistant.id)],
        )
        .await
        .expect("reassign");
    let again = second.settled(&client, &number.id).await;
    assert_eq!(
        again.current.as_ref().map(|r| r.status),
        Some(RunStatus::Done),
        "{:?}",
        again.current
    );
    let _run: String = second
        .call(&client, "assignment/unassign", &[("number_id", &number.id)])
        .await
        .expect("unassign");
    let released = second.settled(&client, &number.id).await;
    assert_eq!(
        released.number.assignment_status,
        AssignmentStatus::Unassigned
    );
    let _: () = second
        .call(&client, "numbers/release", &[("id", &number.id)])
        .await
        .expect("release");
    // The number the sandbox account had before Dial comes back only on a first run; the
    // released one is back in the simulated inventory, not on the account.
    let candidates: Vec<dial_app::model::ImportCandidate> = second
        .call(&client, "numbers/import-candidates", &[])
        .await
        .unwrap();
    assert!(
        !candidates.iter().any(|c| c.e164 == "+14155550101"),
        "{candidates:?}"
    );
}
