//! Campaigns across real `dial serve` processes on one database, against fakes in this
//! test process: a process killed with `kill -9` mid-campaign and a new one finishing it
//! (nothing dialled twice at once, nothing lost, counts right), and two processes sharing
//! one campaign (each contact dialled once, the concurrency cap held across them).

use crate::campaign_world::*;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_mid_campaign_is_taken_over_without_dialling_anyone_twice() {
    let mut w = world(24, 4, 20, 20.0).await;
    // Every LiveKit request takes 150 ms, so dials are in flight when the process dies.
    w.livekit
        .faults
        .set_latency(Some(Duration::from_millis(150)));
    let first = w.first.take().expect("first");
    w.start_campaign(first.port).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let dialling: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM campaign_contacts WHERE campaign_id = $1 AND state = 'dialing'",
        )
        .bind(&w.campaign)
        .fetch_one(&w.db.pool)
        .await
        .expect("count");
        if dialling >= 4 {
            break;
        }
        assert!(Instant::now() < deadline, "the campaign never got going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // kill -9 with calls being dialled.
    drop(first);
    let dialling: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM campaign_contacts WHERE campaign_id = $1 AND state = 'dialing'",
    )
    .bind(&w.campaign)
    .fetch_one(&w.db.pool)
    .await
    .expect("count");
    assert!(dialling > 0, "killed with contacts being dialled");
    let second = start(&w.env).await;
    w.livekit.set_webhook_url(Some(format!(
        "http://127.0.0.1:{}/webhooks/livekit",
        second.port
    )));
    let most = w
        .run_to_completion(Duration::from_millis(300), Duration::from_secs(90))
        .await;
    assert!(
        most <= 4 + 1,
        "at most the cap (and a call finishing) live at once: {most}"
    );

    // Nothing lost: every contact is done, answered or (a dial LiveKit never got) failed.
    let counts = w.counts().await;
    let total: i64 = counts.values().sum();
    assert_eq!(total, 24, "{counts:?}");
    assert_eq!(
        counts.get("completed").copied().unwrap_or(0) + counts.get("failed").copied().unwrap_or(0),
        24,
        "{counts:?}"
    );
    // Nothing dialled twice: each number reached LiveKit at most once (failed is not retried
    // here), and each attempt recorded is one call session.
    for (number, n) in w.calls_per_number() {
        assert_eq!(n, 1, "{number} was dialled {n} times");
    }
    let (attempts, sessions): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM campaign_attempts WHERE campaign_id = $1 AND counted = 1), \
         (SELECT COUNT(*) FROM call_sessions WHERE campaign_id = $1)",
    )
    .bind(&w.campaign)
    .fetch_one(&w.db.pool)
    .await
    .expect("counts");
    assert_eq!(attempts, sessions);
    let sum: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(SUM(attempts), 0) AS BIGINT) FROM campaign_contacts WHERE campaign_id = $1")
        .bind(&w.campaign)
        .fetch_one(&w.db.pool)
        .await
        .expect("sum");
    assert_eq!(
        sum, attempts,
        "the contacts' counts agree with the attempts"
    );
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_campaign_and_hold_its_cap() {
    let mut w = world(40, 3, 50, 20.0).await;
    let first = w.first.take().expect("first");
    let second = start(&w.env).await;
    w.start_campaign(first.port).await;
    let most = w
        .run_to_completion(Duration::from_millis(250), Duration::from_secs(90))
        .await;
    assert!(
        most <= 3,
        "the cap of 3 held across both processes: {most} live at once"
    );
    let per = w.calls_per_number();
    assert_eq!(per.len(), 40);
    assert!(
        per.values().all(|n| *n == 1),
        "each contact dialled once: {per:?}"
    );
    assert_eq!(w.counts().await.get("completed").copied(), Some(40));
    // Both processes dialled.
    let instances: Vec<(String, i64)> = sqlx::query_as(
        "SELECT instance, COUNT(*) FROM campaign_attempts WHERE campaign_id = $1 GROUP BY instance",
    )
    .bind(&w.campaign)
    .fetch_all(&w.db.pool)
    .await
    .expect("instances");
    assert_eq!(instances.len(), 2, "both processes dialled: {instances:?}");
    drop((first, second));
}
