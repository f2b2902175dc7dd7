//! Benchmark: LiveKit webhook ingestion.
//!
//!     cargo bench --bench webhooks
//!     DIAL_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench webhooks
//!
//! Starts the real application on loopback (optimised build) with LiveKit configured,
//! signs participant_joined and participant_left webhooks for 10,000 distinct calls up
//! front, then posts them as fast as the server takes them from 32 concurrent connections
//! (each call's join before its leave). Reports events per second, p50 and p99 latency,
//! and checks that every event was recorded and every call ended.
//!
//! With `DIAL_BENCH_EVENT_HOOK=1` an enabled event-webhook endpoint (a receiver on
//! loopback answering 204) hears every call event, so each batch also writes its outbox
//! rows and the delivery worker sends them meanwhile; it then reports how long the
//! 30,000 deliveries took to arrive. `DIAL_BENCH_EVENT_HOOK=outbox` keeps the worker idle
//! during the run, to measure what the outbox alone costs the ingestion.

use dial::startup::Application;
use dial_app::server::config::Config;
use dial_fakes::livekit::sign_webhook;
use secrecy::SecretString;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CALLS: usize = 10_000;
/// Connections posting at once (`DIAL_BENCH_CONNECTIONS`, default 32).
fn concurrency() -> usize {
    std::env::var("DIAL_BENCH_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}
const KEY: &str = "APIbench";
const SECRET: &str = "bench-secret-0123456789abcdef";

fn event(kind: &str, i: usize) -> Vec<u8> {
    let status = if kind == "participant_joined" {
        "active"
    } else {
        "hangup"
    };
    serde_json::to_vec(&serde_json::json!({
        "event": kind,
        "id": format!("EV_{kind}_{i}"),
        "createdAt": "1700000000",
        "room": { "sid": format!("RM_{i}"), "name": format!("call-_{i}") },
        "participant": {
            "sid": format!("PA_{i}"),
            "identity": format!("sip_+1510{i:07}"),
            "state": "ACTIVE",
            "kind": "SIP",
            "attributes": {
                "sip.callID": format!("SCL_{i}"),
                "sip.callStatus": status,
                "sip.phoneNumber": format!("+1510{i:07}"),
                "sip.trunkPhoneNumber": "+14155550100",
                "sip.ruleID": "SDR_bench",
            }
        }
    }))
    .expect("json")
}

/// Reads one HTTP/1.1 response (status line, headers, `Content-Length` body) and returns
/// its status code.
async fn read_response(stream: &mut tokio::net::TcpStream, buffer: &mut Vec<u8>) -> u16 {
    buffer.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the server closed the connection");
        buffer.extend_from_slice(&chunk[..n]);
        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = std::str::from_utf8(&buffer[..end]).expect("ascii head");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buffer.len() < end + 4 + length {
            let n = stream.read(&mut chunk).await.expect("read body");
            assert!(n > 0, "the server closed the connection");
            buffer.extend_from_slice(&chunk[..n]);
        }
        return status;
    }
}

/// The application on a fresh database, with LiveKit configured to sign as the generator.
async fn bench_app(database_url: String, dir: &std::path::Path) -> Application {
    let mut config = Config::for_data_dir(dir.to_path_buf());
    config.database_url = Some(database_url);
    config.livekit.api_key = Some(KEY.into());
    config.livekit.api_secret = Some(SecretString::from(SECRET.to_string()));
    config.webhooks.allow_private = true;
    if outbox_only() {
        // The worker's first look is at start; the next comes after the run.
        config.webhooks.poll = Duration::from_secs(3600);
    }
    let app = Application::build(config).await.expect("app");
    if std::env::var("DIAL_BENCH_EVENT_HOOK").is_ok() {
        event_hook(app.state()).await;
    }
    app
}

/// `DIAL_BENCH_EVENT_HOOK=outbox`: events are written, not sent.
fn outbox_only() -> bool {
    std::env::var("DIAL_BENCH_EVENT_HOOK").as_deref() == Ok("outbox")
}

/// Deliveries the bench's receiver has answered.
static RECEIVED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A receiver on loopback, and an enabled endpoint (an admin's) that hears every call event.
async fn event_hook(state: &dial_app::server::state::AppState) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the receiver");
    let url = format!("http://{}/hooks", listener.local_addr().expect("address"));
    let router = axum::Router::new().route(
        "/hooks",
        axum::routing::post(|| async {
            RECEIVED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            axum::http::StatusCode::NO_CONTENT
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    sqlx::query(
        "INSERT INTO users (id, username, password_hash, role, created_at, updated_at) \
         VALUES ('bench', 'bench', 'x', 'admin', 0, 0)",
    )
    .execute(&state.db.pool)
    .await
    .expect("a user");
    let binding = dial_app::server::crypto::Binding {
        table: "webhook_endpoints",
        column: "secret",
        row: "bench",
    };
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, user_id, url, events, secret, enabled, created_at, \
         updated_at, secret_rotated_at) VALUES ('bench', 'bench', $1, \
         'call.started call.answered call.ended', $2, 1, 0, 0, 0)",
    )
    .bind(&url)
    .bind(state.keyring.encrypt("whsec_bench", binding))
    .execute(&state.db.pool)
    .await
    .expect("an endpoint");
}

/// With an endpoint: waits for every call event to reach the receiver and says how long
/// that took after the last webhook was answered.
async fn report_deliveries(state: &dial_app::server::state::AppState, expected: usize) {
    if outbox_only() {
        let written: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events")
            .fetch_one(&state.db.pool)
            .await
            .expect("count");
        println!("  event webhooks: {written} events in the outbox (not sent during the run)");
        assert_eq!(written as usize, expected);
        return;
    }
    if std::env::var("DIAL_BENCH_EVENT_HOOK").is_err() {
        return;
    }
    let started = Instant::now();
    while RECEIVED.load(std::sync::atomic::Ordering::Relaxed) < expected {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "deliveries stalled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "  event webhooks: {expected} deliveries received, the last {:.2} s after the last webhook was answered",
        started.elapsed().as_secs_f64()
    );
    RECEIVED.store(0, std::sync::atomic::Ordering::Relaxed);
}

async fn fresh_postgres(url: &str) -> String {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url)
        .await
        .expect("connect to PostgreSQL");
    let name = format!("dial_test_bench_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create database");
    let base = url
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or_default();
    format!("{base}/{name}")
}

async fn run(backend: &str, database_url: String, dir: &std::path::Path) {
    let app = bench_app(database_url, dir).await;
    let state = app.state().clone();
    let address = app.address();
    tokio::spawn(app.run());

    // Signed and serialised up front: the generator measures the server, not its own
    // signing. Each request is written as raw HTTP/1.1 bytes on a kept-alive connection
    // and the response read back by hand (like wrk): a full HTTP client in the same
    // process would take a large share of the two cores the server is measured on.
    let per_call: Vec<Vec<Vec<u8>>> = (0..CALLS)
        .map(|i| {
            ["participant_joined", "participant_left"]
                .iter()
                .map(|kind| {
                    let body = event(kind, i);
                    let token = sign_webhook(KEY, SECRET, &body);
                    let mut request = format!(
                        "POST /webhooks/livekit HTTP/1.1\r\nHost: {address}\r\n\
                         Content-Type: application/webhook+json\r\nAuthorization: {token}\r\n\
                         Content-Length: {}\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    request.extend_from_slice(&body);
                    request
                })
                .collect()
        })
        .collect();

    let queue = Arc::new(std::sync::Mutex::new(per_call));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency() {
        let queue = queue.clone();
        workers.push(tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(address)
                .await
                .expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let mut latencies = Vec::new();
            let mut buffer = Vec::with_capacity(4096);
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop());
                let Some(call) = next else { break };
                for request in call {
                    let t = Instant::now();
                    stream.write_all(&request).await.expect("send");
                    let status = read_response(&mut stream, &mut buffer).await;
                    assert_eq!(status, 200, "HTTP {status}");
                    latencies.push(t.elapsed());
                }
            }
            latencies
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for w in workers {
        latencies.extend(w.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM call_events")
        .fetch_one(&state.db.pool)
        .await
        .expect("count");
    let ended: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM call_sessions WHERE status = 'ended'")
            .fetch_one(&state.db.pool)
            .await
            .expect("count");
    println!(
        "{backend}: {} events in {:.2} s = {:.0} events/s; latency p50 {:.2} ms, p99 {:.2} ms; recorded {events}, calls ended {ended}/{CALLS}",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
    );
    assert_eq!(events as usize, CALLS * 2, "no event lost");
    assert_eq!(ended as usize, CALLS);
    report_deliveries(&state, CALLS * 3).await;
}

/// The writer alone: the same events, verified and decoded up front, handed to the
/// ingestion from 32 tasks without HTTP. Shows what the store takes.
async fn writer_alone(backend: &str, database_url: String, dir: &std::path::Path) {
    let app = bench_app(database_url, dir).await;
    let state = app.state().clone();
    let per_call: Vec<Vec<_>> = (0..CALLS)
        .map(|i| {
            ["participant_joined", "participant_left"]
                .iter()
                .map(|kind| {
                    let body = event(kind, i);
                    let token = sign_webhook(KEY, SECRET, &body);
                    dial_app::server::livekit::webhooks::verify(KEY, SECRET, Some(&token), &body)
                        .expect("verified")
                })
                .collect()
        })
        .collect();
    let queue = Arc::new(std::sync::Mutex::new(per_call));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency() {
        let queue = queue.clone();
        let state = state.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop());
                let Some(call) = next else { break };
                for event in call {
                    dial_app::server::calls::ingest::apply(&state, &event)
                        .await
                        .expect("applied");
                }
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    let elapsed = started.elapsed();
    println!(
        "{backend}, writer alone (no HTTP): {} events in {:.2} s = {:.0} events/s",
        CALLS * 2,
        elapsed.as_secs_f64(),
        (CALLS * 2) as f64 / elapsed.as_secs_f64(),
    );
    report_deliveries(&state, CALLS * 3).await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    if std::env::var("DIAL_BENCH_WRITER").is_ok() {
        let alone = tempfile::tempdir().expect("temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            alone.path().join("bench.db").display()
        );
        writer_alone("SQLite", url, alone.path()).await;
    }
    run("SQLite", sqlite, dir.path()).await;
    if let Ok(url) = std::env::var("DIAL_BENCH_POSTGRES_URL") {
        let pg_dir = tempfile::tempdir().expect("temp dir");
        run("PostgreSQL", fresh_postgres(&url).await, pg_dir.path()).await;
    }
}
