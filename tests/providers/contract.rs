//! Contract checks: the facts Dial's fakes model, confirmed against the real Twilio and
//! LiveKit. Each check names the upstream fact it confirms. Every check also runs against
//! the fakes in this suite (`the_contract_checks_pass_against_the_fakes`), so a fake that
//! drifts from a check fails there; against the real services each check is an ignored
//! test of its own, run only when asked, never reported as passed otherwise.
//!
//! How to run them against real accounts (from the repository's root):
//!
//! ```text
//! # Twilio: read-only, free (nothing is bought, created or changed).
//! export DIAL_CONTRACT_TWILIO_ACCOUNT_SID=AC…  DIAL_CONTRACT_TWILIO_AUTH_TOKEN=…
//! cargo test -p dial --test providers contract_twilio -- --ignored
//!
//! # LiveKit: read-only (lists, and reads of a participant and room that do not exist).
//! export DIAL_CONTRACT_LIVEKIT_URL=https://<project>.livekit.cloud
//! export DIAL_CONTRACT_LIVEKIT_API_KEY=…  DIAL_CONTRACT_LIVEKIT_API_SECRET=…
//! cargo test -p dial --test providers contract_livekit -- --ignored
//!
//! # LiveKit checks with an effect: they create one empty room named dial-contract-<random>
//! # and delete it (nobody joins; it would close by itself within 5 minutes). A second
//! # opt-in, on top of the LiveKit variables above:
//! DIAL_CONTRACT_LIVEKIT_EFFECTS=1 cargo test -p dial --test providers contract_effects -- --ignored
//!
//! # Every check there is, without running any:
//! cargo test -p dial --test providers -- --ignored --list
//! ```
//!
//! Optional: `DIAL_CONTRACT_TWILIO_API_BASE` and `DIAL_CONTRACT_TWILIO_TRUNKING_BASE` point
//! the Twilio checks at another base (a regional one, a recording proxy). `scripts/test`
//! runs the `contract_twilio` and `contract_livekit` checks (never `contract_effects`)
//! when `DIAL_CONTRACT_TWILIO_ACCOUNT_SID` or `DIAL_CONTRACT_LIVEKIT_URL` is set. A check
//! run without its variables fails, naming the one that is missing.
//!
//! The signalling-address check resolves Twilio's edge host names through the machine's
//! DNS; the others speak only to the provider's API.

use dial_app::server::{
    assignment::TWILIO_SIGNALLING_ADDRESSES,
    livekit::{proto, LiveKitClient},
    twilio::{AccountSid, NumberSearch, NumberType, TwilioClient, TwilioError},
};
use livekit_api::services::room::{CreateRoomOptions, RoomClient};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::time::Duration;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set for the contract tests"))
}

// ---------------------------------------------------------------------------------------
// Twilio

/// A Twilio account to check: Dial's client, and the raw JSON of the same API (to see
/// the fields a typed client would drop).
pub struct Twilio {
    pub client: TwilioClient,
    http: reqwest::Client,
    api_base: String,
    trunking_base: String,
    account_sid: String,
    auth_token: SecretString,
}

impl Twilio {
    pub fn new(api_base: &str, trunking_base: &str, account_sid: &str, token: &str) -> Twilio {
        let timeout = Duration::from_secs(15);
        let client = TwilioClient::new(
            reqwest::Client::new(),
            api_base,
            AccountSid::parse(account_sid)
                .expect("the Account SID is AC and 32 hexadecimal digits"),
            SecretString::from(token.to_string()),
            timeout,
        )
        .with_trunking_base(trunking_base);
        Twilio {
            client,
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .expect("an HTTP client"),
            api_base: api_base.trim_end_matches('/').to_string(),
            trunking_base: trunking_base.trim_end_matches('/').to_string(),
            account_sid: account_sid.to_string(),
            auth_token: SecretString::from(token.to_string()),
        }
    }

    fn real() -> Twilio {
        Twilio::new(
            &std::env::var("DIAL_CONTRACT_TWILIO_API_BASE")
                .unwrap_or_else(|_| "https://api.twilio.com".into()),
            &std::env::var("DIAL_CONTRACT_TWILIO_TRUNKING_BASE")
                .unwrap_or_else(|_| "https://trunking.twilio.com".into()),
            &var("DIAL_CONTRACT_TWILIO_ACCOUNT_SID"),
            &var("DIAL_CONTRACT_TWILIO_AUTH_TOKEN"),
        )
    }

    /// `GET {api}/2010-04-01/Accounts/{sid}{rest}`: status and JSON body.
    async fn get_api(&self, rest: &str) -> (u16, Value) {
        let url = format!(
            "{}/2010-04-01/Accounts/{}{rest}",
            self.api_base, self.account_sid
        );
        self.get(&url).await
    }

    /// `GET {trunking}/v1{rest}`: status and JSON body.
    async fn get_trunking(&self, rest: &str) -> (u16, Value) {
        let url = format!("{}/v1{rest}", self.trunking_base);
        self.get(&url).await
    }

    async fn get(&self, url: &str) -> (u16, Value) {
        let response = self
            .http
            .get(url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }
}

/// The items of a list answer under `key`.
fn items<'a>(body: &'a Value, key: &str) -> &'a [Value] {
    body.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("the answer has no {key:?} list: {body}"))
}

/// Every field is present (its value may be null), as the spec lists it.
fn has_fields(item: &Value, fields: &[&str], what: &str) {
    for field in fields {
        assert!(
            item.get(field).is_some(),
            "{what} has no {field:?} field: {item}"
        );
    }
}

fn text<'a>(item: &'a Value, field: &str) -> &'a str {
    item.get(field).and_then(Value::as_str).unwrap_or("")
}

/// The account answers with its SID, and a number search filters by area code
/// (REST 2010-04-01: `GET /Accounts/{Sid}.json`, `AvailablePhoneNumbers/{Country}/Local`,
/// `AreaCode`).
pub async fn twilio_account_and_search(t: &Twilio) {
    let account = t.client.fetch_account().await.expect("account fetch");
    assert_eq!(account.sid, t.client.account_sid());
    let found = t
        .client
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
    t.client
        .list_credential_lists()
        .await
        .expect("credential lists");
}

/// Incoming numbers carry `trunk_sid` and `voice_application_sid` (null when unset), and a
/// number on a trunk has no voice application: "Setting a `trunk_sid` will automatically
/// delete your `voice_application_sid` and vice versa" (twilio-oai
/// `twilio_api_v2010.json`, `api.v2010.account.incoming_phone_number`; the fake follows it
/// in `fakes/src/twilio/numbers.rs`). Returns how many numbers are on a trunk.
pub async fn twilio_incoming_numbers_name_their_trunk_or_application(t: &Twilio) -> usize {
    let (status, body) = t.get_api("/IncomingPhoneNumbers.json?PageSize=50").await;
    assert_eq!(status, 200, "{body}");
    let numbers = items(&body, "incoming_phone_numbers");
    let mut on_trunks = 0;
    for n in numbers {
        has_fields(
            n,
            &[
                "sid",
                "phone_number",
                "friendly_name",
                "trunk_sid",
                "voice_application_sid",
                "voice_url",
                "status_callback",
                "capabilities",
            ],
            "an incoming phone number",
        );
        assert!(text(n, "sid").starts_with("PN"), "{n}");
        assert!(text(n, "phone_number").starts_with('+'), "E.164: {n}");
        if !text(n, "trunk_sid").is_empty() {
            on_trunks += 1;
            assert!(
                text(n, "voice_application_sid").is_empty(),
                "a number on a trunk has no voice application: {n}"
            );
        }
    }
    // Dial's typed client reads the same list.
    t.client
        .list_incoming_numbers()
        .await
        .expect("incoming numbers, typed");
    on_trunks
}

/// Elastic SIP trunks have the fields Dial reads, and their list pages through
/// `meta.next_page_url` (twilio-oai `twilio_trunking_v1.json`, `trunking.v1.trunk`; the
/// paging `TwilioClient::list_all` follows). A trunk's numbers name it as their
/// `trunk_sid` (`trunking.v1.trunk.phone_number`). `transfer_mode` is checked on its own.
pub async fn twilio_trunks_have_the_fields_dial_reads(t: &Twilio) {
    let (status, body) = t.get_trunking("/Trunks?PageSize=50").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.get("meta")
            .is_some_and(|m| m.get("next_page_url").is_some()),
        "the list pages with meta.next_page_url: {body}"
    );
    let trunks = items(&body, "trunks");
    for trunk in trunks {
        has_fields(
            trunk,
            &[
                "sid",
                "friendly_name",
                "domain_name",
                "secure",
                "transfer_caller_id",
                "recording",
                "date_created",
                "url",
            ],
            "a trunk",
        );
        assert!(text(trunk, "sid").starts_with("TK"), "{trunk}");
        assert!(trunk["secure"].is_boolean(), "{trunk}");
    }
    for trunk in trunks.iter().take(3) {
        let sid = text(trunk, "sid");
        let (status, body) = t
            .get_trunking(&format!("/Trunks/{sid}/PhoneNumbers?PageSize=50"))
            .await;
        assert_eq!(status, 200, "{body}");
        for n in items(&body, "phone_numbers") {
            has_fields(n, &["sid", "trunk_sid", "phone_number"], "a trunk's number");
            assert_eq!(text(n, "trunk_sid"), sid, "{n}");
        }
    }
    t.client.list_trunks().await.expect("trunks, typed");
}

/// A resource that does not exist is a 404 with Twilio's code 20404, in both APIs
/// (twilio.com/docs/api/errors/20404; the fake's `fakes/src/twilio/wire.rs`, `not_found`).
pub async fn twilio_missing_resources_are_20404(t: &Twilio) {
    let missing = t
        .client
        .fetch_trunk("TK00000000000000000000000000000000")
        .await
        .unwrap_err();
    assert!(
        matches!(missing, TwilioError::Api(ref e) if e.status == 404 && e.code == Some(20404)),
        "{missing:?}"
    );
    let (status, body) = t
        .get_api("/IncomingPhoneNumbers/PN00000000000000000000000000000000.json")
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        body.get("code").and_then(Value::as_i64),
        Some(20404),
        "{body}"
    );
}

/// Twilio's edges send SIP from the addresses Dial allows on a Twilio number's LiveKit
/// inbound trunk (`TWILIO_SIGNALLING_ADDRESSES`, from twilio.com/docs/sip-trunking/
/// ip-addresses): each edge's SIP host `pstn.<edge>.twilio.com` resolves to "the same IPs
/// as the personal localized SIP Trunk domain name" (twilio.com/docs/sip-trunking/
/// sending-sip-to-twilio-best-practices), and every one of them is in the list. A failure
/// names the address Twilio added: set `DIAL_TWILIO_SIGNALLING_ADDRESSES` and update the
/// list.
async fn twilio_edges_signal_from_the_listed_addresses() {
    let allowed: Vec<ipnet::IpNet> = TWILIO_SIGNALLING_ADDRESSES
        .iter()
        .map(|a| a.parse().expect("a CIDR"))
        .collect();
    for edge in [
        "ashburn",
        "umatilla",
        "dublin",
        "frankfurt",
        "tokyo",
        "singapore",
        "sydney",
        "sao-paulo",
    ] {
        let host = format!("pstn.{edge}.twilio.com");
        let addresses: Vec<std::net::IpAddr> = tokio::net::lookup_host((host.as_str(), 5060))
            .await
            .unwrap_or_else(|e| panic!("{host} does not resolve: {e}"))
            .map(|a| a.ip())
            .collect();
        assert!(!addresses.is_empty(), "{host} has no address");
        for ip in addresses {
            assert!(
                allowed.iter().any(|net| net.contains(&ip)),
                "{host} resolves to {ip}, which TWILIO_SIGNALLING_ADDRESSES lacks"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// LiveKit

fn real_livekit() -> (LiveKitClient, RoomClient) {
    let (url, key, secret) = (
        var("DIAL_CONTRACT_LIVEKIT_URL"),
        var("DIAL_CONTRACT_LIVEKIT_API_KEY"),
        var("DIAL_CONTRACT_LIVEKIT_API_SECRET"),
    );
    (
        LiveKitClient::new(
            &url,
            &key,
            &SecretString::from(secret.clone()),
            Duration::from_secs(15),
        ),
        RoomClient::with_api_key(&url, &key, &secret),
    )
}

/// ListSIPInboundTrunk, ListSIPOutboundTrunk and ListSIPDispatchRule answer, with IDs in
/// LiveKit's formats (livekit/protocol `utils/guid/id.go`: `ST_` trunks, `SDR_` rules) and
/// every rule naming how it makes rooms (`livekit_sip.proto`, `SIPDispatchRule.rule`).
pub async fn livekit_sip_lists_answer_with_livekit_ids(lk: &LiveKitClient) {
    for trunk in lk.list_inbound_trunks().await.expect("inbound trunks") {
        assert!(trunk.sip_trunk_id.starts_with("ST_"), "{trunk:?}");
    }
    for trunk in lk.list_outbound_trunks().await.expect("outbound trunks") {
        assert!(trunk.sip_trunk_id.starts_with("ST_"), "{trunk:?}");
    }
    for rule in lk.list_dispatch_rules().await.expect("dispatch rules") {
        assert!(rule.sip_dispatch_rule_id.starts_with("SDR_"), "{rule:?}");
        assert!(
            rule.rule.as_ref().is_some_and(|r| r.rule.is_some()),
            "{rule:?}"
        );
    }
}

/// Every room reports its `empty_timeout` and `departure_timeout`: a room made without
/// them takes the server's (livekit/livekit `pkg/rtc/room.go`, `NewRoom`; defaults in
/// `pkg/config/config.go`), never 0 (livekit/protocol `livekit_models.proto`, `Room`).
pub async fn livekit_rooms_report_their_timeouts(lk: &LiveKitClient) {
    for room in lk.list_rooms(vec![]).await.expect("rooms") {
        assert!(room.sid.starts_with("RM_"), "{room:?}");
        assert!(
            room.empty_timeout > 0 && room.departure_timeout > 0,
            "{room:?}"
        );
    }
}

/// What is missing is `not_found`: a dispatch rule (livekit/livekit `pkg/service/sip.go`),
/// a participant (`pkg/service/errors.go`, `ErrParticipantNotFound`). ListParticipants on
/// a room that does not exist answers an empty list (`pkg/service/localstore.go`,
/// `redisstore.go`) or `not_found` (the fake): Dial's reconcile takes both as "gone".
pub async fn livekit_missing_things_are_not_found(lk: &LiveKitClient) {
    let missing = lk
        .delete_dispatch_rule("SDR_doesnotexist")
        .await
        .unwrap_err();
    assert!(missing.is_not_found(), "{missing:?}");
    let nowhere = format!("dial-contract-absent-{}", uuid::Uuid::new_v4().simple());
    let nobody = lk.get_participant(&nowhere, "nobody").await.unwrap_err();
    assert!(nobody.is_not_found(), "{nobody:?}");
    match lk.list_participants(&nowhere).await {
        Ok(list) => assert!(list.is_empty(), "{list:?}"),
        Err(e) => assert!(e.is_not_found(), "{e:?}"),
    }
}

/// EFFECT: creates and deletes one empty room. CreateRoom without timeouts gives the
/// server's defaults, 300 s empty and 20 s departure (livekit/livekit `pkg/config/config.go`,
/// what the fake gives: `DEFAULT_EMPTY_TIMEOUT_SECS`, `DEFAULT_DEPARTURE_TIMEOUT_SECS`);
/// CreateRoom on the existing room replaces a timeout above zero and keeps the room
/// (`pkg/service/roomallocator.go`, `CreateRoom`); the empty room answers
/// ListParticipants with nobody while it lives.
pub async fn livekit_rooms_take_the_servers_default_timeouts(rooms: &RoomClient) {
    let name = format!("dial-contract-{}", uuid::Uuid::new_v4().simple());
    let room = rooms
        .create_room(&name, CreateRoomOptions::default())
        .await
        .expect("CreateRoom");
    // What is wrong, gathered so that the room is deleted whatever the checks find.
    let mut wrong = Vec::new();
    let defaults = (
        dial_fakes::livekit::DEFAULT_EMPTY_TIMEOUT_SECS,
        dial_fakes::livekit::DEFAULT_DEPARTURE_TIMEOUT_SECS,
    );
    if (room.empty_timeout, room.departure_timeout) != defaults {
        wrong.push(format!(
            "the default timeouts are {}/{} s, the fake's {}/{} s",
            room.empty_timeout, room.departure_timeout, defaults.0, defaults.1
        ));
    }
    let options = CreateRoomOptions {
        departure_timeout: 7,
        ..Default::default()
    };
    match rooms.create_room(&name, options).await {
        Ok(again) if again.sid == room.sid && again.departure_timeout == 7 => {}
        Ok(again) => wrong.push(format!(
            "CreateRoom on the room did not keep it and set its timeout: {again:?}"
        )),
        Err(e) => wrong.push(format!("CreateRoom again: {e}")),
    }
    match rooms.list_participants(&name).await {
        Ok(list) if list.is_empty() => {}
        other => wrong.push(format!("ListParticipants on the empty room: {other:?}")),
    }
    rooms.delete_room(&name).await.expect("DeleteRoom");
    assert!(wrong.is_empty(), "{wrong:#?}");
}

// ---------------------------------------------------------------------------------------
// Against the fakes (always), with something in them so no check passes for want of data.

#[tokio::test]
async fn the_contract_checks_pass_against_the_fakes() {
    let (_fake, base) = crate::twilio::fake().await;
    let t = Twilio::new(&base, &base, crate::twilio::SID, crate::twilio::TOKEN);
    // A number on a trunk, one with a voice URL, and the trunk.
    let found = t
        .client
        .search_available("US", NumberType::Local, &NumberSearch::default())
        .await
        .expect("search");
    let mut bought = Vec::new();
    for n in found.iter().take(2) {
        bought.push(
            t.client
                .buy_number(&dial_app::server::twilio::BuyNumber {
                    phone_number: Some(n.phone_number.clone()),
                    voice_url: Some("https://example.com/voice".into()),
                    ..Default::default()
                })
                .await
                .expect("buy"),
        );
    }
    let trunk = t
        .client
        .create_trunk(&dial_app::server::twilio::TrunkParams {
            friendly_name: Some("contract".into()),
            ..Default::default()
        })
        .await
        .expect("trunk");
    t.client
        .attach_number(&trunk.sid, &bought[0].sid)
        .await
        .expect("attach");
    twilio_account_and_search(&t).await;
    assert_eq!(
        twilio_incoming_numbers_name_their_trunk_or_application(&t).await,
        1
    );
    twilio_trunks_have_the_fields_dial_reads(&t).await;
    twilio_missing_resources_are_20404(&t).await;

    let (lk_fake, url) = crate::livekit::fake().await;
    let lk = crate::livekit::client(&url, crate::livekit::SECRET);
    let rooms = RoomClient::with_api_key(&url, crate::livekit::KEY, crate::livekit::SECRET);
    let inbound = lk
        .create_inbound_trunk(dial_app::server::livekit::InboundTrunkSpec {
            name: "contract".into(),
            numbers: vec!["+15105550100".into()],
            allowed_addresses: vec!["54.172.60.0/30".into()],
            ..Default::default()
        })
        .await
        .expect("inbound trunk");
    lk.create_dispatch_rule(
        proto::sip_dispatch_rule::Rule::DispatchRuleIndividual(proto::SipDispatchRuleIndividual {
            room_prefix: "call-".into(),
            ..Default::default()
        }),
        livekit_api::services::sip::CreateSIPDispatchRuleOptions {
            name: "contract".into(),
            trunk_ids: vec![inbound.sip_trunk_id],
            ..Default::default()
        },
    )
    .await
    .expect("rule");
    lk.create_room("contract-room", "").await.expect("room");
    livekit_sip_lists_answer_with_livekit_ids(&lk).await;
    livekit_rooms_report_their_timeouts(&lk).await;
    livekit_missing_things_are_not_found(&lk).await;
    livekit_rooms_take_the_servers_default_timeouts(&rooms).await;
    assert_eq!(lk_fake.rooms(), ["contract-room".to_string()]);
}

// ---------------------------------------------------------------------------------------
// Against the real services: one ignored test per fact.

#[tokio::test]
#[ignore = "contract: real Twilio; needs DIAL_CONTRACT_TWILIO_ACCOUNT_SID and DIAL_CONTRACT_TWILIO_AUTH_TOKEN (see the file's top comment)"]
async fn contract_twilio_account_and_number_search() {
    twilio_account_and_search(&Twilio::real()).await;
}

#[tokio::test]
#[ignore = "contract: real Twilio; needs DIAL_CONTRACT_TWILIO_ACCOUNT_SID and DIAL_CONTRACT_TWILIO_AUTH_TOKEN (see the file's top comment)"]
async fn contract_twilio_incoming_numbers_name_their_trunk_or_application() {
    let on_trunks = twilio_incoming_numbers_name_their_trunk_or_application(&Twilio::real()).await;
    println!("{on_trunks} number(s) on a trunk checked for a cleared voice application");
}

#[tokio::test]
#[ignore = "contract: real Twilio; needs DIAL_CONTRACT_TWILIO_ACCOUNT_SID and DIAL_CONTRACT_TWILIO_AUTH_TOKEN (see the file's top comment)"]
async fn contract_twilio_trunks_have_the_fields_dial_reads() {
    twilio_trunks_have_the_fields_dial_reads(&Twilio::real()).await;
}

#[tokio::test]
#[ignore = "contract: real Twilio; needs DIAL_CONTRACT_TWILIO_ACCOUNT_SID and DIAL_CONTRACT_TWILIO_AUTH_TOKEN (see the file's top comment)"]
async fn contract_twilio_missing_resources_are_20404() {
    twilio_missing_resources_are_20404(&Twilio::real()).await;
}

#[tokio::test]
#[ignore = "contract: real Twilio (DNS of its edges); runs with the other Twilio checks (see the file's top comment)"]
async fn contract_twilio_edges_signal_from_the_listed_addresses() {
    twilio_edges_signal_from_the_listed_addresses().await;
}

#[tokio::test]
#[ignore = "contract: real LiveKit; needs DIAL_CONTRACT_LIVEKIT_URL, _API_KEY and _API_SECRET (see the file's top comment)"]
async fn contract_livekit_sip_lists_answer_with_livekit_ids() {
    livekit_sip_lists_answer_with_livekit_ids(&real_livekit().0).await;
}

#[tokio::test]
#[ignore = "contract: real LiveKit; needs DIAL_CONTRACT_LIVEKIT_URL, _API_KEY and _API_SECRET (see the file's top comment)"]
async fn contract_livekit_rooms_report_their_timeouts() {
    livekit_rooms_report_their_timeouts(&real_livekit().0).await;
}

#[tokio::test]
#[ignore = "contract: real LiveKit; needs DIAL_CONTRACT_LIVEKIT_URL, _API_KEY and _API_SECRET (see the file's top comment)"]
async fn contract_livekit_missing_things_are_not_found() {
    livekit_missing_things_are_not_found(&real_livekit().0).await;
}

#[tokio::test]
#[ignore = "contract with an EFFECT: creates and deletes one empty LiveKit room; needs the LiveKit variables and DIAL_CONTRACT_LIVEKIT_EFFECTS=1"]
async fn contract_effects_livekit_rooms_take_the_servers_default_timeouts() {
    assert_eq!(
        std::env::var("DIAL_CONTRACT_LIVEKIT_EFFECTS").as_deref(),
        Ok("1"),
        "this check creates and deletes a room: set DIAL_CONTRACT_LIVEKIT_EFFECTS=1 to allow it"
    );
    livekit_rooms_take_the_servers_default_timeouts(&real_livekit().1).await;
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
