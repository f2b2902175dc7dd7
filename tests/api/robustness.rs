//! Work cut off mid-way — a client that hangs up, a `select!` that drops the losing branch,
//! a time-out — must never leave the database locked or a connection half-open for the
//! next request.

use crate::{assignment::*, helpers::*};
use dial_app::{
    model::{AvailableNumbers, AvailableRow, CallRow, NumberRow, Page},
    server::sandbox::DEFAULT_TWILIO_ACCOUNT_SID as SID,
};
use std::time::Duration;
use tokio::task::JoinSet;

/// Waits until the server has no request in flight: requests whose clients hung up still
/// run to their end (in their own tasks), and may finish after the client gave up.
async fn settle(app: &TestApp) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while app
        .state
        .in_flight
        .load(std::sync::atomic::Ordering::Relaxed)
        > 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "requests still in flight after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A pseudo-random delay in 0..`max_ms` (uuid's random bits; no extra dependency).
fn random_ms(max_ms: u64) -> Duration {
    Duration::from_millis((uuid::Uuid::new_v4().as_u128() % u128::from(max_ms)) as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_whose_client_hung_up_is_still_recorded() {
    let app = provisioning_app().await;
    let (twilio, _) = fakes(&app);
    let available: Vec<AvailableRow> = app
        .call::<AvailableNumbers>(
            &app.client,
            "numbers/search",
            &[("country", "US"), ("kind", "local"), ("area_code", "415")],
        )
        .await
        .expect("search")
        .numbers;
    assert!(available.len() >= 20, "{}", available.len());
    // Every Twilio request takes 80 ms; a Buy is a look-up and a purchase (~160 ms), then
    // Dial records the number. Each client gives up somewhere in 150–180 ms: around the
    // moment Twilio sells the number, often before Dial has answered.
    twilio.set_delay(Some(Duration::from_millis(80)));
    let attempted: Vec<String> = available.iter().take(20).map(|r| r.e164.clone()).collect();
    let mut buys = JoinSet::new();
    for row in available.iter().take(20) {
        let client = app.client.clone();
        let url = app.url("/api/numbers/buy");
        let e164 = row.e164.clone();
        let after = Duration::from_millis(150) + random_ms(30);
        buys.spawn(async move {
            let request = client
                .post(url)
                .header("accept", "application/json")
                .form(&[("e164", e164.as_str()), ("label", "cut off")]);
            let _ = tokio::time::timeout(after, request.send()).await;
        });
    }
    while buys.join_next().await.is_some() {}
    // The handlers were not stopped by the hang-ups: they finish on their own.
    settle(&app).await;
    twilio.set_delay(None);
    let at_twilio: Vec<String> = twilio
        .numbers(SID)
        .into_iter()
        .map(|n| n.phone_number)
        .filter(|n| attempted.contains(n))
        .collect();
    assert!(!at_twilio.is_empty(), "no purchase reached Twilio");
    let in_dial: Page<NumberRow> = app
        .call(&app.client, "numbers/list", &[])
        .await
        .expect("list");
    let recorded: Vec<&str> = in_dial.items.iter().map(|n| n.e164.as_str()).collect();
    for number in &at_twilio {
        assert!(
            recorded.contains(&number.as_str()),
            "Twilio sold {number} but Dial never recorded it (recorded: {recorded:?})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_dropped_at_any_await_leave_nothing_locked() {
    let app = provisioning_app().await;
    let number = twilio_number(&app, "+14155550133").await;
    let db = app.state.db.clone();
    let logs_before = captured_logs().len();
    // 300 write transactions, each dropped after 0–2 ms: before BEGIN IMMEDIATE is
    // acknowledged, between two statements, or during the commit.
    for i in 0..300 {
        let db = db.clone();
        let id = number.id.clone();
        let cut = Duration::from_micros((uuid::Uuid::new_v4().as_u128() % 2000) as u64);
        let _ = tokio::time::timeout(cut, async move {
            let mut tx = db.begin_write().await?;
            sqlx::query("UPDATE phone_numbers SET label = $1 WHERE id = $2")
                .bind(format!("dropped {i}"))
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            tokio::task::yield_now().await;
            sqlx::query(
                "INSERT INTO audit_log (at, action, target) VALUES (0, 'test.dropped', $1)",
            )
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        })
        .await;
    }
    // Every later write, on whichever pooled connection, goes through at once.
    for i in 0..40 {
        let label = format!("after {i}");
        let row: NumberRow = tokio::time::timeout(
            Duration::from_secs(3),
            app.call(
                &app.client,
                "numbers/label",
                &[("id", &number.id), ("label", &label)],
            ),
        )
        .await
        .unwrap_or_else(|_| panic!("write {i} waited on a lock"))
        .unwrap_or_else(|e| panic!("write {i} failed: {e}"));
        assert_eq!(row.label, label);
        let mut tx = tokio::time::timeout(Duration::from_secs(3), db.begin_write())
            .await
            .unwrap_or_else(|_| panic!("BEGIN {i} waited on a lock"))
            .expect("begin");
        sqlx::query("UPDATE phone_numbers SET updated_at = updated_at WHERE id = $1")
            .bind(&number.id)
            .execute(&mut *tx)
            .await
            .expect("update");
        tx.commit().await.expect("commit");
    }
    let logs = captured_logs();
    let since = &logs[logs_before.min(logs.len())..];
    for symptom in ["database is locked", "non-zero transaction depth"] {
        assert!(!since.contains(symptom), "the log says {symptom:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_writing_requests_cut_off_mid_way_lock_nothing() {
    let app = provisioning_app().await;
    let admin = user_id(&app, ADMIN).await;
    let number = twilio_number(&app, "+14155550133").await;
    let assistant = insert_assistant(&app, &admin, "Cut", "cut-agent", "cut-").await;
    assign(&app, &app.client, &number.id, &assistant)
        .await
        .expect("assign");
    let logs_before = captured_logs().len();

    // 400 writing requests, 20 at a time, each abandoned by its client after 0–120 ms:
    // during the cross-site check, the session load, `BEGIN IMMEDIATE`, a provider call
    // or the commit, wherever the cut falls.
    for round in 0..20 {
        let mut cut_off = JoinSet::new();
        for i in 0..20 {
            let client = app.client.clone();
            let url_label = app.url("/api/numbers/label");
            let url_place = app.url("/api/calls/place");
            let id = number.id.clone();
            let after = random_ms(120);
            cut_off.spawn(async move {
                let request = if i % 2 == 0 {
                    client
                        .post(url_label)
                        .form(&[("id", id.as_str()), ("label", &format!("cut {round}/{i}"))])
                } else {
                    client
                        .post(url_place)
                        .form(&[("number_id", id.as_str()), ("to", "+14155550123")])
                };
                let _ = tokio::time::timeout(after, request.send()).await;
            });
        }
        while cut_off.join_next().await.is_some() {}
    }

    // The abandoned requests run to their end; afterwards every write succeeds, at once,
    // on every pooled connection.
    settle(&app).await;
    for i in 0..30 {
        let label = format!("after {i}");
        let row: NumberRow = tokio::time::timeout(
            Duration::from_secs(10),
            app.call(
                &app.client,
                "numbers/label",
                &[("id", &number.id), ("label", &label)],
            ),
        )
        .await
        .expect("the label write finished")
        .unwrap_or_else(|e| panic!("label write {i} failed: {e}"));
        assert_eq!(row.label, label);
    }
    let call: CallRow = app
        .call(
            &app.client,
            "calls/place",
            &[("number_id", &number.id), ("to", "+14155550124")],
        )
        .await
        .expect("a call is placed after the storm");
    assert_eq!(call.to, "+14155550124");
    let fresh = new_client();
    app.login(&fresh, ADMIN, ADMIN_PASSWORD)
        .await
        .expect("sign-in writes a session after the storm");

    let logs = captured_logs();
    let since = &logs[logs_before.min(logs.len())..];
    for symptom in [
        "database is locked",
        "non-zero transaction depth",
        "panicked",
    ] {
        assert!(
            !since.contains(symptom),
            "the log says {symptom:?} after the aborted requests:\n{}",
            since
                .lines()
                .filter(|l| l.contains(symptom))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
