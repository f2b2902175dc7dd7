//! A provisioning run survives `kill -9`: the real binary is killed mid-run, a new process
//! on the same database takes the run over (its heartbeat went stale) and finishes it,
//! leaving exactly one of each provider object and no orphans.

use crate::helpers::*;
use dial_app::server::db::Db;
use dial_fakes::{livekit::FakeLiveKit, twilio::FakeTwilio};
use std::{
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const SID: &str = "AC0000000000000000000000000000c0de";
const TOKEN: &str = "c0dec0dec0dec0dec0dec0dec0dec0de";
const KEY: &str = "APIcrashtest";
const SECRET: &str = "crash-test-secret-0123456789";
const E164: &str = "+15105550110";

struct Dial {
    child: Child,
}

impl Drop for Dial {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn start(env: &[(String, String)], port: u16) -> Dial {
    let child = Command::new(env!("CARGO_BIN_EXE_dial"))
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("DIAL_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dial");
    let dial = Dial { child };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return dial;
        }
        assert!(Instant::now() < deadline, "dial did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn run_status(db: &Db) -> Option<String> {
    sqlx::query_scalar("SELECT status FROM provisioning_runs")
        .fetch_optional(&db.pool)
        .await
        .ok()
        .flatten()
}

async fn done_steps(db: &Db) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM provisioning_steps WHERE status = 'done'")
        .fetch_one(&db.pool)
        .await
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_way_is_finished_by_the_next_process() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database_url(dir.path()).await;
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let twilio = FakeTwilio::new();
    twilio.add_account(SID, TOKEN, "Crash test");
    twilio.give_number(SID, E164).unwrap();
    let twilio_url = format!("http://{}", twilio.serve(loopback).await.unwrap());
    let livekit = FakeLiveKit::new(KEY, SECRET);
    let livekit_url = format!("http://{}", livekit.serve(loopback).await.unwrap());
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", database_url.as_str()),
        ("DIAL_DATA_DIR", &dir.path().display().to_string()),
        (
            "DIAL_ENCRYPTION_KEY",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        ),
        ("DIAL_TWILIO_API_BASE", &twilio_url),
        ("DIAL_TWILIO_TRUNKING_BASE", &twilio_url),
        ("DIAL_TWILIO_ACCOUNT_SID", SID),
        ("DIAL_TWILIO_AUTH_TOKEN", TOKEN),
        ("DIAL_TWILIO_SIP_ADDRESS", "dial-crash.pstn.twilio.com"),
        ("DIAL_TWILIO_SIP_USERNAME", "dial"),
        ("DIAL_TWILIO_SIP_PASSWORD", "CrashTest2026x"),
        ("DIAL_LIVEKIT_URL", &livekit_url),
        ("DIAL_LIVEKIT_API_KEY", KEY),
        ("DIAL_LIVEKIT_API_SECRET", SECRET),
        ("DIAL_LIVEKIT_SIP_URI", "crash.sip.livekit.cloud"),
        ("DIAL_PROVISIONING_LEASE_SECS", "1"),
        ("RUST_LOG", "warn"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();

    let port = free_port();
    let first = start(&env, port).await;
    let base = format!("http://127.0.0.1:{port}");
    let client = new_client();
    let call = |endpoint: &str, form: Vec<(&str, String)>| {
        client
            .post(format!("{base}/api/{endpoint}"))
            .header("accept", "application/json")
            .form(&form)
            .send()
    };
    let ok = |r: reqwest::Response| async move {
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        assert!(status.is_success(), "{status}: {body}");
        body
    };
    ok(call(
        "setup",
        vec![
            ("username", ADMIN.into()),
            ("password", ADMIN_PASSWORD.into()),
            ("password_confirm", ADMIN_PASSWORD.into()),
        ],
    )
    .await
    .unwrap())
    .await;
    ok(
        call("settings/twilio/save", vec![("auto_trunk", "on".into())])
            .await
            .unwrap(),
    )
    .await;
    ok(call("numbers/import", vec![]).await.unwrap()).await;

    let db = Db::connect(&database_url).await.unwrap();
    let number_id: String = sqlx::query_scalar("SELECT id FROM phone_numbers WHERE e164 = $1")
        .bind(E164)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let admin_id: String = sqlx::query_scalar("SELECT id FROM users")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO assistants (id, owner_id, name, agent_name, metadata, room_prefix, description, created_at, updated_at) \
         VALUES ('a1', $1, 'Reception', 'reception-agent', '{}', 'call-', '', 0, 0)",
    )
    .bind(&admin_id)
    .execute(&db.pool)
    .await
    .unwrap();

    // Every provider call takes 150 ms, so the run is caught mid-way.
    twilio.faults.set_latency(Some(Duration::from_millis(150)));
    livekit.faults.set_latency(Some(Duration::from_millis(150)));
    let assign = tokio::spawn(call(
        "assignment/assign",
        vec![
            ("number_id", number_id.clone()),
            ("assistant_id", "a1".into()),
        ],
    ));
    let deadline = Instant::now() + Duration::from_secs(20);
    while done_steps(&db).await < 1 {
        assert!(Instant::now() < deadline, "the run never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // kill -9 while the provider steps are in flight.
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(first);
    let _ = assign.await;
    assert_eq!(
        run_status(&db).await.as_deref(),
        Some("running"),
        "killed mid-run"
    );
    let done_before = done_steps(&db).await;
    assert!(
        done_before < 7,
        "the run was interrupted ({done_before} steps done)"
    );

    // A new process on the same database resumes the run once its heartbeat is stale.
    let _second = start(&env, free_port()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match run_status(&db).await.as_deref() {
            Some("done") => break,
            Some("running") => {}
            other => panic!("the resumed run ended as {other:?}"),
        }
        assert!(Instant::now() < deadline, "the run was not resumed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Exactly one of everything, all recorded on the number: no orphans.
    let (inbound, outbound, rule): (Option<String>, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT inbound_trunk_id, outbound_trunk_id, dispatch_rule_id FROM phone_numbers WHERE id = $1",
    )
    .bind(&number_id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let inbound_ids: Vec<String> = livekit
        .inbound_trunks()
        .into_iter()
        .map(|t| t.sip_trunk_id)
        .collect();
    let outbound_ids: Vec<String> = livekit
        .outbound_trunks()
        .into_iter()
        .map(|t| t.sip_trunk_id)
        .collect();
    let rule_ids: Vec<String> = livekit
        .dispatch_rules()
        .into_iter()
        .map(|r| r.sip_dispatch_rule_id)
        .collect();
    assert_eq!(inbound_ids, vec![inbound.unwrap()]);
    assert_eq!(outbound_ids, vec![outbound.unwrap()]);
    assert_eq!(rule_ids, vec![rule.unwrap()]);
    let trunks = twilio.trunks(SID);
    assert_eq!(trunks.len(), 1, "{trunks:?}");
    assert_eq!(trunks[0].number_sids.len(), 1);
    assert_eq!(trunks[0].credential_lists.len(), 1);
    twilio.faults.set_latency(None);
    livekit.faults.set_latency(None);
    assert!(livekit
        .simulate_inbound(
            E164,
            "+15105550100",
            "54.172.60.1".parse().unwrap(),
            None,
            None
        )
        .is_ok());
}

/// A webhook answered 200 is committed: the binary is killed (`kill -9`) while 16
/// connections post signed LiveKit webhooks, and every event it had answered is in the
/// database afterwards (on SQLite whatever the WAL held at the time and whatever the
/// checkpointer was doing; on PostgreSQL whichever writer took it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_webhook_answered_before_a_kill_is_recorded() {
    use dial_fakes::livekit::sign_webhook;
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database_url(dir.path()).await;
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", database_url.as_str()),
        ("DIAL_DATA_DIR", &dir.path().display().to_string()),
        (
            "DIAL_ENCRYPTION_KEY",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        ),
        ("DIAL_LIVEKIT_API_KEY", KEY),
        ("DIAL_LIVEKIT_API_SECRET", SECRET),
        ("RUST_LOG", "warn"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let port = free_port();
    let dial = start(&env, port).await;
    let url = format!("http://127.0.0.1:{port}/webhooks/livekit");
    let answered: Arc<Mutex<Vec<String>>> = Arc::default();
    let client = new_client();
    let mut posters = Vec::new();
    for p in 0..16 {
        let (url, client, answered) = (url.clone(), client.clone(), answered.clone());
        posters.push(tokio::spawn(async move {
            for i in 0.. {
                let call = format!("SCL_{p}_{i}");
                for kind in ["participant_joined", "participant_left"] {
                    let id = format!("EV_{kind}_{p}_{i}");
                    let body = serde_json::to_vec(&serde_json::json!({
                        "event": kind,
                        "id": id,
                        "createdAt": "1700000000",
                        "room": { "sid": format!("RM_{p}_{i}"), "name": format!("call-{p}-{i}") },
                        "participant": {
                            "sid": format!("PA_{p}_{i}"),
                            "identity": format!("sip_{p}_{i}"),
                            "kind": "SIP",
                            "attributes": {
                                "sip.callID": call,
                                "sip.callStatus": "active",
                                "sip.phoneNumber": "+15105550100",
                                "sip.trunkPhoneNumber": "+14155550100",
                            }
                        }
                    }))
                    .unwrap();
                    let token = sign_webhook(KEY, SECRET, &body);
                    let sent = client
                        .post(&url)
                        .header("content-type", "application/webhook+json")
                        .header("authorization", token)
                        .body(body)
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == 200 => answered.lock().unwrap().push(id),
                        Ok(r) => panic!("HTTP {}", r.status()),
                        // The process is gone.
                        Err(_) => return,
                    }
                }
            }
        }));
    }
    // Let the writer commit (and the WAL grow) for a while, then kill -9.
    let deadline = Instant::now() + Duration::from_secs(30);
    while answered.lock().unwrap().len() < 3_000 {
        assert!(Instant::now() < deadline, "too few webhooks answered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(dial);
    for poster in posters {
        poster.await.unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    let db = Db::connect(&database_url).await.unwrap();
    let recorded: std::collections::HashSet<String> =
        sqlx::query_scalar("SELECT id FROM call_events")
            .fetch_all(&db.pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let lost: Vec<&String> = answered
        .iter()
        .filter(|id| !recorded.contains(*id))
        .collect();
    assert!(lost.is_empty(), "answered but not recorded: {lost:?}");
    // Nothing half-applied: each recorded event's call has its session.
    let orphans: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM call_events e WHERE NOT EXISTS \
         (SELECT 1 FROM call_sessions s WHERE s.id = e.call_id)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(orphans, 0);
}
