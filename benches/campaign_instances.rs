//! Benchmark: two `dial serve` processes on one PostgreSQL share one campaign.
//!
//!     DIAL_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!         cargo bench --bench campaign_instances
//!
//! The fakes run in this process (callees answer after 250 ms and hang up 100 ms later);
//! the campaign calls `DIAL_BENCH_CONTACTS` (2,000) contacts at `DIAL_BENCH_CPS` (50) calls
//! a second with at most `DIAL_BENCH_CONCURRENT` (60) at once, the carrier trunk allowing
//! 100 a second. It reports the throughput from start to completion, how the attempts
//! split between the two instances, the most calls live at once, and the duplicates:
//! contacts dialled more than once (the target: 0) — from the fake LiveKit's own record of
//! the calls it received, and from the database's attempts.
//!
//! Without `DIAL_BENCH_POSTGRES_URL` it says so and does nothing (several instances need
//! PostgreSQL; on SQLite one instance does the work).

// The API tests' multi-process harness, shared rather than copied.
#[path = "../tests/api/campaign_world.rs"]
mod campaign_world;
#[path = "../tests/api/common.rs"]
mod common;

use campaign_world::*;
use std::time::{Duration, Instant};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Ok(url) = std::env::var("DIAL_BENCH_POSTGRES_URL") else {
        println!("campaign_instances: set DIAL_BENCH_POSTGRES_URL to a PostgreSQL database (e.g. postgres://postgres@127.0.0.1:5432/test); skipped");
        return;
    };
    // The harness makes a fresh database next to the one named here.
    std::env::set_var("DIAL_TEST_DATABASE", "postgres");
    std::env::set_var("DIAL_TEST_POSTGRES_URL", &url);
    let contacts = env_number("DIAL_BENCH_CONTACTS", 2_000) as usize;
    let cps = env_number("DIAL_BENCH_CPS", 50) as f64;
    let concurrent = env_number("DIAL_BENCH_CONCURRENT", 60) as u32;
    let mut w = world(contacts, concurrent, 100, cps).await;
    w.livekit.set_timing(dial_fakes::livekit::CallTiming {
        ringing_after: Duration::from_millis(50),
        answer_after: Duration::from_millis(250),
        ..dial_fakes::livekit::CallTiming::default()
    });
    let first = w.first.take().expect("first instance");
    let second = start(&w.env).await;
    let started = Instant::now();
    w.start_campaign(first.port).await;
    let most = w
        .run_to_completion(Duration::from_millis(100), Duration::from_secs(1800))
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let per_number = w.calls_per_number();
    let dialled_twice = per_number.values().filter(|n| **n > 1).count();
    let (attempts, distinct): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT contact_id) FROM campaign_attempts WHERE campaign_id = $1",
    )
    .bind(&w.campaign)
    .fetch_one(&w.db.pool)
    .await
    .expect("attempts");
    let split: Vec<(String, i64)> = sqlx::query_as(
        "SELECT instance, COUNT(*) FROM campaign_attempts WHERE campaign_id = $1 GROUP BY instance ORDER BY instance",
    )
    .bind(&w.campaign)
    .fetch_all(&w.db.pool)
    .await
    .expect("split");
    let counts = w.counts().await;
    println!(
        "two instances on PostgreSQL: {contacts} contacts at {cps}/s (at most {concurrent} at once) completed in {elapsed:.1} s: {:.1} contacts/s ({:+.1} % of the pace)",
        contacts as f64 / elapsed,
        (contacts as f64 / elapsed / cps - 1.0) * 100.0
    );
    println!(
        "  attempts {attempts} for {distinct} contacts; calls LiveKit received: {} numbers, {dialled_twice} dialled twice; most live at once {most}",
        per_number.len()
    );
    println!(
        "  split between instances: {}; results {counts:?}",
        split
            .iter()
            .map(|(_, n)| n.to_string())
            .collect::<Vec<_>>()
            .join(" / ")
    );
    drop((first, second));
}
