//! Benchmark: what following ringing calls costs, and how soon answers are seen, with
//! 1,000 calls ringing at once.
//!
//!     cargo bench --bench follow
//!
//! LiveKit sends no webhook when a call is answered, so Dial reads each ringing call's
//! SIP participant (app/src/server/calls/follow.rs) through one limiter per process
//! (`DIAL_LIVEKIT_READS_PER_SECOND`, default 10). This starts Dial in sandbox mode, lets
//! `DIAL_BENCH_CALLS` (1,000) inbound calls ring without an answer, and then measures over
//! `DIAL_BENCH_SECONDS` (30):
//! - the requests Dial makes to LiveKit, by method, per second;
//! - the CPU the whole process uses (Dial, the fake LiveKit answering it and the webhooks
//!   between them: an upper bound for Dial's own);
//! - how long after an agent answers an inbound call Dial records it answered (the
//!   agent's `track_published` moves its read to the front);
//! - how long after the callee answers an outbound call placed without "wait until
//!   answered" Dial records it answered (its reads go before the ringing inbound calls').

mod support;

use dial_app::{
    model::CallStatus,
    server::calls::{self, CallRequest},
};
use dial_fakes::livekit::CallTiming;
use std::time::{Duration, Instant};

const NUMBER: &str = "+14155550100";
/// Twilio's first signalling gateway (what the route test uses too).
const TWILIO: [u8; 4] = [54, 172, 60, 1];
/// The callee of the outbound calls answers this long after the dial.
const OUTBOUND_ANSWER: Duration = Duration::from_secs(3);

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The CPU this process has used (user + system), from /proc/self/stat.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 (1-based), 11 and 12 after the name and state.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // The kernel's USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

async fn status_of_room(state: &dial_app::server::state::AppState, room: &str) -> i64 {
    sqlx::query_scalar("SELECT status_rank FROM call_sessions WHERE room_name = $1")
        .bind(room)
        .fetch_optional(&state.db.pool)
        .await
        .expect("status")
        .unwrap_or(-1)
}

/// Waits until the call in `room` is recorded answered; how long that took.
async fn until_answered(state: &dial_app::server::state::AppState, room: &str) -> Duration {
    let started = Instant::now();
    while status_of_room(state, room).await < CallStatus::Answered.rank() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "{room} was never seen answered"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

fn summary(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize].as_millis();
    println!(
        "  {label}: n={} p50 {} ms, p90 {} ms, max {} ms",
        times.len(),
        at(0.5),
        at(0.9),
        at(1.0)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let calls = env_number("DIAL_BENCH_CALLS", 1_000) as usize;
    let seconds = env_number("DIAL_BENCH_SECONDS", 30);
    let bench = support::Bench::start(|_| {}).await;
    let (state, sandbox) = (&bench.state, &bench.sandbox);
    let per_second = state.config.livekit_reads_per_second;
    let number = bench.add_numbers(&[NUMBER]).await.remove(0);
    bench.assign(&number).await;
    let lk = &sandbox.livekit;
    lk.set_timing(CallTiming {
        answer_after: OUTBOUND_ANSWER,
        agent_answers_after: None,
        ..CallTiming::default()
    });

    println!("follow: {calls} inbound calls ringing, {per_second} reads/s (SQLite)");
    let started = Instant::now();
    let mut rooms = Vec::with_capacity(calls);
    for i in 0..calls {
        let from = format!("+1212{:07}", 5_000_000 + i);
        let routed = lk
            .simulate_inbound(NUMBER, &from, TWILIO.into(), None, None)
            .expect("routed");
        rooms.push(routed.room);
    }
    loop {
        let ringing: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM call_sessions WHERE status_rank = $1 AND direction = 'inbound'",
        )
        .bind(CallStatus::Ringing.rank())
        .fetch_one(&state.db.pool)
        .await
        .expect("count");
        if ringing as usize >= calls {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "  {calls} calls recorded ringing {} ms after the first arrived",
        started.elapsed().as_millis()
    );

    // Steady state: every call ringing, nobody answering.
    tokio::time::sleep(Duration::from_secs(3)).await;
    lk.faults.clear_requests();
    let cpu = cpu_time();
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let elapsed = window.elapsed().as_secs_f64();
    let used = (cpu_time() - cpu).as_secs_f64();
    let requests = lk.faults.requests();
    let mut by_method = std::collections::BTreeMap::<String, usize>::new();
    for r in &requests {
        let method = r.path.rsplit('/').next().unwrap_or("").to_string();
        *by_method.entry(method).or_default() += 1;
    }
    println!(
        "  over {elapsed:.0} s: {:.1} LiveKit requests/s ({}), CPU {:.1}% of one core ({used:.2} s)",
        requests.len() as f64 / elapsed,
        by_method
            .iter()
            .map(|(m, n)| format!("{m} {:.1}/s", *n as f64 / elapsed))
            .collect::<Vec<_>>()
            .join(", "),
        100.0 * used / elapsed,
    );

    // Agents answering inbound calls, one at a time, while the rest ring.
    let mut inbound = Vec::new();
    for room in rooms.iter().take(20) {
        assert!(lk.agent_answers(room), "{room} was not ringing");
        inbound.push(until_answered(state, room).await);
    }
    summary("inbound, agent answers → Dial records answered", inbound);

    // Outbound calls placed without waiting, while the inbound calls ring.
    let mut outbound = Vec::new();
    for i in 0..10 {
        let request = CallRequest {
            number_id: number.clone(),
            to: dial_app::phone::E164::parse(&format!("+1415555{:04}", 1_000 + i), None)
                .expect("E.164"),
            assistant_id: None,
            dtmf: None,
            play_dialtone: false,
            wait_until_answered: false,
            ringing_timeout: None,
            max_duration: None,
            display_name: None,
        };
        let call = calls::place(state, &bench.me, &bench.actor, request, true)
            .await
            .expect("placed");
        let room = call.room.clone().unwrap_or_default();
        // From the moment the fake LiveKit has the call active to Dial's record of it.
        let mut answered_at = None;
        loop {
            let active = lk
                .participants(&room)
                .iter()
                .any(|p| p.attributes.get("sip.callStatus").map(String::as_str) == Some("active"));
            if active && answered_at.is_none() {
                answered_at = Some(Instant::now());
            }
            if status_of_room(state, &room).await >= CallStatus::Answered.rank() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        outbound.push(answered_at.map(|t| t.elapsed()).unwrap_or_default());
    }
    summary("outbound, callee answers → Dial records answered", outbound);
}
