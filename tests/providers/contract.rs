//! Contract checks: the same read-only client calls against the real Twilio and LiveKit.
//! They run only when credentials are given (scripts/test passes `--include-ignored`
//! then); otherwise cargo reports them as ignored, never as passed.
//!
//! Twilio: DIAL_CONTRACT_TWILIO_ACCOUNT_SID, DIAL_CONTRACT_TWILIO_AUTH_TOKEN.
//! LiveKit: DIAL_CONTRACT_LIVEKIT_URL, DIAL_CONTRACT_LIVEKIT_API_KEY, DIAL_CONTRACT_LIVEKIT_API_SECRET.
//! Nothing is bought or created: these calls cost nothing.

use dial_app::server::{
    livekit::LiveKitClient,
    twilio::{AccountSid, NumberSearch, NumberType, TwilioClient, TwilioError},
};
use secrecy::SecretString;
use std::time::Duration;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set for the contract tests"))
}

/// The checks, run against the fake in this suite and against Twilio in the contract run.
pub async fn twilio_checks(client: &TwilioClient) {
    let account = client.fetch_account().await.expect("account fetch");
    assert_eq!(account.sid, client.account_sid());
    let found = client
        .search_available(
            "US",
            NumberType::Local,
            &NumberSearch {
                area_code: Some(415),
                page_size: Some(3),
                ..Default::default()
            },
        )
        .await
        .expect("search");
    assert!(found.iter().all(|n| n.phone_number.starts_with("+1415")));
    client
        .list_incoming_numbers()
        .await
        .expect("incoming numbers");
    client.list_trunks().await.expect("trunks");
    client
        .list_credential_lists()
        .await
        .expect("credential lists");
    let missing = client
        .fetch_trunk("TK00000000000000000000000000000000")
        .await
        .unwrap_err();
    assert!(
        matches!(missing, TwilioError::Api(ref e) if e.status == 404 && e.code == Some(20404)),
        "{missing:?}"
    );
}

pub async fn livekit_checks(client: &LiveKitClient) {
    client.list_inbound_trunks().await.expect("inbound trunks");
    client
        .list_outbound_trunks()
        .await
        .expect("outbound trunks");
    client.list_dispatch_rules().await.expect("dispatch rules");
    client.list_rooms(vec![]).await.expect("rooms");
    let missing = client
        .delete_dispatch_rule("SDR_doesnotexist")
        .await
        .unwrap_err();
    assert!(missing.is_not_found(), "{missing:?}");
}

#[tokio::test]
async fn the_contract_checks_pass_against_the_fakes() {
    let (_fake, base) = crate::twilio::fake().await;
    twilio_checks(&crate::twilio::client(&base, crate::twilio::TOKEN)).await;
    let (_lk, url) = crate::livekit::fake().await;
    livekit_checks(&crate::livekit::client(&url, crate::livekit::SECRET)).await;
}

#[tokio::test]
#[ignore = "contract: runs against real Twilio when DIAL_CONTRACT_TWILIO_* are set (scripts/test passes --include-ignored)"]
async fn contract_twilio() {
    let client = TwilioClient::new(
        reqwest::Client::new(),
        &std::env::var("DIAL_CONTRACT_TWILIO_API_BASE")
            .unwrap_or_else(|_| "https://api.twilio.com".into()),
        AccountSid::parse(&var("DIAL_CONTRACT_TWILIO_ACCOUNT_SID"))
            .expect("DIAL_CONTRACT_TWILIO_ACCOUNT_SID is AC and 32 hexadecimal digits"),
        SecretString::from(var("DIAL_CONTRACT_TWILIO_AUTH_TOKEN")),
        Duration::from_secs(15),
    )
    .with_trunking_base(
        &std::env::var("DIAL_CONTRACT_TWILIO_TRUNKING_BASE")
            .unwrap_or_else(|_| "https://trunking.twilio.com".into()),
    );
    twilio_checks(&client).await;
}

#[tokio::test]
#[ignore = "contract: runs against real LiveKit when DIAL_CONTRACT_LIVEKIT_* are set (scripts/test passes --include-ignored)"]
async fn contract_livekit() {
    let client = LiveKitClient::new(
        &var("DIAL_CONTRACT_LIVEKIT_URL"),
        &var("DIAL_CONTRACT_LIVEKIT_API_KEY"),
        &SecretString::from(var("DIAL_CONTRACT_LIVEKIT_API_SECRET")),
        Duration::from_secs(15),
    );
    livekit_checks(&client).await;
}

/// Every trunk of a real account states its Call Transfer setting as one of the values
/// of twilio/twilio-oai `spec/yaml/twilio_trunking_v1.yaml` (`trunk_enum_transfer_setting`),
/// the field Dial's assignment pre-check reads. Read-only.
#[tokio::test]
#[ignore = "contract: runs against real Twilio when DIAL_CONTRACT_TWILIO_* are set (scripts/test passes --include-ignored)"]
async fn contract_twilio_trunk_transfer_mode() {
    let client = TwilioClient::new(
        reqwest::Client::new(),
        &std::env::var("DIAL_CONTRACT_TWILIO_API_BASE")
            .unwrap_or_else(|_| "https://api.twilio.com".into()),
        AccountSid::parse(&var("DIAL_CONTRACT_TWILIO_ACCOUNT_SID"))
            .expect("DIAL_CONTRACT_TWILIO_ACCOUNT_SID is AC and 32 hexadecimal digits"),
        SecretString::from(var("DIAL_CONTRACT_TWILIO_AUTH_TOKEN")),
        Duration::from_secs(15),
    )
    .with_trunking_base(
        &std::env::var("DIAL_CONTRACT_TWILIO_TRUNKING_BASE")
            .unwrap_or_else(|_| "https://trunking.twilio.com".into()),
    );
    for trunk in client.list_trunks().await.expect("trunks") {
        let mode = trunk.transfer_mode.as_deref().unwrap_or_default();
        assert!(
            dial_app::server::assignment::TransferMode::parse(mode).is_some(),
            "trunk {} has TransferMode {mode:?}",
            trunk.sid
        );
    }
}
