use dial_app::server::livekit::{
    proto, transfer::TransferReport, CallOptions, InboundTrunkSpec, LiveKitClient, LiveKitError,
    OutboundTrunkSpec,
};
use dial_fakes::livekit::{
    CallOutcome, CallTiming, FakeLiveKit, InboundRejected, TransferOutcome, WebhookKnobs,
};
use livekit_api::services::sip::CreateSIPDispatchRuleOptions;
use proto::sip_dispatch_rule::Rule;
use secrecy::SecretString;
use std::{net::SocketAddr, time::Duration};

pub const KEY: &str = "devkey";
pub const SECRET: &str = "devsecret-devsecret-devsecret-0001";
const TWILIO_IP: &str = "54.172.60.1";
/// One second of a room's timeouts in these tests.
const ROOM_SECOND: Duration = Duration::from_millis(10);

pub async fn fake() -> (FakeLiveKit, String) {
    let fake = FakeLiveKit::new(KEY, SECRET);
    fake.set_timing(CallTiming {
        ringing_after: Duration::from_millis(30),
        answer_after: Duration::from_millis(60),
        // Inbound calls ring until a test has the agent answer.
        agent_answers_after: None,
        // A room's 20 s departure timeout lasts 200 ms here, its 5 minutes empty 3 s.
        room_second: ROOM_SECOND,
        ..CallTiming::default()
    });
    let addr = fake
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    (fake, format!("http://{addr}"))
}

pub fn client(url: &str, secret: &str) -> LiveKitClient {
    LiveKitClient::new(
        url,
        KEY,
        &SecretString::from(secret.to_string()),
        Duration::from_secs(5),
    )
}

fn twirp(e: LiveKitError) -> (String, String) {
    match e {
        LiveKitError::Twirp { code, message, .. } => (code, message),
        other => panic!("expected a Twirp error, got {other:?}"),
    }
}

fn inbound(name: &str, numbers: &[&str], allowed_numbers: &[&str]) -> InboundTrunkSpec {
    InboundTrunkSpec {
        name: name.into(),
        numbers: numbers.iter().map(|s| s.to_string()).collect(),
        allowed_numbers: allowed_numbers.iter().map(|s| s.to_string()).collect(),
        allowed_addresses: vec!["54.172.60.0/30".into()],
        ..Default::default()
    }
}

pub(crate) fn outbound(number: &str) -> OutboundTrunkSpec {
    OutboundTrunkSpec {
        name: "out".into(),
        address: "dial-test.pstn.twilio.com".into(),
        numbers: vec![number.into()],
        transport: proto::SipTransport::Tls,
        metadata: "{}".into(),
        auth_username: "dial".into(),
        auth_password: SecretString::from("Str0ngPassword".to_string()),
        destination_country: Some("US".into()),
    }
}

fn individual(prefix: &str, pin: &str) -> Rule {
    Rule::DispatchRuleIndividual(proto::SipDispatchRuleIndividual {
        room_prefix: prefix.into(),
        pin: pin.into(),
        no_randomness: false,
    })
}

fn rule_options(name: &str, trunks: &[&str], agent: &str) -> CreateSIPDispatchRuleOptions {
    CreateSIPDispatchRuleOptions {
        name: name.into(),
        trunk_ids: trunks.iter().map(|s| s.to_string()).collect(),
        room_config: Some(proto::RoomConfiguration {
            agents: vec![proto::RoomAgentDispatch {
                agent_name: agent.into(),
                metadata: format!("{{\"assistant\":\"{agent}\"}}"),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_wrong_secret_is_unauthenticated() {
    let (_fake, url) = fake().await;
    let err = client(&url, "not-the-secret-not-the-secret-0000")
        .list_inbound_trunks()
        .await
        .unwrap_err();
    assert_eq!(twirp(err).0, "unauthenticated");
    assert!(client(&url, SECRET)
        .list_inbound_trunks()
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_missing_grant_is_unauthenticated_permissions_denied() {
    use livekit_api::access_token::{AccessToken, VideoGrants};
    use prost::Message;
    let (_fake, url) = fake().await;
    let token = AccessToken::with_api_key(KEY, SECRET)
        .with_grants(VideoGrants {
            room_list: true,
            ..Default::default()
        })
        .to_jwt()
        .unwrap();
    let request = proto::CreateSipInboundTrunkRequest {
        trunk: Some(proto::SipInboundTrunkInfo {
            numbers: vec!["+15105550100".into()],
            ..Default::default()
        }),
    };
    let response = reqwest::Client::new()
        .post(format!("{url}/twirp/livekit.SIP/CreateSIPInboundTrunk"))
        .header("content-type", "application/protobuf")
        .bearer_auth(token)
        .body(request.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "unauthenticated");
    assert_eq!(body["msg"], "permissions denied");
}

#[tokio::test]
async fn inbound_trunks_need_a_security_field_and_follow_the_conflict_rules() {
    let (_fake, url) = fake().await;
    let lk = client(&url, SECRET);
    let open = InboundTrunkSpec {
        name: "open".into(),
        ..Default::default()
    };
    let (code, msg) = twirp(lk.create_inbound_trunk(open).await.unwrap_err());
    assert_eq!(code, "invalid_argument");
    assert_eq!(msg, "for security, one of the fields must be set: AuthUsername+AuthPassword, AllowedAddresses or Numbers");

    let first = lk
        .create_inbound_trunk(inbound("a", &["+1 (510) 555-0100"], &[]))
        .await
        .unwrap();
    assert!(first.sip_trunk_id.starts_with("ST_"));
    // Same number, normalised differently, no allowed numbers: conflict.
    let (code, msg) = twirp(
        lk.create_inbound_trunk(inbound("b", &["+15105550100"], &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "invalid_argument");
    assert!(
        msg.starts_with("Conflicting inbound SIP Trunks: \"ST_"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("\"{}\"", first.sip_trunk_id))
            && msg.contains("[+15105550100]")
            && msg.ends_with("without AllowedNumbers set"),
        "{msg}"
    );
    // With allowed numbers it does not conflict with the one without.
    let narrow = lk
        .create_inbound_trunk(inbound("c", &["+15105550100"], &["+14155550123"]))
        .await
        .unwrap();
    // ... but two with the same allowed number do.
    assert!(lk
        .create_inbound_trunk(inbound("d", &["+15105550100"], &["+14155550123"]))
        .await
        .is_err());
    // Two wildcard trunks (no numbers) conflict.
    let wildcard = |name: &str| InboundTrunkSpec {
        name: name.into(),
        allowed_addresses: vec!["10.0.0.1".into()],
        ..Default::default()
    };
    lk.create_inbound_trunk(wildcard("w1")).await.unwrap();
    assert!(lk.create_inbound_trunk(wildcard("w2")).await.is_err());
    // An update is never compared with itself.
    let renamed = lk
        .update_inbound_trunk(
            &narrow.sip_trunk_id,
            proto::SipInboundTrunkUpdate {
                name: Some("narrow".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "narrow");
    assert_eq!(
        lk.get_inbound_trunk(&first.sip_trunk_id)
            .await
            .unwrap()
            .unwrap()
            .name,
        "a"
    );
    assert_eq!(lk.list_inbound_trunks().await.unwrap().len(), 3);
    lk.delete_trunk(&first.sip_trunk_id).await.unwrap();
    lk.delete_trunk("ST_doesnotexist").await.unwrap();
    assert!(lk
        .get_inbound_trunk(&first.sip_trunk_id)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn outbound_trunks_want_a_host_and_numbers() {
    let (fake, url) = fake().await;
    let lk = client(&url, SECRET);
    for address in [
        "sip:dial.pstn.twilio.com",
        "sips:dial.pstn.twilio.com",
        "user@dial.pstn.twilio.com",
        "dial.pstn.twilio.com;transport=tcp",
    ] {
        let mut spec = outbound("+15105550100");
        spec.address = address.into();
        assert_eq!(
            twirp(lk.create_outbound_trunk(spec).await.unwrap_err()).0,
            "invalid_argument",
            "{address}"
        );
    }
    let mut empty = outbound("+15105550100");
    empty.numbers.clear();
    assert_eq!(
        twirp(lk.create_outbound_trunk(empty).await.unwrap_err()).1,
        "no trunk numbers specified"
    );
    let trunk = lk
        .create_outbound_trunk(outbound("+15105550100"))
        .await
        .unwrap();
    assert_eq!(trunk.destination_country, "US");
    // The country goes in the create itself (issue 13), not in an update after it.
    let paths: Vec<String> = fake.faults.requests().into_iter().map(|r| r.path).collect();
    assert!(
        !paths.iter().any(|p| p.ends_with("UpdateSIPOutboundTrunk")),
        "{paths:?}"
    );
    assert_eq!(trunk.transport, proto::SipTransport::Tls as i32);
    // No conflict check for outbound trunks.
    lk.create_outbound_trunk(outbound("+15105550100"))
        .await
        .unwrap();
    let fetched = lk
        .get_outbound_trunk(&trunk.sip_trunk_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fetched.auth_username, "dial");
    let updated = lk
        .update_outbound_trunk(
            &trunk.sip_trunk_id,
            proto::SipOutboundTrunkUpdate {
                address: Some("other.pstn.twilio.com".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.address, "other.pstn.twilio.com");
    assert_eq!(lk.list_outbound_trunks().await.unwrap().len(), 2);
}

#[tokio::test]
async fn dispatch_rules_conflict_per_trunk_number_and_pin() {
    let (_fake, url) = fake().await;
    let lk = client(&url, SECRET);
    let trunk = lk
        .create_inbound_trunk(inbound("t", &["+15105550100"], &[]))
        .await
        .unwrap();
    let rule = lk
        .create_dispatch_rule(
            individual("call-", ""),
            rule_options("first", &[&trunk.sip_trunk_id], "agent-a"),
        )
        .await
        .unwrap();
    assert!(rule.sip_dispatch_rule_id.starts_with("SDR_"));
    let (code, msg) = twirp(
        lk.create_dispatch_rule(
            Rule::DispatchRuleDirect(proto::SipDispatchRuleDirect {
                room_name: "lobby".into(),
                pin: String::new(),
            }),
            rule_options("second", &[&trunk.sip_trunk_id], "agent-b"),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, "invalid_argument");
    assert_eq!(
        msg,
        format!("Dispatch rule for the same trunk, inbound number, number, and PIN combination already exists in dispatch rule \"{}\" \"first\"", rule.sip_dispatch_rule_id)
    );
    // A different PIN is a different key.
    lk.create_dispatch_rule(
        individual("vip-", "1234"),
        rule_options("pin", &[&trunk.sip_trunk_id], "agent-b"),
    )
    .await
    .unwrap();
    // A rule for all trunks does not clash with one for a named trunk.
    lk.create_dispatch_rule(individual("any-", ""), rule_options("all", &[], "agent-c"))
        .await
        .unwrap();
    assert_eq!(lk.list_dispatch_rules().await.unwrap().len(), 3);
    let updated = lk
        .update_dispatch_rule(
            &rule.sip_dispatch_rule_id,
            proto::SipDispatchRuleUpdate {
                name: Some("renamed".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.name, "renamed");
    lk.delete_dispatch_rule(&rule.sip_dispatch_rule_id)
        .await
        .unwrap();
    assert_eq!(
        twirp(
            lk.delete_dispatch_rule(&rule.sip_dispatch_rule_id)
                .await
                .unwrap_err()
        )
        .0,
        "not_found"
    );
}

async fn routed_number(
    fake: &FakeLiveKit,
    lk: &LiveKitClient,
    number: &str,
    rule: Rule,
    agent: &str,
) -> String {
    let trunk = lk
        .create_inbound_trunk(inbound(number, &[number], &[]))
        .await
        .unwrap();
    lk.create_dispatch_rule(rule, rule_options(number, &[&trunk.sip_trunk_id], agent))
        .await
        .unwrap();
    let _ = fake;
    trunk.sip_trunk_id
}

#[tokio::test]
async fn inbound_calls_follow_livekits_matching() {
    let (fake, url) = fake().await;
    let lk = client(&url, SECRET);
    let ip = TWILIO_IP.parse().unwrap();

    // Nothing configured: rejected.
    let none = fake
        .simulate_inbound("+15105550100", "+14155550123", ip, None, None)
        .unwrap_err();
    assert!(matches!(none, InboundRejected::NoTrunk { .. }));

    // Individual: a room per caller with the prefix, the SIP participant, the agent.
    let trunk = routed_number(
        &fake,
        &lk,
        "+15105550100",
        individual("call-", ""),
        "support-agent",
    )
    .await;
    let call = fake
        .simulate_inbound("+1 510 555 0100", "+14155550123", ip, None, Some("CA0123"))
        .unwrap();
    assert!(
        call.room.starts_with("call-_+14155550123_"),
        "{}",
        call.room
    );
    assert_eq!(call.trunk_id, trunk);
    assert_eq!(call.participant_identity, "sip_+14155550123");
    assert_eq!(call.participant_name, "Phone +14155550123");
    assert_eq!(
        call.agents,
        vec![(
            "support-agent".to_string(),
            "{\"assistant\":\"support-agent\"}".to_string()
        )]
    );
    let participants = lk.list_participants(&call.room).await.unwrap();
    assert_eq!(participants.len(), 1);
    let p = &participants[0];
    assert_eq!(p.kind, proto::participant_info::Kind::Sip as i32);
    assert_eq!(p.attributes["sip.callID"], call.call_id);
    assert!(call.call_id.starts_with("SCL_"));
    // livekit/sip `pkg/sip/inbound.go`: the caller hears ringing until the agent publishes
    // audio; only then is the call answered.
    assert_eq!(p.attributes["sip.callStatus"], "ringing");
    assert!(
        fake.agent_answers(&call.room),
        "the ringing call is answered"
    );
    assert!(!fake.agent_answers(&call.room), "only once");
    let participants = lk.list_participants(&call.room).await.unwrap();
    assert_eq!(participants.len(), 2, "the SIP participant and the agent");
    let p = participants
        .iter()
        .find(|p| p.kind == proto::participant_info::Kind::Sip as i32)
        .expect("the SIP participant");
    assert_eq!(p.attributes["sip.callStatus"], "active");
    assert!(participants
        .iter()
        .any(|p| p.kind == proto::participant_info::Kind::Agent as i32 && p.tracks.len() == 1));
    // The numbers as the carrier wrote them (livekit/protocol `rpc/sip.go`), the rule
    // (inbound only), the SIP Call-ID and tag from the INVITE.
    assert_eq!(p.attributes["sip.trunkPhoneNumber"], "+1 510 555 0100");
    assert_eq!(p.attributes["sip.phoneNumber"], "+14155550123");
    assert!(p.attributes.contains_key("sip.ruleID"));
    assert!(
        p.attributes.contains_key("sip.callIDFull") && p.attributes.contains_key("sip.callTag")
    );
    assert_eq!(p.attributes["sip.twilio.callSid"], "CA0123");
    assert_eq!(
        lk.list_dispatches(&call.room).await.unwrap()[0].agent_name,
        "support-agent"
    );

    // From an address the trunk does not allow: rejected.
    let elsewhere = fake
        .simulate_inbound(
            "+15105550100",
            "+14155550123",
            "8.8.8.8".parse().unwrap(),
            None,
            None,
        )
        .unwrap_err();
    assert!(matches!(elsewhere, InboundRejected::NoTrunk { .. }));

    // Direct: everyone into one room.
    routed_number(
        &fake,
        &lk,
        "+15105550101",
        Rule::DispatchRuleDirect(proto::SipDispatchRuleDirect {
            room_name: "lobby".into(),
            pin: String::new(),
        }),
        "front-desk",
    )
    .await;
    assert_eq!(
        fake.simulate_inbound("+15105550101", "+14155550123", ip, None, None)
            .unwrap()
            .room,
        "lobby"
    );
    assert_eq!(
        fake.simulate_inbound("+15105550101", "+14155550999", ip, None, None)
            .unwrap()
            .room,
        "lobby"
    );

    // Callee: a room per called number.
    routed_number(
        &fake,
        &lk,
        "+15105550102",
        Rule::DispatchRuleCallee(proto::SipDispatchRuleCallee {
            room_prefix: "line".into(),
            pin: String::new(),
            randomize: false,
        }),
        "sales",
    )
    .await;
    assert_eq!(
        fake.simulate_inbound("+15105550102", "+14155550123", ip, None, None)
            .unwrap()
            .room,
        "line_+15105550102"
    );

    // With a PIN: the right PIN routes, a wrong or missing one is refused.
    routed_number(
        &fake,
        &lk,
        "+15105550103",
        Rule::DispatchRuleDirect(proto::SipDispatchRuleDirect {
            room_name: "secret".into(),
            pin: "4321".into(),
        }),
        "vip",
    )
    .await;
    assert_eq!(
        fake.simulate_inbound("+15105550103", "+14155550123", ip, Some("4321"), None)
            .unwrap()
            .room,
        "secret"
    );
    assert_eq!(
        fake.simulate_inbound("+15105550103", "+14155550123", ip, Some("0000"), None)
            .unwrap_err(),
        InboundRejected::WrongPin
    );
    assert_eq!(
        fake.simulate_inbound("+15105550103", "+14155550123", ip, None, None)
            .unwrap_err(),
        InboundRejected::WrongPin
    );

    // A trunk without a rule: rejected the way LiveKit does.
    lk.create_inbound_trunk(inbound("bare", &["+15105550104"], &[]))
        .await
        .unwrap();
    assert!(matches!(
        fake.simulate_inbound("+15105550104", "+14155550123", ip, None, None)
            .unwrap_err(),
        InboundRejected::NoRule { .. }
    ));

    // Two trunks that both claim the number (possible only for trunks made before LiveKit
    // checked conflicts): LiveKit cannot choose and refuses the call.
    let legacy = proto::SipInboundTrunkInfo {
        numbers: vec!["+15105550105".into()],
        ..Default::default()
    };
    let a = fake.insert_legacy_inbound_trunk(legacy.clone());
    let b = fake.insert_legacy_inbound_trunk(legacy);
    match fake
        .simulate_inbound("+15105550105", "+14155550123", ip, None, None)
        .unwrap_err()
    {
        InboundRejected::SeveralTrunks { trunks, .. } => {
            assert_eq!(trunks, vec![a.clone(), b.clone()])
        }
        other => panic!("expected several trunks, got {other:?}"),
    }
    // livekit/livekit `pkg/service/sip.go`: a new trunk is validated together with every
    // stored trunk that shares a number, so that old conflicting pair refuses it even
    // though the new trunk (it allows only one caller) clashes with neither.
    let refused = lk
        .create_inbound_trunk(inbound("new", &["+15105550105"], &["+14155550199"]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("invalid_argument"));
    let message = refused.to_string();
    assert!(message.contains(&a) && message.contains(&b), "{message}");
}

/// livekit/protocol `livekit/sip.go` (`ValidateResult`) and `sip/sip.go`
/// (`matchAddrMasks`): a user name alone is credentials enough to create a trunk;
/// allowed addresses are not checked at create, entries that are not masks are skipped
/// when a call arrives, and a list of nothing but such entries lets every address in.
#[tokio::test]
async fn inbound_trunks_are_checked_as_loosely_as_livekit_checks_them() {
    let (_fake, url) = fake().await;
    let lk = client(&url, SECRET);
    let mut user_only = inbound("user-only", &[], &[]);
    user_only.allowed_addresses.clear();
    user_only.auth_username = Some("dial".into());
    lk.create_inbound_trunk(user_only)
        .await
        .expect("a user name alone is accepted");

    let mut nothing = inbound("nothing", &[], &[]);
    nothing.allowed_addresses.clear();
    assert_eq!(
        lk.create_inbound_trunk(nothing).await.unwrap_err().code(),
        Some("invalid_argument")
    );

    // Addresses, on a LiveKit of their own (the user-name trunk above, with no numbers
    // and no addresses, would take any call).
    let (fake, url) = self::fake().await;
    let lk = client(&url, SECRET);
    let mut junk = inbound("junk", &["+15105550110"], &[]);
    junk.allowed_addresses = vec!["10.0.0.0/8, 11.0.0.0/8".into(), "sip://x".into()];
    lk.create_inbound_trunk(junk)
        .await
        .expect("not checked at create");
    let mut mixed = inbound("mixed", &["+15105550111"], &[]);
    mixed.allowed_addresses = vec!["bad mask".into(), "54.172.60.0/30".into()];
    lk.create_inbound_trunk(mixed).await.unwrap();
    let from = |ip: &str| ip.parse::<std::net::IpAddr>().expect("an address");
    let routes = |to: &str, ip: &str| {
        !matches!(
            fake.simulate_inbound(to, "+14155550123", from(ip), None, None),
            Err(InboundRejected::NoTrunk { .. })
        )
    };
    assert!(
        routes("+15105550110", "198.51.100.7"),
        "every address passes a list of junk"
    );
    assert!(routes("+15105550111", "54.172.60.2"));
    assert!(
        !routes("+15105550111", "198.51.100.7"),
        "the valid mask still counts"
    );
}

pub(crate) async fn outbound_setup(fake: &FakeLiveKit, url: &str) -> (LiveKitClient, String) {
    let lk = client(url, SECRET);
    let trunk = lk
        .create_outbound_trunk(outbound("+15105550100"))
        .await
        .unwrap();
    let _ = fake;
    (lk, trunk.sip_trunk_id)
}

pub(crate) fn call(identity: &str, wait: bool) -> CallOptions {
    CallOptions {
        participant_identity: identity.into(),
        wait_until_answered: wait,
        ringing_timeout: Some(Duration::from_millis(300)),
        ..Default::default()
    }
}

#[tokio::test]
async fn outbound_calls_ring_and_end_the_way_the_callee_chose() {
    let (fake, url) = fake().await;
    let (lk, trunk) = outbound_setup(&fake, &url).await;
    fake.set_outcome("+14155550001", CallOutcome::Busy);
    fake.set_outcome("+14155550002", CallOutcome::NoAnswer);
    fake.set_outcome("+14155550003", CallOutcome::Declined);
    fake.set_outcome("+14155550004", CallOutcome::TrunkAuthFailure);

    let mut answered = call("caller-0", true);
    answered.dtmf = Some("1234w#".into());
    answered.display_name = Some("Dial".into());
    answered.play_dialtone = true;
    let info = lk
        .create_sip_participant(&trunk, "+14155550000", "room-0", answered)
        .await
        .unwrap();
    assert!(info.sip_call_id.starts_with("SCL_") && info.participant_id.starts_with("PA_"));
    let p = lk.get_participant("room-0", "caller-0").await.unwrap();
    assert_eq!(p.attributes["sip.callStatus"], "active");
    assert_eq!(p.attributes["sip.phoneNumber"], "+14155550000");
    assert!(p.attributes["sip.twilio.callSid"].starts_with("CA"));
    // Outbound: no rule; the Call-ID and the callee's tag arrive with the answer.
    assert!(!p.attributes.contains_key("sip.ruleID"));
    assert!(
        p.attributes.contains_key("sip.callIDFull") && p.attributes.contains_key("sip.callTag")
    );
    let record = fake
        .calls()
        .into_iter()
        .find(|c| c.identity == "caller-0")
        .unwrap();
    assert_eq!(record.dtmf, "1234w#");
    assert_eq!(record.display_name.as_deref(), Some("Dial"));
    assert!(record.play_dialtone);

    // livekit/protocol `livekit/sip.go` (`sipCodeToGRPCCode`): 486 is resource_exhausted,
    // 603 permission_denied. livekit/sip `pkg/sip/outbound.go`: an unanswered INVITE is
    // cancelled by the ringing timer (`canceled`, "sip request timed out", no SIP
    // status); refused credentials end after 5 attempts as failed_precondition.
    for (number, status, code, message) in [
        (
            "+14155550001",
            Some(486),
            "resource_exhausted",
            "sip status 486: Busy Here",
        ),
        ("+14155550002", None, "canceled", "sip request timed out"),
        (
            "+14155550003",
            Some(603),
            "permission_denied",
            "sip status 603: Decline",
        ),
        (
            "+14155550004",
            None,
            "failed_precondition",
            "max auth retry attempts reached for SIP invite",
        ),
    ] {
        let err = lk
            .create_sip_participant(
                &trunk,
                number,
                &format!("room-{number}"),
                call("caller", true),
            )
            .await
            .unwrap_err();
        assert_eq!(err.sip_status(), status, "{number}: {err:?}");
        assert_eq!(err.code(), Some(code), "{number}");
        if status.is_none() {
            assert!(err.to_string().contains(message), "{number}: {err}");
        }
        assert!(
            lk.list_participants(&format!("room-{number}"))
                .await
                .expect("the room outlives the failed call by its departure timeout")
                .is_empty(),
            "the failed call has left its room"
        );
    }
    tokio::time::sleep(ROOM_SECOND * 20 + Duration::from_millis(100)).await;
    for number in [
        "+14155550001",
        "+14155550002",
        "+14155550003",
        "+14155550004",
    ] {
        assert_eq!(
            lk.list_participants(&format!("room-{number}"))
                .await
                .unwrap_err()
                .code(),
            Some("not_found"),
            "the failed call's room is gone after its departure timeout"
        );
    }

    // Without waiting, the call returns while dialing and moves on by itself.
    lk.create_sip_participant(
        &trunk,
        "+14155550000",
        "room-async",
        call("caller-async", false),
    )
    .await
    .unwrap();
    assert_eq!(
        lk.get_participant("room-async", "caller-async")
            .await
            .unwrap()
            .attributes["sip.callStatus"],
        "dialing"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        lk.get_participant("room-async", "caller-async")
            .await
            .unwrap()
            .attributes["sip.callStatus"],
        "active"
    );

    // Bad input.
    let at = lk
        .create_sip_participant(&trunk, "alice@example.com", "r", call("x", false))
        .await
        .unwrap_err();
    assert_eq!(at.code(), Some("invalid_argument"));
    let mut long = call("x", false);
    long.display_name = Some("x".repeat(129));
    assert_eq!(
        lk.create_sip_participant(&trunk, "+14155550000", "r", long)
            .await
            .unwrap_err()
            .code(),
        Some("invalid_argument")
    );
    let unknown = lk
        .create_sip_participant("ST_nope", "+14155550000", "r", call("x", false))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Some("not_found"));
}

#[tokio::test]
async fn transfers_and_hang_ups() {
    let (fake, url) = fake().await;
    let (lk, trunk) = outbound_setup(&fake, &url).await;
    fake.set_transfer_outcome("tel:+14155559999", TransferOutcome::Fail(486));
    lk.create_sip_participant(&trunk, "+14155550000", "room-t", call("caller-t", true))
        .await
        .unwrap();

    let bad = lk
        .transfer_sip_participant("room-t", "caller-t", "+14155558888", false, None)
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Some("invalid_argument"));
    // The transfer target busy: a refused transfer, with protocol's Twirp code for 486
    // (livekit/protocol livekit/sip.go, sipCodeToGRPCCode) and SIPTransferError's
    // reason; the call stays connected.
    let busy = lk
        .transfer_sip_participant("room-t", "caller-t", "tel:+14155559999", true, None)
        .await
        .unwrap();
    let TransferReport::NotCompleted {
        sip_status,
        code,
        call_ended,
        transfer_id,
        reason,
    } = busy
    else {
        panic!("{busy:?}")
    };
    assert_eq!(sip_status, Some((486, "Busy Here".to_string())));
    assert_eq!(code.as_deref(), Some("resource_exhausted"));
    assert!(!call_ended && transfer_id.is_some_and(|t| t.starts_with("STR_")));
    assert_eq!(
        reason,
        "the carrier or the transfer target refused the transfer"
    );
    assert!(lk.get_participant("room-t", "caller-t").await.is_ok());
    // Accepted: livekit/livekit pkg/service/sip.go answers the bridge's status.
    let done = lk
        .transfer_sip_participant("room-t", "caller-t", "sip:agent@example.com", false, None)
        .await
        .unwrap();
    assert!(
        matches!(&done, TransferReport::Done { status: "successful", transfer_id: Some(t) } if t.starts_with("STR_")),
        "{done:?}"
    );
    assert!(
        lk.get_participant("room-t", "caller-t").await.is_err(),
        "a transferred call leaves LiveKit"
    );
    let record = fake
        .calls()
        .into_iter()
        .find(|c| c.identity == "caller-t")
        .unwrap();
    assert_eq!(
        record.transfers,
        vec![
            "tel:+14155559999".to_string(),
            "sip:agent@example.com".to_string()
        ]
    );
    assert_eq!(record.status, "hangup");

    lk.create_sip_participant(&trunk, "+14155550000", "room-h", call("caller-h", true))
        .await
        .unwrap();
    lk.remove_participant("room-h", "caller-h").await.unwrap();
    assert_eq!(
        fake.calls()
            .into_iter()
            .find(|c| c.identity == "caller-h")
            .unwrap()
            .status,
        "hangup"
    );
    assert_eq!(
        lk.remove_participant("room-h", "caller-h")
            .await
            .unwrap_err()
            .code(),
        Some("not_found")
    );
}

#[tokio::test]
async fn rooms_and_agent_dispatch() {
    let (_fake, url) = fake().await;
    let lk = client(&url, SECRET);
    let room = lk.create_room("demo", "{\"a\":1}").await.unwrap();
    assert!(room.sid.starts_with("RM_"));
    let dispatch = lk
        .dispatch_agent("demo", "support-agent", "{\"x\":1}")
        .await
        .unwrap();
    assert_eq!(dispatch.agent_name, "support-agent");
    assert_eq!(lk.list_dispatches("demo").await.unwrap().len(), 1);
    assert_eq!(lk.list_rooms(vec![]).await.unwrap().len(), 1);
    assert!(lk.list_participants("demo").await.unwrap().is_empty());
    lk.delete_room("demo").await.unwrap();
    assert!(lk.list_rooms(vec![]).await.unwrap().is_empty());
}

/// The webhooks the fake sent about `room`, oldest first: (event, participant identity,
/// disconnect reason).
pub(crate) fn room_events(fake: &FakeLiveKit, room: &str) -> Vec<(String, String, i32)> {
    fake.webhook_events()
        .into_iter()
        .filter(|e| e.room.as_ref().is_some_and(|r| r.name == room))
        .map(|e| {
            let (identity, reason) = e
                .participant
                .map(|p| (p.identity, p.disconnect_reason))
                .unwrap_or_default();
            (e.event, identity, reason)
        })
        .collect()
}

/// Waits (up to 3 s) until `room` is gone from ListRooms; how long that took.
async fn room_closes(lk: &LiveKitClient, room: &str) -> Duration {
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        if lk.list_rooms(vec![room.into()]).await.unwrap().is_empty() {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("room {room} never closed");
}

/// livekit/livekit `pkg/rtc/room.go` (`CloseIfEmpty`): a room outlives its last
/// participant by its `departure_timeout` (`pkg/config/config.go`: 20 s; 300 s
/// `empty_timeout`), answering ListParticipants meanwhile; someone joining in that time
/// keeps it; `room_finished` comes when it really closes.
#[tokio::test]
async fn a_room_outlives_its_last_participant_by_its_departure_timeout() {
    let (fake, url) = fake().await;
    let (lk, trunk) = outbound_setup(&fake, &url).await;
    lk.create_sip_participant(&trunk, "+14155550000", "stay", call("c1", true))
        .await
        .unwrap();
    let room = lk.list_rooms(vec!["stay".into()]).await.unwrap().remove(0);
    assert_eq!((room.empty_timeout, room.departure_timeout), (300, 20));
    assert_eq!(room.num_participants, 1);

    fake.hang_up_from_phone("stay", "c1");
    assert!(
        lk.list_participants("stay").await.unwrap().is_empty(),
        "the empty room still answers"
    );
    assert_eq!(
        lk.get_participant("stay", "c1").await.unwrap_err().code(),
        Some("not_found")
    );
    // Another call joins before the departure timeout has passed: the room stays.
    tokio::time::sleep(ROOM_SECOND * 10).await;
    lk.create_sip_participant(&trunk, "+14155550000", "stay", call("c2", true))
        .await
        .unwrap();
    tokio::time::sleep(ROOM_SECOND * 15).await;
    let same = lk.list_rooms(vec!["stay".into()]).await.unwrap();
    assert_eq!(
        same.first().map(|r| r.sid.as_str()),
        Some(room.sid.as_str()),
        "the same room, kept open by its new participant"
    );
    assert!(!room_events(&fake, "stay")
        .iter()
        .any(|(e, _, _)| e == "room_finished"));

    fake.hang_up_from_phone("stay", "c2");
    let took = room_closes(&lk, "stay").await;
    assert!(
        took >= ROOM_SECOND * 19,
        "closed {took:?} after the last participant left"
    );
    assert_eq!(
        lk.list_participants("stay").await.unwrap_err().code(),
        Some("not_found")
    );
    let events: Vec<(String, String)> = room_events(&fake, "stay")
        .into_iter()
        .filter(|(e, _, _)| e != "track_published")
        .map(|(e, who, _)| (e, who))
        .collect();
    let expected: Vec<(String, String)> = [
        ("room_started", ""),
        ("participant_joined", "c1"),
        ("participant_left", "c1"),
        ("participant_joined", "c2"),
        ("participant_left", "c2"),
        ("room_finished", ""),
    ]
    .iter()
    .map(|(e, who)| (e.to_string(), who.to_string()))
    .collect();
    assert_eq!(events, expected);
}

/// livekit/livekit `pkg/rtc/room.go`: a room nobody joined closes its `empty_timeout`
/// after it was made; CreateRoom's timeouts replace the defaults when above zero, on an
/// existing room too (`pkg/service/roomallocator.go`, `CreateRoom`).
#[tokio::test]
async fn a_room_nobody_joins_closes_after_its_empty_timeout() {
    use livekit_api::services::room::{CreateRoomOptions, RoomClient};
    let (fake, url) = fake().await;
    let lk = client(&url, SECRET);
    let rooms = RoomClient::with_api_key(&url, KEY, SECRET);
    let short = rooms
        .create_room(
            "short",
            CreateRoomOptions {
                empty_timeout: 5,
                departure_timeout: 2,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((short.empty_timeout, short.departure_timeout), (5, 2));
    let long = lk.create_room("long", "").await.unwrap();
    assert_eq!((long.empty_timeout, long.departure_timeout), (300, 20));
    let updated = rooms
        .create_room(
            "long",
            CreateRoomOptions {
                departure_timeout: 7,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        updated.sid, long.sid,
        "CreateRoom on an existing room updates it"
    );
    assert_eq!((updated.empty_timeout, updated.departure_timeout), (300, 7));

    let took = room_closes(&lk, "short").await;
    assert!(took >= ROOM_SECOND * 3, "closed after {took:?}");
    assert_eq!(
        room_events(&fake, "short"),
        [
            ("room_started".to_string(), String::new(), 0),
            ("room_finished".to_string(), String::new(), 0)
        ]
    );
    assert_eq!(
        lk.list_rooms(vec!["long".into()]).await.unwrap().len(),
        1,
        "a room with the default 300 s is still there"
    );
}

/// Agents do not keep a room open nor count in `num_participants` (livekit/livekit
/// `pkg/rtc/participant.go`, `IsDependent`); closing the room removes them with
/// ROOM_CLOSED (`pkg/rtc/room.go`, `Close`). The dispatch rule's room configuration
/// sets the inbound room's timeouts (`pkg/service/utils.go`, `SetRoomConfiguration`).
#[tokio::test]
async fn agents_do_not_keep_a_room_open() {
    let (fake, url) = fake().await;
    let lk = client(&url, SECRET);
    let trunk = lk
        .create_inbound_trunk(inbound("in", &["+15105550100"], &[]))
        .await
        .unwrap();
    let mut options = rule_options("in", &[&trunk.sip_trunk_id], "desk-agent");
    if let Some(config) = options.room_config.as_mut() {
        config.departure_timeout = 5;
    }
    lk.create_dispatch_rule(individual("call-", ""), options)
        .await
        .unwrap();
    let call = fake
        .simulate_inbound(
            "+15105550100",
            "+14155550123",
            TWILIO_IP.parse().unwrap(),
            None,
            None,
        )
        .unwrap();
    assert!(fake.agent_answers(&call.room));
    let room = lk
        .list_rooms(vec![call.room.clone()])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(room.departure_timeout, 5, "the rule's room configuration");
    assert_eq!(
        room.num_participants, 1,
        "the caller; the agent does not count"
    );
    assert_eq!(lk.list_participants(&call.room).await.unwrap().len(), 2);

    fake.hang_up_from_phone(&call.room, &call.participant_identity);
    assert_eq!(
        lk.list_participants(&call.room).await.unwrap().len(),
        1,
        "the agent is still there"
    );
    let took = room_closes(&lk, &call.room).await;
    assert!(took >= ROOM_SECOND * 4, "closed after {took:?}");
    let closing: Vec<(String, i32)> = room_events(&fake, &call.room)
        .into_iter()
        .filter(|(e, _, _)| e == "participant_left" || e == "room_finished")
        .map(|(e, _, reason)| (e, reason))
        .collect();
    assert_eq!(
        closing,
        [
            (
                "participant_left".to_string(),
                proto::DisconnectReason::ClientInitiated as i32
            ),
            (
                "participant_left".to_string(),
                proto::DisconnectReason::RoomClosed as i32
            ),
            ("room_finished".to_string(), 0),
        ],
        "the caller hangs up; the room closes and removes its agent"
    );
}

/// livekit/livekit `pkg/service/sip.go` (`CreateSIPParticipant`) waits 80 s for an answer
/// with `wait_until_answered`, then fails `deadline_exceeded` "request timed out"
/// (livekit/psrpc `errors.go`); the bridge dials under that request's context (livekit/sip
/// `pkg/sip/client.go`), so the unanswered call is cancelled and leaves as
/// USER_UNAVAILABLE. Without waiting the request returns once the participant joined.
#[tokio::test]
async fn create_sip_participant_waits_for_an_answer_as_long_as_livekit_does() {
    let (fake, url) = fake().await;
    fake.set_timing(CallTiming {
        ringing_after: Duration::from_millis(30),
        answer_after: Duration::from_millis(60),
        agent_answers_after: None,
        room_second: ROOM_SECOND,
        // LiveKit's 80 s, scaled down.
        sip_wait_until_answered: Duration::from_millis(200),
    });
    let (lk, trunk) = outbound_setup(&fake, &url).await;
    fake.set_outcome("+14155550009", CallOutcome::NoAnswer);
    let mut long_ring = call("slow", true);
    long_ring.ringing_timeout = Some(Duration::from_secs(5));
    let start = std::time::Instant::now();
    let err = lk
        .create_sip_participant(&trunk, "+14155550009", "room-slow", long_ring)
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert_eq!(err.code(), Some("deadline_exceeded"), "{err:?}");
    assert!(err.to_string().contains("request timed out"), "{err}");
    assert_eq!(err.sip_status(), None);
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(2),
        "the server's wait, not the ringing timeout: {took:?}"
    );
    // The call does not go on: cancelled, left as unanswered, still "ringing".
    assert_eq!(
        lk.get_participant("room-slow", "slow")
            .await
            .unwrap_err()
            .code(),
        Some("not_found")
    );
    let record = fake
        .calls()
        .into_iter()
        .find(|c| c.identity == "slow")
        .unwrap();
    assert!(record.ended);
    assert_eq!(record.status, "ringing");
    assert_eq!(
        room_events(&fake, "room-slow")
            .into_iter()
            .filter(|(e, _, _)| e == "participant_left")
            .map(|(_, _, reason)| reason)
            .collect::<Vec<_>>(),
        [proto::DisconnectReason::UserUnavailable as i32]
    );

    // An answer within the wait: answered.
    lk.create_sip_participant(&trunk, "+14155550000", "room-quick", call("quick", true))
        .await
        .unwrap();
    // Without waiting: the request returns at once and the call rings on past the wait.
    let mut not_waited = call("free", false);
    not_waited.ringing_timeout = Some(Duration::from_secs(5));
    lk.create_sip_participant(&trunk, "+14155550009", "room-free", not_waited)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        lk.get_participant("room-free", "free")
            .await
            .unwrap()
            .attributes["sip.callStatus"],
        "ringing"
    );
}

/// livekit-server may take 30 s to answer CreateSIPParticipant (80 s with
/// `wait_until_answered`: livekit/livekit `pkg/service/sip.go`) and places the call even
/// if its caller has gone; Dial waits that long for a dial, whatever its usual time-out,
/// while other requests keep it.
#[tokio::test]
async fn a_dial_outwaits_livekit_not_dials_usual_time_out() {
    use dial_fakes::faults::Fault;
    let (fake, url) = fake().await;
    let lk = LiveKitClient::new(
        &url,
        KEY,
        &SecretString::from(SECRET.to_string()),
        Duration::from_secs(1),
    );
    let trunk = lk
        .create_outbound_trunk(outbound("+15105550100"))
        .await
        .unwrap();
    assert!(dial_app::server::livekit::dial_timeout(false) > Duration::from_secs(30));
    assert!(dial_app::server::livekit::dial_timeout(true) > Duration::from_secs(80));
    fake.faults.inject(Fault::delay(
        "POST /twirp/livekit.SIP/CreateSIPParticipant",
        1,
        Duration::from_millis(1500),
    ));
    lk.create_sip_participant(
        &trunk.sip_trunk_id,
        "+14155550000",
        "slow-dial",
        call("c", false),
    )
    .await
    .expect("Dial heard LiveKit's answer");
    fake.faults.inject(Fault::delay(
        "POST /twirp/livekit.RoomService/ListRooms",
        1,
        Duration::from_millis(1500),
    ));
    assert!(
        lk.list_rooms(vec![]).await.is_err(),
        "other requests keep the usual time-out"
    );
}

#[tokio::test]
async fn twirp_over_json_answers_with_proto_names() {
    use livekit_api::access_token::{AccessToken, SIPGrants};
    let (_fake, url) = fake().await;
    let token = AccessToken::with_api_key(KEY, SECRET)
        .with_sip_grants(SIPGrants {
            admin: true,
            call: false,
        })
        .to_jwt()
        .unwrap();
    let response = reqwest::Client::new()
        .post(format!("{url}/twirp/livekit.SIP/CreateSIPOutboundTrunk"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"trunk": {"name": "j", "address": "dial.pstn.twilio.com", "numbers": ["+15105550100"], "transport": "SIP_TRANSPORT_TCP"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["sip_trunk_id"].as_str().unwrap().starts_with("ST_"),
        "{body}"
    );
    assert_eq!(body["transport"], "SIP_TRANSPORT_TCP");
    let bad = reqwest::Client::new()
        .post(format!("{url}/twirp/livekit.SIP/CreateSIPOutboundTrunk"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"trunk": {"address": "sip:dial.pstn.twilio.com", "numbers": ["+15105550100"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(body["code"], "invalid_argument");
}

mod webhooks {
    use super::*;
    use axum::{extract::State, http::HeaderMap, routing::post, Router};
    use livekit_api::{access_token::TokenVerifier, webhooks::WebhookReceiver};
    use std::sync::{Arc, Mutex};

    type Seen = Arc<Mutex<Vec<(String, String)>>>;

    async fn receiver() -> (String, Seen) {
        let seen: Seen = Arc::default();
        async fn hook(State(seen): State<Seen>, headers: HeaderMap, body: String) -> &'static str {
            let token = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let receiver = WebhookReceiver::new(TokenVerifier::with_api_key(KEY, SECRET));
            let event = receiver
                .receive(&body, token)
                .expect("a valid LiveKit signature");
            assert_eq!(
                headers.get("content-type").unwrap(),
                "application/webhook+json"
            );
            seen.lock()
                .unwrap()
                .push((event.event.clone(), event.id.clone()));
            "ok"
        }
        let app = Router::new()
            .route("/webhooks/livekit", post(hook))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}/webhooks/livekit"), seen)
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(400)).await;
    }

    #[tokio::test]
    async fn webhooks_are_signed_and_can_be_duplicated_dropped_and_reordered() {
        let (fake, url) = fake().await;
        let (hook, seen) = receiver().await;
        fake.set_webhook_url(Some(hook));
        let (lk, trunk) = outbound_setup(&fake, &url).await;
        lk.create_sip_participant(&trunk, "+14155550000", "w1", call("c1", true))
            .await
            .unwrap();
        lk.remove_participant("w1", "c1").await.unwrap();
        settle().await;
        let events: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|(e, _)| e.clone())
            .collect();
        assert_eq!(
            events,
            [
                "room_started",
                "participant_joined",
                // The SIP participant publishes its audio before the INVITE.
                "track_published",
                "participant_left",
                "room_finished"
            ]
        );

        // Every 2nd event twice, every 3rd dropped.
        seen.lock().unwrap().clear();
        fake.set_webhook_knobs(WebhookKnobs {
            duplicate_every: Some(2),
            drop_every: Some(3),
            ..Default::default()
        });
        lk.create_sip_participant(&trunk, "+14155550000", "w2", call("c2", true))
            .await
            .unwrap();
        lk.remove_participant("w2", "c2").await.unwrap();
        settle().await;
        let got = seen.lock().unwrap().clone();
        let ids: std::collections::HashSet<&String> = got.iter().map(|(_, id)| id).collect();
        assert!(got.len() > ids.len(), "some events arrived twice: {got:?}");
        assert!(ids.len() < 5, "some events were dropped: {got:?}");

        // Held, then released in reverse.
        seen.lock().unwrap().clear();
        fake.set_webhook_knobs(WebhookKnobs {
            hold: true,
            ..Default::default()
        });
        lk.create_sip_participant(&trunk, "+14155550000", "w3", call("c3", true))
            .await
            .unwrap();
        lk.remove_participant("w3", "c3").await.unwrap();
        settle().await;
        assert!(seen.lock().unwrap().is_empty());
        fake.release_webhooks(Some(vec![4, 3, 2, 1, 0]));
        settle().await;
        let events: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|(e, _)| e.clone())
            .collect();
        assert_eq!(
            events,
            [
                "room_finished",
                "participant_left",
                "track_published",
                "participant_joined",
                "room_started"
            ]
        );
    }
}

#[tokio::test]
async fn faults_can_be_injected_per_route_and_requests_are_logged() {
    use dial_fakes::faults::Fault;
    let (fake, url) = fake().await;
    let lk = client(&url, SECRET);
    fake.faults.inject(Fault::respond(
        "POST /twirp/livekit.SIP/ListSIPInboundTrunk",
        1,
        500,
        serde_json::json!({"code": "internal", "msg": "database is down", "meta": {}}),
    ));
    let (code, msg) = twirp(lk.list_inbound_trunks().await.unwrap_err());
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("internal", "database is down")
    );
    assert!(
        lk.list_inbound_trunks().await.unwrap().is_empty(),
        "only the next call fails"
    );

    // A LiveKit that never answers: the client's time-out.
    let slow = LiveKitClient::new(
        &url,
        KEY,
        &SecretString::from(SECRET.to_string()),
        Duration::from_millis(300),
    );
    fake.faults.inject(Fault::hang(
        "POST /twirp/livekit.SIP/ListSIPDispatchRule",
        1,
    ));
    let err = slow.list_dispatch_rules().await.unwrap_err();
    assert!(
        matches!(err, LiveKitError::Network(ref m) if m.contains("timed out")),
        "{err:?}"
    );

    // Latency on every request.
    fake.faults.set_latency(Some(Duration::from_millis(150)));
    let started = std::time::Instant::now();
    lk.list_outbound_trunks().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    fake.faults.set_latency(None);

    let log: Vec<String> = fake.faults.requests().iter().map(|r| r.line()).collect();
    assert_eq!(
        log,
        [
            "POST /twirp/livekit.SIP/ListSIPInboundTrunk",
            "POST /twirp/livekit.SIP/ListSIPInboundTrunk",
            "POST /twirp/livekit.SIP/ListSIPDispatchRule",
            "POST /twirp/livekit.SIP/ListSIPOutboundTrunk",
        ]
    );
}

/// livekit/protocol `rpc/sip.go` (`NewCreateSIPParticipantRequestResult`): without
/// `sip_number` the caller ID is one of the trunk's numbers at random; with it, that
/// number; a trunk without numbers cannot call.
#[tokio::test]
async fn the_caller_id_is_the_number_asked_for_or_a_random_one_of_the_trunk() {
    let (_fake, url) = fake().await;
    let lk = client(&url, SECRET);
    let mut spec = outbound("+15105550100");
    spec.numbers = vec!["+15105550100".into(), "+15105550101".into()];
    let trunk = lk.create_outbound_trunk(spec).await.unwrap().sip_trunk_id;
    let caller_id = |room: String, identity: String| {
        let lk = &lk;
        async move {
            lk.get_participant(&room, &identity)
                .await
                .unwrap()
                .attributes["sip.trunkPhoneNumber"]
                .clone()
        }
    };
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..24 {
        let (room, identity) = (format!("room-{i}"), format!("caller-{i}"));
        lk.create_sip_participant(&trunk, "+14155550000", &room, call(&identity, false))
            .await
            .unwrap();
        seen.insert(caller_id(room, identity).await);
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["+15105550100", "+15105550101"],
        "both of the trunk's numbers are used when none is named"
    );
    for i in 0..6 {
        let (room, identity) = (format!("named-{i}"), format!("named-caller-{i}"));
        let mut options = call(&identity, false);
        options.sip_number = Some("+15105550101".into());
        lk.create_sip_participant(&trunk, "+14155550000", &room, options)
            .await
            .unwrap();
        assert_eq!(caller_id(room, identity).await, "+15105550101");
    }
}

/// livekit/protocol `rpc/sip.go`: a rule with `hide_phone_number` leaves the caller's
/// number out of every attribute, and the identity is a hash of it.
#[tokio::test]
async fn a_rule_that_hides_the_number_hides_it_everywhere() {
    let (fake, url) = fake().await;
    let lk = client(&url, SECRET);
    let trunk = lk
        .create_inbound_trunk(inbound("hidden", &["+15105550120"], &[]))
        .await
        .unwrap()
        .sip_trunk_id;
    let mut options = rule_options("hidden", &[&trunk], "support-agent");
    options.hide_phone_number = true;
    lk.create_dispatch_rule(individual("call-", ""), options)
        .await
        .unwrap();
    let ip = TWILIO_IP.parse().unwrap();
    let call = fake
        .simulate_inbound("+15105550120", "+14155550123", ip, None, None)
        .unwrap();
    assert!(!call.participant_identity.contains("4155550123"));
    let p = lk
        .get_participant(&call.room, &call.participant_identity)
        .await
        .unwrap();
    for hidden in ["sip.phoneNumber", "sip.trunkPhoneNumber", "sip.hostname"] {
        assert!(!p.attributes.contains_key(hidden), "{hidden}");
    }
    assert!(p.attributes.values().all(|v| !v.contains("4155550123")));
    assert_eq!(p.attributes["sip.callID"], call.call_id);
}

/// livekit/sip `pkg/sip/types.go` (`HeadersToAttrs`) with the trunk's options
/// (livekit/protocol `sip/sip.go`): the INVITE's headers become `sip.h.*` attributes only
/// as the trunk's `include_headers` asks; Twilio's CallSid always has its own attribute
/// (livekit/sip `pkg/sip/participant.go`); `headers_to_attributes` names more.
#[tokio::test]
async fn an_inbound_calls_headers_become_attributes_as_its_trunk_asks() {
    let (fake, url) = fake().await;
    let lk = client(&url, SECRET);
    async fn attributes_for(
        fake: &FakeLiveKit,
        lk: &LiveKitClient,
        number: &str,
        include: proto::SipHeaderOptions,
    ) -> std::collections::HashMap<String, String> {
        let mut to_attributes = std::collections::HashMap::new();
        to_attributes.insert("x-twilio-callsid".to_string(), "twilio_call".to_string());
        let trunk = fake.insert_legacy_inbound_trunk(proto::SipInboundTrunkInfo {
            name: number.into(),
            numbers: vec![number.into()],
            allowed_addresses: vec!["54.172.60.0/30".into()],
            include_headers: include as i32,
            headers_to_attributes: to_attributes,
            ..Default::default()
        });
        lk.create_dispatch_rule(
            individual("call-", ""),
            rule_options(number, &[&trunk], "agent"),
        )
        .await
        .unwrap();
        let ip = TWILIO_IP.parse().unwrap();
        let call = fake
            .simulate_inbound(number, "+14155550123", ip, None, Some("CA0123"))
            .unwrap();
        let participants = lk.list_participants(&call.room).await.unwrap();
        participants[0].attributes.clone()
    }

    let none = attributes_for(
        &fake,
        &lk,
        "+15105550101",
        proto::SipHeaderOptions::SipNoHeaders,
    )
    .await;
    assert!(!none.keys().any(|k| k.starts_with("sip.h.")), "{none:?}");
    assert_eq!(none["sip.twilio.callSid"], "CA0123");
    assert_eq!(
        none["twilio_call"], "CA0123",
        "named by the trunk, any case"
    );

    let x = attributes_for(
        &fake,
        &lk,
        "+15105550102",
        proto::SipHeaderOptions::SipXHeaders,
    )
    .await;
    assert_eq!(x["sip.h.x-twilio-callsid"], "CA0123");
    assert!(!x.contains_key("sip.h.from") && !x.contains_key("sip.h.call-id"));

    let all = attributes_for(
        &fake,
        &lk,
        "+15105550103",
        proto::SipHeaderOptions::SipAllHeaders,
    )
    .await;
    assert_eq!(all["sip.h.x-twilio-callsid"], "CA0123");
    assert_eq!(all["sip.h.call-id"], all["sip.callIDFull"]);
    assert!(all["sip.h.from"].contains("+14155550123"), "{all:?}");
}

/// A REFER refused by the carrier, raw on the wire: livekit/sip `pkg/sip/protocol.go`
/// (`sendRefer`: any answer but 200/202 fails the transfer with its SIP status), the code
/// from livekit/protocol `livekit/sip.go` (`sipCodeToGRPCCode`: 403 → permission_denied)
/// and the metadata `SIPTransferError.TwirpErrorMeta` writes; an accepted one answers
/// `TransferSIPParticipantResponse` (livekit/protocol `protobufs/livekit_sip.proto`).
#[tokio::test]
async fn a_refused_refer_is_a_twirp_error_with_the_sip_status_and_the_call_stays() {
    let (fake, url) = fake().await;
    let (lk, trunk) = outbound_setup(&fake, &url).await;
    fake.set_transfer_outcome("tel:+14155559403", TransferOutcome::Fail(403));
    lk.create_sip_participant(&trunk, "+14155550000", "room-r", call("caller-r", true))
        .await
        .unwrap();
    let token = livekit_api::access_token::AccessToken::with_api_key(KEY, SECRET)
        .with_grants(livekit_api::access_token::VideoGrants {
            room_admin: true,
            room: "room-r".into(),
            ..Default::default()
        })
        .with_sip_grants(livekit_api::access_token::SIPGrants {
            call: true,
            ..Default::default()
        })
        .to_jwt()
        .unwrap();
    let post = |to: &str| {
        reqwest::Client::new()
            .post(format!("{url}/twirp/livekit.SIP/TransferSIPParticipant"))
            .bearer_auth(&token)
            .json(&serde_json::json!({
                "room_name": "room-r", "participant_identity": "caller-r", "transfer_to": to
            }))
            .send()
    };
    let refused = post("tel:+14155559403").await.unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "permission_denied", "{body}");
    assert_eq!(body["meta"]["sip_status_code"], "403");
    assert_eq!(body["meta"]["sip_status"], "Forbidden");
    assert_eq!(body["meta"]["sip_transfer_reason"], "STR_REJECTED");
    assert!(body["meta"]["sip_transfer_id"]
        .as_str()
        .is_some_and(|t| t.starts_with("STR_")));
    assert_eq!(
        body["msg"],
        "sip transfer failed: STR_REJECTED: sip status: 403: Forbidden"
    );
    // The refused REFER left the call connected.
    let p = lk.get_participant("room-r", "caller-r").await.unwrap();
    assert_eq!(p.attributes["sip.callStatus"], "active");

    let accepted = post("sip:desk@pbx.example.com").await.unwrap();
    assert_eq!(accepted.status().as_u16(), 200);
    let body: serde_json::Value = accepted.json().await.unwrap();
    assert_eq!(body["status"], "STS_TRANSFER_SUCCESSFUL", "{body}");
    assert_eq!(body["reason"], "STR_COMPLETED");
    assert!(lk.get_participant("room-r", "caller-r").await.is_err());
}

/// The sandbox's chain: LiveKit's REFER for a call through a Twilio trunk is answered by
/// the Twilio fake by the trunk's TransferMode (`fakes/src/twilio/refer.rs`), outbound
/// (by the trunk's termination address) and inbound (by the called number's trunk).
#[tokio::test]
async fn the_linked_twilio_fake_refuses_refers_its_trunk_does_not_allow() {
    use dial_app::server::twilio::TrunkParams;
    let (twilio, base) = crate::twilio::fake().await;
    let (fake, url) = fake().await;
    dial_fakes::link(&twilio, &fake);
    let tw = crate::twilio::client(&base, crate::twilio::TOKEN);
    // A trunk made without TransferMode: Twilio's default, disable-all.
    let trunk = tw
        .create_trunk(&TrunkParams {
            domain_name: Some("dial-test.pstn.twilio.com".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(trunk.transfer_mode.as_deref(), Some("disable-all"));
    let (lk, out_trunk) = outbound_setup(&fake, &url).await;
    lk.create_sip_participant(&out_trunk, "+14155550000", "room-o", call("caller-o", true))
        .await
        .unwrap();
    let transfer =
        |to: &'static str| lk.transfer_sip_participant("room-o", "caller-o", to, false, None);
    let refused = transfer("tel:+14155550111").await.unwrap();
    assert!(
        matches!(&refused, TransferReport::NotCompleted { sip_status: Some((403, _)), code: Some(c), call_ended: false, .. } if c == "permission_denied"),
        "{refused:?}"
    );
    // sip-only: SIP destinations only.
    tw.update_trunk(
        &trunk.sid,
        &TrunkParams {
            transfer_mode: Some("sip-only".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(matches!(
        transfer("tel:+14155550111").await.unwrap(),
        TransferReport::NotCompleted { .. }
    ));
    assert!(matches!(
        transfer("sip:desk@pbx.example.com").await.unwrap(),
        TransferReport::Done { .. }
    ));

    // Inbound: the called number's trunk decides.
    let number = "+12125550120";
    let sid = twilio.give_number(crate::twilio::SID, number).unwrap();
    tw.attach_number(&trunk.sid, &sid).await.unwrap();
    tw.update_trunk(
        &trunk.sid,
        &TrunkParams {
            transfer_mode: Some("disable-all".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let inbound_trunk = lk
        .create_inbound_trunk(inbound("in", &[number], &[]))
        .await
        .unwrap();
    lk.create_dispatch_rule(
        individual("call-", ""),
        rule_options("r", &[&inbound_trunk.sip_trunk_id], "agent"),
    )
    .await
    .unwrap();
    let routed = fake
        .simulate_inbound(
            number,
            "+14155550999",
            TWILIO_IP.parse().unwrap(),
            None,
            None,
        )
        .unwrap();
    assert!(fake.agent_answers(&routed.room));
    let inbound_refused = lk
        .transfer_sip_participant(
            &routed.room,
            &routed.participant_identity,
            "tel:+14155550111",
            false,
            None,
        )
        .await
        .unwrap();
    assert!(matches!(
        inbound_refused,
        TransferReport::NotCompleted {
            sip_status: Some((403, _)),
            ..
        }
    ));
    tw.update_trunk(
        &trunk.sid,
        &TrunkParams {
            transfer_mode: Some("enable-all".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(matches!(
        lk.transfer_sip_participant(
            &routed.room,
            &routed.participant_identity,
            "tel:+14155550111",
            false,
            None
        )
        .await
        .unwrap(),
        TransferReport::Done { .. }
    ));
}

/// livekit/sip `pkg/sip/outbound.go` (`setExtraAttrs`: the 200 OK's headers through
/// `HeadersToAttrs`) with the options livekit/protocol `rpc/sip.go` gives the call (the
/// trunk's `include_headers`, replaced by the request's when it names one): an answered
/// outbound call carries `sip.h.*` attributes only when asked.
#[tokio::test]
async fn an_answered_outbound_call_carries_its_answers_headers_only_when_asked() {
    use livekit_api::services::sip::{CreateSIPParticipantOptions, SIPClient};
    let (fake, url) = fake().await;
    let (lk, trunk) = outbound_setup(&fake, &url).await;
    let sip = SIPClient::with_api_key(&url, KEY, SECRET);
    let mut attributes = Vec::new();
    for (room, include) in [
        ("headers-none", None),
        ("headers-all", Some(proto::SipHeaderOptions::SipAllHeaders)),
    ] {
        lk.create_room(room, "").await.unwrap();
        sip.create_sip_participant(
            trunk.clone(),
            "+14155550002".into(),
            room.into(),
            CreateSIPParticipantOptions {
                participant_identity: "callee".into(),
                wait_until_answered: Some(true),
                include_headers: include,
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
        let participants = lk.list_participants(room).await.unwrap();
        attributes.push(participants[0].attributes.clone());
    }
    assert!(
        !attributes[0].keys().any(|k| k.starts_with("sip.h.")),
        "{:?}",
        attributes[0]
    );
    let all = &attributes[1];
    assert_eq!(all["sip.h.call-id"], all["sip.callIDFull"]);
    assert!(all["sip.h.to"].contains("+14155550002"), "{all:?}");
    assert!(all["sip.h.to"].ends_with(&format!(";tag={}", all["sip.callTag"])));
}
