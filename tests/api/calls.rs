//! Call tracking from LiveKit's webhooks: verified, recorded once, forward-only, linked to
//! the number and assistant, and kept true by reconcile when webhooks are lost.

use crate::{assignment::*, helpers::*};
use dial_app::server::calls;
use dial_fakes::livekit::sign_webhook;
use serde_json::{json, Value};
use std::{net::IpAddr, time::Duration};

fn sip_event(
    kind: &str,
    id: &str,
    room: &str,
    call: &str,
    caller: &str,
    number: &str,
    status: &str,
) -> Value {
    json!({
        "event": kind,
        "id": id,
        "createdAt": "1700000000",
        "room": { "sid": format!("RM_{room}"), "name": room },
        "participant": {
            "sid": format!("PA_{call}"),
            "identity": format!("sip_{caller}"),
            "state": "ACTIVE",
            "kind": "SIP",
            "attributes": {
                "sip.callID": call,
                "sip.callStatus": status,
                "sip.phoneNumber": caller,
                "sip.trunkPhoneNumber": number,
                "sip.ruleID": "SDR_test",
                "sip.twilio.callSid": format!("CA{call}"),
            }
        }
    })
}

async fn session(
    app: &TestApp,
    sip_call_id: &str,
) -> Option<(String, String, Option<String>, Option<String>)> {
    sqlx::query_as(
        "SELECT status, direction, phone_number_id, assistant_id FROM call_sessions WHERE sip_call_id = $1",
    )
    .bind(sip_call_id)
    .fetch_optional(&app.state.db.pool)
    .await
    .unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_webhooks_build_one_forward_only_session_per_call() {
    let app = provisioning_app().await;
    let hooks = Webhooks::for_app(&app);
    let admin = user_id(&app, ADMIN).await;
    let number = twilio_number(&app, "+14155550130").await;
    let assistant = insert_assistant(&app, &admin, "Desk", "desk-agent", "desk-").await;
    assign(&app, &app.client, &number.id, &assistant)
        .await
        .unwrap();
    let caller = "+15105550100";

    // Forged (wrong secret) and tampered: 401, nothing written.
    let joined = sip_event(
        "participant_joined",
        "EV_1",
        "desk-1",
        "SCL_1",
        caller,
        number.e164.as_str(),
        "active",
    );
    assert_eq!(hooks.post_signed_with("not-the-secret", &joined).await, 401);
    let bytes = serde_json::to_vec(&joined).unwrap();
    let token = sign_webhook(&hooks.key, &hooks.secret, &bytes);
    let mut tampered = joined.clone();
    tampered["participant"]["attributes"]["sip.callID"] = json!("SCL_evil");
    let status = hooks
        .client
        .post(&hooks.url)
        .header("authorization", token)
        .body(serde_json::to_vec(&tampered).unwrap())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
    let unsigned = hooks
        .client
        .post(&hooks.url)
        .body(bytes.clone())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(unsigned, 401);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM call_events").await, 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM call_sessions").await, 0);

    // The call ends before its join arrives (reordered): it stays ended.
    let left = sip_event(
        "participant_left",
        "EV_2",
        "desk-1",
        "SCL_1",
        caller,
        number.e164.as_str(),
        "hangup",
    );
    assert_eq!(hooks.post(&left).await, 200);
    assert_eq!(hooks.post(&joined).await, 200);
    assert_eq!(hooks.post(&joined).await, 200, "a duplicate is accepted");
    let (status, direction, number_id, assistant_id) = session(&app, "SCL_1").await.unwrap();
    assert_eq!(status, "ended");
    assert_eq!(direction, "inbound");
    assert_eq!(number_id.as_deref(), Some(number.id.as_str()));
    assert_eq!(assistant_id.as_deref(), Some(assistant.as_str()));
    assert_eq!(count(&app, "SELECT COUNT(*) FROM call_events").await, 2);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM call_sessions").await, 1);
    let (room, identity, twilio): (Option<String>, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT room_name, participant_identity, twilio_call_sid FROM call_sessions WHERE sip_call_id = 'SCL_1'",
    )
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(room.as_deref(), Some("desk-1"));
    assert_eq!(identity.as_deref(), Some("sip_+15105550100"));
    assert_eq!(twilio.as_deref(), Some("CASCL_1"));
}

/// LiveKit sends no webhook for a participant's attribute or status change (livekit/protocol
/// `webhook/consts.go`). An event Dial does not handle — such a name, or one a newer
/// LiveKit adds — is recorded and answered 200 (never refused, or LiveKit would retry it),
/// and moves no call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_dial_does_not_handle_is_recorded_not_refused() {
    let app = provisioning_app().await;
    let hooks = Webhooks::for_app(&app);
    let (caller, number) = ("+15105550101", "+14155550131");
    let joined = sip_event(
        "participant_joined",
        "EV_u1",
        "desk-u",
        "SCL_u",
        caller,
        number,
        "ringing",
    );
    assert_eq!(hooks.post(&joined).await, 200);
    let changed = sip_event(
        "participant_attributes_changed",
        "EV_u2",
        "desk-u",
        "SCL_u",
        caller,
        number,
        "active",
    );
    assert_eq!(hooks.post(&changed).await, 200);
    let newer = json!({
        "event": "room_paused_in_a_newer_livekit",
        "id": "EV_u3",
        "createdAt": "1700000001",
        "room": { "sid": "RM_desk-u", "name": "desk-u" },
    });
    assert_eq!(hooks.post(&newer).await, 200);
    let (status, ..) = session(&app, "SCL_u").await.expect("the call");
    assert_eq!(status, "ringing", "only reading the participant answers it");
    let mut kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM call_events")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "participant_attributes_changed",
            "participant_joined",
            "room_paused_in_a_newer_livekit"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_call_through_livekit_is_tracked_with_its_assistant() {
    let app = provisioning_app().await;
    let (_, livekit) = fakes(&app);
    let admin = user_id(&app, ADMIN).await;
    let number = twilio_number(&app, "+14155550131").await;
    let assistant = insert_assistant(&app, &admin, "Desk", "desk-agent", "desk-").await;
    assign(&app, &app.client, &number.id, &assistant)
        .await
        .unwrap();

    let routed = livekit
        .simulate_inbound(
            number.e164.as_str(),
            "+15105550123",
            IpAddr::from([54, 172, 60, 1]),
            None,
            Some("CA42"),
        )
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some((status, direction, number_id, assistant_id)) =
            session(&app, &routed.call_id).await
        {
            assert_eq!(direction, "inbound");
            assert_eq!(number_id.as_deref(), Some(number.id.as_str()));
            assert_eq!(assistant_id.as_deref(), Some(assistant.as_str()));
            if status == "answered" {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the call was not tracked"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    livekit.hang_up_from_phone(&routed.room, &routed.participant_identity);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while session(&app, &routed.call_id).await.unwrap().0 != "ended" {
        assert!(
            std::time::Instant::now() < deadline,
            "the hang-up was not tracked"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Many deliveries at once are committed together (group commit); each event still counts
/// once, duplicates that arrive at the same moment included, and every call ends up in its
/// true state whatever order its events were taken in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_and_duplicates_count_once() {
    use futures::{stream, StreamExt};
    const CALLS: usize = 100;
    let app = provisioning_app().await;
    let hooks = std::sync::Arc::new(Webhooks::for_app(&app));
    let admin = user_id(&app, ADMIN).await;
    let number = twilio_number(&app, "+14155550133").await;
    let assistant = insert_assistant(&app, &admin, "Desk", "desk-agent", "desk-").await;
    assign(&app, &app.client, &number.id, &assistant)
        .await
        .unwrap();
    let mut deliveries = Vec::new();
    for i in 0..CALLS {
        let caller = format!("+1510555{:04}", 3000 + i);
        let room = format!("desk-c{i}");
        let call = format!("SCL_c{i}");
        for (n, kind, status) in [
            (0, "participant_joined", "active"),
            (1, "participant_left", "hangup"),
        ] {
            let event = sip_event(
                kind,
                &format!("EV_c{i}_{n}"),
                &room,
                &call,
                &caller,
                number.e164.as_str(),
                status,
            );
            // Every event twice, side by side.
            deliveries.push(event.clone());
            deliveries.push(event);
        }
    }
    let statuses: Vec<reqwest::StatusCode> = stream::iter(deliveries)
        .map(|event| {
            let hooks = hooks.clone();
            async move { hooks.post(&event).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM call_events").await as usize,
        CALLS * 2,
        "each event once"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM call_sessions").await as usize,
        CALLS,
        "one session per call"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM call_sessions WHERE status = 'ended' AND answered_at IS NOT NULL AND ended_at IS NOT NULL").await as usize,
        CALLS,
        "every call answered, then ended"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM call_events WHERE call_id IS NULL"
        )
        .await,
        0,
        "every event is linked to its call"
    );
    let (status, direction, number_id, assistant_id) = session(&app, "SCL_c7").await.unwrap();
    assert_eq!(
        (status.as_str(), direction.as_str(), number_id, assistant_id),
        (
            "ended",
            "inbound",
            Some(number.id.clone()),
            Some(assistant.clone())
        )
    );
}

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_duplicated_and_shuffled_webhooks_end_in_the_true_state_after_reconcile() {
    const CALLS: usize = 200;
    const LIVE: usize = 20;
    const PER_CALL: usize = 10;
    let app = provisioning_app().await;
    let (_, livekit) = fakes(&app);
    let hooks = Webhooks::for_app(&app);
    let admin = user_id(&app, ADMIN).await;
    let number = twilio_number(&app, "+14155550132").await;
    let assistant = insert_assistant(&app, &admin, "Desk", "desk-agent", "desk-").await;
    assign(&app, &app.client, &number.id, &assistant)
        .await
        .unwrap();

    // The first 20 calls are really in LiveKit (and stay there); the fake's own webhooks
    // are off, the test delivers every event itself.
    livekit.set_webhook_url(None);
    let mut calls_truth = Vec::new();
    for i in 0..CALLS {
        let caller = format!("+1510555{:04}", 2000 + i);
        if i < LIVE {
            let routed = livekit
                .simulate_inbound(
                    number.e164.as_str(),
                    &caller,
                    IpAddr::from([54, 172, 60, 1]),
                    None,
                    None,
                )
                .unwrap();
            calls_truth.push((routed.call_id, routed.room, caller, "answered"));
        } else {
            calls_truth.push((
                format!("SCL_r{i}"),
                format!("desk-_{caller}_r{i}"),
                caller,
                "ended",
            ));
        }
    }

    let mut rng = Lcg(0x5eed);
    let mut plans: Vec<Vec<Value>> = Vec::new();
    let (mut total, mut dropped) = (0usize, 0usize);
    for (i, (call, room, caller, truth)) in calls_truth.iter().enumerate() {
        let e = |kind: &str, n: usize, status: &str| {
            let mut v = sip_event(
                kind,
                &format!("EV_{i}_{n}"),
                room,
                call,
                caller,
                number.e164.as_str(),
                status,
            );
            if kind.starts_with("room_") {
                v.as_object_mut().unwrap().remove("participant");
            }
            v
        };
        let mut events = vec![
            e("room_started", 0, "active"),
            e("participant_joined", 1, "active"),
        ];
        for n in 2..5 {
            events.push(e("track_published", n, "active"));
        }
        for n in 5..8 {
            events.push(e("track_unpublished", n, "active"));
        }
        if *truth == "ended" {
            events.push(e("participant_left", 8, "hangup"));
            events.push(e("room_finished", 9, "hangup"));
        } else {
            events.push(e("track_published", 8, "active"));
            events.push(e("track_published", 9, "active"));
        }
        assert_eq!(events.len(), PER_CALL);
        total += events.len();
        // Shuffle within the call, drop 2 %, duplicate 5 %.
        for k in (1..events.len()).rev() {
            let j = rng.below(k as u64 + 1) as usize;
            events.swap(k, j);
        }
        let mut delivered = Vec::new();
        for ev in events {
            if rng.below(100) < 2 {
                dropped += 1;
                continue;
            }
            let twice = rng.below(100) < 5;
            delivered.push(ev.clone());
            if twice {
                delivered.push(ev);
            }
        }
        plans.push(delivered);
    }
    assert_eq!(total, CALLS * PER_CALL);

    // Deliver, eight calls at a time, each call's events in its shuffled order.
    let hooks = std::sync::Arc::new(hooks);
    for chunk in plans.chunks(8) {
        let mut tasks = Vec::new();
        for plan in chunk.iter().cloned() {
            let hooks = hooks.clone();
            tasks.push(tokio::spawn(async move {
                for ev in plan {
                    assert_eq!(hooks.post(&ev).await, 200);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
    let recorded = count(&app, "SELECT COUNT(*) FROM call_events").await;
    assert_eq!(
        recorded as usize,
        total - dropped,
        "each delivered event once"
    );

    let report = calls::reconcile_older_than(&app.state, 0).await.unwrap();
    assert!(report.checked > 0);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM call_sessions").await as usize,
        CALLS,
        "one session per call"
    );
    for (call, _, caller, truth) in &calls_truth {
        let (status, direction, number_id, _) = session(&app, call)
            .await
            .unwrap_or_else(|| panic!("{call} has no session"));
        assert_eq!(status, *truth, "{call} from {caller}");
        assert_eq!(direction, "inbound");
        assert_eq!(number_id.as_deref(), Some(number.id.as_str()));
    }
    // A second pass changes nothing.
    let again = calls::reconcile_older_than(&app.state, 0).await.unwrap();
    assert_eq!(again.closed, 0);
    assert_eq!(again.checked, LIVE);
}

/// Reads server-sent events until one with `event: call` arrives (or the time-out).
async fn next_call_event(response: &mut reqwest::Response, within: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + within;
    let mut buffer = String::new();
    loop {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .ok()?
            .ok()??;
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block = buffer[..end].to_string();
            buffer.drain(..end + 2);
            if block.lines().any(|l| l == "event: call") {
                return block
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .map(str::to_string);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_hear_about_their_calls_as_they_change() {
    let app = provisioning_app().await;
    let hooks = Webhooks::for_app(&app);
    let admin = user_id(&app, ADMIN).await;
    let number = twilio_number(&app, "+14155550134").await;
    let assistant = insert_assistant(&app, &admin, "Desk", "desk-agent", "desk-").await;
    assign(&app, &app.client, &number.id, &assistant)
        .await
        .unwrap();
    let (owner, _) = app.owner_client().await;

    let signed_out = new_client()
        .get(app.url("/events/calls"))
        .send()
        .await
        .unwrap();
    assert!(signed_out.status().is_client_error() || signed_out.status().is_redirection());
    let mut admin_stream = app
        .client
        .get(app.url("/events/calls"))
        .send()
        .await
        .unwrap();
    assert_eq!(admin_stream.headers()["content-type"], "text/event-stream");
    let mut owner_stream = owner.get(app.url("/events/calls")).send().await.unwrap();

    let joined = sip_event(
        "participant_joined",
        "EV_live",
        "desk-9",
        "SCL_live",
        "+15105550100",
        number.e164.as_str(),
        "active",
    );
    assert_eq!(hooks.post(&joined).await, 200);
    let call_id: String =
        sqlx::query_scalar("SELECT id FROM call_sessions WHERE sip_call_id = 'SCL_live'")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    assert_eq!(
        next_call_event(&mut admin_stream, Duration::from_secs(5)).await,
        Some(call_id)
    );
    assert_eq!(
        next_call_event(&mut owner_stream, Duration::from_millis(500)).await,
        None,
        "the owner does not hear about the admin's calls"
    );
}

/// The calls list's number filter offers every number that has calls — not a first
/// page of numbers — released ones marked, and an owner only their own.
#[tokio::test]
async fn the_number_filter_offers_every_number_with_calls() {
    let app = spawn_with_admin().await;
    let (owner, owner_id) = app.owner_client().await;
    let pool = &app.state.db.pool;
    for i in 0..70 {
        let (id, e164) = (format!("n{i}"), format!("+1415555{:04}", 1000 + i));
        sqlx::query(
            "INSERT INTO phone_numbers (id, e164, label, country, created_at, updated_at, owner_id, released_at) \
             VALUES ($1, $2, '', 'US', 1, 1, $3, $4)",
        )
        .bind(&id)
        .bind(&e164)
        .bind((i == 0).then(|| owner_id.clone()))
        .bind((i == 1).then_some(5_i64))
        .execute(pool)
        .await
        .unwrap();
        // Every number but the last has a call.
        if i < 69 {
            sqlx::query(
                "INSERT INTO call_sessions (id, direction, phone_number_id, owner_id, from_number, to_number, status, status_rank, created_at, updated_at) \
                 VALUES ($1, 'inbound', $2, $3, '+14155550999', $4, 'ended', 3, 1, 1)",
            )
            .bind(format!("c{i}"))
            .bind(&id)
            .bind((i == 0).then(|| owner_id.clone()))
            .bind(&e164)
            .execute(pool)
            .await
            .unwrap();
        }
    }
    let all: Vec<dial_app::model::AssistantOption> = app
        .call(&app.client, "calls/filter-numbers", &[])
        .await
        .unwrap();
    assert_eq!(
        all.len(),
        69,
        "every number with calls, beyond a first page of 50"
    );
    assert!(all.iter().all(|n| n.id != "n69"), "no calls, not offered");
    let chosen: Vec<dial_app::model::AssistantOption> = app
        .call(&app.client, "calls/filter-numbers", &[("selected", "n69")])
        .await
        .unwrap();
    assert_eq!(chosen.len(), 70, "the number filtered by now, calls or not");
    let released = all
        .iter()
        .find(|n| n.id == "n1")
        .expect("the released number");
    assert_eq!(released.name, "+1 (415) 555-1001 (released)");
    let mine: Vec<dial_app::model::AssistantOption> =
        app.call(&owner, "calls/filter-numbers", &[]).await.unwrap();
    assert_eq!(
        mine.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
        ["n0"]
    );
    let not_mine: Vec<dial_app::model::AssistantOption> = app
        .call(&owner, "calls/filter-numbers", &[("selected", "n69")])
        .await
        .unwrap();
    assert_eq!(not_mine.len(), 1, "another's number is never offered");
}
