//! The WIRE.md vectors for LiveKit webhooks (Twilio's are unit tests next to the code).

use base64::{engine::general_purpose::STANDARD, Engine};
use livekit_api::{
    access_token::{AccessToken, TokenVerifier},
    webhooks::WebhookReceiver,
};
use sha2::{Digest, Sha256};

const BODY: &str = r#"{"event":"participant_joined","room":{"sid":"RM_test","name":"call-1"},"participant":{"sid":"PA_test","identity":"sip_+15105550100","state":"ACTIVE","joinedAt":"1700000000","name":"Phone +15105550100","kind":"SIP","attributes":{"sip.callID":"SCL_test","sip.callStatus":"active","sip.phoneNumber":"+15105550100","sip.trunkID":"ST_test","sip.trunkPhoneNumber":"+15105550123"}},"id":"EV_test","createdAt":"1700000000"}"#;

#[test]
fn the_wire_vector_is_what_the_fake_signs_and_what_dial_checks() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    const VECTOR: &str = "549kReMKUvH4oKpRY493vXHMzf76u4gFTPQ7kbQtlS0=";
    // The fake's webhook token carries the documented body hash in its sha256 claim.
    let token = dial_fakes::livekit::sign_webhook("mykey", "mysecret", BODY.as_bytes());
    let payload = token.split('.').nth(1).expect("a JWT payload");
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).unwrap();
    assert_eq!(claims["sha256"], VECTOR);
    assert_eq!(claims["iss"], "mykey");
    // Dial's receiver accepts exactly that body under that token, and nothing else.
    use dial_app::server::livekit::webhooks::{verify, Refused};
    let event = verify("mykey", "mysecret", Some(&token), BODY.as_bytes()).expect("verified");
    assert_eq!(event.id, "EV_test");
    assert!(matches!(
        verify(
            "mykey",
            "mysecret",
            Some(&token),
            BODY.replace("call-1", "call-2").as_bytes()
        ),
        Err(Refused::WrongHash)
    ));
    assert!(matches!(
        verify("mykey", "othersecret", Some(&token), BODY.as_bytes()),
        Err(Refused::BadToken(_))
    ));
}

#[test]
fn a_webhook_signed_like_the_fake_verifies_and_a_forged_one_does_not() {
    let token = dial_fakes::livekit::sign_webhook("mykey", "mysecret", BODY.as_bytes());
    let receiver = WebhookReceiver::new(TokenVerifier::with_api_key("mykey", "mysecret"));
    let event = receiver.receive(BODY, &token).unwrap();
    assert_eq!(event.event, "participant_joined");
    assert_eq!(
        event.participant.unwrap().attributes["sip.callID"],
        "SCL_test"
    );
    // The body changed after signing.
    assert!(receiver
        .receive(&BODY.replace("call-1", "call-2"), &token)
        .is_err());
    // Signed with another secret.
    let forged = AccessToken::with_api_key("mykey", "othersecret")
        .with_sha256(&STANDARD.encode(Sha256::digest(BODY.as_bytes())))
        .to_jwt()
        .unwrap();
    assert!(receiver.receive(BODY, &forged).is_err());
}
