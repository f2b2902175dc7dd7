//! The simulated callees of outbound calls (`fakes/src/livekit/callees.rs`): outcomes by
//! proportion, the order in which a number's own outcome, the mix and the default apply,
//! and the callee hanging up after the call length, as a BYE from the far end looks at
//! LiveKit.

use crate::livekit::{call, outbound_setup, room_events, KEY, SECRET};
use dial_app::server::livekit::proto::DisconnectReason;
use dial_fakes::livekit::{CallLength, CallOutcome, FakeLiveKit, OutcomeMix};
use std::{collections::HashMap, time::Duration};

fn campaign_mix() -> OutcomeMix {
    OutcomeMix::new(
        &[
            (CallOutcome::Answer, 60),
            (CallOutcome::Busy, 15),
            (CallOutcome::NoAnswer, 20),
            (CallOutcome::Declined, 5),
        ],
        14,
    )
    .unwrap()
}

#[tokio::test]
async fn a_thousand_callees_answer_in_the_mixs_proportions() {
    let (fake, url) = crate::livekit::fake().await;
    let (lk, trunk) = outbound_setup(&fake, &url).await;
    fake.set_outcome_mix(Some(campaign_mix()));
    for n in 0..1000 {
        lk.create_sip_participant(
            &trunk,
            &format!("+1415555{n:04}"),
            &format!("room-{n}"),
            call(&format!("caller-{n}"), false),
        )
        .await
        .unwrap();
    }
    let calls = fake.calls();
    assert_eq!(calls.len(), 1000);
    let mut counts: HashMap<CallOutcome, u32> = HashMap::new();
    for c in &calls {
        let outcome = c.outcome.expect("an outbound call's outcome");
        // Each call's outcome is the one its SIP call id draws: a test can predict it.
        assert_eq!(outcome, campaign_mix().outcome_for(&c.call_id));
        *counts.entry(outcome).or_default() += 1;
    }
    for (outcome, percent) in [
        (CallOutcome::Answer, 60),
        (CallOutcome::Busy, 15),
        (CallOutcome::NoAnswer, 20),
        (CallOutcome::Declined, 5),
    ] {
        let got = counts.get(&outcome).copied().unwrap_or(0);
        assert!(
            got.abs_diff(percent * 10) <= 50,
            "{outcome:?}: {got} of 1000, not about {}",
            percent * 10
        );
    }
    // And each call ends that way: the busy ones are gone from their rooms as rejected.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let busy = calls
        .iter()
        .find(|c| c.outcome == Some(CallOutcome::Busy))
        .unwrap();
    assert!(room_events(&fake, &busy.room).contains(&(
        "participant_left".into(),
        busy.identity.clone(),
        DisconnectReason::UserRejected as i32
    )));
}

#[tokio::test]
async fn a_numbers_own_outcome_beats_the_mix_and_the_mix_beats_the_default() {
    let (fake, url) = crate::livekit::fake().await;
    let (lk, trunk) = outbound_setup(&fake, &url).await;
    fake.set_default_outcome(CallOutcome::NoAnswer);
    fake.set_outcome("+14155550001", CallOutcome::Busy);
    fake.set_outcome_mix(Some(
        OutcomeMix::new(&[(CallOutcome::Declined, 100)], 1).unwrap(),
    ));
    let outcome_of = |to: &'static str, room: &'static str| {
        let (lk, trunk, fake) = (&lk, &trunk, &fake);
        async move {
            lk.create_sip_participant(trunk, to, room, call("caller", false))
                .await
                .unwrap();
            fake.calls()
                .into_iter()
                .find(|c| c.room == room)
                .and_then(|c| c.outcome)
        }
    };
    assert_eq!(
        outcome_of("+14155550001", "r1").await,
        Some(CallOutcome::Busy)
    );
    assert_eq!(
        outcome_of("+14155550002", "r2").await,
        Some(CallOutcome::Declined)
    );
    fake.set_outcome_mix(None);
    assert_eq!(
        outcome_of("+14155550002", "r3").await,
        Some(CallOutcome::NoAnswer)
    );
}

#[tokio::test]
async fn the_callee_hangs_up_after_the_call_length_as_a_bye_looks_at_livekit() {
    let (fake, url) = crate::livekit::fake().await;
    let (lk, trunk) = outbound_setup(&fake, &url).await;
    let length =
        CallLength::between(Duration::from_millis(300), Duration::from_millis(600)).unwrap();
    fake.set_call_length(Some(length));
    let info = lk
        .create_sip_participant(&trunk, "+14155550000", "room-len", call("caller", true))
        .await
        .unwrap();
    let answered_at = std::time::Instant::now();
    let lasts = length.for_call(&info.sip_call_id);
    assert!(lasts >= Duration::from_millis(300) && lasts <= Duration::from_millis(600));
    // Still on shortly before its length, gone shortly after.
    tokio::time::sleep(lasts.saturating_sub(Duration::from_millis(150))).await;
    assert_eq!(
        lk.get_participant("room-len", "caller")
            .await
            .unwrap()
            .attributes["sip.callStatus"],
        "active"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(lk.get_participant("room-len", "caller").await.is_err());
    assert!(answered_at.elapsed() >= lasts);
    // livekit/sip `onBye`: CallHangup, CLIENT_INITIATED; the status attribute `hangup`.
    let left: Vec<_> = fake
        .webhook_events()
        .into_iter()
        .filter(|e| e.event == "participant_left")
        .collect();
    assert_eq!(left.len(), 1);
    let p = left[0].participant.clone().unwrap_or_default();
    assert_eq!(
        p.disconnect_reason,
        DisconnectReason::ClientInitiated as i32
    );
    assert_eq!(p.attributes["sip.callStatus"], "hangup");
    let record = fake
        .calls()
        .into_iter()
        .find(|c| c.room == "room-len")
        .unwrap();
    assert!(record.ended);
    assert_eq!(record.status, "hangup");

    // A shorter maximum duration in the request ends the call first.
    let mut capped = call("capped", true);
    capped.max_call_duration = Some(Duration::from_millis(100));
    lk.create_sip_participant(&trunk, "+14155550000", "room-cap", capped)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(lk.get_participant("room-cap", "capped").await.is_err());
}

#[tokio::test]
async fn the_mix_and_call_length_are_saved_and_older_files_load_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("livekit.json");
    // A state file from before the mix existed (empty lists are empty protobufs).
    std::fs::write(
        &path,
        r#"{"inbound":"","outbound":"","rules":"","outcomes":{"+14155550001":"busy"},"default_outcome":"declined"}"#,
    )
    .unwrap();
    let fake = FakeLiveKit::with_state_file(KEY, SECRET, &path).unwrap();
    assert_eq!(fake.outcome_mix(), None);
    assert_eq!(fake.call_length(), None);
    assert_eq!(fake.outcomes().0, CallOutcome::Declined);

    fake.set_outcome_mix(Some(campaign_mix()));
    let length = CallLength::between(Duration::from_secs(20), Duration::from_secs(90)).unwrap();
    fake.set_call_length(Some(length));
    let again = FakeLiveKit::with_state_file(KEY, SECRET, &path).unwrap();
    assert_eq!(again.outcome_mix(), Some(campaign_mix()));
    assert_eq!(again.call_length(), Some(length));
    assert_eq!(
        again.outcomes().1,
        vec![("+14155550001".to_string(), CallOutcome::Busy)]
    );
}
