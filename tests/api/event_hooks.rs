//! Event webhooks out, against real HTTP receivers on loopback: deliveries signed and
//! verifiable, one event per call transition (however often LiveKit repeats itself),
//! retried after a receiver's 500, never held up by a slow endpoint, owners' endpoints
//! hearing only their own events, replay, secrets shown once, hostile input refused, and
//! two instances sharing the work.

use crate::{assignment::*, helpers::*};
use axum::{body::Bytes, extract::State, http::HeaderMap, routing::post, Router};
use dial_app::{
    error::AppError,
    model::{
        CallRow, CallStatus, CreatedWebhookEndpoint, DeliveryStatus, EventKind, Me, Page, Role,
        WebhookDeliveryView, WebhookEndpointView,
    },
    server::{audit::Actor, calls, event_hooks},
};
use dial_fakes::livekit::sign_webhook;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

// -- A receiver -------------------------------------------------------------------------

/// How the receiver answers one delivery.
#[derive(Clone, Copy, Debug)]
enum Reply {
    Status(u16),
    /// Answers 200 after this long.
    Slow(Duration),
}

/// One delivery as the receiver saw it.
#[derive(Clone, Debug)]
struct Received {
    event_id: String,
    event_type: String,
    signature: String,
    attempt: String,
    body: Vec<u8>,
    at: Instant,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    replies: Arc<Mutex<VecDeque<Reply>>>,
    default: Reply,
}

impl Receiver {
    /// A receiver on 127.0.0.1:0 answering `replies` in turn, then `default`.
    async fn start(replies: &[Reply], default: Reply) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a receiver");
        let receiver = Receiver {
            url: format!("http://{}/hooks", listener.local_addr().expect("address")),
            got: Arc::default(),
            replies: Arc::new(Mutex::new(replies.iter().copied().collect())),
            default,
        };
        let router = Router::new()
            .route("/hooks", post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        receiver
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until at least `n` deliveries arrived (at most `within`).
    async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} deliveries arrived: {:?}",
                got.len(),
                got.iter().map(|r| &r.event_type).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    r.got.lock().unwrap().push(Received {
        event_id: header("dial-event-id"),
        event_type: header("dial-event-type"),
        signature: header("dial-signature"),
        attempt: header("dial-delivery-attempt"),
        body: body.to_vec(),
        at: Instant::now(),
    });
    let reply = r.replies.lock().unwrap().pop_front().unwrap_or(r.default);
    match reply {
        Reply::Status(code) => StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
        Reply::Slow(delay) => {
            tokio::time::sleep(delay).await;
            StatusCode::OK
        }
    }
}

fn verifies(secret: &str, r: &Received) -> bool {
    let now = dial_app::server::now();
    event_hooks::sign::verify(secret, &r.signature, &r.body, now, 300).is_ok()
}

// -- The app ------------------------------------------------------------------------------

/// A sandbox app (deliveries may go to loopback) whose worker looks every 50 ms and
/// retries after 200 ms, doubling.
async fn hooks_app() -> TestApp {
    let mut spawn = Spawn::new().await;
    spawn.config.sandbox = true;
    spawn.config.twilio_timeout = Duration::from_secs(2);
    spawn.config.livekit_timeout = Duration::from_secs(2);
    fast(&mut spawn.config.webhooks);
    let app = spawn.start().await;
    app.setup_admin().await;
    app
}

fn fast(settings: &mut event_hooks::Settings) {
    settings.poll = Duration::from_millis(50);
    settings.retry_base = Duration::from_millis(200);
    settings.timeout = Duration::from_secs(5);
}

async fn create(
    app: &TestApp,
    client: &reqwest::Client,
    url: &str,
    events: &[EventKind],
) -> Result<CreatedWebhookEndpoint, AppError> {
    let mut form = vec![
        ("url", url.to_string()),
        ("description", "test".to_string()),
    ];
    for kind in events {
        form.push(("events[]", kind.as_str().to_string()));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app.call(client, "webhooks/create", &form).await
}

async fn me(app: &TestApp, username: &str) -> Me {
    let (id, role): (String, String) =
        sqlx::query_as("SELECT id, role FROM users WHERE username = $1")
            .bind(username)
            .fetch_one(&app.state.db.pool)
            .await
            .expect("user");
    Me {
        id,
        username: username.into(),
        role: Role::parse(&role).expect("role"),
    }
}

/// Writes a campaign event the way the campaign engine does: in a transaction of its own.
async fn campaign_event(app: &TestApp, owner: Option<&str>, kind: EventKind, n: usize) {
    let mut tx = app.state.db.begin_write().await.expect("begin");
    event_hooks::enqueue(
        &mut tx,
        owner,
        kind,
        json!({ "campaign": { "id": format!("cmp{n}") } }),
    )
    .await
    .expect("enqueue");
    tx.commit().await.expect("commit");
}

async fn deliveries(
    app: &TestApp,
    client: &reqwest::Client,
    endpoint: &str,
) -> Vec<WebhookDeliveryView> {
    let page: Page<WebhookDeliveryView> = app
        .call(client, "webhooks/deliveries", &[("id", endpoint)])
        .await
        .expect("deliveries");
    page.items
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.state.db.pool)
        .await
        .expect("count")
}

/// A sandbox number assigned to an assistant; its id.
async fn callable_number(app: &TestApp, e164: &str) -> String {
    let admin = user_id(app, ADMIN).await;
    let number = twilio_number(app, e164).await;
    let assistant = insert_assistant(app, &admin, "Sales", "sales-agent", "sales-").await;
    assign(app, &app.client, &number.id, &assistant)
        .await
        .expect("assign");
    number.id
}

async fn place(app: &TestApp, number: &str, wait: bool) -> CallRow {
    app.call(
        &app.client,
        "calls/place",
        &[
            ("number_id", number),
            ("to", "+14155550100"),
            ("wait_until_answered", if wait { "on" } else { "" }),
        ],
    )
    .await
    .expect("place a call")
}

/// Waits until the call is answered.
async fn answered(app: &TestApp, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status: String = sqlx::query_scalar("SELECT status FROM call_sessions WHERE id = $1")
            .bind(id)
            .fetch_one(&app.state.db.pool)
            .await
            .expect("the call");
        if status == "answered" {
            return;
        }
        assert!(Instant::now() < deadline, "the call stayed {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// -- Tests --------------------------------------------------------------------------------

/// A call placed, answered and hung up reaches the receiver as call.started,
/// call.answered and call.ended, each signed with the secret shown once; the secret is in
/// no page, answer, log or audit row after that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calls_events_arrive_signed_and_the_secret_is_shown_once() {
    let app = hooks_app().await;
    let receiver = Receiver::start(&[], Reply::Status(204)).await;
    let created = create(
        &app,
        &app.client,
        &receiver.url,
        &[
            EventKind::CallStarted,
            EventKind::CallAnswered,
            EventKind::CallEnded,
        ],
    )
    .await
    .expect("create an endpoint");
    let secret = created.secret.clone();
    assert!(secret.starts_with("whsec_") && secret.len() > 40);
    assert!(
        !format!("{created:?}").contains(&secret),
        "Debug leaves it out"
    );

    let number = callable_number(&app, "+14155550121").await;
    let call = place(&app, &number, true).await;
    answered(&app, &call.id).await;
    let admin = me(&app, ADMIN).await;
    let hung_up = calls::hang_up(&app.state, &admin, &Actor::system("test"), &call.id)
        .await
        .expect("hang up");
    assert_eq!(hung_up.status, CallStatus::Ended);

    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_after = receiver.received();
    assert_eq!(
        got_after.len(),
        3,
        "one event per transition: {got_after:?}"
    );
    let mut types: Vec<&str> = got.iter().map(|r| r.event_type.as_str()).collect();
    types.sort();
    assert_eq!(types, ["call.answered", "call.ended", "call.started"]);
    for r in &got {
        assert!(
            verifies(&secret, r),
            "signed with the secret: {}",
            r.signature
        );
        assert!(!verifies("whsec_someone_else", r));
        let body = r.json();
        assert_eq!(
            body["id"],
            r.event_id.as_str(),
            "the id header names the body's event"
        );
        assert_eq!(body["type"], r.event_type.as_str());
        assert_eq!(body["data"]["call"]["id"], call.id.as_str());
        assert_eq!(r.attempt, "1");
    }
    let ended = got
        .iter()
        .find(|r| r.event_type == "call.ended")
        .unwrap()
        .json();
    assert_eq!(ended["data"]["call"]["outcome"], "completed");
    assert_eq!(ended["data"]["call"]["direction"], "outbound");
    assert_eq!(ended["data"]["call"]["to"], "+14155550100");
    assert!(ended["data"]["call"]["duration_secs"].is_i64());
    assert!(ended["data"]["call"]["end_reason"]
        .as_str()
        .unwrap()
        .contains("hung up"));
    assert_eq!(ended["data"]["call"]["campaign_id"], Value::Null);

    // The log says delivered, with the receiver's status.
    let log = deliveries(&app, &app.client, &created.endpoint.id).await;
    assert_eq!(log.len(), 3);
    assert!(log.iter().all(|d| d.status == DeliveryStatus::Delivered
        && d.last_status_code == Some(204)
        && d.attempts == 1));

    // Never again: not in lists, pages, later answers, logs or the audit log.
    let listed: Vec<WebhookEndpointView> =
        app.call(&app.client, "webhooks/list", &[]).await.unwrap();
    assert_eq!(listed.len(), 1);
    let _: WebhookEndpointView = app
        .call(&app.client, "webhooks/get", &[("id", &created.endpoint.id)])
        .await
        .unwrap();
    let taken: Option<CreatedWebhookEndpoint> = app
        .call(&app.client, "webhooks/created", &[])
        .await
        .unwrap();
    assert!(
        taken.is_none(),
        "a hydrated create leaves nothing in the session"
    );
    for path in [
        "/dashboard/settings/webhooks".to_string(),
        format!("/dashboard/settings/webhooks/{}", created.endpoint.id),
    ] {
        let (status, _, page) = app.get_page(&app.client, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(page.contains(&receiver.url), "{path}");
        assert!(!page.contains(&secret), "{path}");
    }
    assert_eq!(
        app.all_bodies().matches(&secret).count(),
        1,
        "only the create answer"
    );
    assert!(!captured_logs().contains(&secret[6..]));
    let audit: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT action, detail FROM audit_log")
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap();
    assert!(audit.iter().any(|(a, _)| a == "webhook.create"));
    assert!(audit
        .iter()
        .all(|(_, d)| !d.as_deref().unwrap_or("").contains(&secret[6..])));
    let stored: String = sqlx::query_scalar("SELECT secret FROM webhook_endpoints")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert!(
        stored.starts_with("v1.") && !stored.contains(&secret[6..]),
        "encrypted at rest"
    );
    // The worker's own housekeeping ran (it prunes at start) without an error. (The log is
    // every app's in this test binary; a worker whose pool was closed, as
    // `auth::health_check_reports_the_database` does, stops without a warning.)
    for failure in [
        "could not forget old webhook deliveries",
        "could not hand new events",
    ] {
        let logs = captured_logs();
        let lines: Vec<&str> = logs.lines().collect();
        if let Some(at) = lines.iter().position(|l| l.contains(failure)) {
            panic!(
                "{failure}:\n{}",
                lines[at.saturating_sub(30)..=at].join("\n")
            );
        }
    }
}

/// LiveKit's webhooks arrive twice and out of order; each transition is still one event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_and_late_provider_webhooks_add_no_events() {
    let app = hooks_app().await;
    let receiver = Receiver::start(&[], Reply::Status(200)).await;
    create(&app, &app.client, &receiver.url, EventKind::ALL)
        .await
        .expect("create");
    let number = twilio_number(&app, "+14155550122").await;
    let sandbox = app.state.sandbox().expect("sandbox");
    let (key, secret) = (
        sandbox.credentials.livekit_api_key.clone(),
        sandbox.credentials.livekit_api_secret.clone(),
    );
    let event = |kind: &str, id: &str, status: &str, at: i64| {
        json!({
            "event": kind, "id": id, "createdAt": at.to_string(),
            "room": { "sid": "RM_dup", "name": "call-dup" },
            "participant": {
                "sid": "PA_dup", "identity": "sip_caller", "state": "ACTIVE", "kind": "SIP",
                "attributes": {
                    "sip.callID": "SCL_dup", "sip.callStatus": status,
                    "sip.phoneNumber": "+15105550100",
                    "sip.trunkPhoneNumber": number.e164.as_str(),
                    "sip.ruleID": "SDR_test",
                }
            }
        })
    };
    let joined = event("participant_joined", "EV_j", "active", 1_700_000_000);
    let left = event("participant_left", "EV_l", "hangup", 1_700_000_060);
    let late = event("participant_joined", "EV_late", "active", 1_700_000_070);
    let http = reqwest::Client::new();
    // Concurrently (so they may share a batch of the webhook writer), and again one by one.
    let post = |body: &Value| {
        let bytes = serde_json::to_vec(body).unwrap();
        let token = sign_webhook(&key, &secret, &bytes);
        http.post(app.url("/webhooks/livekit"))
            .header("content-type", "application/webhook+json")
            .header("authorization", token)
            .body(bytes)
            .send()
    };
    let answers = futures::future::join_all([&left, &joined, &joined, &left].map(post)).await;
    assert!(answers
        .into_iter()
        .all(|a| a.unwrap().status().is_success()));
    for body in [&joined, &left, &late, &joined] {
        assert!(post(body).await.unwrap().status().is_success());
    }
    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut types: Vec<String> = receiver
        .received()
        .into_iter()
        .map(|r| r.event_type)
        .collect();
    types.sort();
    assert_eq!(
        types,
        ["call.answered", "call.ended", "call.started"],
        "{got:?}"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM webhook_events").await, 3);
    // Reconcile and a repeated status read change nothing either.
    calls::reconcile_older_than(&app.state, 0)
        .await
        .expect("reconcile");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM webhook_events").await, 3);
}

/// With no endpoint enabled, a call writes no events at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_enabled_endpoint_nothing_is_written() {
    let app = hooks_app().await;
    let receiver = Receiver::start(&[], Reply::Status(200)).await;
    let created = create(&app, &app.client, &receiver.url, EventKind::ALL)
        .await
        .unwrap();
    let _: WebhookEndpointView = app
        .call(
            &app.client,
            "webhooks/disable",
            &[("id", &created.endpoint.id)],
        )
        .await
        .unwrap();
    let number = callable_number(&app, "+14155550123").await;
    place(&app, &number, true).await;
    campaign_event(&app, None, EventKind::CampaignStarted, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count(&app, "SELECT COUNT(*) FROM webhook_events").await, 0);
    assert!(receiver.received().is_empty());
}

/// A receiver that answers 500 gets the event again (same id, same body, a new
/// signature), then the log says delivered after 2 attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receivers_500_is_retried_with_the_same_event() {
    let app = hooks_app().await;
    let receiver = Receiver::start(&[Reply::Status(500)], Reply::Status(200)).await;
    let created = create(
        &app,
        &app.client,
        &receiver.url,
        &[EventKind::CampaignStarted],
    )
    .await
    .unwrap();
    campaign_event(&app, None, EventKind::CampaignStarted, 1).await;
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got[0].event_id, got[1].event_id);
    assert_eq!(got[0].body, got[1].body, "the same body every time");
    assert_eq!(
        (got[0].attempt.as_str(), got[1].attempt.as_str()),
        ("1", "2")
    );
    let waited = got[1].at - got[0].at;
    assert!(
        waited >= Duration::from_millis(150),
        "it backed off: {waited:?}"
    );
    assert!(got.iter().all(|r| verifies(&created.secret, r)));
    assert_eq!(got[0].json()["data"]["campaign"]["id"], "cmp1");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = deliveries(&app, &app.client, &created.endpoint.id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].status, log[0].attempts, log[0].last_status_code),
        (DeliveryStatus::Delivered, 2, Some(200))
    );
    assert_eq!(receiver.received().len(), 2, "nothing more once delivered");
}

/// Past its retry window a delivery is given up, and says so; replay sends it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_is_given_up_and_replay_sends_the_same_event_again() {
    let mut spawn = Spawn::new().await;
    spawn.config.sandbox = true;
    fast(&mut spawn.config.webhooks);
    spawn.config.webhooks.retry_for = Duration::from_millis(700);
    let app = spawn.start().await;
    app.setup_admin().await;
    let receiver = Receiver::start(&[], Reply::Status(503)).await;
    let created = create(
        &app,
        &app.client,
        &receiver.url,
        &[EventKind::CampaignCompleted],
    )
    .await
    .unwrap();
    campaign_event(&app, None, EventKind::CampaignCompleted, 7).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let failed = loop {
        let log = deliveries(&app, &app.client, &created.endpoint.id).await;
        if log
            .first()
            .is_some_and(|d| d.status == DeliveryStatus::Failed)
        {
            break log[0].clone();
        }
        assert!(Instant::now() < deadline, "never given up: {log:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(failed.attempts >= 2, "{failed:?}");
    assert_eq!(failed.last_status_code, Some(503));
    assert_eq!(failed.next_attempt_at, None);
    let before = receiver.received();
    assert_eq!(before.len() as i64, failed.attempts);

    // Replay: the same event id and body, once the receiver is back.
    receiver
        .replies
        .lock()
        .unwrap()
        .push_back(Reply::Status(200));
    let replayed: WebhookDeliveryView = app
        .call(
            &app.client,
            "webhooks/replay",
            &[("id", &created.endpoint.id), ("delivery_id", &failed.id)],
        )
        .await
        .expect("replay");
    assert_eq!(replayed.status, DeliveryStatus::Pending);
    let got = receiver
        .wait_for(before.len() + 1, Duration::from_secs(10))
        .await;
    let last = got.last().unwrap();
    assert_eq!(last.event_id, before[0].event_id);
    assert_eq!(last.body, before[0].body);
    assert!(verifies(&created.secret, last));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = deliveries(&app, &app.client, &created.endpoint.id).await;
    assert_eq!(log[0].status, DeliveryStatus::Delivered);
    assert!(app
        .audit_actions()
        .await
        .contains(&"webhook.replay".to_string()));

    // Another user's delivery cannot be replayed through this endpoint, nor a made-up one.
    let refused = app
        .call::<WebhookDeliveryView>(
            &app.client,
            "webhooks/replay",
            &[("id", &created.endpoint.id), ("delivery_id", "nope")],
        )
        .await
        .unwrap_err();
    assert!(matches!(refused, AppError::NotFound { .. }), "{refused:?}");
}

/// An endpoint that takes seconds to answer holds up neither another endpoint's
/// deliveries nor a call being placed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_endpoint_delays_neither_other_endpoints_nor_calls() {
    let app = hooks_app().await;
    let slow = Receiver::start(&[], Reply::Slow(Duration::from_secs(4))).await;
    let fast_receiver = Receiver::start(&[], Reply::Status(200)).await;
    let dead_url = {
        // A port nothing listens on: connections are refused.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        format!("http://127.0.0.1:{port}/hooks")
    };
    create(&app, &app.client, &slow.url, EventKind::ALL)
        .await
        .unwrap();
    create(&app, &app.client, &dead_url, EventKind::ALL)
        .await
        .unwrap();
    create(&app, &app.client, &fast_receiver.url, EventKind::ALL)
        .await
        .unwrap();
    let number = callable_number(&app, "+14155550124").await;

    let started = Instant::now();
    for n in 0..12 {
        campaign_event(&app, None, EventKind::ContactFinished, n).await;
    }
    let got = fast_receiver.wait_for(12, Duration::from_secs(3)).await;
    let last = got.iter().map(|r| r.at).max().unwrap();
    assert!(
        last - started < Duration::from_secs(2),
        "the fast endpoint got everything in {:?}",
        last - started
    );
    assert!(
        slow.received().len() <= event_hooks::PER_ENDPOINT,
        "the slow one is still on its first deliveries"
    );

    // A call placed while the slow endpoint holds its lane.
    let placing = Instant::now();
    let call = place(&app, &number, false).await;
    assert!(
        placing.elapsed() < Duration::from_secs(2),
        "placing took {:?}",
        placing.elapsed()
    );
    let started_event = fast_receiver.wait_for(13, Duration::from_secs(3)).await;
    assert!(started_event
        .iter()
        .any(|r| r.event_type == "call.started"
            && r.json()["data"]["call"]["id"] == call.id.as_str()));
}

/// Owners' endpoints hear only their own events; they cannot see or touch other owners'
/// endpoints (404), and the admin's endpoint hears everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_hear_only_their_own_events_and_see_only_their_own_endpoints() {
    let app = hooks_app().await;
    let (owner, owner_id) = app.owner_client().await;
    let admins = Receiver::start(&[], Reply::Status(200)).await;
    let owners = Receiver::start(&[], Reply::Status(200)).await;
    let admin_endpoint = create(&app, &app.client, &admins.url, EventKind::ALL)
        .await
        .unwrap();
    let owner_endpoint = create(&app, &owner, &owners.url, EventKind::ALL)
        .await
        .unwrap();

    campaign_event(&app, Some(&owner_id), EventKind::CampaignStarted, 1).await;
    campaign_event(&app, None, EventKind::CampaignStarted, 2).await;
    let admin_id = user_id(&app, ADMIN).await;
    campaign_event(&app, Some(&admin_id), EventKind::CampaignStarted, 3).await;
    admins.wait_for(3, Duration::from_secs(10)).await;
    owners.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let heard: Vec<Value> = owners
        .received()
        .iter()
        .map(|r| r.json()["data"]["campaign"]["id"].clone())
        .collect();
    assert_eq!(heard, [json!("cmp1")], "only the owner's own campaign");
    assert!(owners
        .received()
        .iter()
        .all(|r| verifies(&owner_endpoint.secret, r)));
    assert!(admins
        .received()
        .iter()
        .all(|r| verifies(&admin_endpoint.secret, r)));

    // The owner sees only their own endpoint; the admin's is "not found", whatever is tried.
    let listed: Vec<WebhookEndpointView> = app.call(&owner, "webhooks/list", &[]).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, owner_endpoint.endpoint.id);
    let id = admin_endpoint.endpoint.id.as_str();
    for (endpoint, form) in [
        ("webhooks/get", vec![("id", id)]),
        ("webhooks/deliveries", vec![("id", id)]),
        ("webhooks/disable", vec![("id", id)]),
        ("webhooks/rotate", vec![("id", id)]),
        ("webhooks/delete", vec![("id", id)]),
        (
            "webhooks/update",
            vec![
                ("id", id),
                ("url", "https://93.184.216.34/x"),
                ("events[]", "call.ended"),
            ],
        ),
    ] {
        let refused = app
            .call::<Value>(&owner, endpoint, &form)
            .await
            .unwrap_err();
        assert!(
            matches!(refused, AppError::NotFound { .. }),
            "{endpoint}: {refused:?}"
        );
    }
    let (status, _, page) = app
        .get_page(&owner, &format!("/dashboard/settings/webhooks/{id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!page.contains(&admins.url));
    let (_, _, page) = app.get_page(&owner, "/dashboard/settings/webhooks").await;
    assert!(page.contains(&owners.url) && !page.contains(&admins.url));
    // The admin sees both, and who registered each.
    let listed: Vec<WebhookEndpointView> =
        app.call(&app.client, "webhooks/list", &[]).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().any(|e| e.owner == OWNER));
    // Nothing changed on the admin's endpoint.
    let still: WebhookEndpointView = app
        .call(&app.client, "webhooks/get", &[("id", id)])
        .await
        .unwrap();
    assert!(still.enabled);
}

/// Bad addresses, private addresses, unknown events, over-long fields and huge bodies
/// are refused with a clear 4xx, and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_refused_and_stores_nothing() {
    let app = spawn_with_admin().await;
    let all = [EventKind::CallEnded];
    for (url, says) in [
        ("not a url", "full web address"),
        ("ftp://example.com/x", "https://"),
        ("http://93.184.216.34/hook", "https://"),
        ("https://10.0.0.8/hook", "not a public address"),
        (
            "https://169.254.169.254/latest/meta-data",
            "not a public address",
        ),
        ("https://[::1]:8080/", "not a public address"),
        ("https://localhost/hook", "not a public address"),
        ("http://127.0.0.1:9/hook", "not a public address"),
        ("https://user:pw@example.com/", "credentials"),
    ] {
        let refused = create(&app, &app.client, url, &all).await.unwrap_err();
        let message = refused
            .field("url")
            .unwrap_or_else(|| panic!("{url}: {refused:?}"));
        assert!(message.contains(says), "{url}: {message}");
    }
    let form = |events: &[&str], description: &str| {
        let mut form = vec![
            ("url".to_string(), "https://93.184.216.34/hook".to_string()),
            ("description".to_string(), description.to_string()),
        ];
        form.extend(
            events
                .iter()
                .map(|e| ("events[]".to_string(), e.to_string())),
        );
        form
    };
    for (form, field) in [
        (form(&["call.exploded"], ""), "events"),
        (form(&[], ""), "events"),
        (form(&["call.ended"], &"x".repeat(10_000)), "description"),
    ] {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let refused = app
            .call::<CreatedWebhookEndpoint>(&app.client, "webhooks/create", &form)
            .await
            .unwrap_err();
        assert!(refused.field(field).is_some(), "{field}: {refused:?}");
    }

    // The JSON API: the same refusals, and a huge body.
    let key: dial_app::model::CreatedKey = app
        .call(&app.client, "api-keys/create", &[("name", "hooks")])
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let post = |body: String| {
        http.post(app.url("/api/v1/webhook-endpoints"))
            .bearer_auth(&key.secret)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for body in [
        json!({ "url": "https://10.1.1.1/", "events": ["call.ended"] }).to_string(),
        json!({ "url": "https://93.184.216.34/", "events": ["nope"] }).to_string(),
        json!({ "url": "https://93.184.216.34/", "events": [] }).to_string(),
        json!({ "url": " https://93.184.216.34/", "events": ["call.ended"] }).to_string(),
        json!({ "url": "https://93.184.216.34/", "events": ["call.ended"], "secret": "mine" }).to_string(),
        json!({ "url": "https://93.184.216.34/", "events": ["call.ended"], "description": "d".repeat(300) }).to_string(),
        json!({ "url": "https://93.184.216.34/", "events": ["call.ended"], "description": "x".repeat(2_000_000) }).to_string(),
        "{".to_string(),
    ] {
        let answer = post(body.clone()).await.unwrap();
        let status = answer.status();
        let text = answer.text().await.unwrap_or_default();
        assert!(status.is_client_error(), "{status} for {}: {text}", &body[..body.len().min(80)]);
        let error: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(error["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{text}");
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM webhook_endpoints").await,
        0
    );
    assert!(!app
        .audit_actions()
        .await
        .contains(&"webhook.create".to_string()));
}

/// The JSON API: create (the secret once), list, read, change, rotate (a new secret, and
/// deliveries signed with it), deliveries, replay, delete; another owner's key gets 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_api_manages_endpoints_and_rotates_secrets() {
    let app = hooks_app().await;
    let receiver = Receiver::start(&[], Reply::Status(200)).await;
    let key: dial_app::model::CreatedKey = app
        .call(&app.client, "api-keys/create", &[("name", "hooks")])
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let api = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = http.request(method, app.url(path)).bearer_auth(&key.secret);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let answer = request.send().await.expect("request");
            let status = answer.status().as_u16();
            let text = answer.text().await.unwrap_or_default();
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
                text,
            )
        }
    };
    use reqwest::Method;
    let (status, created, _) = api(
        Method::POST,
        "/api/v1/webhook-endpoints",
        Some(json!({ "url": receiver.url, "events": ["campaign.paused"], "description": "ops" })),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert_eq!(created["events"], json!(["campaign.paused"]));
    assert_eq!(created["enabled"], true);

    let (status, list, text) = api(Method::GET, "/api/v1/webhook-endpoints", None).await;
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(1)));
    assert!(!text.contains(&secret));
    let path = format!("/api/v1/webhook-endpoints/{id}");
    let (status, one, text) = api(Method::GET, &path, None).await;
    assert_eq!(
        (status, one["url"].as_str()),
        (200, Some(receiver.url.as_str()))
    );
    assert!(!text.contains(&secret) && one.get("secret").is_none());

    campaign_event(&app, None, EventKind::CampaignPaused, 1).await;
    let first = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert!(verifies(&secret, &first[0]));

    let (status, rotated, _) = api(Method::POST, &format!("{path}/rotate-secret"), None).await;
    assert_eq!(status, 200);
    let new_secret = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    campaign_event(&app, None, EventKind::CampaignPaused, 2).await;
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert!(verifies(&new_secret, &got[1]) && !verifies(&secret, &got[1]));

    let (status, changed, _) = api(
        Method::PATCH,
        &path,
        Some(json!({ "events": ["campaign.paused", "call.ended"], "enabled": false })),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["events"], json!(["call.ended", "campaign.paused"]));
    assert_eq!(changed["enabled"], false);
    campaign_event(&app, None, EventKind::CampaignPaused, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received().len(),
        2,
        "a disabled endpoint hears nothing"
    );

    let (status, page, _) = api(
        Method::GET,
        &format!("{path}/deliveries?status=delivered"),
        None,
    )
    .await;
    assert_eq!((status, page["total"].as_u64()), (200, Some(2)));
    let delivery = page["items"][0]["id"].as_str().unwrap().to_string();
    let (status, bad, _) = api(Method::GET, &format!("{path}/deliveries?status=lost"), None).await;
    assert_eq!(
        (status, bad["error"]["code"].as_str()),
        (422, Some("invalid"))
    );
    let (status, _, _) = api(Method::PATCH, &path, Some(json!({ "enabled": true }))).await;
    assert_eq!(status, 200);
    let (status, replayed, _) = api(
        Method::POST,
        &format!("{path}/deliveries/{delivery}/replay"),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, replayed["status"].as_str()),
        (200, Some("pending")),
        "{replayed}"
    );
    receiver.wait_for(3, Duration::from_secs(10)).await;

    // Another owner's key: "not found" for everything about this endpoint.
    let (owner, _) = app.owner_client().await;
    let owner_key: dial_app::model::CreatedKey = app
        .call(&owner, "api-keys/create", &[("name", "mine")])
        .await
        .unwrap();
    for (method, p) in [
        (Method::GET, path.clone()),
        (Method::DELETE, path.clone()),
        (Method::POST, format!("{path}/rotate-secret")),
        (Method::GET, format!("{path}/deliveries")),
        (Method::POST, format!("{path}/deliveries/{delivery}/replay")),
    ] {
        let status = http
            .request(method.clone(), app.url(&p))
            .bearer_auth(&owner_key.secret)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {p}");
    }

    let (status, deleted, _) = api(Method::DELETE, &path, None).await;
    assert_eq!((status, deleted["id"].as_str()), (200, Some(id.as_str())));
    let (status, _, _) = api(Method::GET, &path, None).await;
    assert_eq!(status, 404);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM webhook_deliveries").await,
        0
    );
    let actions = app.audit_actions().await;
    for action in [
        "webhook.create",
        "webhook.rotate_secret",
        "webhook.update",
        "webhook.disable",
        "webhook.enable",
        "webhook.replay",
        "webhook.delete",
    ] {
        assert!(
            actions.contains(&action.to_string()),
            "{action} in {actions:?}"
        );
    }
    assert!(!captured_logs().contains(&new_secret[6..]) && !captured_logs().contains(&secret[6..]));
}

/// Without JavaScript, the create form's post is redirected back to the page, which shows
/// the secret once (taken from the session); a second render does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_javascript_the_page_shows_the_new_secret_once() {
    let app = hooks_app().await;
    let receiver = Receiver::start(&[], Reply::Status(200)).await;
    let response = app
        .client
        .post(app.url("/api/webhooks/create"))
        .header("accept", "text/html")
        .header("referer", app.url("/dashboard/settings/webhooks"))
        .form(&[
            ("url", receiver.url.as_str()),
            ("description", ""),
            ("events[]", "call.ended"),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    let body = response.text().await.unwrap();
    assert!(!body.contains("whsec_"));
    let (_, _, page) = app
        .get_page(&app.client, "/dashboard/settings/webhooks")
        .await;
    let start = page.find("whsec_").expect("the secret is shown once");
    let secret: String = page[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    assert_eq!(secret.len(), 46);
    let (_, _, again) = app
        .get_page(&app.client, "/dashboard/settings/webhooks")
        .await;
    assert!(!again.contains(&secret) && !again.contains("whsec_"));
    // That secret signs the endpoint's deliveries.
    campaign_event(&app, None, EventKind::CampaignStarted, 1).await;
    // Handed out (to nobody: the endpoint hears call.ended only) before the change.
    let deadline = Instant::now() + Duration::from_secs(5);
    while count(
        &app,
        "SELECT COUNT(*) FROM webhook_events WHERE fanned_out = 0",
    )
    .await
        > 0
    {
        assert!(Instant::now() < deadline, "never handed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let endpoints: Vec<WebhookEndpointView> =
        app.call(&app.client, "webhooks/list", &[]).await.unwrap();
    let _: WebhookEndpointView = app
        .call(
            &app.client,
            "webhooks/update",
            &[
                ("id", endpoints[0].id.as_str()),
                ("url", receiver.url.as_str()),
                ("events[]", "campaign.started"),
            ],
        )
        .await
        .unwrap();
    campaign_event(&app, None, EventKind::CampaignStarted, 2).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert!(verifies(&secret, &got[0]));
    assert_eq!(
        got[0].json()["data"]["campaign"]["id"],
        "cmp2",
        "only events after the change"
    );
}

/// Two instances on one database share the deliveries: each event reaches the receiver
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_deliver_each_event_once() {
    let app = hooks_app().await;
    let second = app.restart().await;
    let receiver = Receiver::start(&[], Reply::Status(200)).await;
    create(
        &app,
        &app.client,
        &receiver.url,
        &[EventKind::ContactFinished],
    )
    .await
    .unwrap();
    for n in 0..40 {
        let instance = if n % 2 == 0 { &app } else { &second };
        campaign_event(instance, None, EventKind::ContactFinished, n).await;
    }
    receiver.wait_for(40, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = receiver.received();
    let mut ids: Vec<&str> = got.iter().map(|r| r.event_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((got.len(), ids.len()), (40, 40), "each event once");
}

/// `dial rotate-key` re-encrypts endpoints' secrets with the rest: after it (and a
/// restart on the new key), deliveries are still signed with the same secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_key_keeps_endpoint_secrets() {
    let app = hooks_app().await;
    let receiver = Receiver::start(&[], Reply::Status(200)).await;
    let created = create(
        &app,
        &app.client,
        &receiver.url,
        &[EventKind::CampaignPaused],
    )
    .await
    .unwrap();
    let before: String = sqlx::query_scalar("SELECT secret FROM webhook_endpoints")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let rotation = dial_app::server::keys::rotate(&app.state.db, &app.config, None)
        .await
        .expect("rotate the key");
    let after: String = sqlx::query_scalar("SELECT secret FROM webhook_endpoints")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_ne!(before, after);
    assert!(after.starts_with(&format!("v1.{}.", rotation.new_key_id)));
    let restarted = app.restart().await;
    campaign_event(&restarted, None, EventKind::CampaignPaused, 1).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert!(verifies(&created.secret, &got[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_reports_its_start_each_contact_and_its_completion() {
    use crate::campaigns::{always, api, campaign_app, wait_for};
    let (app, number, assistant, key) = campaign_app("+14155550138").await;
    let receiver = Receiver::start(&[], Reply::Status(200)).await;
    let created = create(
        &app,
        &app.client,
        &receiver.url,
        &[
            EventKind::CampaignStarted,
            EventKind::CampaignCompleted,
            EventKind::ContactFinished,
            EventKind::CallEnded,
        ],
    )
    .await
    .expect("endpoint");
    let (fakes_twilio, livekit) = fakes(&app);
    drop(fakes_twilio);
    livekit.set_outcome("+14155550601", dial_fakes::livekit::CallOutcome::Declined);
    let (_, campaign) = api(
        &app,
        &key,
        reqwest::Method::POST,
        "/api/v1/campaigns",
        Some(always("Events", &assistant, &number)),
    )
    .await;
    let id = campaign["summary"]["id"].as_str().expect("id").to_string();
    api(&app, &key, reqwest::Method::POST, &format!("/api/v1/campaigns/{id}/contacts"),
        Some(json!([{ "phone": "+14155550600", "name": "Ada", "variables": { "plan": "gold" } }, { "phone": "+14155550601" }]))).await;
    api(
        &app,
        &key,
        reqwest::Method::POST,
        &format!("/api/v1/campaigns/{id}/start"),
        None,
    )
    .await;
    wait_for(&app, &key, &id, "completion", |d| {
        d.summary.state == dial_app::model::CampaignState::Completed
    })
    .await;
    // started, two contacts, two calls ended, completed.
    let got = receiver.wait_for(6, Duration::from_secs(20)).await;
    assert!(
        got.iter().all(|r| verifies(&created.secret, r)),
        "every delivery is signed"
    );
    let of = |kind: &str| {
        got.iter()
            .filter(|r| r.event_type == kind)
            .map(Received::json)
            .collect::<Vec<_>>()
    };
    assert_eq!(of("campaign.started").len(), 1);
    assert_eq!(of("campaign.completed").len(), 1);
    let finished = of("campaign.contact_finished");
    assert_eq!(finished.len(), 2, "{finished:?}");
    let ada = finished
        .iter()
        .find(|e| e["data"]["contact"]["phone"] == "+14155550600")
        .expect("Ada");
    assert_eq!(ada["data"]["outcome"], "completed");
    assert_eq!(ada["data"]["attempts"], 1);
    assert_eq!(ada["data"]["contact"]["variables"]["plan"], "gold");
    let declined = finished
        .iter()
        .find(|e| e["data"]["contact"]["phone"] == "+14155550601")
        .expect("declined");
    assert_eq!(declined["data"]["outcome"], "declined");
    assert_eq!(declined["data"]["sip_status"], 603);
    let ended = of("call.ended");
    assert_eq!(ended.len(), 2);
    assert!(
        ended
            .iter()
            .all(|e| e["data"]["call"]["campaign_id"] == id.as_str()),
        "{ended:?}"
    );
}
