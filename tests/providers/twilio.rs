use dial_app::server::twilio::{
    AccountSid, BuyNumber, NewOriginationUrl, NumberSearch, NumberType, RetryPolicy, TrunkParams,
    TwilioClient, TwilioError, UpdateNumber,
};
use dial_fakes::{faults::Fault, twilio::FakeTwilio};
use secrecy::SecretString;
use serde_json::json;
use std::{net::SocketAddr, time::Duration};

pub const SID: &str = "AC00000000000000000000000000000001";
pub const TOKEN: &str = "00000000000000000000000000000001";
const OTHER_SID: &str = "AC00000000000000000000000000000002";

pub async fn fake() -> (FakeTwilio, String) {
    let fake = FakeTwilio::new();
    fake.add_account(SID, TOKEN, "Test account");
    fake.add_account(
        OTHER_SID,
        "00000000000000000000000000000002",
        "Other account",
    );
    let addr = fake
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    (fake, format!("http://{addr}"))
}

pub fn client(base: &str, token: &str) -> TwilioClient {
    TwilioClient::new(
        reqwest::Client::new(),
        base,
        AccountSid::parse(SID).expect("the test SID is valid"),
        SecretString::from(token.to_string()),
        Duration::from_secs(5),
    )
    .with_trunking_base(base)
    .with_retry(RetryPolicy {
        max_retries: 2,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    })
}

fn api_error(e: TwilioError) -> (u16, i64, String) {
    match e {
        TwilioError::Api(api) => (api.status, api.code.unwrap_or(0), api.message),
        other => panic!("expected Twilio's error body, got {other:?}"),
    }
}

#[tokio::test]
async fn wrong_credentials_get_twilios_20003() {
    let (_fake, base) = fake().await;
    let err = client(&base, "ffffffffffffffffffffffffffffffff")
        .fetch_account()
        .await
        .unwrap_err();
    assert_eq!(api_error(err), (401, 20003, "Authenticate".to_string()));
    let account = client(&base, TOKEN).fetch_account().await.unwrap();
    assert_eq!(account.sid, SID);
    assert_eq!(account.status, "active");
}

#[tokio::test]
async fn search_honours_country_type_area_code_contains_and_capabilities() {
    let (_fake, base) = fake().await;
    let c = client(&base, TOKEN);
    let sf = c
        .search_available(
            "us",
            NumberType::Local,
            &NumberSearch {
                area_code: Some(415),
                page_size: Some(5),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(sf.len(), 5);
    assert!(sf
        .iter()
        .all(|n| n.phone_number.starts_with("+1415") && n.iso_country == "US"));
    assert_eq!(sf[0].locality.as_deref(), Some("San Francisco"));
    assert!(sf[0].capabilities.voice && sf[0].capabilities.sms);

    let contains = c
        .search_available(
            "US",
            NumberType::Local,
            &NumberSearch {
                contains: Some("2125550107".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        contains
            .iter()
            .map(|n| n.phone_number.as_str())
            .collect::<Vec<_>>(),
        ["+12125550107"]
    );

    let toll_free = c
        .search_available("US", NumberType::TollFree, &NumberSearch::default())
        .await
        .unwrap();
    assert!(!toll_free.is_empty() && toll_free.iter().all(|n| n.phone_number.starts_with("+18")));
    let ca = c
        .search_available(
            "CA",
            NumberType::Local,
            &NumberSearch {
                area_code: Some(416),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!ca.is_empty() && ca.iter().all(|n| n.iso_country == "CA"));
    let gb_mobile = c
        .search_available("GB", NumberType::Mobile, &NumberSearch::default())
        .await
        .unwrap();
    assert!(
        !gb_mobile.is_empty()
            && gb_mobile
                .iter()
                .all(|n| n.phone_number.starts_with("+447700"))
    );
    // London numbers are voice-only in the inventory: asking for SMS finds none.
    let gb_sms = c
        .search_available(
            "GB",
            NumberType::Local,
            &NumberSearch {
                sms_enabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(gb_sms.is_empty());
    let nothing = c
        .search_available(
            "US",
            NumberType::Local,
            &NumberSearch {
                area_code: Some(999),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(nothing.is_empty());
}

#[tokio::test]
async fn buying_moves_a_number_from_the_inventory_to_the_account() {
    let (fake, base) = fake().await;
    let c = client(&base, TOKEN);
    let bought = c
        .buy_number(&BuyNumber {
            phone_number: Some("+14155550100".into()),
            friendly_name: Some("Front desk".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(bought.sid.starts_with("PN") && bought.sid.len() == 34);
    assert_eq!(bought.friendly_name, "Front desk");
    assert_eq!(bought.account_sid, SID);
    // Gone from the inventory, for everyone.
    let search = c
        .search_available(
            "US",
            NumberType::Local,
            &NumberSearch {
                contains: Some("4155550100".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(search.is_empty());
    let again = c
        .buy_number(&BuyNumber {
            phone_number: Some("+14155550100".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let (status, code, message) = api_error(again);
    assert_eq!((status, code), (400, 21422));
    assert!(message.contains("+14155550100"));

    let by_area = c
        .buy_number(&BuyNumber {
            area_code: Some("212".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(by_area.phone_number.starts_with("+1212"));
    let neither = c.buy_number(&BuyNumber::default()).await.unwrap_err();
    assert!(api_error(neither).2.contains("PhoneNumber"));

    let found = c
        .find_incoming_number("+14155550100")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.sid, bought.sid);
    assert!(c
        .find_incoming_number("+19995550100")
        .await
        .unwrap()
        .is_none());
    let updated = c
        .update_number(
            &bought.sid,
            &UpdateNumber {
                friendly_name: Some("Reception".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.friendly_name, "Reception");

    c.release_number(&bought.sid).await.unwrap();
    assert_eq!(fake.numbers(SID).len(), 1);
    let back = c
        .search_available(
            "US",
            NumberType::Local,
            &NumberSearch {
                contains: Some("4155550100".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(back.len(), 1, "a released number returns to the inventory");
    let gone = c.release_number(&bought.sid).await.unwrap_err();
    assert_eq!(api_error(gone).1, 20404);
}

#[tokio::test]
async fn lists_follow_every_page() {
    let (fake, base) = fake().await;
    for area in ["415", "510", "212", "312"] {
        for i in 0..30 {
            fake.give_number(SID, &format!("+1{area}55501{i:02}"))
                .unwrap();
        }
    }
    let numbers = client(&base, TOKEN).list_incoming_numbers().await.unwrap();
    assert_eq!(numbers.len(), 120);
    let pages = fake
        .requests()
        .iter()
        .filter(|r| r.contains("/IncomingPhoneNumbers.json"))
        .count();
    assert_eq!(pages, 2, "PageSize=100 → two pages");
}

#[tokio::test]
async fn trunks_origination_urls_numbers_and_credentials() {
    let (fake, base) = fake().await;
    let c = client(&base, TOKEN);
    let bad = c
        .create_trunk(&TrunkParams {
            domain_name: Some("dial.example.com".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let (status, code, message) = api_error(bad);
    assert_eq!((status, code), (400, 20001));
    assert!(message.contains("DomainName") && message.contains("pstn.twilio.com"));
    let bad_enum = c
        .create_trunk(&TrunkParams {
            transfer_mode: Some("everything".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(api_error(bad_enum).2.contains("TransferMode"));

    let trunk = c
        .create_trunk(&TrunkParams {
            friendly_name: Some("Dial".into()),
            domain_name: Some("dial-test.pstn.twilio.com".into()),
            transfer_mode: Some("enable-all".into()),
            transfer_caller_id: Some("from-transferor".into()),
        })
        .await
        .unwrap();
    assert!(trunk.sid.starts_with("TK"));
    assert_eq!(trunk.transfer_mode.as_deref(), Some("enable-all"));
    assert_eq!(c.fetch_trunk(&trunk.sid).await.unwrap(), trunk);
    let taken = c
        .create_trunk(&TrunkParams {
            domain_name: Some("dial-test.pstn.twilio.com".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(api_error(taken).0, 409);
    assert_eq!(c.list_trunks().await.unwrap().len(), 1);

    let ou = c
        .create_origination_url(
            &trunk.sid,
            &NewOriginationUrl {
                sip_url: "sip:project.sip.livekit.cloud".into(),
                priority: 1,
                weight: 1,
                enabled: true,
                friendly_name: "LiveKit".into(),
            },
        )
        .await
        .unwrap();
    assert!(ou.sid.starts_with("OU"));
    assert_eq!(
        c.list_origination_urls(&trunk.sid).await.unwrap(),
        vec![ou.clone()]
    );
    let not_sip = c
        .create_origination_url(
            &trunk.sid,
            &NewOriginationUrl {
                sip_url: "project.sip.livekit.cloud".into(),
                priority: 1,
                weight: 1,
                enabled: true,
                friendly_name: "x".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(api_error(not_sip).2.contains("SipUrl"));

    let number = c
        .buy_number(&BuyNumber {
            phone_number: Some("+15105550101".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let attached = c.attach_number(&trunk.sid, &number.sid).await.unwrap();
    assert_eq!(attached.trunk_sid.as_deref(), Some(trunk.sid.as_str()));
    assert_eq!(
        c.find_incoming_number("+15105550101")
            .await
            .unwrap()
            .unwrap()
            .trunk_sid
            .as_deref(),
        Some(trunk.sid.as_str())
    );
    let twice = c.attach_number(&trunk.sid, &number.sid).await.unwrap_err();
    assert_eq!(api_error(twice).0, 409);
    assert_eq!(c.list_trunk_numbers(&trunk.sid).await.unwrap().len(), 1);
    c.detach_number(&trunk.sid, &number.sid).await.unwrap();
    assert!(c.list_trunk_numbers(&trunk.sid).await.unwrap().is_empty());

    let list = c.create_credential_list("Dial termination").await.unwrap();
    assert!(list.sid.starts_with("CL"));
    let weak = c
        .create_credential(
            &list.sid,
            "dial",
            &SecretString::from("password".to_string()),
        )
        .await
        .unwrap_err();
    let (status, code, message) = api_error(weak);
    assert_eq!((status, code), (400, 20001));
    assert!(message.contains("Password"));
    let long = c
        .create_credential(
            &list.sid,
            &"u".repeat(33),
            &SecretString::from("Str0ngPassword".to_string()),
        )
        .await
        .unwrap_err();
    assert!(api_error(long).2.contains("Username"));
    let cred = c
        .create_credential(
            &list.sid,
            "dial",
            &SecretString::from("Str0ngPassword".to_string()),
        )
        .await
        .unwrap();
    assert_eq!(cred.username, "dial");
    assert_eq!(c.list_credentials(&list.sid).await.unwrap().len(), 1);
    let assoc = c
        .associate_credential_list(&trunk.sid, &list.sid)
        .await
        .unwrap();
    assert_eq!(assoc.sid, list.sid);
    assert_eq!(
        c.list_trunk_credential_lists(&trunk.sid)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        !fake
            .recorded()
            .iter()
            .any(|r| r.query.contains("Str0ngPassword")),
        "passwords travel in the body only"
    );

    c.dissociate_credential_list(&trunk.sid, &list.sid)
        .await
        .unwrap();
    c.delete_origination_url(&trunk.sid, &ou.sid).await.unwrap();
    c.delete_trunk(&trunk.sid).await.unwrap();
    let gone = c.fetch_trunk(&trunk.sid).await.unwrap_err();
    assert_eq!(api_error(gone).1, 20404);
    c.delete_credential_list(&list.sid).await.unwrap();
    assert!(c.list_credential_lists().await.unwrap().is_empty());
}

#[tokio::test]
async fn requests_the_spec_rejects_get_400_naming_the_parameter() {
    let (_fake, base) = fake().await;
    let c = client(&base, TOKEN);
    let bad_sid = c.fetch_trunk("TK123").await.unwrap_err();
    let (status, code, message) = api_error(bad_sid);
    assert_eq!((status, code), (400, 20001));
    assert!(
        message.contains("Sid") && message.contains("^TK[0-9a-fA-F]{32}$"),
        "{message}"
    );

    // A missing required parameter, sent by hand (the client always sends them).
    let trunk = c.create_trunk(&TrunkParams::default()).await.unwrap();
    let raw = reqwest::Client::new()
        .post(format!("{base}/v1/Trunks/{}/OriginationUrls", trunk.sid))
        .basic_auth(SID, Some(TOKEN))
        .form(&[
            ("SipUrl", "sip:x.sip.livekit.cloud"),
            ("Priority", "1"),
            ("Enabled", "true"),
            ("FriendlyName", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let body: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(body["code"], 20001);
    assert_eq!(
        body["message"],
        "Missing required parameter Weight in the post body"
    );
    assert_eq!(
        body["more_info"],
        "https://www.twilio.com/docs/errors/20001"
    );
    assert_eq!(body["status"], 400);

    let not_int = reqwest::Client::new()
        .post(format!("{base}/v1/Trunks/{}/OriginationUrls", trunk.sid))
        .basic_auth(SID, Some(TOKEN))
        .form(&[
            ("SipUrl", "sip:x"),
            ("Priority", "high"),
            ("Weight", "1"),
            ("Enabled", "true"),
            ("FriendlyName", "x"),
        ])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = not_int.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("Priority"));

    // Another account's resources are not found, not forbidden.
    let other = reqwest::Client::new()
        .get(format!(
            "{base}/2010-04-01/Accounts/{OTHER_SID}/IncomingPhoneNumbers.json"
        ))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
}

#[tokio::test]
async fn safe_requests_are_retried_with_backoff_and_posts_only_on_429() {
    let (fake, base) = fake().await;
    let c = client(&base, TOKEN);
    let busy = json!({"code": 20429, "message": "Too Many Requests", "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429});
    let down = json!({"code": 20500, "message": "Internal Server Error", "more_info": "https://www.twilio.com/docs/errors/20500", "status": 500});

    fake.inject(Fault::respond(
        "GET /2010-04-01/Accounts",
        1,
        429,
        busy.clone(),
    ));
    c.fetch_account().await.unwrap();
    fake.inject(Fault::respond(
        "GET /2010-04-01/Accounts",
        2,
        500,
        down.clone(),
    ));
    c.fetch_account().await.unwrap();
    let gets = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET /2010-04-01/Accounts"))
        .count();
    assert_eq!(gets, 5, "1 + 1 retry, then 1 + 2 retries");

    fake.inject(Fault::respond(
        "GET /2010-04-01/Accounts",
        3,
        503,
        down.clone(),
    ));
    let exhausted = c.fetch_account().await.unwrap_err();
    assert_eq!(exhausted.status(), Some(503));

    // A POST that failed with a 5xx may have been acted on: no retry.
    let before = fake.requests().len();
    fake.inject(Fault::respond("POST /v1/Trunks", 1, 500, down));
    let err = c.create_trunk(&TrunkParams::default()).await.unwrap_err();
    assert_eq!(err.code(), Some(20500));
    assert_eq!(fake.requests().len() - before, 1);
    // A 429 means Twilio did nothing: the POST is retried.
    fake.inject(Fault::respond("POST /v1/Trunks", 1, 429, busy));
    c.create_trunk(&TrunkParams::default()).await.unwrap();
    assert_eq!(
        c.list_trunks().await.unwrap().len(),
        1,
        "exactly one trunk was created"
    );
}

#[tokio::test]
async fn a_silent_twilio_is_a_time_out() {
    let (fake, base) = fake().await;
    let c = TwilioClient::new(
        reqwest::Client::new(),
        &base,
        AccountSid::parse(SID).expect("the test SID is valid"),
        SecretString::from(TOKEN.to_string()),
        Duration::from_millis(300),
    )
    .with_trunking_base(&base)
    .with_retry(RetryPolicy {
        max_retries: 1,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(10),
    });
    fake.inject(Fault::hang("GET /2010-04-01/Accounts", 2));
    let err = c.fetch_account().await.unwrap_err();
    assert!(matches!(err, TwilioError::Timeout(_)), "{err:?}");
    // A hang followed by a normal answer: the retry succeeds.
    fake.inject(Fault::hang("GET /2010-04-01/Accounts", 1));
    c.fetch_account().await.unwrap();
}

#[tokio::test]
async fn the_fakes_rules_match_twilios_openapi_specs() {
    use dial_fakes::twilio::{Kind, OPERATIONS};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/twilio");
    let load = |name: &str| -> serde_json::Value {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    };
    let api = load("twilio_api_v2010.json");
    let trunking = load("twilio_trunking_v1.json");
    for op in OPERATIONS {
        let spec_path = op
            .path
            .split('/')
            .map(|seg| match seg.find(':') {
                Some(colon) => format!("{}{}", &seg[..colon], &seg[seg.find('}').unwrap()..]),
                None => seg.to_string(),
            })
            .collect::<Vec<_>>()
            .join("/");
        let doc = if op.path.starts_with("/v1") {
            &trunking
        } else {
            &api
        };
        let operation = &doc["paths"][&spec_path][op.method.to_lowercase()];
        assert!(
            operation.is_object(),
            "{} {} is not in the spec",
            op.method,
            spec_path
        );
        // Path SID patterns.
        for seg in op.path.split('/') {
            if let (Some(open), Some(colon)) = (seg.find('{'), seg.find(':')) {
                let name = &seg[open + 1..colon];
                let prefix = &seg[colon + 1..seg.find('}').unwrap()];
                let param = operation["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["name"] == name)
                    .unwrap();
                assert_eq!(
                    param["schema"]["pattern"],
                    format!("^{prefix}[0-9a-fA-F]{{32}}$"),
                    "{spec_path} {name}"
                );
            }
        }
        // Body or query parameters: names, required flags and enums agree.
        let form =
            &operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
        let required: Vec<&str> = form["required"]
            .as_array()
            .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        for name in &required {
            assert!(
                op.params.iter().any(|p| &p.name == name && p.required),
                "{spec_path}: {name} is required by the spec"
            );
        }
        for param in op.params {
            let schema = if op.method == "POST" {
                form["properties"][param.name].clone()
            } else {
                operation["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["name"] == param.name)
                    .map(|p| p["schema"].clone())
                    .unwrap_or_default()
            };
            assert!(
                !schema.is_null(),
                "{} {spec_path}: {} is not in the spec",
                op.method,
                param.name
            );
            assert_eq!(
                param.required,
                required.contains(&param.name),
                "{spec_path}: {} required flag",
                param.name
            );
            let schema = match schema["$ref"].as_str() {
                Some(r) => doc["components"]["schemas"][r.rsplit('/').next().unwrap()].clone(),
                None => schema,
            };
            match param.kind {
                Kind::Enum(values) => {
                    let spec: Vec<&str> = schema["enum"]
                        .as_array()
                        .unwrap_or_else(|| panic!("{spec_path} {} enum", param.name))
                        .iter()
                        .filter_map(|v| v.as_str())
                        .collect();
                    assert_eq!(values, spec.as_slice(), "{spec_path} {}", param.name);
                }
                Kind::Int => assert_eq!(schema["type"], "integer", "{spec_path} {}", param.name),
                Kind::Bool => assert_eq!(schema["type"], "boolean", "{spec_path} {}", param.name),
                Kind::Str => assert!(
                    schema["type"] == "string" || schema["type"].is_null(),
                    "{spec_path} {}",
                    param.name
                ),
            }
        }
    }
}

/// Twilio's errors 21631 (twilio.com/docs/api/errors/21631) and 21649 (changelog
/// 2020-02-12, "Regulated Number Bundle Provisioning Requirement"): most numbers outside
/// the US and Canada are sold only with an `AddressSid` and an approved `BundleSid`.
#[tokio::test]
async fn regulated_numbers_need_an_address_and_a_bundle() {
    let (fake, base) = fake().await;
    let c = client(&base, TOKEN);
    let london = c
        .search_available("gb", NumberType::Local, &NumberSearch::default())
        .await
        .unwrap();
    let number = london[0].phone_number.clone();
    let buy = |extra: Vec<(&'static str, &'static str)>| {
        let (base, number) = (base.clone(), number.clone());
        async move {
            let mut form = vec![("PhoneNumber", number.as_str())];
            form.extend(extra);
            let response = reqwest::Client::new()
                .post(format!(
                    "{base}/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers.json"
                ))
                .basic_auth(SID, Some(TOKEN))
                .form(&form)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, body["code"].as_i64())
        }
    };
    assert_eq!(buy(vec![]).await, (400, Some(21631)));
    let address = ("AddressSid", "AD00000000000000000000000000000001");
    assert_eq!(buy(vec![address]).await, (400, Some(21649)));
    assert!(fake.numbers(SID).is_empty(), "nothing was sold");
    let bundle = ("BundleSid", "BU00000000000000000000000000000001");
    assert_eq!(buy(vec![address, bundle]).await.0, 201);
    // A US number needs neither.
    let us = c
        .search_available("us", NumberType::Local, &NumberSearch::default())
        .await
        .unwrap();
    assert!(c
        .buy_number(&BuyNumber {
            phone_number: Some(us[0].phone_number.clone()),
            ..Default::default()
        })
        .await
        .is_ok());
}
