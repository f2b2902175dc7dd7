//! Assigning numbers to assistants: the runs, their guarantees (idempotent, resumable,
//! roll back), and the proof that a number's calls reach the assistant's agent — all
//! against the sandbox's Twilio and LiveKit fakes over real HTTP.

use crate::helpers::*;
use dial_app::{
    error::AppError,
    model::AssignmentStatus,
    model::{NumberRow, Page, RouteCheck, Routing, RunStatus, StepAction, StepName, StepStatus},
    server::{
        livekit::{InboundTrunkSpec, LiveKitClient},
        sandbox::{DEFAULT_TWILIO_ACCOUNT_SID as SID, SANDBOX_SIP_URI},
    },
};
use dial_fakes::{
    faults::Fault,
    livekit::{FakeLiveKit, InboundRejected},
    twilio::FakeTwilio,
};
use secrecy::SecretString;
use serde_json::json;
use std::{net::IpAddr, time::Duration};

const TWILIO_EDGE: [u8; 4] = [54, 172, 60, 1];
const CALLER: &str = "+15105550100";

pub async fn provisioning_app() -> TestApp {
    let mut spawn = Spawn::new().await;
    spawn.config.sandbox = true;
    spawn.config.twilio_timeout = Duration::from_secs(2);
    spawn.config.livekit_timeout = Duration::from_secs(2);
    let app = spawn.start().await;
    app.setup_admin().await;
    app
}

pub fn fakes(app: &TestApp) -> (FakeTwilio, FakeLiveKit) {
    let sandbox = app.state.sandbox().expect("sandbox mode");
    (sandbox.twilio.clone(), sandbox.livekit.clone())
}

pub async fn user_id(app: &TestApp, username: &str) -> String {
    sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(&app.state.db.pool)
        .await
        .expect("user")
}

/// An assistant row, as the assistants page would create it.
pub async fn insert_assistant(
    app: &TestApp,
    owner_id: &str,
    name: &str,
    agent: &str,
    prefix: &str,
) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO assistants (id, owner_id, name, agent_name, metadata, room_prefix, description, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, '', 0, 0)",
    )
    .bind(&id)
    .bind(owner_id)
    .bind(name)
    .bind(agent)
    .bind(json!({ "assistant": name, "language": "en" }).to_string())
    .bind(prefix)
    .execute(&app.state.db.pool)
    .await
    .expect("insert assistant");
    id
}

/// Puts `e164` on the sandbox's Twilio account and imports it; returns the number.
pub async fn twilio_number(app: &TestApp, e164: &str) -> NumberRow {
    let (twilio, _) = fakes(app);
    let sid = twilio.give_number(SID, e164).expect("give number");
    let imported: u32 = app
        .call(&app.client, "numbers/import", &[("sid", &sid)])
        .await
        .expect("import");
    assert_eq!(imported, 1);
    number_by_e164(app, e164).await
}

pub async fn number_by_e164(app: &TestApp, e164: &str) -> NumberRow {
    let page: Page<NumberRow> = app
        .call(&app.client, "numbers/list", &[("q", e164)])
        .await
        .expect("list");
    page.items
        .into_iter()
        .find(|n| n.e164.as_str() == e164)
        .expect("number listed")
}

pub async fn routing(app: &TestApp, client: &reqwest::Client, number_id: &str) -> Routing {
    app.call(client, "assignment/routing", &[("number_id", number_id)])
        .await
        .expect("routing")
}

/// Lets the sandbox's Twilio trunks take calls as fast as a test places them. Twilio
/// admits 1 call a second per trunk by default and refuses the rest with SIP 503
/// (`fakes/src/twilio/cps.rs`; its own tests are in tests/providers/carrier.rs); tests
/// that place calls one after another, faster than that, call this after assigning.
pub fn lift_call_rate_limits(app: &TestApp) {
    let (twilio, _) = fakes(app);
    for trunk in twilio.trunks(SID) {
        twilio
            .set_trunk_cps(&trunk.sid, 1_000)
            .expect("the trunk is the fake's");
    }
}

pub async fn assign(
    app: &TestApp,
    client: &reqwest::Client,
    number_id: &str,
    assistant_id: &str,
) -> Result<String, AppError> {
    app.call(
        client,
        "assignment/assign",
        &[("number_id", number_id), ("assistant_id", assistant_id)],
    )
    .await
}

fn statuses(r: &Routing) -> Vec<(String, String)> {
    r.current
        .as_ref()
        .map(|run| {
            run.steps
                .iter()
                .map(|s| (s.name.as_str().to_string(), s.status.as_str().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// How many LiveKit objects exist for the number: (inbound trunks, outbound trunks, rules).
fn livekit_objects(livekit: &FakeLiveKit, e164: &str) -> (usize, usize, usize) {
    let inbound: Vec<String> = livekit
        .inbound_trunks()
        .into_iter()
        .filter(|t| t.numbers.iter().any(|n| n == e164))
        .map(|t| t.sip_trunk_id)
        .collect();
    let outbound = livekit
        .outbound_trunks()
        .into_iter()
        .filter(|t| t.numbers.iter().any(|n| n == e164))
        .count();
    let rules = livekit
        .dispatch_rules()
        .into_iter()
        .filter(|r| r.trunk_ids.iter().any(|t| inbound.contains(t)))
        .count();
    (inbound.len(), outbound, rules)
}

fn attached(twilio: &FakeTwilio, e164: &str) -> bool {
    twilio
        .numbers(SID)
        .iter()
        .any(|n| n.phone_number == e164 && n.trunk_sid.is_some())
}

pub fn call_in(
    livekit: &FakeLiveKit,
    e164: &str,
) -> Result<dial_fakes::livekit::InboundRouted, InboundRejected> {
    livekit.simulate_inbound(
        e164,
        CALLER,
        IpAddr::from(TWILIO_EDGE),
        None,
        Some("CA0123"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assigned_number_routes_calls_to_the_assistants_agent_and_unassign_undoes_it() {
    let app = provisioning_app().await;
    let (twilio, livekit) = fakes(&app);
    let admin = user_id(&app, ADMIN).await;
    let number = twilio_number(&app, "+14155550101").await;
    let assistant =
        insert_assistant(&app, &admin, "Reception", "reception-agent", "reception-").await;

    // Before: LiveKit rejects the call the way it rejects an unrouted number.
    assert!(matches!(
        call_in(&livekit, number.e164.as_str()),
        Err(InboundRejected::NoTrunk { .. })
    ));

    assign(&app, &app.client, &number.id, &assistant)
        .await
        .expect("assign");
    let r = routing(&app, &app.client, &number.id).await;
    let run = r.current.clone().expect("a run");
    assert_eq!(run.status, RunStatus::Done, "{:?}", run);
    assert!(
        run.steps.iter().all(|s| s.status == StepStatus::Done),
        "{:?}",
        statuses(&r)
    );
    assert_eq!(r.number.assignment_status, AssignmentStatus::Active);
    assert_eq!(r.number.assistant.as_deref(), Some("Reception"));
    assert!(run.wall_ms.is_some());

    // Twilio: Dial's trunk, created once, with LiveKit as origination and credentials.
    let trunks = twilio.trunks(SID);
    assert_eq!(trunks.len(), 1, "{trunks:?}");
    let trunk = &trunks[0];
    assert_eq!(
        trunk.domain_name.as_deref(),
        Some("dial-sandbox.pstn.twilio.com")
    );
    assert_eq!(
        trunk.origination_urls,
        vec![format!("sip:{SANDBOX_SIP_URI}")]
    );
    assert_eq!(trunk.credential_lists.len(), 1);
    // Made with transfers on (Twilio's default is disable-all).
    assert_eq!(trunk.transfer_mode, "enable-all");
    assert!(attached(&twilio, number.e164.as_str()));
    assert_eq!(r.twilio_trunk_sid.as_deref(), Some(trunk.sid.as_str()));

    // LiveKit: one inbound trunk, one outbound trunk, one rule — recorded on the number.
    assert_eq!(livekit_objects(&livekit, number.e164.as_str()), (1, 1, 1));
    let outbound = livekit.outbound_trunks();
    assert_eq!(outbound[0].address, "dial-sandbox.pstn.twilio.com");
    assert_eq!(outbound[0].auth_username, "dial");
    // A Twilio number's trunk names no destination country (it calls anywhere).
    assert_eq!(outbound[0].destination_country, "");
    let rule = &livekit.dispatch_rules()[0];
    assert_eq!(Some(rule.sip_dispatch_rule_id.clone()), r.dispatch_rule_id);
    assert_eq!(rule.trunk_ids, vec![r.inbound_trunk_id.clone().unwrap()]);

    // The proof: a call to the number lands in a room with the assistant's prefix, with a
    // SIP participant and the assistant's agent dispatched with its metadata.
    let routed = call_in(&livekit, number.e164.as_str()).expect("routed");
    assert!(routed.room.starts_with("reception-"), "{}", routed.room);
    let participant = livekit
        .participants(&routed.room)
        .into_iter()
        .find(|p| p.identity == routed.participant_identity)
        .expect("SIP participant");
    assert_eq!(
        participant
            .attributes
            .get("sip.trunkPhoneNumber")
            .map(String::as_str),
        Some(number.e164.as_str())
    );
    assert_eq!(routed.agents.len(), 1);
    assert_eq!(routed.agents[0].0, "reception-agent");
    let metadata: serde_json::Value = serde_json::from_str(&routed.agents[0].1).unwrap();
    assert_eq!(metadata["assistant"], "Reception");
    livekit.hang_up_from_phone(&routed.room, &routed.participant_identity);

    // The page's "Test inbound route" runs the same check.
    let check: RouteCheck = app
        .call(
            &app.client,
            "assignment/test-route",
            &[("number_id", &number.id)],
        )
        .await
        .unwrap();
    assert!(check.ok && check.simulated, "{check:?}");

    // Assigning again leaves exactly one of everything.
    assign(&app, &app.client, &number.id, &assistant)
        .await
        .expect("assign again");
    let again = routing(&app, &app.client, &number.id).await;
    assert_eq!(again.current.as_ref().unwrap().status, RunStatus::Done);
    assert!(
        again
            .current
            .as_ref()
            .unwrap()
            .steps
            .iter()
            .skip(1)
            .all(|s| s.action != Some(StepAction::Created) || s.name == StepName::Record),
        "{:?}",
        again.current
    );
    assert_eq!(livekit_objects(&livekit, number.e164.as_str()), (1, 1, 1));
    assert_eq!(twilio.trunks(SID).len(), 1);
    assert_eq!(again.history.len(), 1);

    // Unassign: rule and both trunks gone, detached; Twilio's trunk stays for other numbers.
    let _: String = app
        .call(
            &app.client,
            "assignment/unassign",
            &[("number_id", &number.id)],
        )
        .await
        .expect("unassign");
    let after = routing(&app, &app.client, &number.id).await;
    assert_eq!(
        after.current.as_ref().unwrap().status,
        RunStatus::Done,
        "{:?}",
        after.current
    );
    assert_eq!(after.number.assignment_status, AssignmentStatus::Unassigned);
    assert!(after.number.assistant_id.is_none() && after.inbound_trunk_id.is_none());
    assert_eq!(livekit_objects(&livekit, number.e164.as_str()), (0, 0, 0));
    assert!(livekit.outbound_trunks().is_empty() && livekit.dispatch_rules().is_empty());
    assert!(!attached(&twilio, number.e164.as_str()));
    assert_eq!(twilio.trunks(SID).len(), 1);
    assert!(matches!(
        call_in(&livekit, number.e164.as_str()),
        Err(InboundRejected::NoTrunk { .. })
    ));
    let check: RouteCheck = app
        .call(
            &app.client,
            "assignment/test-route",
            &[("number_id", &number.id)],
        )
        .await
        .unwrap();
    assert!(!check.ok);

    let actions = app.audit_actions().await;
    for action in [
        "provisioning.run_started",
        "provisioning.step",
        "provisioning.run_done",
        "provisioning.route_test",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    // Every row of a run names the run, so the audit log shows it as one entry.
    let (unlinked,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'provisioning.%' \
         AND action <> 'provisioning.route_test' AND run_id IS NULL",
    )
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(unlinked, 0);
    let log: dial_app::model::Page<dial_app::model::AuditEntry> = app
        .call(&app.client, "audit", &[("page", "1")])
        .await
        .unwrap();
    assert!(log
        .items
        .iter()
        .all(|e| !e.action.starts_with("provisioning.step")));
    let runs: Vec<_> = log.items.iter().filter(|e| e.run_id.is_some()).collect();
    assert!(runs.len() >= 2, "the assignments and the unassignment");
    for run in runs {
        assert_eq!(run.action, "provisioning.run_done");
        assert_eq!(run.steps[0].action, "provisioning.run_started");
        assert!(run.steps.iter().any(|s| s.action == "provisioning.step"));
        assert!(run.steps.iter().all(|s| s.run_id == run.run_id));
    }
    // The Twilio secrets Dial generated or stored never reach a page.
    assert!(!app.all_bodies().contains("DialSandbox2026"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reassigning_replaces_the_rule_in_place_and_two_numbers_do_not_clash() {
    let app = provisioning_app().await;
    let (_, livekit) = fakes(&app);
    let admin = user_id(&app, ADMIN).await;
    let one = twilio_number(&app, "+14155550111").await;
    let two = twilio_number(&app, "+14155550112").await;
    let sales = insert_assistant(&app, &admin, "Sales", "sales-agent", "sales-").await;
    let support = insert_assistant(&app, &admin, "Support", "support-agent", "support-").await;

    assign(&app, &app.client, &one.id, &sales).await.unwrap();
    assign(&app, &app.client, &two.id, &support).await.unwrap();
    assert_eq!(livekit_objects(&livekit, one.e164.as_str()), (1, 1, 1));
    assert_eq!(livekit_objects(&livekit, two.e164.as_str()), (1, 1, 1));
    let a = call_in(&livekit, one.e164.as_str()).unwrap();
    let b = call_in(&livekit, two.e164.as_str()).unwrap();
    assert_eq!(
        (a.agents[0].0.as_str(), b.agents[0].0.as_str()),
        ("sales-agent", "support-agent")
    );

    // Reassign number one to Support: same trunk, same rule id, new agent.
    let before = routing(&app, &app.client, &one.id).await;
    assign(&app, &app.client, &one.id, &support).await.unwrap();
    let after = routing(&app, &app.client, &one.id).await;
    let run = after.current.clone().unwrap();
    assert_eq!(run.status, RunStatus::Done);
    assert_eq!(run.previous_assistant.as_deref(), Some("Sales"));
    assert_eq!(
        after.dispatch_rule_id, before.dispatch_rule_id,
        "the rule was replaced in place"
    );
    assert_eq!(after.inbound_trunk_id, before.inbound_trunk_id);
    let rule_step = run
        .steps
        .iter()
        .find(|s| s.name == StepName::DispatchRule)
        .unwrap();
    assert_eq!(rule_step.action, Some(StepAction::Updated));
    let c = call_in(&livekit, one.e164.as_str()).unwrap();
    assert_eq!(c.agents[0].0, "support-agent");
    assert!(c.room.starts_with("support-"));
    assert_eq!(livekit_objects(&livekit, one.e164.as_str()), (1, 1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_trunk_claiming_the_number_stops_the_precheck_and_is_named() {
    let app = provisioning_app().await;
    let (twilio, livekit) = fakes(&app);
    let admin = user_id(&app, ADMIN).await;
    let number = twilio_number(&app, "+14155550121").await;
    let assistant = insert_assistant(&app, &admin, "Reception", "agent", "call-").await;
    let sandbox = app.state.sandbox().unwrap();
    let lk = LiveKitClient::new(
        &sandbox.livekit_url,
        &sandbox.credentials.livekit_api_key,
        &SecretString::from(sandbox.credentials.livekit_api_secret.clone()),
        Duration::from_secs(5),
    );
    let foreign = lk
        .create_inbound_trunk(InboundTrunkSpec {
            name: "Old PBX".into(),
            numbers: vec![number.e164.to_string()],
            ..Default::default()
        })
        .await
        .unwrap();

    assign(&app, &app.client, &number.id, &assistant)
        .await
        .unwrap();
    let r = routing(&app, &app.client, &number.id).await;
    let run = r.current.unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    let (n, step) = run.failed_step().unwrap();
    assert_eq!(n, 1);
    let error = step.error.clone().unwrap();
    assert!(
        error.contains(&foreign.sip_trunk_id) && error.contains("Old PBX"),
        "{error}"
    );
    assert!(error.contains("not made by Dial"), "{error}");
    assert_eq!(r.number.assignment_status, AssignmentStatus::Failed);
    // Nothing was created anywhere.
    assert_eq!(livekit.inbound_trunks().len(), 1);
    assert!(livekit.outbound_trunks().is_empty() && livekit.dispatch_rules().is_empty());
    assert!(twilio.trunks(SID).is_empty());

    // Roll back: nothing to delete; the number is unassigned again and can be retried later.
    let _: () = app
        .call(&app.client, "assignment/roll-back", &[("run_id", &run.id)])
        .await
        .unwrap();
    let r = routing(&app, &app.client, &number.id).await;
    assert_eq!(r.current.as_ref().unwrap().status, RunStatus::RolledBack);
    assert_eq!(r.number.assignment_status, AssignmentStatus::Unassigned);
    assert_eq!(
        livekit.inbound_trunks().len(),
        1,
        "the foreign trunk is not Dial's to delete"
    );
}

/// The provider calls a run makes, with the route a fault matches.
const FAULT_ROUTES: &[&str] = &[
    "GET /2010-04-01/Accounts",
    "GET /v1/Trunks",
    "POST /v1/Trunks/",
    "POST /twirp/livekit.SIP/CreateSIPInboundTrunk",
    "POST /twirp/livekit.SIP/CreateSIPOutboundTrunk",
    "POST /twirp/livekit.SIP/CreateSIPDispatchRule",
];

fn inject(twilio: &FakeTwilio, livekit: &FakeLiveKit, route: &str, hang: bool) {
    let fault = if hang {
        Fault::hang(route, 20)
    } else if route.contains("twirp") {
        Fault::respond(
            route,
            20,
            500,
            json!({"code": "internal", "msg": "injected failure"}),
        )
    } else {
        Fault::respond(
            route,
            20,
            500,
            json!({"code": 20500, "message": "injected failure", "status": 500}),
        )
    };
    if route.contains("twirp") {
        livekit.faults.inject(fault);
    } else {
        twilio.faults.inject(fault);
    }
}

async fn fault_then(retry: bool, hang: bool) {
    let app = provisioning_app().await;
    let (twilio, livekit) = fakes(&app);
    let admin = user_id(&app, ADMIN).await;
    let assistant = insert_assistant(&app, &admin, "Reception", "agent", "call-").await;
    for (i, route) in FAULT_ROUTES.iter().enumerate() {
        let e164 = format!("+1415555013{i}");
        let number = twilio_number(&app, &e164).await;
        // The number answered with a TwiML application before Dial.
        let app_sid = "APfedcba9876543210fedcba9876543210";
        twilio.set_voice_application(SID, &e164, app_sid);
        let voice_application = |twilio: &FakeTwilio| {
            twilio
                .numbers(SID)
                .into_iter()
                .find(|n| n.phone_number == e164)
                .and_then(|n| n.voice_application_sid)
        };
        let trunks_before = twilio.trunks(SID);
        inject(&twilio, &livekit, route, hang);
        assign(&app, &app.client, &number.id, &assistant)
            .await
            .unwrap();
        let r = routing(&app, &app.client, &number.id).await;
        let run = r.current.clone().unwrap();
        assert_eq!(run.status, RunStatus::Failed, "{route}: {:?}", statuses(&r));
        assert_eq!(r.number.assignment_status, AssignmentStatus::Failed);
        let (_, failed) = run.failed_step().unwrap();
        assert!(
            failed.error.clone().unwrap_or_default().len() > 10,
            "{route}: {failed:?}"
        );
        twilio.faults.clear();
        livekit.faults.clear();

        if retry {
            let _: () = app
                .call(&app.client, "assignment/retry", &[("run_id", &run.id)])
                .await
                .unwrap();
            let r = routing(&app, &app.client, &number.id).await;
            assert_eq!(
                r.current.as_ref().unwrap().status,
                RunStatus::Done,
                "{route}: {:?}",
                statuses(&r)
            );
            assert_eq!(livekit_objects(&livekit, &e164), (1, 1, 1), "{route}");
            assert!(attached(&twilio, &e164), "{route}");
            assert_eq!(twilio.trunks(SID).len(), 1, "{route}");
            assert_eq!(r.number.assignment_status, AssignmentStatus::Active);
            assert!(call_in(&livekit, &e164).is_ok(), "{route}");
        } else {
            let _: () = app
                .call(&app.client, "assignment/roll-back", &[("run_id", &run.id)])
                .await
                .unwrap();
            let r = routing(&app, &app.client, &number.id).await;
            assert_eq!(
                r.current.as_ref().unwrap().status,
                RunStatus::RolledBack,
                "{route}: {:?}",
                statuses(&r)
            );
            assert_eq!(livekit_objects(&livekit, &e164), (0, 0, 0), "{route}");
            assert!(!attached(&twilio, &e164), "{route}");
            assert_eq!(r.number.assignment_status, AssignmentStatus::Unassigned);
            // Its voice application is as it was, whether or not the run reached the trunk.
            assert_eq!(
                voice_application(&twilio).as_deref(),
                Some(app_sid),
                "{route}"
            );
            // A trunk this run created is gone too; one that existed before stays.
            let after: Vec<String> = twilio.trunks(SID).into_iter().map(|t| t.sid).collect();
            let before: Vec<String> = trunks_before.into_iter().map(|t| t.sid).collect();
            assert_eq!(after, before, "{route}");
            assert!(twilio.trunks(SID).iter().all(|t| t.number_sids.is_empty()));
        }
    }
    // Whatever happened, no LiveKit object is left that no number records.
    let recorded: Vec<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT inbound_trunk_id, dispatch_rule_id FROM phone_numbers")
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap();
    for trunk in livekit.inbound_trunks() {
        assert!(
            recorded
                .iter()
                .any(|(t, _)| t.as_deref() == Some(trunk.sip_trunk_id.as_str())),
            "orphan {}",
            trunk.sip_trunk_id
        );
    }
    for rule in livekit.dispatch_rules() {
        assert!(
            recorded
                .iter()
                .any(|(_, r)| r.as_deref() == Some(rule.sip_dispatch_rule_id.as_str())),
            "orphan {}",
            rule.sip_dispatch_rule_id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_error_at_any_step_then_retry_completes_with_one_of_each() {
    fault_then(true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_error_at_any_step_then_roll_back_leaves_nothing_the_run_created() {
    fault_then(false, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_time_out_at_any_step_then_retry_completes_with_one_of_each() {
    fault_then(true, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_time_out_at_any_step_then_roll_back_leaves_nothing_the_run_created() {
    fault_then(false, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_assign_only_their_numbers_to_their_assistants() {
    let app = provisioning_app().await;
    let (owner, owner_id) = app.owner_client().await;
    let admin = user_id(&app, ADMIN).await;
    let mine = twilio_number(&app, "+14155550122").await;
    let theirs = twilio_number(&app, "+14155550123").await;
    let _: NumberRow = app
        .call(
            &app.client,
            "numbers/allot",
            &[("id", &mine.id), ("owner_id", &owner_id)],
        )
        .await
        .unwrap();
    let my_assistant = insert_assistant(&app, &owner_id, "Mine", "agent", "call-").await;
    let admins_assistant = insert_assistant(&app, &admin, "Admin's", "agent", "call-").await;

    // Another owner's number: not found. Another owner's assistant: refused on its field.
    let err = assign(&app, &owner, &theirs.id, &my_assistant)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::NotFound { .. }), "{err:?}");
    let err = assign(&app, &owner, &mine.id, &admins_assistant)
        .await
        .unwrap_err();
    assert!(err.field("assistant_id").is_some(), "{err:?}");
    // An admin cannot give the owner's number to an assistant of someone else either.
    let err = assign(&app, &app.client, &mine.id, &admins_assistant)
        .await
        .unwrap_err();
    assert!(err.field("assistant_id").is_some(), "{err:?}");
    // Runs and routing of others' numbers are hidden.
    let err = app
        .call::<Routing>(&owner, "assignment/routing", &[("number_id", &theirs.id)])
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::NotFound { .. }));
    let err = app
        .call::<String>(&owner, "assignment/unassign", &[("number_id", &theirs.id)])
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::NotFound { .. }));
    // Signed out: unauthorised.
    let err = assign(&app, &new_client(), &mine.id, &my_assistant)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Unauthorized));

    assign(&app, &owner, &mine.id, &my_assistant).await.unwrap();
    let r = routing(&app, &owner, &mine.id).await;
    assert_eq!(r.current.as_ref().unwrap().status, RunStatus::Done);
    assert_eq!(
        r.assistants.len(),
        1,
        "only the owner's assistants are offered"
    );
    let run_id = r.current.unwrap().id;
    let err = app
        .call::<()>(&new_client(), "assignment/retry", &[("run_id", &run_id)])
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Unauthorized));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carrier_number_skips_twilio_and_gets_the_carriers_outbound_trunk() {
    let app = provisioning_app().await;
    let (twilio, livekit) = fakes(&app);
    let admin = user_id(&app, ADMIN).await;
    let carrier_id: String = app
        .call(
            &app.client,
            "carriers/create",
            &[
                ("name", "Telnyx"),
                ("kind", "telnyx"),
                ("sip_address", "sip.telnyx.com"),
                ("transport", "tcp"),
                ("auth_username", "dialuser"),
                ("auth_password", "Carrier-Pass-2026"),
                ("destination_country", "US"),
                ("inbound_addresses", "192.0.2.10"),
            ],
        )
        .await
        .expect("carrier");
    let _: String = app
        .call(
            &app.client,
            "carriers/add-number",
            &[
                ("carrier_id", &carrier_id),
                ("e164", "+13125550150"),
                ("label", ""),
            ],
        )
        .await
        .expect("add number");
    let number = number_by_e164(&app, "+13125550150").await;
    let assistant = insert_assistant(&app, &admin, "Reception", "agent", "call-").await;
    assign(&app, &app.client, &number.id, &assistant)
        .await
        .unwrap();
    let r = routing(&app, &app.client, &number.id).await;
    let run = r.current.unwrap();
    assert_eq!(run.status, RunStatus::Done, "{:?}", run.steps);
    let skipped: Vec<&str> = run
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Skipped)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(skipped, ["twilio_trunk", "twilio_attach"]);
    assert!(twilio.trunks(SID).is_empty());
    let outbound = livekit.outbound_trunks();
    assert_eq!(outbound[0].address, "sip.telnyx.com");
    assert_eq!(outbound[0].auth_username, "dialuser");
    let inbound = livekit.inbound_trunks();
    assert_eq!(inbound[0].allowed_addresses, vec!["192.0.2.10".to_string()]);
    // Calls from the carrier's address route; from elsewhere they do not.
    assert!(livekit
        .simulate_inbound(
            number.e164.as_str(),
            CALLER,
            "192.0.2.10".parse().unwrap(),
            None,
            None
        )
        .is_ok());
    assert!(livekit
        .simulate_inbound(
            number.e164.as_str(),
            CALLER,
            IpAddr::from(TWILIO_EDGE),
            None,
            None
        )
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbound_trunk_on_demand_is_found_before_it_is_created() {
    use dial_app::server::assignment::ensure_outbound_trunk;
    let app = provisioning_app().await;
    let (_, livekit) = fakes(&app);
    let number = twilio_number(&app, "+14155550125").await;
    // Neither the database nor LiveKit has one: it is created, once.
    let first = ensure_outbound_trunk(&app.state, &number.id).await.unwrap();
    let second = ensure_outbound_trunk(&app.state, &number.id).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(livekit.outbound_trunks().len(), 1);
    // The database forgets it: LiveKit is asked by number and the trunk is adopted.
    sqlx::query("DELETE FROM livekit_outbound_trunks")
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let third = ensure_outbound_trunk(&app.state, &number.id).await.unwrap();
    assert_eq!(third, first);
    assert_eq!(livekit.outbound_trunks().len(), 1);
    // LiveKit lost it: a new one is made and recorded.
    let sandbox = app.state.sandbox().unwrap();
    let lk = LiveKitClient::new(
        &sandbox.livekit_url,
        &sandbox.credentials.livekit_api_key,
        &SecretString::from(sandbox.credentials.livekit_api_secret.clone()),
        Duration::from_secs(5),
    );
    lk.delete_trunk(&first).await.unwrap();
    let fourth = ensure_outbound_trunk(&app.state, &number.id).await.unwrap();
    assert_ne!(fourth, first);
    assert_eq!(livekit.outbound_trunks().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_an_assistant_updates_its_rules_and_deleting_it_can_unassign_its_numbers() {
    let app = provisioning_app().await;
    let (twilio, livekit) = fakes(&app);
    let admin = user_id(&app, ADMIN).await;
    let number = twilio_number(&app, "+14155550126").await;
    let assistant = insert_assistant(&app, &admin, "Desk", "desk-agent", "desk-").await;
    assign(&app, &app.client, &number.id, &assistant)
        .await
        .unwrap();
    let rule_before = routing(&app, &app.client, &number.id)
        .await
        .dispatch_rule_id;

    // A new agent and prefix reach the number's rule, in place.
    let _: dial_app::model::Assistant = app
        .call(
            &app.client,
            "assistants/update",
            &[
                ("id", &assistant),
                ("name", "Desk"),
                ("agent_name", "desk-agent-v2"),
                ("metadata", r#"{"language": "fr"}"#),
                ("room_prefix", "desk2-"),
            ],
        )
        .await
        .expect("update");
    let r = routing(&app, &app.client, &number.id).await;
    assert_eq!(r.dispatch_rule_id, rule_before);
    assert_eq!(r.current.as_ref().unwrap().status, RunStatus::Done);
    let routed = call_in(&livekit, number.e164.as_str()).unwrap();
    assert_eq!(
        routed.agents,
        vec![(
            "desk-agent-v2".to_string(),
            r#"{"language": "fr"}"#.to_string()
        )]
    );
    assert!(routed.room.starts_with("desk2-"), "{}", routed.room);
    livekit.hang_up_from_phone(&routed.room, &routed.participant_identity);

    // Deleting is refused while it answers the number, unless its numbers are unassigned.
    let err = app
        .call::<()>(&app.client, "assistants/delete", &[("id", &assistant)])
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Conflict { .. }), "{err:?}");
    let _: () = app
        .call(
            &app.client,
            "assistants/delete",
            &[("id", &assistant), ("unassign", "on")],
        )
        .await
        .expect("unassign and delete");
    let r = routing(&app, &app.client, &number.id).await;
    assert_eq!(r.number.assignment_status, AssignmentStatus::Unassigned);
    assert!(r.number.assistant_id.is_none());
    assert_eq!(livekit_objects(&livekit, number.e164.as_str()), (0, 0, 0));
    assert!(!attached(&twilio, number.e164.as_str()));
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM assistants")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    // The history keeps the runs, naming the deleted assistant.
    assert!(r
        .history
        .iter()
        .any(|run| run.assistant.as_deref() == Some("(deleted assistant)")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assistant_page_offers_only_the_owners_free_numbers() {
    let app = provisioning_app().await;
    let admin = user_id(&app, ADMIN).await;
    let free = twilio_number(&app, "+14155550127").await;
    let taken = twilio_number(&app, "+14155550128").await;
    let _: NumberRow = app
        .call(
            &app.client,
            "numbers/label",
            &[("id", &free.id), ("label", "Lobby")],
        )
        .await
        .unwrap();
    let assistant = insert_assistant(&app, &admin, "Desk", "desk-agent", "desk-").await;
    assign(&app, &app.client, &taken.id, &assistant)
        .await
        .unwrap();
    let options: Vec<dial_app::model::AssistantOption> = app
        .call(
            &app.client,
            "assignment/assignable",
            &[("assistant_id", &assistant)],
        )
        .await
        .unwrap();
    let names: Vec<&str> = options.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["+1 (415) 555-0127 · Lobby"]);
    let (owner, _) = app.owner_client().await;
    let err = app
        .call::<Vec<dial_app::model::AssistantOption>>(
            &owner,
            "assignment/assignable",
            &[("assistant_id", &assistant)],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::NotFound { .. }));
    // The page renders the form without JavaScript.
    let (_, _, page) = app
        .get_page(&app.client, &format!("/dashboard/assistants/{assistant}"))
        .await;
    assert!(
        page.contains("Assign number") && page.contains("+1 (415) 555-0127 · Lobby"),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_real_livekit_the_route_test_checks_the_trunk_and_rule() {
    use dial_fakes::{livekit::FakeLiveKit, twilio::FakeTwilio};
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let twilio = FakeTwilio::new();
    twilio.add_account(
        "AC0000000000000000000000000000beef",
        "beefbeefbeefbeefbeefbeefbeefbeef",
        "Real-ish",
    );
    let twilio_url = format!("http://{}", twilio.serve(loopback).await.unwrap());
    let livekit = FakeLiveKit::new("APIreal", "real-secret-0123456789");
    let livekit_url = format!("http://{}", livekit.serve(loopback).await.unwrap());
    let mut spawn = Spawn::new().await;
    spawn.config.twilio_api_base = twilio_url.clone();
    spawn.config.twilio_trunking_base = twilio_url;
    spawn.config.livekit.url = Some(livekit_url);
    spawn.config.livekit.api_key = Some("APIreal".into());
    spawn.config.livekit.api_secret =
        Some(SecretString::from("real-secret-0123456789".to_string()));
    spawn.config.livekit.sip_uri = Some("real.sip.livekit.cloud".into());
    let app = spawn.start().await;
    app.setup_admin().await;
    let _: dial_app::model::TwilioSettingsView = app
        .call(
            &app.client,
            "settings/twilio/save",
            &[
                ("account_sid", "AC0000000000000000000000000000beef"),
                ("auth_token", "beefbeefbeefbeefbeefbeefbeefbeef"),
                ("auto_trunk", "on"),
            ],
        )
        .await
        .unwrap();
    let sid = twilio
        .give_number("AC0000000000000000000000000000beef", "+14155550129")
        .unwrap();
    let _: u32 = app
        .call(&app.client, "numbers/import", &[("sid", &sid)])
        .await
        .unwrap();
    let number = number_by_e164(&app, "+14155550129").await;
    let admin = user_id(&app, ADMIN).await;
    let assistant = insert_assistant(&app, &admin, "Desk", "desk-agent", "desk-").await;
    assign(&app, &app.client, &number.id, &assistant)
        .await
        .unwrap();
    let r = routing(&app, &app.client, &number.id).await;
    assert_eq!(
        r.current.as_ref().unwrap().status,
        RunStatus::Done,
        "{:?}",
        statuses(&r)
    );
    // A generated termination password was stored (encrypted) and given to LiveKit.
    let outbound = livekit.outbound_trunks();
    assert_eq!(outbound[0].auth_username, "dial");
    assert!(outbound[0].auth_password.len() >= 12);
    assert!(!app.all_bodies().contains(&outbound[0].auth_password));

    let check: RouteCheck = app
        .call(
            &app.client,
            "assignment/test-route",
            &[("number_id", &number.id)],
        )
        .await
        .unwrap();
    assert!(check.ok && !check.simulated, "{check:?}");
    assert!(check.summary.contains("cannot place a real call"));
    // A rule removed behind Dial's back is reported.
    let rule = r.dispatch_rule_id.clone().unwrap();
    let lk = LiveKitClient::new(
        &app.state.config.livekit.url.clone().unwrap(),
        "APIreal",
        &SecretString::from("real-secret-0123456789".to_string()),
        Duration::from_secs(5),
    );
    lk.delete_dispatch_rule(&rule).await.unwrap();
    let check: RouteCheck = app
        .call(
            &app.client,
            "assignment/test-route",
            &[("number_id", &number.id)],
        )
        .await
        .unwrap();
    assert!(!check.ok, "{check:?}");
}

/// Twilio deletes a number's voice application when the number joins a trunk
/// (twilio_api_v2010.yaml, the number's `trunk_sid`): unassign puts it back.
/// The number `e164` as the Twilio fake holds it.
fn at_twilio(twilio: &FakeTwilio, e164: &str) -> dial_fakes::twilio::FakeNumber {
    twilio
        .numbers(SID)
        .into_iter()
        .find(|n| n.phone_number == e164)
        .expect("the number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unassign_gives_the_number_its_voice_application_back() {
    let app = provisioning_app().await;
    let (twilio, _) = fakes(&app);
    let admin = user_id(&app, ADMIN).await;
    let number = twilio_number(&app, "+14155550135").await;
    twilio.set_voice_application(SID, "+14155550135", "AP0123456789abcdef0123456789abcdef");
    let assistant = insert_assistant(&app, &admin, "Desk", "desk-agent", "desk-").await;
    assign(&app, &app.client, &number.id, &assistant)
        .await
        .unwrap();
    let attached = at_twilio(&twilio, "+14155550135");
    assert!(attached.trunk_sid.is_some());
    assert_eq!(attached.voice_application_sid, None, "Twilio deleted it");

    app.call::<String>(
        &app.client,
        "assignment/unassign",
        &[("number_id", number.id.as_str())],
    )
    .await
    .unwrap();
    let r = routing(&app, &app.client, &number.id).await;
    assert_eq!(r.number.assignment_status, AssignmentStatus::Unassigned);
    let detached = at_twilio(&twilio, "+14155550135");
    assert_eq!(detached.trunk_sid, None);
    assert_eq!(
        detached.voice_application_sid.as_deref(),
        Some("AP0123456789abcdef0123456789abcdef")
    );
    let steps = r.current.map(|run| run.steps).unwrap_or_default();
    assert!(
        steps.iter().any(|s| s
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("voice application"))),
        "the run says so: {steps:?}"
    );
}

/// A number answering with a webhook (TwiML) keeps its voice URL through assign and
/// unassign: Twilio ignores it while the number is on a trunk and does not delete it
/// (twilio_api_v2010.yaml: setting `trunk_sid` deletes only `voice_application_sid`), and
/// Dial never clears it, so the number answers as before once Dial lets it go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unassign_leaves_the_number_answering_at_its_voice_url_again() {
    let app = provisioning_app().await;
    let (twilio, _) = fakes(&app);
    let admin = user_id(&app, ADMIN).await;
    let number = twilio_number(&app, "+14155550136").await;
    twilio.set_voice_url(SID, "+14155550136", "https://example.com/voice");
    let assistant = insert_assistant(&app, &admin, "Desk", "desk-agent", "desk-").await;
    assign(&app, &app.client, &number.id, &assistant)
        .await
        .unwrap();
    let attached = at_twilio(&twilio, "+14155550136");
    assert!(attached.trunk_sid.is_some(), "on Dial's trunk");
    app.call::<String>(
        &app.client,
        "assignment/unassign",
        &[("number_id", number.id.as_str())],
    )
    .await
    .unwrap();
    let detached = at_twilio(&twilio, "+14155550136");
    assert_eq!(detached.trunk_sid, None);
    assert_eq!(
        detached.voice_url.as_deref(),
        Some("https://example.com/voice")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_tests_call_is_marked_a_test_and_left_out_of_the_figures() {
    let app = provisioning_app().await;
    let (_, livekit) = fakes(&app);
    let admin = user_id(&app, ADMIN).await;
    let number = twilio_number(&app, "+14155550101").await;
    let assistant =
        insert_assistant(&app, &admin, "Reception", "reception-agent", "reception-").await;
    assign(&app, &app.client, &number.id, &assistant)
        .await
        .expect("assign");
    let check: RouteCheck = app
        .call(
            &app.client,
            "assignment/test-route",
            &[("number_id", &number.id)],
        )
        .await
        .unwrap();
    assert!(check.ok, "{check:?}");
    // A real call to the number, for comparison.
    let routed = call_in(&livekit, number.e164.as_str()).expect("routed");

    let list = |tests: Option<&'static str>| {
        let app = &app;
        async move {
            let mut form = vec![];
            if let Some(t) = tests {
                form.push(("tests", t));
            }
            app.call::<Page<dial_app::model::CallRow>>(&app.client, "calls/list", &form)
                .await
                .expect("calls")
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let everything = loop {
        let page = list(Some("include")).await;
        if page.items.len() == 2 || std::time::Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(everything.items.len(), 2, "{:?}", everything.items);
    let tests: Vec<&dial_app::model::CallRow> =
        everything.items.iter().filter(|c| c.test).collect();
    assert_eq!(tests.len(), 1, "{:?}", everything.items);
    assert_eq!(tests[0].from, dial_app::server::assignment::TEST_CALLER);

    let default = list(None).await;
    assert_eq!(default.total, 1, "{:?}", default.items);
    assert_eq!(
        default.items[0].sip_call_id.as_deref(),
        Some(routed.call_id.as_str())
    );
    let stats: dial_app::model::CallStats =
        app.call(&app.client, "stats/calls", &[]).await.unwrap();
    assert_eq!(stats.today, 1, "only the real call is counted: {stats:?}");
}
