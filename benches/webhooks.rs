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
//! Then the same server is measured by an independent generator, `wrk` (Debian: `apt-get
//! install wrk`), replaying pre-signed webhooks for `DIAL_BENCH_SECONDS` (default 10) from
//! 2 threads and 32 connections with a Lua script (`WRK_SCRIPT` below; each request once,
//! each call's join a thousand requests before its leave). Skipped, with a note, when
//! `wrk` is not on the `PATH`. `DIAL_BENCH_WRK=0` skips it; `DIAL_BENCH_WRK=only` skips the
//! in-repo generator.
//!
//! `DIAL_BENCH_BINARY=target/release/dial` measures a built binary as its own process
//! instead (SQLite): its cold start (spawn until `/healthz` answers, on a fresh database
//! and again on the same one), its resident memory idle and under the wrk load, and the
//! wrk figures.
//!
//! Each wrk run also says where the machine's CPU went while it ran (from `/proc`): the
//! server, wrk, PostgreSQL's processes and the rest, in cores and in CPU milliseconds per
//! 1,000 events, so a throughput short of a target shows what it is short of.
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
    io::Write,
    path::{Path, PathBuf},
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
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{backend}, in-repo generator: {} events in {:.2} s = {:.0} events/s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; recorded {events}, calls ended {ended}/{CALLS}",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(pct(0.50)),
        ms(pct(0.90)),
        ms(pct(0.99)),
        ms(latencies[latencies.len() - 1]),
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

/// The wrk script: thread k replays the lines of `requests-k.txt` (`token<TAB>body`) in
/// order, each once (the bench writes more than a run takes; if a run took them all, it
/// would start over and send duplicates, which the bench reports). Prints one line of
/// figures (latencies in microseconds) for the bench to read.
const WRK_SCRIPT: &str = r#"
local count = 0
function setup(thread)
  thread:set("index", count)
  count = count + 1
end
function init(args)
  requests = {}
  local file = assert(io.open(args[1] .. "/requests-" .. index .. ".txt", "r"))
  for line in file:lines() do
    local tab = line:find("\t", 1, true)
    requests[#requests + 1] = wrk.format("POST", "/webhooks/livekit",
      { ["Content-Type"] = "application/webhook+json", ["Authorization"] = line:sub(1, tab - 1) },
      line:sub(tab + 1))
  end
  file:close()
  sent = 0
end
function request()
  sent = sent + 1
  return requests[(sent - 1) % #requests + 1]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("DIAL-WRK %d %d %d %d %d %d %d %d\n", summary.requests,
    summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"#;

const WRK_THREADS: usize = 2;

/// How long wrk runs (`DIAL_BENCH_SECONDS`, default 10).
fn wrk_seconds() -> u64 {
    std::env::var("DIAL_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

fn wrk_on_path() -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join("wrk").is_file()))
        .unwrap_or(false)
}

/// Writes the signed requests for wrk's threads; returns how many there are. Each
/// thread's file takes calls in blocks of 500: the joins, then the leaves.
fn write_replay(dir: &Path, calls: usize) -> usize {
    let mut files: Vec<_> = (0..WRK_THREADS)
        .map(|k| {
            std::io::BufWriter::new(
                std::fs::File::create(dir.join(format!("requests-{k}.txt"))).expect("file"),
            )
        })
        .collect();
    let mut written = 0;
    for (block, start) in (0..calls).step_by(500).enumerate() {
        let file = &mut files[block % WRK_THREADS];
        for kind in ["participant_joined", "participant_left"] {
            for i in start..(start + 500).min(calls) {
                let body = event(kind, i);
                let token = sign_webhook(KEY, SECRET, &body);
                file.write_all(token.as_bytes()).expect("write");
                file.write_all(b"\t").expect("write");
                file.write_all(&body).expect("write");
                file.write_all(b"\n").expect("write");
                written += 1;
            }
        }
    }
    for mut f in files {
        f.flush().expect("flush");
    }
    std::fs::write(dir.join("replay.lua"), WRK_SCRIPT).expect("script");
    written
}

/// CPU time used so far, in seconds, read from `/proc`: the server (this process for an
/// in-process run, or the binary's), the reaped children of this process (wrk, once it
/// has exited), every process named `postgres` (the server and its backends), and the
/// whole machine (busy and in all).
#[derive(Clone, Copy)]
struct Cpu {
    server: f64,
    children: f64,
    postgres: f64,
    busy: f64,
    /// Interrupts and soft interrupts (the kernel's network stack on loopback), and time
    /// the hypervisor took (steal): busy time no process is charged with.
    interrupts: f64,
    steal: f64,
    total: f64,
}

/// Clock ticks per second, as `/proc` counts CPU time (`getconf CLK_TCK`; 100 on Linux).
/// Asked once: `getconf` is a child too, and counts among the children's time.
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// A `/proc/PID/stat` line's fields after the command's name (its third field on).
fn stat_fields(path: &str) -> Option<(String, Vec<f64>)> {
    let stat = std::fs::read_to_string(path).ok()?;
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_string();
    // The state is a letter; the rest are numbers.
    let fields = rest
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    Some((name, fields))
}

impl Cpu {
    fn now(server: &str) -> Cpu {
        let tick = clock_ticks();
        // utime, stime, cutime, cstime are fields 14 to 17: indexes 10 to 13 after the state.
        let times = |f: &[f64], at: usize| f.get(at).copied().unwrap_or(0.0) / tick;
        let (_, own) = stat_fields(server).unwrap_or_default();
        let (_, me) = stat_fields("/proc/self/stat").unwrap_or_default();
        let postgres = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            })
            .filter_map(|e| stat_fields(&format!("{}/stat", e.path().display())))
            .filter(|(name, _)| name == "postgres")
            .map(|(_, f)| times(&f, 10) + times(&f, 11))
            .sum();
        let machine = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let cpu: Vec<f64> = machine
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse::<f64>().unwrap_or(0.0) / tick)
            .collect();
        let total: f64 = cpu.iter().take(8).sum();
        let column = |at: usize| cpu.get(at).copied().unwrap_or(0.0);
        // idle and iowait
        let idle = column(3) + column(4);
        Cpu {
            server: times(&own, 10) + times(&own, 11),
            children: times(&me, 12) + times(&me, 13),
            postgres,
            busy: total - idle,
            interrupts: column(5) + column(6),
            steal: column(7),
            total,
        }
    }

    /// Prints where the CPU went between `self` and `after`, for `events` events: in cores
    /// (out of the machine's) and in CPU milliseconds per 1,000 events.
    fn report(self, after: Cpu, events: u64) {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let wall = (after.total - self.total) / cores;
        let part = |a: f64, b: f64| (b - a).max(0.0);
        let server = part(self.server, after.server);
        let wrk = part(self.children, after.children);
        let postgres = part(self.postgres, after.postgres);
        let busy = part(self.busy, after.busy);
        let interrupts = part(self.interrupts, after.interrupts);
        let steal = part(self.steal, after.steal);
        let other = (busy - server - wrk - postgres - interrupts - steal).max(0.0);
        let per = |cpu: f64| cpu * 1000.0 * 1000.0 / events.max(1) as f64;
        println!(
            "  CPU over {wall:.1} s on {cores} cores: Dial {:.2} cores ({:.0} ms per 1,000 events), wrk {:.2} ({:.0} ms), PostgreSQL {:.2} ({:.0} ms), interrupts {:.2} ({:.0} ms), steal {:.2}, other processes {:.2}; idle {:.2}",
            server / wall,
            per(server),
            wrk / wall,
            per(wrk),
            postgres / wall,
            per(postgres),
            interrupts / wall,
            per(interrupts),
            steal / wall,
            other / wall,
            (wall * cores - busy) / wall,
        );
    }
}

/// What wrk measured.
struct Wrk {
    requests: u64,
    seconds: f64,
    non_2xx: u64,
    socket_errors: u64,
    /// p50, p90, p99, max, in ms.
    latency: [f64; 4],
}

/// Runs wrk against `address` with the requests in `dir`.
async fn run_wrk(address: std::net::SocketAddr, dir: &Path) -> Wrk {
    let mut wrk = std::process::Command::new("wrk");
    wrk.arg(format!("-t{WRK_THREADS}"))
        .arg(format!("-c{}", concurrency()))
        .arg(format!("-d{}s", wrk_seconds()))
        .arg("--timeout=10s")
        .arg("-s")
        .arg(dir.join("replay.lua"))
        .arg(format!("http://{address}"))
        .arg("--")
        .arg(dir);
    let output = tokio::task::spawn_blocking(move || wrk.output())
        .await
        .expect("wrk's thread")
        .expect("run wrk");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("DIAL-WRK "))
        .unwrap_or_else(|| {
            panic!(
                "wrk printed no figures:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let n: Vec<u64> = line
        .split_whitespace()
        .map(|v| v.parse().expect("a number"))
        .collect();
    let ms = |us: u64| us as f64 / 1000.0;
    Wrk {
        requests: n[0],
        seconds: n[1] as f64 / 1e6,
        non_2xx: n[2],
        socket_errors: n[3],
        latency: [ms(n[4]), ms(n[5]), ms(n[6]), ms(n[7])],
    }
}

impl Wrk {
    fn report(&self, backend: &str, pool: usize) {
        let [p50, p90, p99, max] = self.latency;
        println!(
            "{backend}, wrk replay: {} events in {:.2} s = {:.0} events/s; latency p50 {p50:.2} ms, p90 {p90:.2} ms, p99 {p99:.2} ms, max {max:.2} ms; non-2xx {}, socket errors {}",
            self.requests,
            self.seconds,
            self.requests as f64 / self.seconds,
            self.non_2xx,
            self.socket_errors,
        );
        assert_eq!(
            self.non_2xx + self.socket_errors,
            0,
            "every webhook answered 200"
        );
        if self.requests as usize > pool {
            println!("  (wrk took more than the {pool} distinct events: the rest were duplicates)");
        }
    }
}

/// Distinct calls written for a wrk run: more than 40,000 events a second would take.
fn wrk_calls() -> usize {
    20_000 * wrk_seconds() as usize
}

/// Every answered webhook is recorded: at least as many events as wrk counted answers
/// (a request in flight when wrk stopped may be recorded too, never more than one per
/// connection).
async fn check_recorded(db: &dial_app::server::db::Db, wrk: &Wrk, pool: usize) {
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM call_events")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    let answered = (wrk.requests as usize).min(pool);
    println!("  recorded {events} events for {answered} distinct answered webhooks");
    assert!(events as usize >= answered, "an answered webhook was lost");
    assert!(
        events as usize <= answered + concurrency(),
        "more events than requests"
    );
}

/// The in-process server, measured by wrk.
async fn run_wrk_in_process(backend: &str, database_url: String, dir: &Path) {
    let app = bench_app(database_url, dir).await;
    let state = app.state().clone();
    let address = app.address();
    tokio::spawn(app.run());
    let replay = tempfile::tempdir().expect("temp dir");
    let pool = write_replay(replay.path(), wrk_calls());
    let before = Cpu::now("/proc/self/stat");
    let wrk = run_wrk(address, replay.path()).await;
    let after = Cpu::now("/proc/self/stat");
    wrk.report(backend, pool);
    before.report(after, wrk.requests);
    check_recorded(&state.db, &wrk, pool).await;
}

/// A `/proc` size ("  1234 kB") in MB.
fn megabytes(kb: &str) -> Option<f64> {
    let kb: f64 = kb.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb / 1024.0)
}

/// A process's resident memory now and at its peak, in MB (`/proc/PID/status`).
fn rss(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(megabytes)
            .unwrap_or(0.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// What a process's resident memory is made of, in MB, from `/proc/PID/smaps`: memory of
/// its own (heap, thread stacks: anonymous), the binary's pages, the database's files
/// (SQLite maps `dial.db` and its `-shm`: those pages are the page cache, shared with the
/// kernel and given back under pressure), and shared libraries.
fn rss_parts(pid: u32) -> String {
    let binary = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let (mut anonymous, mut own, mut database, mut libraries) = (0.0, 0.0, 0.0, 0.0);
    let mut mapping = String::new();
    for line in smaps.lines() {
        if let Some(kb) = line.strip_prefix("Rss:") {
            let mb = megabytes(kb).unwrap_or(0.0);
            if mapping.is_empty() || mapping.starts_with('[') {
                anonymous += mb;
            } else if Path::new(&mapping) == binary.as_path() {
                own += mb;
            } else if mapping.contains("dial.db") {
                database += mb;
            } else {
                libraries += mb;
            }
        } else if line
            .split_whitespace()
            .next()
            .is_some_and(|f| f.contains('-') && !f.ends_with(':'))
        {
            // A mapping's header: address perms offset dev inode [path].
            mapping = line
                .split_whitespace()
                .nth(5)
                .unwrap_or_default()
                .to_string();
        }
    }
    format!(
        "own memory (heap, stacks) {anonymous:.1} MB, the binary {own:.1} MB, the database's mapped pages {database:.1} MB, libraries {libraries:.1} MB"
    )
}

/// A started binary, stopped (killed and reaped) when dropped.
struct Process(std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary on `dir`'s SQLite database and waits until `/healthz` answers;
/// returns the process and how long it took.
async fn start_binary(binary: &Path, dir: &Path, port: u16) -> (Process, Duration) {
    let started = Instant::now();
    let child = Process(
        std::process::Command::new(binary)
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DIAL_DATA_DIR", dir)
            .env("DIAL_LISTEN", format!("127.0.0.1:{port}"))
            .env("DIAL_ENCRYPTION_KEY", "00".repeat(32))
            .env("DIAL_LIVEKIT_API_KEY", KEY)
            .env("DIAL_LIVEKIT_API_SECRET", SECRET)
            .env("DIAL_LOG", "warn")
            .current_dir(dir)
            .spawn()
            .expect("start the binary"),
    );
    let request = format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    let mut buffer = Vec::new();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the binary did not answer /healthz"
        );
        if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            if stream.write_all(request.as_bytes()).await.is_ok()
                && read_response(&mut stream, &mut buffer).await == 200
            {
                return (child, started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// `DIAL_BENCH_BINARY`: a built binary as its own process, on SQLite.
async fn run_binary(binary: PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let (child, fresh) = start_binary(&binary, dir.path(), port).await;
    drop(child);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (child, again) = start_binary(&binary, dir.path(), port).await;
    let pid = child.0.id();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle, _) = rss(pid);
    println!(
        "binary {}: cold start {:.1} ms on a fresh database (migrations), {:.1} ms on an existing one; idle RSS {idle:.1} MB",
        binary.display(),
        fresh.as_secs_f64() * 1000.0,
        again.as_secs_f64() * 1000.0,
    );
    println!("  idle RSS: {}", rss_parts(pid));
    let replay = tempfile::tempdir().expect("temp dir");
    let pool = write_replay(replay.path(), wrk_calls());
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let sampler = tokio::spawn(async move {
        let mut most: f64 = 0.0;
        loop {
            most = most.max(rss(pid).0);
            tokio::time::sleep(Duration::from_millis(20)).await;
            if rss(pid).0 == 0.0 {
                return most;
            }
        }
    });
    let stat = format!("/proc/{pid}/stat");
    let cpu = Cpu::now(&stat);
    let wrk = run_wrk(address, replay.path()).await;
    let cpu_after = Cpu::now(&stat);
    let (after, peak) = rss(pid);
    let parts = rss_parts(pid);
    wrk.report("SQLite (binary)", pool);
    cpu.report(cpu_after, wrk.requests);
    println!("  RSS after the load: {parts}");
    drop(child);
    let sampled = sampler.await.expect("sampler");
    println!(
        "  RSS under the wrk load: up to {sampled:.1} MB (sampled every 20 ms; peak {peak:.1} MB); {after:.1} MB after it"
    );
    let db = dial_app::server::db::Db::connect(&format!(
        "sqlite://{}",
        dir.path().join("dial.db").display()
    ))
    .await
    .expect("open the database");
    check_recorded(&db, &wrk, pool).await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    clock_ticks();
    if let Some(binary) = std::env::var_os("DIAL_BENCH_BINARY") {
        assert!(wrk_on_path(), "DIAL_BENCH_BINARY needs wrk on the PATH");
        run_binary(PathBuf::from(binary)).await;
        return;
    }
    let wrk = match std::env::var("DIAL_BENCH_WRK").as_deref() {
        Ok("0") => false,
        _ if wrk_on_path() => true,
        _ => {
            println!("(wrk is not on the PATH: only the in-repo generator runs)");
            false
        }
    };
    let in_repo = std::env::var("DIAL_BENCH_WRK").as_deref() != Ok("only");
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
    if in_repo {
        run("SQLite", sqlite, dir.path()).await;
    }
    if wrk {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        );
        run_wrk_in_process("SQLite", url, dir.path()).await;
    }
    if let Ok(url) = std::env::var("DIAL_BENCH_POSTGRES_URL") {
        if in_repo {
            let pg_dir = tempfile::tempdir().expect("temp dir");
            run("PostgreSQL", fresh_postgres(&url).await, pg_dir.path()).await;
        }
        if wrk {
            let pg_dir = tempfile::tempdir().expect("temp dir");
            run_wrk_in_process("PostgreSQL", fresh_postgres(&url).await, pg_dir.path()).await;
        }
    }
}
