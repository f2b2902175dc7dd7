//! Benchmark: campaigns — importing a large list, holding a pace, and memory that does not
//! grow with a campaign's size.
//!
//!     cargo bench --bench campaigns
//!
//! Dial runs in sandbox mode (SQLite in a temporary directory; the fakes on loopback, every
//! LiveKit request delayed `DIAL_BENCH_LATENCY_MS`, 200). It measures:
//! 1. **import**: a 100,000-row CSV judged (the preview) and imported — time and the
//!    process's peak RSS growth;
//! 2. **pacing**: a campaign at 10 and at 50 call attempts a second for
//!    `DIAL_BENCH_SECONDS` (60): attempts started in each whole second (the target: the
//!    mean within ±5 % of the cap, no second above it by more than one);
//! 3. **memory**: the peak RSS while a 10,000- and a 100,000-contact campaign dial at
//!    50 a second for 20 s each (the target: no growth with size).
//!
//! Callees answer busy (the call ends at once; busy is not retried here), so the pace,
//! not call length, is what is measured. The carrier's trunk limit is raised to 100 a
//! second so that the campaign's own pace is the one that binds.

mod support;

use dial_app::{
    model::{CampaignSettings, RetryPolicy, RetryRule},
    server::campaigns::{self, contacts},
};
use dial_fakes::livekit::{CallOutcome, CallTiming};
use std::time::{Duration, Instant};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A field of /proc/self/status in MB.
fn status_mb(status: &str, name: &str) -> f64 {
    status
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// (current RSS, peak RSS) in MB, from /proc/self/status.
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    (status_mb(&status, "VmRSS:"), status_mb(&status, "VmHWM:"))
}

/// The process's anonymous memory (heap and stacks) in MB: RSS without the pages of
/// mapped files. SQLite maps the database file (`mmap_size`), so a larger database shows
/// in RSS as file pages the kernel may drop at any time; what the engine itself holds
/// shows here.
fn anon() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status_mb(&status, "RssAnon:")
}

/// Samples the anonymous memory every 50 ms until `stop`; the highest seen.
fn watch_anon() -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<f64>,
) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let peak = tokio::spawn(async move {
        let mut peak = anon();
        loop {
            peak = peak.max(anon());
            tokio::select! {
                _ = &mut stopped => return peak,
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    });
    (stop, peak)
}

/// Resets the peak RSS to the current RSS (Linux: `echo 5 > /proc/self/clear_refs`).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn csv(rows: usize, first: u64) -> Vec<u8> {
    let mut out = String::with_capacity(rows * 48);
    out.push_str("phone,name,appointment\n");
    for i in 0..rows as u64 {
        // +1 415 2xx xxxx: valid North American numbers.
        let n = first + i;
        out.push_str(&format!(
            "+1415{:07},Contact {n},Tuesday 10:00\n",
            2_000_000 + n
        ));
    }
    out.into_bytes()
}

fn settings(name: &str, number: &str, cps: f64) -> CampaignSettings {
    let never = RetryRule {
        retry: false,
        delay_secs: 60,
        max_attempts: 1,
    };
    CampaignSettings {
        name: name.into(),
        assistant_id: "bench".into(),
        number_ids: vec![number.into()],
        default_country: Some("US".into()),
        time_zone: "UTC".into(),
        use_contact_zone: false,
        days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .map(String::from)
            .to_vec(),
        window_start: "00:00".into(),
        window_end: "24:00".into(),
        quiet_start: "00:00".into(),
        quiet_end: "24:00".into(),
        max_concurrent: 500,
        max_cps: cps,
        daily_cap: 20,
        ringing_timeout_secs: 30,
        max_duration_secs: Some(600),
        retry: RetryPolicy {
            busy: never,
            no_answer: never,
            failed: never,
            trunk_auth_failed: never,
        },
    }
}

async fn campaign(
    b: &support::Bench,
    name: &str,
    number: &str,
    cps: f64,
    rows: usize,
    first: u64,
) -> String {
    let detail = campaigns::create(&b.state, &b.me, &b.actor, &settings(name, number, cps))
        .await
        .expect("campaign");
    let id = detail.summary.id;
    let preview = contacts::upload(&b.state, &b.me, &id, "bench.csv", &csv(rows, first), None)
        .await
        .expect("upload");
    contacts::import(&b.state, &b.me, &b.actor, &id, &preview.upload_id)
        .await
        .expect("import");
    id
}

async fn attempts_per_second(b: &support::Bench, id: &str, from: i64, to: i64) -> Vec<i64> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT started_at, COUNT(*) FROM campaign_attempts WHERE campaign_id = $1 AND started_at >= $2 AND started_at < $3 GROUP BY started_at",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .fetch_all(&b.state.db.pool)
    .await
    .expect("attempts");
    (from..to)
        .map(|s| rows.iter().find(|(t, _)| *t == s).map_or(0, |(_, n)| *n))
        .collect()
}

async fn act(b: &support::Bench, id: &str, action: campaigns::Action) {
    campaigns::act(&b.state, &b.me, &b.actor, id, action)
        .await
        .expect("act");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds = env_number("DIAL_BENCH_SECONDS", 60) as i64;
    let latency = Duration::from_millis(env_number("DIAL_BENCH_LATENCY_MS", 200));
    let b = support::Bench::start(|_| {}).await;
    let number = b.add_numbers(&["+14155550100"]).await.remove(0);
    b.assign(&number).await;
    sqlx::query("UPDATE twilio_config SET outbound_cps = 100")
        .execute(&b.state.db.pool)
        .await
        .expect("cps");
    b.sandbox.livekit.set_default_outcome(CallOutcome::Busy);
    b.sandbox.livekit.set_timing(CallTiming {
        ringing_after: Duration::from_millis(20),
        answer_after: Duration::from_millis(50),
        ..CallTiming::default()
    });
    b.sandbox.livekit.faults.set_latency(Some(latency));

    // 1. Import.
    reset_peak();
    let (before, _) = rss();
    let anon_before = anon();
    let (stop, anon_peak) = watch_anon();
    let started = Instant::now();
    let detail = campaigns::create(&b.state, &b.me, &b.actor, &settings("Import", &number, 1.0))
        .await
        .expect("campaign");
    let file = csv(100_000, 0);
    let preview = contacts::upload(&b.state, &b.me, &detail.summary.id, "big.csv", &file, None)
        .await
        .expect("upload");
    let judged = started.elapsed();
    let imported = contacts::import(
        &b.state,
        &b.me,
        &b.actor,
        &detail.summary.id,
        &preview.upload_id,
    )
    .await
    .expect("import");
    let total = started.elapsed();
    let (_, peak) = rss();
    let _ = stop.send(());
    let anon_peak = anon_peak.await.unwrap_or(0.0);
    println!(
        "import: {} rows ({:.1} MB) judged in {:.2} s, imported in {:.2} s more ({:.2} s in all); peak RSS {:.0} MB ({:+.0} MB over {:.0} MB before; anonymous memory {:+.0} MB)",
        imported.added,
        file.len() as f64 / 1e6,
        judged.as_secs_f64(),
        (total - judged).as_secs_f64(),
        total.as_secs_f64(),
        peak,
        peak - before,
        before,
        anon_peak - anon_before
    );
    act(
        &b,
        &detail.summary.id,
        campaigns::Action::Cancel { hang_up: false },
    )
    .await;

    // 2. Pacing.
    for cps in [10.0, 50.0] {
        let rows = (cps as usize) * (seconds as usize + 10);
        let id = campaign(
            &b,
            &format!("Pace {cps}"),
            &number,
            cps,
            rows,
            200_000 + cps as u64 * 10_000,
        )
        .await;
        act(&b, &id, campaigns::Action::Start).await;
        // The first whole second after the start, and `seconds` of them.
        let from = b.state.clock.now() + 2;
        tokio::time::sleep(Duration::from_secs((seconds + 3) as u64)).await;
        let per = attempts_per_second(&b, &id, from, from + seconds).await;
        act(&b, &id, campaigns::Action::Cancel { hang_up: false }).await;
        let sum: i64 = per.iter().sum();
        let mean = sum as f64 / seconds as f64;
        let (min, max) = (
            per.iter().min().copied().unwrap_or(0),
            per.iter().max().copied().unwrap_or(0),
        );
        let refused = b.sandbox.twilio.cps_refusals();
        println!("(carrier refusals for the trunk's rate so far: {refused})");
        println!(
            "pacing at {cps} a second, {latency:?} provider latency, {seconds} s: {sum} attempts, mean {mean:.2}/s ({:+.1} % of the cap), seconds ranged {min}..{max}",
            (mean / cps - 1.0) * 100.0
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
    }

    // 3. Memory against campaign size.
    for rows in [10_000usize, 100_000] {
        let id = campaign(
            &b,
            &format!("Size {rows}"),
            &number,
            50.0,
            rows,
            1_000_000 + rows as u64,
        )
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        reset_peak();
        let (before, _) = rss();
        let anon_before = anon();
        let (stop, anon_peak) = watch_anon();
        act(&b, &id, campaigns::Action::Start).await;
        tokio::time::sleep(Duration::from_secs(20)).await;
        let (_, peak) = rss();
        let _ = stop.send(());
        let anon_peak = anon_peak.await.unwrap_or(0.0);
        let (attempts,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM campaign_attempts WHERE campaign_id = $1")
                .bind(&id)
                .fetch_one(&b.state.db.pool)
                .await
                .expect("attempts");
        act(&b, &id, campaigns::Action::Cancel { hang_up: false }).await;
        println!(
            "memory: a {rows}-contact campaign dialling at 50/s for 20 s ({attempts} attempts): RSS {before:.0} MB before, peak {peak:.0} MB ({:+.0} MB); anonymous memory {anon_before:.0} MB before, peak {anon_peak:.0} MB ({:+.0} MB)",
            peak - before,
            anon_peak - anon_before
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}
