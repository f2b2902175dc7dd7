//! Several `dial serve` processes on one PostgreSQL database: a change made on instance A
//! reaches a live stream (`GET /events/calls`) on instance B at once, through
//! `LISTEN/NOTIFY` (`dial_app::server::changes`), not the pages' slow poll. On SQLite
//! only one instance may use the database, and there is nothing to test.

use crate::{helpers::*, metrics::free_port};
use dial_app::server::db::Db;
use dial_fakes::livekit::{sign_webhook, FakeLiveKit};
use serde_json::json;
use std::{
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const KEY: &str = "APIinstancestest";
const SECRET: &str = "instances-test-secret-0123456789";

struct Dial {
    child: Child,
    base: String,
}

impl Drop for Dial {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(env: &[(&str, String)]) -> Dial {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_dial"))
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("DIAL_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dial");
    let dial = Dial {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reqwest::get(format!("{}/healthz", dial.base))
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "dial did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    dial
}

/// Reads a server-sent events stream until an event named `event` whose data passes
/// `wanted` arrives, or `within` passes.
async fn wait_for_event(
    stream: &mut reqwest::Response,
    event: &str,
    within: Duration,
    wanted: impl Fn(&str) -> bool,
) -> Option<String> {
    let deadline = tokio::time::Instant::now() + within;
    let mut text = String::new();
    loop {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .ok()?;
        text.push_str(&String::from_utf8_lossy(&chunk.ok()??));
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let mut name = "message";
            let mut data = "";
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = n.trim();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data = d.trim();
                }
            }
            if name == event && wanted(data) {
                return Some(data.to_string());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_instance_reaches_a_stream_on_another_at_once() {
    if std::env::var("DIAL_TEST_DATABASE").as_deref() != Ok("postgres") {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let database_url = fresh_database_url(dir.path()).await;
    let livekit = FakeLiveKit::new(KEY, SECRET);
    let livekit_url = format!(
        "http://{}",
        livekit
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("livekit")
    );
    let env = [
        ("DATABASE_URL", database_url.clone()),
        ("DIAL_DATA_DIR", dir.path().display().to_string()),
        (
            "DIAL_ENCRYPTION_KEY",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff".to_string(),
        ),
        ("DIAL_LIVEKIT_URL", livekit_url),
        ("DIAL_LIVEKIT_API_KEY", KEY.to_string()),
        ("DIAL_LIVEKIT_API_SECRET", SECRET.to_string()),
        ("RUST_LOG", "warn".to_string()),
    ];
    let a = start(&env).await;
    let b = start(&env).await;

    // One admin; sessions live in the database, so the same cookie works on both (a
    // load balancer needs nothing sticky).
    let client = new_client();
    let r = client
        .post(format!("{}/api/setup", a.base))
        .header("accept", "application/json")
        .form(&[
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
            ("password_confirm", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .expect("setup");
    assert!(r.status().is_success(), "{}", r.status());

    let mut on_b = client
        .get(format!("{}/events/calls", b.base))
        .send()
        .await
        .expect("stream on B");
    assert_eq!(on_b.status(), 200);
    let mut on_a = client
        .get(format!("{}/events/calls", a.base))
        .send()
        .await
        .expect("stream on A");
    assert_eq!(on_a.status(), 200);
    // The streams are open (their first keep-alive or event comes later): give B's
    // listener its moment to be listening.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A call starts, reported to instance A only.
    let caller = "+15105550142";
    let event = json!({
        "event": "participant_joined",
        "id": "EV_instances_1",
        "createdAt": "1700000000",
        "room": { "sid": "RM_instances", "name": "desk-instances" },
        "participant": {
            "sid": "PA_instances",
            "identity": format!("sip_{caller}"),
            "state": "ACTIVE",
            "kind": "SIP",
            "attributes": {
                "sip.callID": "SCL_instances_1",
                "sip.callStatus": "active",
                "sip.phoneNumber": caller,
                "sip.trunkPhoneNumber": "+14155550142",
                "sip.ruleID": "SDR_instances",
            }
        }
    });
    let bytes = serde_json::to_vec(&event).unwrap();
    let sent = Instant::now();
    let r = reqwest::Client::new()
        .post(format!("{}/webhooks/livekit", a.base))
        .header("content-type", "application/webhook+json")
        .header("authorization", sign_webhook(KEY, SECRET, &bytes))
        .body(bytes)
        .send()
        .await
        .expect("webhook");
    assert_eq!(r.status(), 200);
    let db = Db::connect(&database_url).await.expect("db");
    let call_id: String =
        sqlx::query_scalar("SELECT id FROM call_sessions WHERE sip_call_id = 'SCL_instances_1'")
            .fetch_one(&db.pool)
            .await
            .expect("the call was recorded");

    // B's stream hears it, well within the pages' 10 s poll.
    let heard = wait_for_event(&mut on_b, "call", Duration::from_secs(5), |d| d == call_id).await;
    assert_eq!(
        heard.as_deref(),
        Some(call_id.as_str()),
        "B never heard of A's call"
    );
    let took = sent.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    // A's own stream hears it too (from A itself).
    let heard = wait_for_event(&mut on_a, "call", Duration::from_secs(5), |d| d == call_id).await;
    assert_eq!(heard.as_deref(), Some(call_id.as_str()));

    // And the other way round: the call ends, reported to B only; A's stream hears it.
    let left = json!({
        "event": "participant_left",
        "id": "EV_instances_2",
        "createdAt": "1700000005",
        "room": { "sid": "RM_instances", "name": "desk-instances" },
        "participant": event["participant"].clone(),
    });
    let bytes = serde_json::to_vec(&left).unwrap();
    let r = reqwest::Client::new()
        .post(format!("{}/webhooks/livekit", b.base))
        .header("content-type", "application/webhook+json")
        .header("authorization", sign_webhook(KEY, SECRET, &bytes))
        .body(bytes)
        .send()
        .await
        .expect("webhook");
    assert_eq!(r.status(), 200);
    let heard = wait_for_event(&mut on_a, "call", Duration::from_secs(5), |d| d == call_id).await;
    assert_eq!(
        heard.as_deref(),
        Some(call_id.as_str()),
        "A never heard of B's change"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM call_sessions WHERE id = $1")
        .bind(&call_id)
        .fetch_one(&db.pool)
        .await
        .expect("call");
    assert_eq!(status, "ended");
}

/// Run and campaign changes travel the same way, and each viewer hears only what it may
/// see: an owner hears of their own campaign, not of another's; an admin of both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_and_campaign_changes_reach_other_instances_for_whoever_may_see_them() {
    if std::env::var("DIAL_TEST_DATABASE").as_deref() != Ok("postgres") {
        return;
    }
    let a = spawn_with_admin().await;
    // A second instance on the same database and key.
    let b = Spawn {
        config: a.config.clone(),
        dir: std::sync::Arc::new(tempfile::tempdir().expect("dir")),
    }
    .start()
    .await;
    let (owner, owner_id) = a.owner_client().await;
    let mut admin_on_b = a
        .client
        .get(b.url("/events/calls"))
        .send()
        .await
        .expect("admin stream on B");
    assert_eq!(admin_on_b.status(), 200);
    let mut owner_on_b = owner
        .get(b.url("/events/calls"))
        .send()
        .await
        .expect("owner stream on B");
    assert_eq!(owner_on_b.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;

    dial_app::server::changes::run(&a.state, "run-on-a", None);
    dial_app::server::changes::campaign(&a.state, "someone-elses", Some("another-user".into()));
    dial_app::server::changes::campaign(&a.state, "olivias", Some(owner_id.clone()));

    let within = Duration::from_secs(5);
    assert_eq!(
        wait_for_event(&mut admin_on_b, "run", within, |_| true)
            .await
            .as_deref(),
        Some("run-on-a")
    );
    assert_eq!(
        wait_for_event(&mut admin_on_b, "campaign", within, |d| d == "olivias")
            .await
            .as_deref(),
        Some("olivias")
    );
    // The owner's first campaign event is their own campaign's: the other was not sent.
    assert_eq!(
        wait_for_event(&mut owner_on_b, "campaign", within, |_| true)
            .await
            .as_deref(),
        Some("olivias")
    );
}
