//! Transfers through a Twilio trunk, end to end against the sandbox's linked fakes: an
//! adopted trunk with Call Transfer off is found by the assignment pre-check, the call
//! page and the API say why a transfer is not tried, an administrator turns transfers
//! on (audited), a REFER Twilio refuses fails with its reason and leaves the call up,
//! and a transfer Twilio allows succeeds.

use crate::{assignment::*, helpers::*};
use dial_app::{
    model::{CallDetail, CreatedKey, StepName},
    server::{
        sandbox::DEFAULT_TWILIO_ACCOUNT_SID as SID,
        twilio::{AccountSid, TrunkParams, TwilioClient},
    },
};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::time::Duration;

/// A client of the sandbox's Twilio, as someone using the Twilio console would change it.
fn console(app: &TestApp) -> TwilioClient {
    let sandbox = app.state.sandbox().expect("sandbox");
    TwilioClient::new(
        reqwest::Client::new(),
        &sandbox.twilio_url,
        AccountSid::parse(SID).unwrap(),
        SecretString::from(sandbox.credentials.twilio_auth_token.clone()),
        Duration::from_secs(5),
    )
    .with_trunking_base(&sandbox.twilio_url)
}

async fn api(app: &TestApp, key: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let request = match body {
        Some(body) => reqwest::Client::new().post(app.url(path)).json(&body),
        None => reqwest::Client::new().get(app.url(path)),
    };
    let response = request.bearer_auth(key).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn call_detail(app: &TestApp, key: &str, id: &str) -> CallDetail {
    let (status, body) = api(app, key, &format!("/api/v1/calls/{id}"), None).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).expect("a call detail")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adopted_trunk_with_transfers_off_is_found_fixed_and_then_transfers() {
    let app = provisioning_app().await;
    let (twilio, livekit) = fakes(&app);
    let console = console(&app);
    // The company's own trunk at the address in the settings, made without
    // TransferMode: Twilio's default, disable-all.
    let trunk = console
        .create_trunk(&TrunkParams {
            friendly_name: Some("Company PBX".into()),
            domain_name: Some("dial-sandbox.pstn.twilio.com".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(trunk.transfer_mode.as_deref(), Some("disable-all"));

    let admin = user_id(&app, ADMIN).await;
    let number = twilio_number(&app, "+14155550133").await;
    let assistant = insert_assistant(&app, &admin, "Sales", "sales-agent", "sales-").await;
    assign(&app, &app.client, &number.id, &assistant)
        .await
        .unwrap();

    // The pre-check reads the trunk and warns in words; the assignment still works.
    let r = routing(&app, &app.client, &number.id).await;
    let run = r.current.clone().expect("a run");
    let precheck = run
        .steps
        .iter()
        .find(|s| s.name == StepName::Precheck)
        .unwrap();
    let detail = precheck.detail.clone().unwrap_or_default();
    assert!(
        detail.contains(&trunk.sid)
            && detail.contains("disable-all")
            && detail.contains("a trunk Dial did not make"),
        "{detail}"
    );
    assert_eq!(r.twilio_trunk_sid.as_deref(), Some(trunk.sid.as_str()));
    let block = r.transfer_block.clone().expect("transfers are off");
    assert_eq!(
        (block.transfer_mode.as_str(), block.can_enable),
        ("disable-all", true)
    );
    // The trunk Dial adopted is left as it was.
    assert_eq!(
        twilio.trunks(SID)[0].transfer_mode,
        "disable-all",
        "the pre-check only reads"
    );

    let key: CreatedKey = app
        .call(&app.client, "api-keys/create", &[("name", "CRM")])
        .await
        .expect("key");
    let key = key.secret;
    let (status, placed) = api(
        &app,
        &key,
        "/api/v1/calls",
        Some(json!({ "number_id": number.id, "to": "+14155550100", "wait_until_answered": true })),
    )
    .await;
    assert_eq!(status, 200, "{placed}");
    let id = placed["id"].as_str().unwrap().to_string();

    // The call says why it cannot be transferred; the API refuses before any REFER.
    let on = call_detail(&app, &key, &id).await;
    let why = on.transfer_block.expect("the call page explains");
    assert!(why.message.contains("disable-all"), "{}", why.message);
    let transfer = |to: &'static str| {
        let (app, key, id) = (&app, key.clone(), id.clone());
        async move {
            api(
                app,
                &key,
                &format!("/api/v1/calls/{id}/transfer"),
                Some(json!({ "to": to })),
            )
            .await
        }
    };
    let (status, body) = transfer("tel:+14155550199").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&trunk.sid) && message.contains("disable-all"),
        "{message}"
    );
    let sent = |livekit: &dial_fakes::livekit::FakeLiveKit| {
        livekit
            .calls()
            .into_iter()
            .find(|c| c.to == "+14155550100")
            .map(|c| c.transfers.len())
            .unwrap_or(0)
    };
    assert_eq!(sent(&livekit), 0, "nothing was sent to LiveKit");

    // Only an administrator may turn transfers on.
    let (owner, _) = app.owner_client().await;
    let refused = app
        .call::<()>(
            &owner,
            "assignment/enable-transfers",
            &[("number_id", &number.id)],
        )
        .await
        .unwrap_err();
    assert_eq!(refused.http_status(), 403, "{refused:?}");
    app.call::<()>(
        &app.client,
        "assignment/enable-transfers",
        &[("number_id", &number.id)],
    )
    .await
    .expect("enabled");
    assert_eq!(twilio.trunks(SID)[0].transfer_mode, "enable-all");
    assert!(app
        .audit_actions()
        .await
        .contains(&"twilio.trunk_transfers_enabled".to_string()));
    assert!(routing(&app, &app.client, &number.id)
        .await
        .transfer_block
        .is_none());
    assert!(call_detail(&app, &key, &id).await.transfer_block.is_none());

    // Someone turns transfers off again in the Twilio console: Dial still thinks they
    // are on, sends the REFER, and Twilio refuses it. The transfer fails with its reason,
    // and the call stays up.
    console
        .update_trunk(
            &trunk.sid,
            &TrunkParams {
                transfer_mode: Some("disable-all".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (status, body) = transfer("tel:+14155550199").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "upstream");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("SIP 403 Forbidden") && message.contains("still connected"),
        "{message}"
    );
    assert_eq!(sent(&livekit), 1);
    let after = call_detail(&app, &key, &id).await;
    assert_eq!(after.call.status, dial_app::model::CallStatus::Answered);
    let failed = after
        .timeline
        .iter()
        .find(|e| e.kind == "transfer.failed")
        .expect("the timeline records the refusal");
    assert_eq!(failed.detail["sip_status"], 403);
    assert_eq!(failed.detail["sip_reason"], "Forbidden");
    assert_eq!(failed.detail["call"], "still connected");
    // The refusal had Dial read the trunk again: the call now explains.
    assert!(after.transfer_block.is_some());

    // Turned on again in the console: Dial reads the trunk before refusing, and the
    // transfer goes through.
    console
        .update_trunk(
            &trunk.sid,
            &TrunkParams {
                transfer_mode: Some("enable-all".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (status, body) = transfer("tel:+14155550199").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true);
    let done = call_detail(&app, &key, &id).await;
    let succeeded = done
        .timeline
        .iter()
        .find(|e| e.kind == "transfer.succeeded")
        .expect("transfer.succeeded");
    assert_eq!(succeeded.detail["transfer_status"], "successful");
}

/// A number on another SIP carrier is not Twilio's: no transfer block whatever is
/// recorded, and Dial does not offer to change a trunk it does not manage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_on_other_carriers_are_not_checked() {
    let app = provisioning_app().await;
    let carrier: String = app
        .call(
            &app.client,
            "carriers/create",
            &[
                ("name", "SignalWire"),
                ("kind", "telnyx"),
                ("sip_address", "dial.sip.signalwire.com"),
                ("transport", "tls"),
                ("auth_username", "dial"),
                ("auth_password", "Carrier-Passw0rd-123"),
                ("destination_country", "us"),
                ("inbound_addresses", "192.0.2.10"),
            ],
        )
        .await
        .expect("carrier");
    let number: String = app
        .call(
            &app.client,
            "carriers/add-number",
            &[("carrier_id", &carrier), ("e164", "+1 646 555 0100")],
        )
        .await
        .expect("number");
    sqlx::query("UPDATE phone_numbers SET twilio_transfer_mode = 'disable-all' WHERE id = $1")
        .bind(&number)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    assert!(
        dial_app::server::assignment::block_for_number(&app.state, &number, true)
            .await
            .unwrap()
            .is_none()
    );
    let refused = app
        .call::<()>(
            &app.client,
            "assignment/enable-transfers",
            &[("number_id", &number)],
        )
        .await
        .unwrap_err();
    assert_eq!(refused.http_status(), 409, "{refused:?}");
}
