//! The carrier's calls-per-second limit: the Twilio fake admits a trunk's calls over a
//! sliding second (`fakes/src/twilio/cps.rs`), and the linked LiveKit fake fails a call
//! it refuses as LiveKit reports a carrier's 503 (`fakes/src/livekit/carrier.rs`).

use crate::livekit::{call, client, outbound_setup, room_events, SECRET};
use dial_app::{model::Outcome, server::twilio::TrunkParams};
use dial_fakes::{
    livekit::FakeLiveKit,
    twilio::{FakeTwilio, TrunkCpsError, CPS_REFUSAL_REASON},
};
use std::time::Duration;

/// Linked fakes, and a Twilio trunk whose termination domain is the address of the
/// LiveKit outbound trunk `outbound_setup` makes: (twilio, livekit, LiveKit URL, trunk SID).
async fn linked() -> (FakeTwilio, FakeLiveKit, String, String) {
    let (twilio, base) = crate::twilio::fake().await;
    let (livekit, url) = crate::livekit::fake().await;
    dial_fakes::link(&twilio, &livekit);
    let trunk = crate::twilio::client(&base, crate::twilio::TOKEN)
        .create_trunk(&TrunkParams {
            domain_name: Some("dial-test.pstn.twilio.com".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    (twilio, livekit, url, trunk.sid)
}

#[tokio::test]
async fn a_twilio_trunk_refuses_calls_over_its_limit_with_sip_503() {
    let (twilio, livekit, url, trunk_sid) = linked().await;
    let (lk, out) = outbound_setup(&livekit, &url).await;
    // Twilio's default: 1 call a second per trunk.
    assert_eq!(twilio.trunks(crate::twilio::SID)[0].cps, 1);
    assert_eq!(twilio.cps_refusals(), 0);

    // Three calls at once: one is admitted, two are refused before anyone hears them.
    let dial = |n: u32| {
        let (lk, out) = (&lk, &out);
        async move {
            lk.create_sip_participant(
                out,
                "+14155550000",
                &format!("room-burst-{n}"),
                call(&format!("caller-{n}"), true),
            )
            .await
        }
    };
    let (a, b, c) = tokio::join!(dial(1), dial(2), dial(3));
    let results = [a, b, c];
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        // livekit/protocol `livekit/sip.go`: 503 is failed_precondition, with the SIP
        // status and the carrier's reason in the metadata.
        assert_eq!(refused.code(), Some("failed_precondition"), "{refused:?}");
        assert_eq!(refused.sip_status(), Some(503), "{refused:?}");
        assert!(
            refused.to_string().contains(CPS_REFUSAL_REASON),
            "{refused}"
        );
        // What Dial records for it today (the campaign engine requeues a 503).
        assert_eq!(
            dial_app::server::calls::outcome_of_dial(refused),
            Outcome::Unreachable
        );
    }
    assert_eq!(twilio.cps_refusals(), 2);
    assert_eq!(twilio.cps_refusals_on(&trunk_sid), 2);
    // The refused calls never rang, and left their rooms as rejected.
    let refused_rooms: Vec<String> = livekit
        .calls()
        .into_iter()
        .filter(|c| c.ended)
        .map(|c| c.room)
        .collect();
    assert_eq!(refused_rooms.len(), 2);
    for room in &refused_rooms {
        let left: Vec<_> = livekit
            .webhook_events()
            .into_iter()
            .filter(|e| {
                e.event == "participant_left" && e.room.as_ref().is_some_and(|r| &r.name == room)
            })
            .collect();
        assert_eq!(left.len(), 1, "{room}");
        let participant = left[0].participant.clone().unwrap_or_default();
        assert_eq!(
            participant.disconnect_reason,
            dial_app::server::livekit::proto::DisconnectReason::UserRejected as i32
        );
        assert_eq!(participant.attributes["sip.callStatus"], "dialing");
    }

    // A second later the trunk takes a call again; one a second is always admitted.
    for n in 4..=6 {
        tokio::time::sleep(Duration::from_millis(1_050)).await;
        dial(n)
            .await
            .expect("one call a second is within the limit");
    }
    assert_eq!(twilio.cps_refusals(), 2);

    // Raised to 5 (as the account owner may): five at once pass, the sixth does not.
    twilio.set_trunk_cps(&trunk_sid, 5).unwrap();
    assert_eq!(twilio.trunks(crate::twilio::SID)[0].cps, 5);
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    let burst = at_once(&url, &out, 10, 6).await;
    assert_eq!(burst.iter().filter(|r| r.is_ok()).count(), 5, "{burst:?}");
    assert_eq!(twilio.cps_refusals(), 3);

    assert_eq!(
        twilio.set_trunk_cps("TKnope", 2),
        Err(TrunkCpsError::NoSuchTrunk("TKnope".into()))
    );
    assert_eq!(
        twilio.set_trunk_cps(&trunk_sid, 0),
        Err(TrunkCpsError::Zero)
    );
}

/// `count` calls placed at once (waiting for their answers), rooms numbered from `first`.
async fn at_once(
    url: &str,
    trunk: &str,
    first: u32,
    count: u32,
) -> Vec<Result<(), dial_app::server::livekit::LiveKitError>> {
    let mut tasks = tokio::task::JoinSet::new();
    for n in first..first + count {
        let (lk, trunk) = (client(url, SECRET), trunk.to_string());
        tasks.spawn(async move {
            lk.create_sip_participant(
                &trunk,
                "+14155550000",
                &format!("room-burst-{n}"),
                call(&format!("caller-{n}"), true),
            )
            .await
            .map(|_| ())
        });
    }
    let mut results = Vec::new();
    while let Some(result) = tasks.join_next().await {
        results.push(result.expect("the call's task"));
    }
    results
}

#[tokio::test]
async fn a_refused_call_placed_without_waiting_leaves_its_room_rejected() {
    let (twilio, livekit, url, _) = linked().await;
    let (lk, out) = outbound_setup(&livekit, &url).await;
    lk.create_sip_participant(&out, "+14155550000", "room-a", call("caller-a", false))
        .await
        .unwrap();
    // Without "wait until answered" LiveKit answers while dialling: the refusal shows
    // only as the participant leaving.
    lk.create_sip_participant(&out, "+14155550000", "room-b", call("caller-b", false))
        .await
        .expect("answered while dialling");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(twilio.cps_refusals(), 1);
    let events = room_events(&livekit, "room-b");
    assert!(
        events.contains(&(
            "participant_left".into(),
            "caller-b".into(),
            dial_app::server::livekit::proto::DisconnectReason::UserRejected as i32
        )),
        "{events:?}"
    );
    assert_eq!(
        lk.get_participant("room-a", "caller-a")
            .await
            .unwrap()
            .attributes["sip.callStatus"],
        "active"
    );
}

#[tokio::test]
async fn calls_through_other_carriers_are_not_twilios_to_limit() {
    let (twilio, _livekit, url, _) = linked().await;
    let lk = client(&url, SECRET);
    let mut spec = crate::livekit::outbound("+15105550100");
    spec.address = "sip.telnyx.com".into();
    let other = lk.create_outbound_trunk(spec).await.unwrap().sip_trunk_id;
    let (a, b, c) = tokio::join!(
        lk.create_sip_participant(&other, "+14155550000", "r1", call("c1", true)),
        lk.create_sip_participant(&other, "+14155550000", "r2", call("c2", true)),
        lk.create_sip_participant(&other, "+14155550000", "r3", call("c3", true)),
    );
    assert!(a.is_ok() && b.is_ok() && c.is_ok(), "{a:?} {b:?} {c:?}");
    assert_eq!(twilio.cps_refusals(), 0);
}

/// The limit is kept on the trunk in the state file; a file written before the limit
/// existed gives its trunks Twilio's default.
#[tokio::test]
async fn a_trunks_limit_is_saved_and_older_state_files_get_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twilio.json");
    let old = serde_json::json!({
        "accounts": [{
            "sid": crate::twilio::SID,
            "auth_token": crate::twilio::TOKEN,
            "friendly_name": "Old",
            "numbers": [],
            "trunks": [{
                "sid": "TK00000000000000000000000000000001",
                "friendly_name": null,
                "domain_name": "old.pstn.twilio.com",
                "transfer_mode": "disable-all",
                "transfer_caller_id": "from-transferee",
                "secure": false,
                "cnam_lookup_enabled": false,
                "disaster_recovery_url": null,
                "origination_urls": [],
                "credential_lists": [],
                "created": 0
            }],
            "credential_lists": []
        }]
    });
    std::fs::write(&path, old.to_string()).unwrap();
    let twilio = FakeTwilio::with_state_file(&path).unwrap();
    assert_eq!(twilio.trunks(crate::twilio::SID)[0].cps, 1);
    twilio
        .set_trunk_cps("TK00000000000000000000000000000001", 4)
        .unwrap();
    let again = FakeTwilio::with_state_file(&path).unwrap();
    assert_eq!(again.trunks(crate::twilio::SID)[0].cps, 4);
    // The running window is not saved: a restarted carrier admits at once.
    assert_eq!(again.admit_call("old.pstn.twilio.com"), Some(Ok(())));
    assert_eq!(again.admit_call("sip:other.example.com"), None);
}
