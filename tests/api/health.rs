//! Operations: the setup checklist (each item in its good and bad states), drift (each
//! kind introduced through the fakes' own APIs — as someone in the Twilio or LiveKit
//! console would — found, repaired, gone), orphans, the JSON API, and `dial doctor`'s
//! report, JSON and exit code.

use crate::{assignment::*, helpers::*};
use dial_app::server::livekit::proto;
use dial_app::{
    model::{Checklist, DriftKind, DriftReport, Light, Repair},
    server::{livekit::LiveKitClient, sandbox::DEFAULT_TWILIO_ACCOUNT_SID as SID},
};
use serde_json::Value;
use std::time::Duration;

fn light(list: &Checklist, key: &str) -> (Light, String) {
    let item = list
        .items
        .iter()
        .find(|i| i.key == key)
        .unwrap_or_else(|| panic!("no item {key} in {list:?}"));
    (item.light, item.detail.clone())
}

async fn checklist(app: &TestApp) -> Checklist {
    app.call(&app.client, "setup/check", &[])
        .await
        .expect("checklist")
}

async fn scan(app: &TestApp) -> DriftReport {
    app.call(&app.client, "drift/scan", &[])
        .await
        .expect("scan")
}

/// The sandbox's LiveKit as a console user would reach it: its own API, over HTTP.
fn console(app: &TestApp) -> LiveKitClient {
    let lk = &app.state.config.livekit;
    LiveKitClient::new(
        lk.url.as_deref().expect("url"),
        lk.api_key.as_deref().expect("key"),
        lk.api_secret.as_ref().expect("secret"),
        Duration::from_secs(5),
    )
}

/// A number bought, assigned to an assistant, and its route tested.
async fn assigned(app: &TestApp, e164: &str) -> (String, String) {
    let number = twilio_number(app, e164).await;
    let admin = user_id(app, ADMIN).await;
    let assistant = insert_assistant(app, &admin, "Desk", "desk-agent", "desk-").await;
    assign(app, &app.client, &number.id, &assistant)
        .await
        .expect("assign");
    (number.id, assistant)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checklist_goes_from_red_to_green_as_a_new_admin_sets_dial_up() {
    let app = provisioning_app().await;
    let list = checklist(&app).await;
    // A fresh sandbox: providers connected, nothing of the admin's own yet.
    assert_eq!(
        light(&list, "twilio.credentials").0,
        Light::Green,
        "{list:?}"
    );
    assert_eq!(light(&list, "livekit.config").0, Light::Green);
    assert_eq!(light(&list, "livekit.api").0, Light::Green);
    assert_eq!(light(&list, "calls.numbers").0, Light::Red);
    assert_eq!(light(&list, "calls.assistants").0, Light::Red);
    assert_eq!(light(&list, "calls.assignment").0, Light::Red);
    assert_eq!(light(&list, "calls.outbound_test").0, Light::Amber);
    // The sandbox generates its key into the data directory: amber, with the fix.
    let (l, detail) = light(&list, "server.encryption_key");
    assert_eq!(l, Light::Amber);
    assert!(detail.contains("DIAL_ENCRYPTION_KEY"), "{detail}");
    // Auto trunk is on and no number was assigned yet: the trunk comes later.
    assert_eq!(light(&list, "twilio.trunk").0, Light::Amber, "{list:?}");
    // Nothing heard from LiveKit yet.
    let (l, detail) = light(&list, "webhooks.livekit");
    assert_eq!(l, Light::Amber);
    assert!(detail.contains("/webhooks/livekit"), "{detail}");
    // Red items link to where they are fixed.
    let numbers = list
        .items
        .iter()
        .find(|i| i.key == "calls.numbers")
        .unwrap();
    assert_eq!(
        numbers.fix_href.as_deref(),
        Some("/dashboard/phone-numbers/buy")
    );

    let (number_id, _) = assigned(&app, "+14155550131").await;
    let list = checklist(&app).await;
    assert_eq!(light(&list, "calls.numbers").0, Light::Green);
    assert_eq!(light(&list, "calls.assistants").0, Light::Green);
    assert_eq!(light(&list, "calls.assignment").0, Light::Green);
    // The trunk now exists, sends calls to LiveKit and has a credential list; the
    // sandbox trunk allows transfers.
    let (l, detail) = light(&list, "twilio.trunk");
    assert!(l != Light::Red, "{detail}");
    assert!(detail.contains("Trunk TK"), "{detail}");
    let (l, detail) = light(&list, "calls.route_tests");
    assert_eq!(l, Light::Amber, "{detail}");
    assert!(detail.contains("+1 (415) 555-0131"), "{detail}");
    let item = list
        .items
        .iter()
        .find(|i| i.key == "calls.route_tests")
        .expect("item");
    assert_eq!(
        item.fix_href.as_deref(),
        Some(format!("/dashboard/phone-numbers/{number_id}").as_str()),
        "the item links to the number to test"
    );
    let _: dial_app::model::RouteCheck = app
        .call(
            &app.client,
            "assignment/test-route",
            &[("number_id", &number_id)],
        )
        .await
        .expect("route test");
    let list = checklist(&app).await;
    assert_eq!(light(&list, "calls.route_tests").0, Light::Green);
    // The route test's call sent LiveKit webhooks (within the write interval).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let list = checklist(&app).await;
        if light(&list, "webhooks.livekit").0 == Light::Green {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{list:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A checklist is reused for a short time unless asked again: two reads within the
    // window are the same checklist (the one "Check again" just made), even seconds apart.
    let cached: Checklist = app
        .call(&app.client, "setup/checklist", &[])
        .await
        .expect("cached");
    app.state.clock.advance(Duration::from_secs(5));
    let again: Checklist = app
        .call(&app.client, "setup/checklist", &[])
        .await
        .expect("cached again");
    assert_eq!(again.checked_at, cached.checked_at, "not reused");
    assert_eq!(again.items, cached.items);
    // "Check again" runs the checks now.
    let fresh = checklist(&app).await;
    assert!(
        fresh.checked_at > cached.checked_at,
        "Check again returned the cached checklist ({} then {})",
        cached.checked_at,
        fresh.checked_at
    );
    // Past the window, a plain read runs them again too.
    app.state.clock.advance(Duration::from_secs(
        dial_app::server::setup_check::CACHE_FOR as u64 + 1,
    ));
    let expired: Checklist = app
        .call(&app.client, "setup/checklist", &[])
        .await
        .expect("expired");
    assert!(expired.checked_at > fresh.checked_at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_twilio_trunk_and_bad_livekit_credentials_are_red_with_the_reason() {
    let app = provisioning_app().await;
    assigned(&app, "+14155550132").await;
    let (twilio, _) = fakes(&app);
    let trunk = twilio.trunks(SID).remove(0);
    // Someone removes the trunk's origination URI and its credential list in Twilio.
    let client = dial_app::server::twilio::settings::client(&app.state)
        .await
        .expect("client");
    for url in client
        .list_origination_urls(&trunk.sid)
        .await
        .expect("urls")
    {
        client
            .delete_origination_url(&trunk.sid, &url.sid)
            .await
            .expect("delete url");
    }
    for list in client
        .list_trunk_credential_lists(&trunk.sid)
        .await
        .expect("lists")
    {
        client
            .dissociate_credential_list(&trunk.sid, &list.sid)
            .await
            .expect("dissociate");
    }
    let list = checklist(&app).await;
    let (l, detail) = light(&list, "twilio.trunk");
    assert_eq!(l, Light::Red, "{detail}");
    assert!(detail.contains("does not send calls to sip:"), "{detail}");
    assert!(detail.contains("no credential list"), "{detail}");

    // Twilio refusing the credentials.
    let (twilio, _) = fakes(&app);
    twilio.add_account(SID, "a-new-token-the-admin-did-not-save", "Sandbox");
    let list = checklist(&app).await;
    let (l, detail) = light(&list, "twilio.credentials");
    assert_eq!(l, Light::Red, "{detail}");
    assert_eq!(light(&list, "twilio.trunk").0, Light::Red);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn livekit_missing_or_refusing_is_red() {
    let mut spawn = Spawn::new().await;
    spawn.config.livekit.url = Some("http://127.0.0.1:9".into());
    spawn.config.livekit.api_key = Some("APIwrong".into());
    spawn.config.livekit.api_secret = Some(secrecy::SecretString::from("nope".to_string()));
    spawn.config.livekit_timeout = Duration::from_secs(1);
    let app = spawn.start().await;
    app.setup_admin().await;
    let list = checklist(&app).await;
    let (l, detail) = light(&list, "livekit.config");
    assert_eq!(l, Light::Red);
    assert!(detail.contains("DIAL_LIVEKIT_SIP_URI"), "{detail}");
    assert_eq!(light(&list, "livekit.api").0, Light::Red);
    assert_eq!(light(&list, "twilio.credentials").0, Light::Red);
    // Owners may not read it.
    let (owner, _) = app.owner_client().await;
    let refused = app
        .call::<Checklist>(&owner, "setup/checklist", &[])
        .await
        .expect_err("owners are refused");
    assert!(
        matches!(refused, dial_app::error::AppError::Forbidden),
        "{refused:?}"
    );
}

/// Finds the one finding of `kind`, repairs it through the page's server function, and
/// checks it is gone afterwards.
async fn repair_and_check(app: &TestApp, kind: DriftKind) -> String {
    repair_and_check_on(app, kind, None).await
}

/// [`repair_and_check`] for the finding about `e164`.
async fn repair_and_check_on(app: &TestApp, kind: DriftKind, e164: Option<&str>) -> String {
    let report = scan(app).await;
    let finding = report
        .findings
        .iter()
        .find(|f| f.kind == kind && (e164.is_none() || f.e164.as_deref() == e164))
        .unwrap_or_else(|| panic!("no {kind:?} finding in {report:?}"))
        .clone();
    let message: String = app
        .call(&app.client, "drift/repair", &[("finding_id", &finding.id)])
        .await
        .unwrap_or_else(|e| panic!("repair {finding:?}: {e:?}"));
    let after: DriftReport = app
        .call(&app.client, "drift/report", &[])
        .await
        .expect("report");
    assert!(
        after.findings.iter().all(|f| f.id != finding.id),
        "{finding:?} is still there after “{message}”: {after:?}"
    );
    finding.words
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_livekit_drift_is_found_in_words_and_repaired() {
    let app = provisioning_app().await;
    let (number_id, _) = assigned(&app, "+14155550133").await;
    let (_, livekit) = fakes(&app);
    let lk = console(&app);
    // The sandbox's account holds two numbers Dial never imported: only those are found.
    let fresh = scan(&app).await;
    assert!(
        fresh
            .findings
            .iter()
            .all(|f| f.kind == DriftKind::UnknownNumber
                && f.e164.as_deref().is_some_and(|n| n.starts_with("+1212"))),
        "fresh assignments drift: {fresh:?}"
    );

    // The rule's agent is changed in the console.
    let rule = livekit.dispatch_rules().remove(0);
    let mut changed = rule.clone();
    if let Some(c) = changed.room_config.as_mut() {
        c.agents[0].agent_name = "someone-else".into();
    }
    lk.replace_dispatch_rule(&rule.sip_dispatch_rule_id, changed)
        .await
        .expect("change the rule");
    let words = repair_and_check(&app, DriftKind::RuleChanged).await;
    assert!(
        words.contains("now dispatches agent `someone-else`, the assistant says `desk-agent`"),
        "{words}"
    );
    assert_eq!(
        livekit.dispatch_rules()[0]
            .room_config
            .as_ref()
            .unwrap()
            .agents[0]
            .agent_name,
        "desk-agent"
    );

    // The rule is deleted.
    let rule = livekit.dispatch_rules().remove(0);
    lk.delete_dispatch_rule(&rule.sip_dispatch_rule_id)
        .await
        .expect("delete the rule");
    let words = repair_and_check(&app, DriftKind::RuleMissing).await;
    assert!(words.contains("+1 (415) 555-0133"), "{words}");
    assert_eq!(livekit.dispatch_rules().len(), 1);

    // The inbound trunk's numbers are changed.
    let inbound = livekit.inbound_trunks().remove(0);
    lk.update_inbound_trunk(
        &inbound.sip_trunk_id,
        proto::SipInboundTrunkUpdate {
            numbers: Some(proto::ListUpdate {
                set: vec!["+14155550999".into()],
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .expect("change the trunk");
    let words = repair_and_check(&app, DriftKind::InboundChanged).await;
    assert!(words.contains("no longer takes calls to"), "{words}");

    // The outbound trunk is deleted.
    let outbound = livekit.outbound_trunks().remove(0);
    lk.delete_trunk(&outbound.sip_trunk_id)
        .await
        .expect("delete the outbound trunk");
    repair_and_check(&app, DriftKind::OutboundMissing).await;
    assert_eq!(livekit.outbound_trunks().len(), 1);

    // The outbound trunk is pointed at another address.
    let outbound = livekit.outbound_trunks().remove(0);
    let address = outbound.address.clone();
    lk.update_outbound_trunk(
        &outbound.sip_trunk_id,
        proto::SipOutboundTrunkUpdate {
            address: Some("sip.elsewhere.example".into()),
            ..Default::default()
        },
    )
    .await
    .expect("change the outbound trunk");
    let words = repair_and_check(&app, DriftKind::OutboundChanged).await;
    assert!(
        words.contains("it calls `sip.elsewhere.example` instead of"),
        "{words}"
    );
    assert_eq!(livekit.outbound_trunks()[0].address, address);

    // The inbound trunk is deleted.
    let inbound = livekit.inbound_trunks().remove(0);
    lk.delete_trunk(&inbound.sip_trunk_id)
        .await
        .expect("delete the inbound trunk");
    let words = repair_and_check(&app, DriftKind::InboundMissing).await;
    assert!(words.contains("LiveKit refuses its calls"), "{words}");
    assert_eq!(livekit.inbound_trunks().len(), 1);

    // Nothing of the number's is left to repair.
    let last = scan(&app).await;
    assert!(
        last.findings
            .iter()
            .all(|f| f.kind == DriftKind::UnknownNumber),
        "{last:?}"
    );

    // A route test still reaches the agent after all the repairs.
    let check: dial_app::model::RouteCheck = app
        .call(
            &app.client,
            "assignment/test-route",
            &[("number_id", &number_id)],
        )
        .await
        .expect("route test");
    assert!(check.ok, "{check:?}");
    // Every repair is audited; a scan alone changed nothing.
    let actions = app.audit_actions().await;
    assert_eq!(
        actions.iter().filter(|a| *a == "drift.repaired").count(),
        6,
        "{actions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_drift_orphans_and_unknown_numbers_are_found_and_handled() {
    let app = provisioning_app().await;
    let (number_id, _) = assigned(&app, "+14155550134").await;
    let (twilio, livekit) = fakes(&app);
    let client = dial_app::server::twilio::settings::client(&app.state)
        .await
        .expect("client");
    // The number is taken off Dial's trunk in the Twilio console.
    let at = twilio
        .numbers(SID)
        .into_iter()
        .find(|n| n.phone_number == "+14155550134")
        .expect("number");
    let trunk = at.trunk_sid.clone().expect("attached");
    client.detach_number(&trunk, &at.sid).await.expect("detach");
    let words = repair_and_check(&app, DriftKind::NumberOffTrunk).await;
    assert!(words.contains("is on no trunk now"), "{words}");
    assert!(twilio
        .numbers(SID)
        .iter()
        .any(|n| n.phone_number == "+14155550134" && n.trunk_sid.as_deref() == Some(&trunk)));

    // Its status callback is pointed elsewhere in the console.
    client
        .update_number(
            &at.sid,
            &dial_app::server::twilio::UpdateNumber {
                status_callback: Some("https://elsewhere.example/status".into()),
                ..Default::default()
            },
        )
        .await
        .expect("change the callback");
    let words = repair_and_check(&app, DriftKind::CallbackChanged).await;
    assert!(
        words.contains("now https://elsewhere.example/status"),
        "{words}"
    );
    let callback = twilio
        .numbers(SID)
        .into_iter()
        .find(|n| n.phone_number == "+14155550134")
        .and_then(|n| n.status_callback);
    assert!(
        callback.is_some_and(|c| c.ends_with("/webhooks/twilio/status")),
        "the callback points at Dial again"
    );

    // An inbound trunk with Dial's metadata that no number records: an orphan. Deleting
    // it needs the confirmation the page shows, which names it.
    let lk = console(&app);
    let orphan = lk
        .create_inbound_trunk(dial_app::server::livekit::InboundTrunkSpec {
            name: "Dial +14155550138".into(),
            numbers: vec!["+14155550138".into()],
            metadata: serde_json::json!({"managed_by": "dial", "number_id": "gone", "e164": "+14155550138"}).to_string(),
            ..Default::default()
        })
        .await
        .expect("orphan");
    let report = scan(&app).await;
    let found = report
        .findings
        .iter()
        .find(|f| f.kind == DriftKind::Orphan)
        .expect("orphan found");
    assert!(
        matches!(&found.repair, Repair::DeleteLiveKit { id, .. } if *id == orphan.sip_trunk_id),
        "{found:?}"
    );
    assert!(
        found.words.contains("no number records it"),
        "{}",
        found.words
    );
    let page = app.get_page(&app.client, "/dashboard/drift").await.2;
    assert!(
        page.contains(&format!("Delete inbound trunk {}", orphan.sip_trunk_id)),
        "the page's confirmation names the object"
    );
    repair_and_check(&app, DriftKind::Orphan).await;
    assert!(livekit
        .inbound_trunks()
        .iter()
        .all(|t| t.sip_trunk_id != orphan.sip_trunk_id));

    // A number bought in the Twilio console, unknown to Dial: adopt imports it.
    twilio.give_number(SID, "+14155550139").expect("number");
    let words = repair_and_check_on(&app, DriftKind::UnknownNumber, Some("+14155550139")).await;
    assert!(words.contains("Dial does not know it"), "{words}");
    number_by_e164(&app, "+14155550139").await;

    // A number released in the Twilio console: found, but only a person can decide.
    let at = twilio
        .numbers(SID)
        .into_iter()
        .find(|n| n.phone_number == "+14155550134")
        .expect("number");
    client.release_number(&at.sid).await.expect("release");
    let report = scan(&app).await;
    let gone = report
        .findings
        .iter()
        .find(|f| f.kind == DriftKind::NumberGone)
        .expect("gone found");
    assert_eq!(gone.repair, Repair::Manual);
    assert_eq!(gone.number_id.as_deref(), Some(number_id.as_str()));
    let refused = app
        .call::<String>(&app.client, "drift/repair", &[("finding_id", &gone.id)])
        .await
        .expect_err("manual findings are not repaired by Dial");
    assert!(refused.to_string().contains("cannot repair"), "{refused}");
    // The number's page carries the badge.
    let badge: Vec<dial_app::model::DriftFinding> = app
        .call(&app.client, "drift/number", &[("number_id", &number_id)])
        .await
        .expect("badge");
    assert_eq!(badge.len(), 1);
    let page = app
        .get_page(
            &app.client,
            &format!("/dashboard/phone-numbers/{number_id}"),
        )
        .await
        .2;
    assert!(
        page.contains("data-testid=\"number-drift\""),
        "no badge on the number's page"
    );
    // A repair of a finding that is no longer there is "not found".
    let missing = app
        .call::<String>(
            &app.client,
            "drift/repair",
            &[("finding_id", "orphan:nothing")],
        )
        .await
        .expect_err("unknown finding");
    assert!(
        matches!(missing, dial_app::error::AppError::NotFound { .. }),
        "{missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_api_reads_the_checklist_and_repairs_drift_for_admins_only() {
    let app = provisioning_app().await;
    assigned(&app, "+14155550135").await;
    let key: dial_app::model::CreatedKey = app
        .call(&app.client, "api-keys/create", &[("name", "ops")])
        .await
        .expect("key");
    let api = reqwest::Client::new();
    let get = |path: &str| {
        api.get(app.url(&format!("/api/v1{path}")))
            .bearer_auth(&key.secret)
            .send()
    };
    let setup: Value = get("/setup?fresh=true")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        setup["items"].as_array().is_some_and(|i| !i.is_empty()),
        "{setup}"
    );
    let bad = get("/setup?fresh=maybe").await.unwrap();
    assert_eq!(bad.status(), 422);
    let (_, livekit) = fakes(&app);
    let rule = livekit.dispatch_rules().remove(0);
    console(&app)
        .delete_dispatch_rule(&rule.sip_dispatch_rule_id)
        .await
        .unwrap();
    let report: Value = api
        .post(app.url("/api/v1/drift/scan"))
        .bearer_auth(&key.secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let finding = report["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["kind"] == "rule_missing"))
        .unwrap_or_else(|| panic!("no rule_missing in {report}"))
        .clone();
    let id = finding["id"].as_str().expect("an id").to_string();
    assert_eq!(finding["repair"]["action"], "reassign", "{report}");
    let repaired = api
        .post(app.url(&format!("/api/v1/drift/findings/{id}/repair")))
        .bearer_auth(&key.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(repaired.status(), 200);
    let repaired: Value = repaired.json().await.unwrap();
    assert!(
        repaired["report"]["findings"]
            .as_array()
            .is_some_and(|f| f.iter().all(|f| f["kind"] == "unknown_number")),
        "{repaired}"
    );
    let again = api
        .post(app.url(&format!("/api/v1/drift/findings/{id}/repair")))
        .bearer_auth(&key.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);

    // An owner's key is refused.
    let (owner, _) = app.owner_client().await;
    let owner_key: dial_app::model::CreatedKey = app
        .call(&owner, "api-keys/create", &[("name", "mine")])
        .await
        .expect("owner key");
    let refused = api
        .get(app.url("/api/v1/drift"))
        .bearer_auth(&owner_key.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dial_doctor_reports_in_words_and_json_with_its_exit_code() {
    use dial_fakes::{livekit::FakeLiveKit, twilio::FakeTwilio};
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let twilio = FakeTwilio::new();
    let (sid, token) = (
        "AC0000000000000000000000000000d0c7",
        "d0c7d0c7d0c7d0c7d0c7d0c7d0c7d0c7",
    );
    twilio.add_account(sid, token, "Doctor");
    let twilio_url = format!("http://{}", twilio.serve(loopback).await.unwrap());
    let (key, secret) = ("APIdoctor", "doctor-secret-0123456789");
    let livekit = FakeLiveKit::new(key, secret);
    let livekit_url = format!("http://{}", livekit.serve(loopback).await.unwrap());
    let mut spawn = Spawn::new().await;
    spawn.config.twilio_api_base = twilio_url.clone();
    spawn.config.twilio_trunking_base = twilio_url.clone();
    spawn.config.livekit.url = Some(livekit_url.clone());
    spawn.config.livekit.api_key = Some(key.into());
    spawn.config.livekit.api_secret = Some(secrecy::SecretString::from(secret.to_string()));
    spawn.config.livekit.sip_uri = Some("doctor.sip.livekit.cloud".into());
    let database_url = spawn.config.database_url.clone().expect("database");
    let data_dir = spawn.config.data_dir.clone();
    let doctor = |json: bool, livekit_url: &str| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dial"));
        command
            .arg("doctor")
            .env("DATABASE_URL", &database_url)
            .env("DIAL_DATA_DIR", &data_dir)
            .env("DIAL_TWILIO_API_BASE", &twilio_url)
            .env("DIAL_TWILIO_TRUNKING_BASE", &twilio_url)
            .env("DIAL_TWILIO_ACCOUNT_SID", sid)
            .env("DIAL_TWILIO_AUTH_TOKEN", token)
            .env("DIAL_LIVEKIT_URL", livekit_url)
            .env("DIAL_LIVEKIT_API_KEY", key)
            .env("DIAL_LIVEKIT_API_SECRET", secret)
            .env("DIAL_LIVEKIT_SIP_URI", "doctor.sip.livekit.cloud")
            .env("DIAL_PUBLIC_URL", "https://dial.example.com")
            .env("RUST_LOG", "error");
        if json {
            command.arg("--json");
        }
        let out = command.output().expect("run dial doctor");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let item = |json: &Value, key: &str| -> String {
        json["checklist"]["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["key"] == key))
            .map(|i| i["light"].as_str().unwrap_or("").to_string())
            .unwrap_or_else(|| panic!("no {key} in {json}"))
    };
    let parse = |text: &str| -> Value {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };

    // Before `dial serve` ever ran: the database is made; nothing is set up yet.
    let (ok, text) = doctor(false, &livekit_url);
    assert!(!ok, "{text}");
    assert!(
        text.contains("Twilio account: Connected to “Doctor”"),
        "{text}"
    );
    assert!(text.contains("FIX   A phone number"), "{text}");
    assert!(text.contains("Not well"), "{text}");
    assert!(!text.contains(token) && !text.contains(secret), "{text}");
    let (ok, text) = doctor(true, &livekit_url);
    assert!(!ok);
    let json = parse(&text);
    assert_eq!(json["ok"], false);
    assert_eq!(item(&json, "livekit.api"), "green");
    assert_eq!(item(&json, "server.public_url"), "green");
    assert_eq!(item(&json, "calls.numbers"), "red");

    // Set up through Dial: the trunk settings, a number, an assistant, an assignment.
    let app = spawn.start().await;
    app.setup_admin().await;
    let _: dial_app::model::TwilioSettingsView = app
        .call(
            &app.client,
            "settings/twilio/save",
            &[
                ("account_sid", sid),
                ("auth_token", token),
                ("auto_trunk", "on"),
            ],
        )
        .await
        .expect("twilio settings");
    let number_sid = twilio.give_number(sid, "+14155550136").expect("number");
    let _: u32 = app
        .call(&app.client, "numbers/import", &[("sid", &number_sid)])
        .await
        .expect("import");
    let number = number_by_e164(&app, "+14155550136").await;
    let admin = user_id(&app, ADMIN).await;
    let assistant = insert_assistant(&app, &admin, "Desk", "desk-agent", "desk-").await;
    assign(&app, &app.client, &number.id, &assistant)
        .await
        .expect("assign");
    // The app in this test has no public URL, so it set no status callback; the doctor's
    // configuration names one, as a deployment's would: point the number's there.
    let client = dial_app::server::twilio::settings::client(&app.state)
        .await
        .expect("client");
    client
        .update_number(
            &number_sid,
            &dial_app::server::twilio::UpdateNumber {
                status_callback: Some("https://dial.example.com/webhooks/twilio/status".into()),
                ..Default::default()
            },
        )
        .await
        .expect("callback");
    let (ok, text) = doctor(true, &livekit_url);
    let json = parse(&text);
    assert!(ok, "all is well, yet: {text}");
    assert_eq!(json["ok"], true);
    assert_eq!(json["drift"]["numbers_checked"], 1);

    // Someone deletes the dispatch rule in LiveKit: drift, and a non-zero exit.
    let rule = livekit.dispatch_rules().remove(0);
    LiveKitClient::new(
        &livekit_url,
        key,
        &secrecy::SecretString::from(secret.to_string()),
        Duration::from_secs(5),
    )
    .delete_dispatch_rule(&rule.sip_dispatch_rule_id)
    .await
    .expect("delete");
    let (ok, text) = doctor(false, &livekit_url);
    assert!(!ok);
    assert!(
        text.contains("DRIFT The dispatch rule for +1 (415) 555-0136 is gone"),
        "{text}"
    );
    assert!(
        text.contains("/api/v1/drift/findings/rule_missing:"),
        "{text}"
    );

    // A LiveKit that cannot be reached is red, and drift could not be checked.
    let (ok, text) = doctor(true, "http://127.0.0.1:9");
    assert!(!ok);
    let json = parse(&text);
    assert_eq!(item(&json, "livekit.api"), "red");
    assert!(
        json["drift"]["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("LiveKit was not checked")),
        "{json}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_other_items_show_their_good_and_bad_states() {
    let app = provisioning_app().await;
    // The sandbox's public URL is http on loopback: amber, with the reason.
    let list = checklist(&app).await;
    let (l, detail) = light(&list, "server.public_url");
    assert_eq!(l, Light::Amber, "{detail}");
    assert!(detail.contains("is not https"), "{detail}");
    // No Twilio callback heard yet; a signed one turns it green.
    let (l, detail) = light(&list, "webhooks.twilio");
    assert_eq!(l, Light::Amber);
    assert!(detail.contains("/webhooks/twilio/status"), "{detail}");
    let (number_id, _) = assigned(&app, "+14155550137").await;
    let params =
        crate::twilio_webhooks::status_params("CA0123456789abcdef0123456789abcd37", "ringing", "0");
    let (status, _, body) =
        crate::twilio_webhooks::post_signed(&app, "/webhooks/twilio/status", &params).await;
    assert!(status.is_success(), "{status} {body}");
    let list = checklist(&app).await;
    let (l, detail) = light(&list, "webhooks.twilio");
    assert_eq!(l, Light::Green, "{detail}");
    assert!(detail.starts_with("Last received"), "{detail}");
    // A call out turns the last item green.
    assert_eq!(light(&list, "calls.outbound_test").0, Light::Amber);
    lift_call_rate_limits(&app);
    let _: dial_app::model::CallRow = app
        .call(
            &app.client,
            "calls/place",
            &[("number_id", number_id.as_str()), ("to", "+14155550199")],
        )
        .await
        .expect("place a call");
    assert_eq!(
        light(&checklist(&app).await, "calls.outbound_test").0,
        Light::Green
    );
    // Without the trunk settings and without "create the trunk for me": red.
    sqlx::query("UPDATE twilio_config SET auto_trunk = 0, sip_address = NULL")
        .execute(&app.state.db.pool)
        .await
        .expect("settings");
    let (l, detail) = light(&checklist(&app).await, "twilio.trunk_settings");
    assert_eq!(l, Light::Red, "{detail}");
    assert!(detail.contains("termination address"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_that_limits_transfers_is_amber_and_a_failed_route_test_is_red() {
    let app = provisioning_app().await;
    let (number_id, _) = assigned(&app, "+12065550110").await;
    let (l, detail) = light(&checklist(&app).await, "twilio.trunk");
    assert_eq!(
        l,
        Light::Green,
        "Dial's trunk allows every transfer: {detail}"
    );
    // Someone limits the trunk's Call Transfer in the Twilio console.
    let (twilio, livekit) = fakes(&app);
    let trunk = twilio.trunks(SID).remove(0);
    let client = dial_app::server::twilio::settings::client(&app.state)
        .await
        .expect("client");
    client
        .update_trunk(
            &trunk.sid,
            &dial_app::server::twilio::TrunkParams {
                transfer_mode: Some("sip-only".into()),
                ..Default::default()
            },
        )
        .await
        .expect("limit transfers");
    let (l, detail) = light(&checklist(&app).await, "twilio.trunk");
    assert_eq!(l, Light::Amber, "{detail}");
    assert!(
        detail.contains("its Call Transfer setting is “sip-only”"),
        "{detail}"
    );

    // The number's route breaks in LiveKit, and its route test fails: red, naming it.
    let rule = livekit.dispatch_rules().remove(0);
    console(&app)
        .delete_dispatch_rule(&rule.sip_dispatch_rule_id)
        .await
        .expect("delete the rule");
    let check: dial_app::model::RouteCheck = app
        .call(
            &app.client,
            "assignment/test-route",
            &[("number_id", &number_id)],
        )
        .await
        .expect("route test");
    assert!(!check.ok, "the test passed without a rule: {check:?}");
    let list = checklist(&app).await;
    let (l, detail) = light(&list, "calls.route_tests");
    assert_eq!(l, Light::Red, "{detail}");
    assert!(
        detail.contains("The last “Test inbound route” failed for +1 (206) 555-0110"),
        "{detail}"
    );
    let item = list
        .items
        .iter()
        .find(|i| i.key == "calls.route_tests")
        .expect("item");
    assert_eq!(
        item.fix_href.as_deref(),
        Some(format!("/dashboard/phone-numbers/{number_id}").as_str())
    );
}

/// The Twilio page's form as an admin fills it in (the Auth Token kept as saved).
async fn save_twilio_settings(
    app: &TestApp,
    auto_trunk: bool,
    public_url: &str,
) -> dial_app::model::TwilioSettingsView {
    let mut form = vec![
        ("account_sid", SID),
        ("sip_address", "dial-typed.pstn.twilio.com"),
        ("sip_username", "dial-typed"),
        ("sip_password", "Typed1nTrunkPassword"),
        ("public_url", public_url),
    ];
    if auto_trunk {
        form.push(("auto_trunk", "on"));
    }
    app.call(&app.client, "settings/twilio/save", &form)
        .await
        .expect("save the Twilio settings")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_in_trunk_settings_the_environments_key_and_a_missing_public_url() {
    let mut spawn = Spawn::new().await;
    spawn.config.sandbox = true;
    spawn.config.twilio_timeout = Duration::from_secs(2);
    spawn.config.livekit_timeout = Duration::from_secs(2);
    spawn.config.encryption_key = Some(secrecy::SecretString::from("33".repeat(32)));
    let app = spawn.start().await;
    app.setup_admin().await;
    let list = checklist(&app).await;
    let (l, detail) = light(&list, "server.encryption_key");
    assert_eq!(l, Light::Green, "{detail}");
    assert!(detail.contains("set in the environment"), "{detail}");

    // The trunk's address and credential typed in, "create the trunk for me" off: the
    // settings are complete, but the Twilio account has no trunk there.
    let public_url: Option<String> = sqlx::query_scalar("SELECT public_url FROM twilio_config")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("the sandbox's public URL");
    let public_url = public_url.expect("the sandbox sets a public URL");
    let saved = save_twilio_settings(&app, false, &public_url).await;
    assert!(!saved.auto_trunk);
    let list = checklist(&app).await;
    let (l, detail) = light(&list, "twilio.trunk_settings");
    assert_eq!(l, Light::Green, "{detail}");
    assert!(
        detail.contains(
            "Termination address dial-typed.pstn.twilio.com and its SIP credential are set"
        ),
        "{detail}"
    );
    let (l, detail) = light(&list, "twilio.trunk");
    assert_eq!(l, Light::Red, "{detail}");
    assert!(
        detail.contains("The Twilio account has no Elastic SIP trunk at"),
        "{detail}"
    );

    // No public URL: amber while Dial has no Twilio number, red once it has one (Twilio's
    // status callbacks have nowhere to go).
    save_twilio_settings(&app, true, "").await;
    let (l, detail) = light(&checklist(&app).await, "server.public_url");
    assert_eq!(l, Light::Amber, "{detail}");
    twilio_number(&app, "+12065550117").await;
    let (l, detail) = light(&checklist(&app).await, "server.public_url");
    assert_eq!(l, Light::Red, "{detail}");
    assert!(detail.contains("No public URL"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_scans_follow_their_interval_however_short() {
    let mut spawn = Spawn::new().await;
    spawn.config.drift_scan_every = Some(Duration::from_secs(2));
    let app = spawn.start().await;
    let scanned_at = || async {
        sqlx::query_scalar::<_, Option<i64>>("SELECT scanned_at FROM drift_state WHERE id = 1")
            .fetch_optional(&app.state.db.pool)
            .await
            .expect("drift state")
            .flatten()
    };
    // Three scheduled scans in a row (nothing else scans this app).
    let mut seen: Vec<i64> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while seen.len() < 3 {
        if let Some(at) = scanned_at().await {
            if seen.last() != Some(&at) {
                seen.push(at);
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} scheduled scan(s) in 40 s with a 2 s interval: {seen:?}",
            seen.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for pair in seen.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            (2..=10).contains(&gap),
            "scans {gap} s apart with a 2 s interval: {seen:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_instances_claiming_the_scheduled_scan_only_one_wins() {
    use dial_app::server::assignment::drift;
    let mut spawn = Spawn::new().await;
    spawn.config.drift_scan_every = None;
    let app = spawn.start().await;
    let state = &app.state;
    // Claims at the same moment, again and again: exactly one wins each time.
    for _ in 0..5 {
        let (a, b) = tokio::join!(
            drift::take_turn(state, "instance-a", 0),
            drift::take_turn(state, "instance-b", 0)
        );
        let (a, b) = (a.expect("claim a"), b.expect("claim b"));
        assert!(a != b, "instance a won: {a}, instance b won: {b}");
        let winner = if a { "instance-a" } else { "instance-b" };
        drift::end_turn(state, winner).await.expect("end");
    }
    let (winner, loser) = ("instance-a", "instance-b");
    assert!(drift::take_turn(state, winner, 0).await.expect("claim"));
    // While one holds the turn, the other can neither take it nor give it back.
    assert!(!drift::take_turn(state, loser, 0).await.expect("claim"));
    drift::end_turn(state, loser).await.expect("end");
    assert!(!drift::take_turn(state, loser, 0).await.expect("claim"));
    // The holder scans and gives the turn back: the next is due an interval after the scan.
    drift::scan(state).await.expect("scan");
    drift::end_turn(state, winner).await.expect("end");
    assert!(!drift::take_turn(state, loser, 60).await.expect("claim"));
    assert!(drift::take_turn(state, loser, 0).await.expect("claim"));
    drift::end_turn(state, loser).await.expect("end");
    // The scheduled attempt does all three, and leaves the turn free.
    assert!(!drift::scheduled_scan(state, winner, 60)
        .await
        .expect("scheduled"));
    assert!(drift::scheduled_scan(state, winner, 0)
        .await
        .expect("scheduled"));
    assert!(drift::scheduled_scan(state, loser, 0)
        .await
        .expect("scheduled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_application_set_in_twilio_is_found_and_the_number_put_back_on_the_trunk() {
    const APP: &str = "AP0123456789abcdef0123456789abcd41";
    const VOICE_URL: &str = "https://console.example.com/voice";
    let app = provisioning_app().await;
    let (number_id, _) = assigned(&app, "+12065550111").await;
    let (twilio, _) = fakes(&app);
    let at = |twilio: &dial_fakes::twilio::FakeTwilio| {
        twilio
            .numbers(SID)
            .into_iter()
            .find(|n| n.phone_number == "+12065550111")
            .expect("number")
    };
    let attached = at(&twilio);
    let trunk = attached.trunk_sid.clone().expect("on Dial's trunk");
    assert_eq!(attached.voice_application_sid, None);
    let client = dial_app::server::twilio::settings::client(&app.state)
        .await
        .expect("client");
    // A voice URL changed in the console is not drift: Dial never writes it, and Twilio
    // ignores it while the number is on a trunk.
    client
        .update_number(
            &attached.sid,
            &dial_app::server::twilio::UpdateNumber {
                voice_url: Some(VOICE_URL.into()),
                ..Default::default()
            },
        )
        .await
        .expect("voice URL");
    let report = scan(&app).await;
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.number_id.as_deref() != Some(number_id.as_str())),
        "{report:?}"
    );
    // A voice application set in the console: Twilio takes the number off its trunk.
    client
        .update_number(
            &attached.sid,
            &dial_app::server::twilio::UpdateNumber {
                voice_application_sid: Some(APP.into()),
                ..Default::default()
            },
        )
        .await
        .expect("voice application");
    assert_eq!(at(&twilio).trunk_sid, None, "Twilio took it off the trunk");
    let words = repair_and_check(&app, DriftKind::NumberOffTrunk).await;
    assert!(
        words.contains(&format!(
            "voice application {APP} was set on it, which takes a number off its trunk"
        )),
        "{words}"
    );
    let repaired = at(&twilio);
    assert_eq!(repaired.trunk_sid.as_deref(), Some(trunk.as_str()));
    assert_eq!(repaired.voice_application_sid, None);
    assert_eq!(repaired.voice_url.as_deref(), Some(VOICE_URL));
    // As the finding says, unassign gives the application back.
    app.call::<String>(
        &app.client,
        "assignment/unassign",
        &[("number_id", number_id.as_str())],
    )
    .await
    .expect("unassign");
    let released = at(&twilio);
    assert_eq!(released.trunk_sid, None);
    assert_eq!(released.voice_application_sid.as_deref(), Some(APP));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphaned_dispatch_rules_and_outbound_trunks_are_found_and_deleted() {
    use dial_app::server::livekit::{InboundTrunkSpec, OutboundTrunkSpec};
    let app = provisioning_app().await;
    assigned(&app, "+12065550112").await;
    let (_, livekit) = fakes(&app);
    let lk = console(&app);
    let dial_metadata = |e164: &str| {
        serde_json::json!({"managed_by": "dial", "number_id": "gone", "e164": e164}).to_string()
    };
    // A rule Dial made for a number it no longer has, on a trunk someone made by hand.
    let by_hand = lk
        .create_inbound_trunk(InboundTrunkSpec {
            name: "By hand".into(),
            numbers: vec!["+14155550143".into()],
            ..Default::default()
        })
        .await
        .expect("a trunk made by hand");
    let rule = lk
        .create_dispatch_rule(
            proto::sip_dispatch_rule::Rule::DispatchRuleIndividual(
                proto::SipDispatchRuleIndividual {
                    room_prefix: "desk-".into(),
                    ..Default::default()
                },
            ),
            livekit_api::services::sip::CreateSIPDispatchRuleOptions {
                name: "Dial +14155550143".into(),
                metadata: dial_metadata("+14155550143"),
                trunk_ids: vec![by_hand.sip_trunk_id.clone()],
                ..Default::default()
            },
        )
        .await
        .expect("orphan rule");
    let outbound = lk
        .create_outbound_trunk(OutboundTrunkSpec {
            name: "Dial +14155550144".into(),
            address: "dial-sandbox.pstn.twilio.com".into(),
            numbers: vec!["+14155550144".into()],
            transport: proto::SipTransport::Auto,
            metadata: dial_metadata("+14155550144"),
            auth_username: "dial".into(),
            auth_password: secrecy::SecretString::from("DialSandbox2026".to_string()),
            destination_country: None,
        })
        .await
        .expect("orphan outbound trunk");

    // Exactly those two are orphans: not the assigned number's objects, not the trunk
    // made by hand (it carries no Dial metadata).
    let report = scan(&app).await;
    let mut orphans: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.kind == DriftKind::Orphan)
        .filter_map(|f| match &f.repair {
            Repair::DeleteLiveKit { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    orphans.sort();
    let mut expected = vec![
        rule.sip_dispatch_rule_id.clone(),
        outbound.sip_trunk_id.clone(),
    ];
    expected.sort();
    assert_eq!(orphans, expected, "{report:?}");
    let page = app.get_page(&app.client, "/dashboard/drift").await.2;
    assert!(
        page.contains(&format!(
            "Delete dispatch rule {}",
            rule.sip_dispatch_rule_id
        )),
        "the page's confirmation names the rule"
    );
    assert!(
        page.contains(&format!("Delete outbound trunk {}", outbound.sip_trunk_id)),
        "the page's confirmation names the trunk"
    );

    let words = repair_and_check_on(&app, DriftKind::Orphan, Some("+14155550143")).await;
    assert_eq!(
        words,
        format!(
            "LiveKit dispatch rule {} “Dial +14155550143” was made by Dial for +1 (415) 555-0143 but no number records it.",
            rule.sip_dispatch_rule_id
        )
    );
    assert!(livekit
        .dispatch_rules()
        .iter()
        .all(|r| r.sip_dispatch_rule_id != rule.sip_dispatch_rule_id));
    let words = repair_and_check_on(&app, DriftKind::Orphan, Some("+14155550144")).await;
    assert!(
        words.starts_with(&format!(
            "LiveKit outbound trunk {} “Dial +14155550144”",
            outbound.sip_trunk_id
        )),
        "{words}"
    );
    assert!(livekit
        .outbound_trunks()
        .iter()
        .all(|t| t.sip_trunk_id != outbound.sip_trunk_id));
    // The number's own objects and the trunk made by hand are still there.
    assert_eq!(livekit.dispatch_rules().len(), 1);
    assert_eq!(livekit.outbound_trunks().len(), 1);
    assert_eq!(livekit.inbound_trunks().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_changed_field_of_the_numbers_livekit_objects_is_found_and_put_back() {
    let app = provisioning_app().await;
    assigned(&app, "+12065550115").await;
    let (_, livekit) = fakes(&app);
    let lk = console(&app);
    let inbound = livekit.inbound_trunks().remove(0);
    let outbound = livekit.outbound_trunks().remove(0);
    let rule = livekit.dispatch_rules().remove(0);

    // The inbound trunk takes calls from another address.
    lk.update_inbound_trunk(
        &inbound.sip_trunk_id,
        proto::SipInboundTrunkUpdate {
            allowed_addresses: Some(proto::ListUpdate {
                set: vec!["203.0.113.9".into()],
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .expect("change the addresses");
    let words = repair_and_check(&app, DriftKind::InboundChanged).await;
    assert!(
        words.contains(&format!(
            "it accepts calls from 203.0.113.9 instead of {}",
            inbound.allowed_addresses.join(", ")
        )),
        "{words}"
    );
    assert_eq!(
        livekit.inbound_trunks()[0].allowed_addresses,
        inbound.allowed_addresses
    );

    // The outbound trunk carries another number.
    lk.update_outbound_trunk(
        &outbound.sip_trunk_id,
        proto::SipOutboundTrunkUpdate {
            numbers: Some(proto::ListUpdate {
                set: vec!["+14155550998".into()],
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .expect("change the numbers");
    let words = repair_and_check(&app, DriftKind::OutboundChanged).await;
    assert!(
        words.contains("it no longer carries +1 (206) 555-0115 (it lists +14155550998)"),
        "{words}"
    );
    assert_eq!(livekit.outbound_trunks()[0].numbers, outbound.numbers);

    // The outbound trunk signs in as someone else.
    lk.update_outbound_trunk(
        &outbound.sip_trunk_id,
        proto::SipOutboundTrunkUpdate {
            auth_username: Some("someone-else".into()),
            ..Default::default()
        },
    )
    .await
    .expect("change the user name");
    let words = repair_and_check(&app, DriftKind::OutboundChanged).await;
    assert!(
        words.contains(&format!(
            "it signs in as `someone-else`, the settings say `{}`",
            outbound.auth_username
        )),
        "{words}"
    );
    assert_eq!(
        livekit.outbound_trunks()[0].auth_username,
        outbound.auth_username
    );

    // The rule's agent metadata and its rooms' prefix.
    let mut changed = rule.clone();
    if let Some(c) = changed.room_config.as_mut() {
        c.agents[0].metadata = r#"{"assistant":"someone else"}"#.into();
    }
    lk.replace_dispatch_rule(&rule.sip_dispatch_rule_id, changed)
        .await
        .expect("change the metadata");
    let words = repair_and_check(&app, DriftKind::RuleChanged).await;
    assert!(
        words.contains("the agent's metadata differs from the assistant's"),
        "{words}"
    );
    let agent_metadata = |livekit: &dial_fakes::livekit::FakeLiveKit| {
        livekit.dispatch_rules()[0]
            .room_config
            .as_ref()
            .map(|c| c.agents[0].metadata.clone())
    };
    assert_eq!(
        agent_metadata(&livekit),
        rule.room_config
            .as_ref()
            .map(|c| c.agents[0].metadata.clone())
    );
    let mut changed = rule.clone();
    changed.rule = Some(proto::SipDispatchRule {
        rule: Some(proto::sip_dispatch_rule::Rule::DispatchRuleIndividual(
            proto::SipDispatchRuleIndividual {
                room_prefix: "other-".into(),
                ..Default::default()
            },
        )),
    });
    lk.replace_dispatch_rule(&rule.sip_dispatch_rule_id, changed)
        .await
        .expect("change the prefix");
    let words = repair_and_check(&app, DriftKind::RuleChanged).await;
    assert!(
        words.contains("its rooms start with `other-`, the assistant says `desk-`"),
        "{words}"
    );
    assert_eq!(livekit.dispatch_rules()[0].rule, rule.rule);

    // The rule routes another trunk's calls, then every trunk's.
    let by_hand = lk
        .create_inbound_trunk(dial_app::server::livekit::InboundTrunkSpec {
            name: "By hand".into(),
            numbers: vec!["+14155550146".into()],
            ..Default::default()
        })
        .await
        .expect("a trunk made by hand");
    for (trunk_ids, said) in [
        (
            vec![by_hand.sip_trunk_id.clone()],
            format!("trunk(s) {}", by_hand.sip_trunk_id),
        ),
        (Vec::new(), "every inbound trunk".to_string()),
    ] {
        let mut changed = rule.clone();
        changed.trunk_ids = trunk_ids;
        lk.replace_dispatch_rule(&rule.sip_dispatch_rule_id, changed)
            .await
            .expect("change the trunks");
        let words = repair_and_check(&app, DriftKind::RuleChanged).await;
        assert!(
            words.contains(&format!(
                "it routes {said} instead of {}",
                inbound.sip_trunk_id
            )),
            "{words}"
        );
        assert_eq!(
            livekit.dispatch_rules()[0].trunk_ids,
            vec![inbound.sip_trunk_id.clone()]
        );
    }

    // Nothing of the number's is left to repair.
    let last = scan(&app).await;
    assert!(
        last.findings
            .iter()
            .all(|f| f.kind == DriftKind::UnknownNumber),
        "{last:?}"
    );
}
