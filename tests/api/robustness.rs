//! Clients that misbehave: requests cut off at random points mid-way must never leave the
//! database locked or a connection half-open for the next request.

use crate::{helpers::*, provisioning::*};
use dial_app::model::{CallRow, NumberRow};
use std::time::Duration;
use tokio::task::JoinSet;

/// A pseudo-random delay in 0..`max_ms` (uuid's random bits; no extra dependency).
fn random_ms(max_ms: u64) -> Duration {
    Duration::from_millis((uuid::Uuid::new_v4().as_u128() % u128::from(max_ms)) as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writing_requests_cut_off_mid_way_never_lock_the_database() {
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

    // Afterwards every write succeeds, at once, on every pooled connection.
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
