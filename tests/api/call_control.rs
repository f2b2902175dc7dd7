//! Outbound calls, transfer and hang-up against the sandbox's LiveKit: answered, busy, no
//! answer, declined; DTMF passed through; transfer success and failure; role checks.

use crate::{assignment::*, helpers::*};
use dial_app::{
    error::AppError,
    model::{CallDetail, CallRow, CallStatus, Direction, TransferResult},
};
use dial_fakes::livekit::{CallOutcome, CallTiming, TransferOutcome};
use std::time::Duration;

async fn place(
    app: &TestApp,
    client: &reqwest::Client,
    number_id: &str,
    to: &str,
    extra: &[(&str, &str)],
) -> Result<CallRow, AppError> {
    let mut form = vec![("number_id", number_id), ("to", to)];
    form.extend_from_slice(extra);
    app.call(client, "calls/place", &form).await
}

async fn detail(app: &TestApp, client: &reqwest::Client, id: &str) -> CallDetail {
    app.call(client, "calls/get", &[("id", id)])
        .await
        .expect("call")
}

async fn wait_until(app: &TestApp, id: &str, done: impl Fn(&CallRow) -> bool) -> CallRow {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let call = detail(app, &app.client, id).await.call;
        if done(&call) {
            return call;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{id} stayed {:?} ({:?})",
            call.status,
            call.outcome
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A call to +1 415 555 0100 placed from `number` with "wait until answered", once
/// answered and known to LiveKit by its SIP call id.
async fn answered_call(app: &TestApp, number: &str) -> CallRow {
    let placed = place(
        app,
        &app.client,
        number,
        "+14155550100",
        &[("wait_until_answered", "on")],
    )
    .await
    .unwrap();
    let call = wait_for_status(app, &placed.id, CallStatus::Answered).await;
    wait_until(app, &call.id, |c| c.sip_call_id.is_some()).await
}

async fn wait_for_status(app: &TestApp, id: &str, status: CallStatus) -> CallRow {
    wait_until(app, id, |c| c.status == status).await
}

/// A sandbox app with a number assigned to an assistant; returns the number's id.
async fn ready() -> (TestApp, String) {
    let app = provisioning_app().await;
    let admin = user_id(&app, ADMIN).await;
    let number = twilio_number(&app, "+14155550133").await;
    let assistant = insert_assistant(&app, &admin, "Sales", "sales-agent", "sales-").await;
    assign(&app, &app.client, &number.id, &assistant)
        .await
        .unwrap();
    lift_call_rate_limits(&app);
    (app, number.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answered_call_dispatches_the_agent_passes_dtmf_and_can_be_hung_up() {
    let (app, number) = ready().await;
    let (_, livekit) = fakes(&app);
    // The callee's phone rings for a second before it is answered.
    livekit.set_timing(CallTiming {
        ringing_after: Duration::from_millis(50),
        answer_after: Duration::from_millis(1500),
        ..CallTiming::default()
    });
    let placed = place(
        &app,
        &app.client,
        &number,
        "+14155550100",
        &[
            ("wait_until_answered", "on"),
            ("dtmf", "1w2#"),
            ("display_name", "Dial Sales"),
            ("ringing_timeout", "20"),
            ("max_duration", "600"),
        ],
    )
    .await
    .expect("place");
    // The page gets the call at once, then follows it: dialing, ringing, answered.
    assert_eq!(placed.status, CallStatus::Dialing);
    wait_for_status(&app, &placed.id, CallStatus::Ringing).await;
    let call = wait_for_status(&app, &placed.id, CallStatus::Answered).await;
    let call = wait_until(&app, &call.id, |c| c.sip_call_id.is_some()).await;
    assert_eq!(call.direction, Direction::Outbound);
    assert_eq!(
        (call.from.as_str(), call.to.as_str()),
        ("+14155550133", "+14155550100")
    );
    assert!(call.room.as_deref().unwrap().starts_with("sales-"));
    assert!(call.sip_call_id.is_some());
    let fake = livekit
        .calls()
        .into_iter()
        .find(|c| Some(&c.call_id) == call.sip_call_id.as_ref())
        .expect("the fake placed the call");
    assert_eq!(fake.dtmf, "1w2#");
    assert_eq!(fake.display_name.as_deref(), Some("Dial Sales"));
    // Dial names the caller ID itself rather than leave LiveKit to pick one of the
    // trunk's numbers at random.
    assert_eq!(fake.sip_number.as_deref(), Some("+14155550133"));
    let room = call.room.clone().unwrap();
    let dispatches = livekit.agent_dispatches(&room);
    assert_eq!(dispatches.len(), 1);
    assert_eq!(dispatches[0].agent_name, "sales-agent");
    let meta: serde_json::Value = serde_json::from_str(&dispatches[0].metadata).unwrap();
    assert_eq!(meta["assistant"], "Sales", "the assistant's metadata");
    assert_eq!(meta["dial"]["call_id"], call.id.as_str(), "and the call's");
    assert_eq!(meta["dial"]["to"], "+14155550100");
    // One session, even though LiveKit's webhooks for it raced the answer.
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM call_sessions")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(sessions, 1);

    let ended: CallRow = app
        .call(&app.client, "calls/hangup", &[("id", &call.id)])
        .await
        .unwrap();
    assert_eq!(ended.status, CallStatus::Ended);
    assert_eq!(ended.outcome_words(), "Completed");
    assert!(livekit
        .participants(&room)
        .iter()
        .all(|p| p.identity != "sip_+14155550100"));
    let again = app
        .call::<CallRow>(&app.client, "calls/hangup", &[("id", &call.id)])
        .await
        .unwrap_err();
    assert!(
        matches!(again, AppError::Conflict { .. }),
        "controls end with the call"
    );
    let timeline = detail(&app, &app.client, &call.id).await.timeline;
    let kinds: Vec<&str> = timeline.iter().map(|e| e.kind.as_str()).collect();
    for kind in [
        "call.requested",
        "call.created",
        "participant_joined",
        "call.hangup",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let actions = app.audit_actions().await;
    assert!(
        actions.iter().any(|a| a == "call.place") && actions.iter().any(|a| a == "call.hangup")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_calls_say_why_with_the_sip_status() {
    let (app, number) = ready().await;
    let (_, livekit) = fakes(&app);
    for (to, outcome, words) in [
        ("+14155550101", CallOutcome::Busy, "Busy (SIP 486)"),
        ("+14155550102", CallOutcome::NoAnswer, "No answer"),
        ("+14155550103", CallOutcome::Declined, "Declined (SIP 603)"),
        (
            "+14155550104",
            CallOutcome::TrunkAuthFailure,
            "Trunk authentication failed",
        ),
    ] {
        livekit.set_outcome(to, outcome);
        let placed = place(
            &app,
            &app.client,
            &number,
            to,
            &[("wait_until_answered", "on"), ("ringing_timeout", "1")],
        )
        .await
        .expect("a failed call is still a call");
        // LiveKit's webhook may end the session (with its coarser disconnect reason) a
        // moment before the dial's failure (with its SIP status) is recorded: wait for the
        // dial's outcome.
        let call = wait_until(&app, &placed.id, |c| {
            c.status == CallStatus::Ended && c.outcome_words() == words
        })
        .await;
        assert_eq!(call.status, CallStatus::Ended, "{to}");
        assert_eq!(call.outcome_words(), words, "{to}");
        assert!(call.answered_at.is_none());
    }
}

/// With "wait until answered" livekit-server waits 80 s for the answer, whatever the
/// ringing timeout (livekit/livekit `pkg/service/sip.go`, `CreateSIPParticipant`), then
/// fails the dial `deadline_exceeded`; the bridge dials under that request, so the call is
/// cancelled then and leaves unanswered (livekit/sip `pkg/sip/client.go`). Dial says "No
/// answer" at once, not after the ringing timeout. The sandbox's wait is cut to 0.5 s here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_still_ringing_when_livekit_stops_waiting_has_no_answer() {
    let (app, number) = ready().await;
    let (_, livekit) = fakes(&app);
    livekit.set_timing(CallTiming {
        sip_wait_until_answered: Duration::from_millis(500),
        ..CallTiming::default()
    });
    livekit.set_outcome("+14155550121", CallOutcome::NoAnswer);
    let placed = place(
        &app,
        &app.client,
        &number,
        "+14155550121",
        &[("wait_until_answered", "on"), ("ringing_timeout", "60")],
    )
    .await
    .expect("a call nobody answered is still a call");
    let call = wait_until(&app, &placed.id, |c| {
        c.status == CallStatus::Ended && c.outcome_words() == "No answer"
    })
    .await;
    assert!(call.answered_at.is_none());
    let dialled = livekit
        .calls()
        .into_iter()
        .find(|c| c.to == "+14155550121")
        .expect("dialled");
    assert!(dialled.ended, "LiveKit cancelled the call: {dialled:?}");
    assert_eq!(dialled.status, "ringing");
}

/// Without "wait until answered" LiveKit answers CreateSIPParticipant as soon as it dials;
/// how the call ended then comes only from `participant_left`'s disconnect reason, which
/// cannot tell busy from declined (livekit/sip `pkg/sip/errors.go`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_not_waited_for_take_their_outcome_from_livekits_leave() {
    let (app, number) = ready().await;
    let (_, livekit) = fakes(&app);
    for (to, outcome, words) in [
        ("+14155550111", CallOutcome::Busy, "Busy or declined"),
        ("+14155550112", CallOutcome::Declined, "Busy or declined"),
        ("+14155550113", CallOutcome::NoAnswer, "No answer"),
    ] {
        livekit.set_outcome(to, outcome);
        let placed = place(&app, &app.client, &number, to, &[("ringing_timeout", "1")])
            .await
            .expect("placed");
        let call = wait_for_status(&app, &placed.id, CallStatus::Ended).await;
        assert_eq!(call.outcome_words(), words, "{to}");
        assert!(call.answered_at.is_none(), "{to}");
    }
    // Answered and then hung up by the callee: completed.
    let placed = place(&app, &app.client, &number, "+14155550114", &[])
        .await
        .expect("placed");
    let call = wait_for_status(&app, &placed.id, CallStatus::Answered).await;
    let room = call.room.clone().expect("a room");
    livekit.hang_up_from_phone(&room, "sip_+14155550114");
    let call = wait_for_status(&app, &placed.id, CallStatus::Ended).await;
    assert_eq!(call.outcome_words(), "Completed");
    // Ended by the SIP participant's participant_left: the room is still open for its
    // 20 s departure timeout (livekit/livekit `pkg/rtc/room.go`), its room_finished to come.
    assert!(livekit.rooms().contains(&room), "the room is still open");
    assert!(!livekit
        .webhook_events()
        .iter()
        .any(|e| e.event == "room_finished" && e.room.as_ref().is_some_and(|r| r.name == room)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_succeed_or_fail_with_the_reason() {
    let (app, number) = ready().await;
    let (_, livekit) = fakes(&app);
    livekit.set_transfer_outcome("tel:+14155550188", TransferOutcome::Fail(486));
    let call = answered_call(&app, &number).await;

    let bad = app
        .call::<TransferResult>(
            &app.client,
            "calls/transfer",
            &[("id", &call.id), ("transfer_to", "415-555-0199 ext 2")],
        )
        .await
        .unwrap_err();
    assert!(bad.field("transfer_to").is_some(), "{bad:?}");

    let failed: TransferResult = app
        .call(
            &app.client,
            "calls/transfer",
            &[("id", &call.id), ("transfer_to", "tel:+14155550188")],
        )
        .await
        .unwrap();
    assert!(!failed.ok);
    assert_eq!(failed.sip_status_code, Some(486));
    assert!(
        failed.message.contains("SIP 486 Busy Here")
            && failed.message.contains("The call is still connected."),
        "{}",
        failed.message
    );
    // A refused transfer leaves the call up, and the timeline says why in words.
    let after = detail(&app, &app.client, &call.id).await;
    assert_eq!(after.call.status, CallStatus::Answered);
    let refused = after
        .timeline
        .iter()
        .find(|e| e.kind == "transfer.failed")
        .expect("transfer.failed");
    assert_eq!(refused.detail["sip_status"], 486, "{:?}", refused.detail);
    assert_eq!(refused.detail["call"], "still connected");
    assert_eq!(
        refused.detail["error"],
        "the carrier or the transfer target refused the transfer"
    );

    let ok: TransferResult = app
        .call(
            &app.client,
            "calls/transfer",
            &[("id", &call.id), ("transfer_to", "tel:+14155550199")],
        )
        .await
        .unwrap();
    assert!(ok.ok, "{}", ok.message);
    let fake = livekit
        .calls()
        .into_iter()
        .find(|c| Some(&c.call_id) == call.sip_call_id.as_ref())
        .unwrap();
    assert!(
        fake.transfers.iter().any(|t| t.contains("+14155550199")),
        "{:?}",
        fake.transfers
    );
    let kinds: Vec<String> = detail(&app, &app.client, &call.id)
        .await
        .timeline
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        kinds.contains(&"transfer.failed".to_string())
            && kinds.contains(&"transfer.succeeded".to_string())
    );
    // The status LiveKit answered is recorded with the success.
    let succeeded = detail(&app, &app.client, &call.id)
        .await
        .timeline
        .into_iter()
        .find(|e| e.kind == "transfer.succeeded")
        .expect("transfer.succeeded");
    assert_eq!(succeeded.detail["transfer_status"], "successful");
    assert!(succeeded.detail["transfer_id"]
        .as_str()
        .is_some_and(|t| t.starts_with("STR_")));
    // The transferred caller leaves the room: the session ends from its webhook.
    wait_for_status(&app, &call.id, CallStatus::Ended).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_call_requests_name_the_field_and_owners_stay_in_their_lane() {
    let (app, number) = ready().await;
    let err = place(
        &app,
        &app.client,
        &number,
        "555-0100",
        &[("dtmf", "12x"), ("ringing_timeout", "0")],
    )
    .await
    .unwrap_err();
    for field in ["to", "dtmf", "ringing_timeout"] {
        assert!(err.field(field).is_some(), "{field}: {err:?}");
    }
    let call = place(&app, &app.client, &number, "+14155550100", &[])
        .await
        .unwrap();
    let (owner, _) = app.owner_client().await;
    let err = place(&app, &owner, &number, "+14155550100", &[])
        .await
        .unwrap_err();
    assert!(
        err.field("number_id").is_some(),
        "another owner's number: {err:?}"
    );
    let err = app
        .call::<CallDetail>(&owner, "calls/get", &[("id", &call.id)])
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::NotFound { .. }));
    let err = app
        .call::<CallRow>(&owner, "calls/hangup", &[("id", &call.id)])
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::NotFound { .. }));
    let err = app
        .call::<TransferResult>(
            &owner,
            "calls/transfer",
            &[("id", &call.id), ("transfer_to", "tel:+14155550199")],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::NotFound { .. }));
    let page: dial_app::model::Page<CallRow> = app.call(&owner, "calls/list", &[]).await.unwrap();
    assert_eq!(page.total, 0, "owners see their calls only");
    let page: dial_app::model::Page<CallRow> = app
        .call(&app.client, "calls/list", &[("direction", "outbound")])
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    let err = app
        .call::<String>(&owner, "calls/reconcile", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Forbidden));
    let err = app
        .call::<CallDetail>(&new_client(), "calls/get", &[("id", &call.id)])
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Unauthorized));
}

/// LiveKit sends no webhook when a call is answered (livekit/protocol
/// `webhook/consts.go`): an inbound call joins ringing (livekit/sip `pkg/sip/inbound.go`)
/// and Dial follows it until its agent publishes audio and the bridge answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_call_rings_until_its_agent_answers_without_reconcile() {
    let (app, number) = ready().await;
    let (_, livekit) = fakes(&app);
    livekit.set_timing(CallTiming {
        agent_answers_after: None,
        ..CallTiming::default()
    });
    let e164: String = sqlx::query_scalar("SELECT e164 FROM phone_numbers WHERE id = $1")
        .bind(&number)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let routed = call_in(&livekit, &e164).expect("routed");
    let id = loop {
        let found: Option<String> =
            sqlx::query_scalar("SELECT id FROM call_sessions WHERE sip_call_id = $1")
                .bind(&routed.call_id)
                .fetch_optional(&app.state.db.pool)
                .await
                .unwrap();
        if let Some(id) = found {
            break id;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let ringing = wait_for_status(&app, &id, CallStatus::Ringing).await;
    assert_eq!(ringing.direction, Direction::Inbound);
    // Still ringing a second later: nothing answered it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        detail(&app, &app.client, &id).await.call.status,
        CallStatus::Ringing
    );
    // LiveKit transfers only an established call: refused here, nothing sent.
    let refused = app
        .call::<TransferResult>(
            &app.client,
            "calls/transfer",
            &[("id", id.as_str()), ("transfer_to", "tel:+14155550199")],
        )
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("not been answered yet"),
        "{refused:?}"
    );
    assert!(livekit.calls().iter().all(|c| c.transfers.is_empty()));
    let before = std::time::Instant::now();
    assert!(livekit.agent_answers(&routed.room));
    let answered = wait_for_status(&app, &id, CallStatus::Answered).await;
    assert!(answered.answered_at.is_some());
    // The agent's track_published wakes the follower: no waiting for its next turn.
    assert!(
        before.elapsed() < Duration::from_millis(1500),
        "{:?}",
        before.elapsed()
    );
}

/// A call whose end Dial has not heard of yet (its webhook is late) is "not found" at
/// LiveKit when a transfer reaches it: that is the call's state, answered 409 with
/// words, not a carrier failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_that_finds_the_call_gone_says_so() {
    let (app, number) = ready().await;
    let (_, livekit) = fakes(&app);
    let call = answered_call(&app, &number).await;
    livekit.set_webhook_knobs(dial_fakes::livekit::WebhookKnobs {
        hold: true,
        ..Default::default()
    });
    let fake_call = livekit
        .calls()
        .into_iter()
        .find(|c| Some(c.call_id.as_str()) == call.sip_call_id.as_deref())
        .expect("the fake's call");
    livekit.hang_up_from_phone(&fake_call.room, &fake_call.identity);
    let refused = app
        .call::<TransferResult>(
            &app.client,
            "calls/transfer",
            &[
                ("id", call.id.as_str()),
                ("transfer_to", "tel:+14155550199"),
            ],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, dial_app::error::AppError::Conflict { .. }),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("had ended"), "{refused}");
}
