//! Twilio's webhooks against the sandbox app: signatures checked against the public URL,
//! status callbacks recorded once (and linked to LiveKit's call session by CallSid), the
//! voice answer for numbers off the trunk, and numbers bought or imported getting Dial's
//! status callback URL.

use crate::assignment::{fakes, insert_assistant, provisioning_app, twilio_number, user_id};
use crate::helpers::*;
use dial_app::{
    model::{AvailableNumbers, AvailableRow, NumberRow},
    server::{
        sandbox::{DEFAULT_TWILIO_ACCOUNT_SID as SID, DEFAULT_TWILIO_AUTH_TOKEN as TOKEN},
        twilio,
    },
};
use reqwest::{header, StatusCode};

const CALL_SID: &str = "CA0123456789abcdef0123456789abcdef";
const OTHER_CALL_SID: &str = "CAfedcba9876543210fedcba9876543210";
const CALLER: &str = "+15105550100";
const STATUS: &str = "/webhooks/twilio/status";
const VOICE: &str = "/webhooks/twilio/voice";

type Event = (String, Option<String>, String, String, String, i64);

async fn public_url(app: &TestApp) -> String {
    twilio::settings::load(&app.state)
        .await
        .expect("settings")
        .public_url
        .expect("sandbox seeds a public URL")
        .0
}

fn pairs(params: &[(&str, &str)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Posts a form to `path` the way Twilio does, with `signature` (if any) in the header.
async fn post(
    app: &TestApp,
    path: &str,
    params: &[(String, String)],
    signature: Option<&str>,
) -> (StatusCode, Option<String>, String) {
    let mut request = reqwest::Client::new()
        .post(app.url(path))
        .header("User-Agent", "TwilioProxy/1.1")
        .form(params);
    if let Some(signature) = signature {
        request = request.header("X-Twilio-Signature", signature);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (
        status,
        content_type,
        response.text().await.unwrap_or_default(),
    )
}

/// Posts `params` to `path`, signed as Twilio signs a request for the public URL.
pub async fn post_signed(
    app: &TestApp,
    path: &str,
    params: &[(&str, &str)],
) -> (StatusCode, Option<String>, String) {
    let params = pairs(params);
    let url = format!("{}{path}", public_url(app).await);
    let signature = twilio::signature::sign(TOKEN, &url, &params);
    post(app, path, &params, Some(&signature)).await
}

pub fn status_params<'a>(
    call_sid: &'a str,
    status: &'a str,
    sequence: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AccountSid", SID),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", call_sid),
        ("CallStatus", status),
        ("CallbackSource", "call-progress-events"),
        ("Direction", "inbound"),
        ("From", CALLER),
        ("To", "+14155550100"),
        ("SequenceNumber", sequence),
        ("Timestamp", "Tue, 04 Mar 2025 10:00:00 +0000"),
        ("CallDuration", "42"),
        ("SipResponseCode", "200"),
    ]
}

fn voice_call<'a>(sid: &'a str, to: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AccountSid", SID),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", sid),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("From", CALLER),
        ("To", to),
    ]
}

async fn events(app: &TestApp) -> Vec<Event> {
    sqlx::query_as(
        "SELECT id, call_id, source, kind, detail, occurred_at FROM call_events ORDER BY id",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .expect("events")
}

/// A call session as LiveKit's webhooks would have created it.
async fn insert_session(app: &TestApp, twilio_call_sid: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let now = dial_app::server::now();
    sqlx::query(
        "INSERT INTO call_sessions (id, direction, twilio_call_sid, status, status_rank, created_at, updated_at) \
         VALUES ($1, 'inbound', $2, 'answered', 2, $3, $3)",
    )
    .bind(&id)
    .bind(twilio_call_sid)
    .bind(now)
    .execute(&app.state.db.pool)
    .await
    .expect("insert call session");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_callback_is_recorded_once_on_its_call() {
    let app = provisioning_app().await;
    let session = insert_session(&app, CALL_SID).await;

    let params = status_params(CALL_SID, "completed", "3");
    let (status, _, _) = post_signed(&app, STATUS, &params).await;
    assert!(status.is_success(), "{status}");
    // Twilio retries: the same delivery again changes nothing.
    let (again, _, _) = post_signed(&app, STATUS, &params).await;
    assert!(again.is_success(), "{again}");

    let recorded = events(&app).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let (id, call_id, source, kind, detail, occurred_at) = &recorded[0];
    assert_eq!(id, &format!("twilio:{CALL_SID}:completed:3"));
    assert_eq!(call_id.as_deref(), Some(session.as_str()));
    assert_eq!(source, "twilio");
    assert_eq!(kind, "twilio.completed");
    assert_eq!(*occurred_at, 1_741_082_400, "from Timestamp");
    let detail: serde_json::Value = serde_json::from_str(detail).expect("detail JSON");
    assert_eq!(detail["CallSid"], CALL_SID);
    assert_eq!(detail["CallStatus"], "completed");
    assert_eq!(detail["CallDuration"], "42");
    assert_eq!(detail["SipResponseCode"], "200");

    // The session itself belongs to LiveKit's webhooks: untouched.
    let (status, rank): (String, i64) =
        sqlx::query_as("SELECT status, status_rank FROM call_sessions WHERE id = $1")
            .bind(&session)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    assert_eq!((status.as_str(), rank), ("answered", 2));

    // A call LiveKit has not reported (yet) is kept without a session, findable by CallSid.
    let (status, _, _) =
        post_signed(&app, STATUS, &status_params(OTHER_CALL_SID, "ringing", "1")).await;
    assert!(status.is_success(), "{status}");
    let recorded = events(&app).await;
    assert_eq!(recorded.len(), 2);
    let other = recorded
        .iter()
        .find(|e| e.0 == format!("twilio:{OTHER_CALL_SID}:ringing:1"))
        .expect("second event");
    assert_eq!(other.1, None);
    assert_eq!(other.3, "twilio.ringing");
    let detail: serde_json::Value = serde_json::from_str(&other.4).unwrap();
    assert_eq!(detail["CallSid"], OTHER_CALL_SID);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_forged_or_foreign_webhooks_are_refused_and_write_nothing() {
    let app = provisioning_app().await;
    let base = public_url(&app).await;
    let params = pairs(&status_params(CALL_SID, "completed", "1"));
    let status_url = format!("{base}{STATUS}");

    let (unsigned, _, body) = post(&app, STATUS, &params, None).await;
    assert_eq!(unsigned, StatusCode::FORBIDDEN);
    assert!(body.contains("invalid signature"), "{body}");

    let wrong_token = twilio::signature::sign("0".repeat(32).as_str(), &status_url, &params);
    let (wrong, _, body) = post(&app, STATUS, &params, Some(&wrong_token)).await;
    assert_eq!(wrong, StatusCode::FORBIDDEN);
    assert!(body.contains("invalid signature"), "{body}");

    // Signed for another path, or for a different query string, than the one requested.
    let for_voice = twilio::signature::sign(TOKEN, &format!("{base}{VOICE}"), &params);
    let (other_path, _, _) = post(&app, STATUS, &params, Some(&for_voice)).await;
    assert_eq!(other_path, StatusCode::FORBIDDEN);
    let with_query = twilio::signature::sign(TOKEN, &format!("{status_url}?attempt=1"), &params);
    let (other_query, _, _) = post(&app, STATUS, &params, Some(&with_query)).await;
    assert_eq!(other_query, StatusCode::FORBIDDEN);
    let (other_query, _, _) = post(
        &app,
        &format!("{STATUS}?attempt=2"),
        &params,
        Some(&with_query),
    )
    .await;
    assert_eq!(other_query, StatusCode::FORBIDDEN);
    // ... while the matching query string is accepted (the URL is signed with its query).
    let (same_query, _, _) = post(
        &app,
        &format!("{STATUS}?attempt=1"),
        &params,
        Some(&with_query),
    )
    .await;
    assert!(same_query.is_success(), "{same_query}");
    sqlx::query("DELETE FROM call_events")
        .execute(&app.state.db.pool)
        .await
        .unwrap();

    // Signed for the host Dial listens on rather than its public URL.
    let for_listen = twilio::signature::sign(TOKEN, &app.url(STATUS), &params);
    let (listen, _, _) = post(&app, STATUS, &params, Some(&for_listen)).await;
    assert_eq!(listen, StatusCode::FORBIDDEN);

    // Tampered after signing.
    let signature = twilio::signature::sign(TOKEN, &status_url, &params);
    let mut tampered = params.clone();
    tampered.push(("CallDuration".into(), "9999".into()));
    let (changed, _, _) = post(&app, STATUS, &tampered, Some(&signature)).await;
    assert_eq!(changed, StatusCode::FORBIDDEN);

    // Correctly signed with this token, but for another account.
    let mut foreign = status_params(CALL_SID, "completed", "1");
    foreign[0] = ("AccountSid", "AC99999999999999999999999999999999");
    let (account, _, body) = post_signed(&app, STATUS, &foreign).await;
    assert_eq!(account, StatusCode::FORBIDDEN);
    assert!(!body.contains(TOKEN));

    let voice = [
        ("AccountSid", SID),
        ("CallSid", CALL_SID),
        ("From", CALLER),
        ("To", "+14155550100"),
    ];
    let (voice_unsigned, _, _) = post(&app, VOICE, &pairs(&voice), None).await;
    assert_eq!(voice_unsigned, StatusCode::FORBIDDEN);

    // Too large to be Twilio.
    let mut huge = params.clone();
    huge.push(("Padding".into(), "x".repeat(70 * 1024)));
    let signature = twilio::signature::sign(TOKEN, &status_url, &huge);
    let (too_large, _, _) = post(&app, STATUS, &huge, Some(&signature)).await;
    assert!(too_large.is_client_error(), "{too_large}");

    // Without a public URL Dial cannot know what Twilio signed: refused, with a hint in the log.
    sqlx::query("UPDATE twilio_config SET public_url = NULL")
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let signature = twilio::signature::sign(TOKEN, &status_url, &params);
    let (unconfigured, _, _) = post(&app, STATUS, &params, Some(&signature)).await;
    assert_eq!(unconfigured, StatusCode::FORBIDDEN);
    assert!(captured_logs().contains("DIAL_PUBLIC_URL"));

    assert!(events(&app).await.is_empty(), "nothing written");
    assert!(
        !captured_logs().contains(TOKEN),
        "the auth token is never logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_voice_webhook_dials_livekit_for_assigned_numbers_and_rejects_the_rest() {
    let app = provisioning_app().await;
    let admin = user_id(&app, ADMIN).await;
    let assistant = insert_assistant(&app, &admin, "Reception", "agent", "call-").await;
    let assigned = twilio_number(&app, "+14155550130").await;
    sqlx::query("UPDATE phone_numbers SET assistant_id = $1 WHERE id = $2")
        .bind(&assistant)
        .bind(&assigned.id)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let unassigned = twilio_number(&app, "+14155550131").await;

    let (status, content_type, body) =
        post_signed(&app, VOICE, &voice_call(CALL_SID, "+14155550130")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.unwrap_or_default().starts_with("text/xml"));
    assert!(
        body.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?>"#),
        "{body}"
    );
    assert!(
        body.contains(
            "<Response><Dial><Sip>sip:+14155550130@dial-sandbox.sip.livekit.cloud</Sip></Dial></Response>"
        ),
        "{body}"
    );

    let (status, content_type, body) = post_signed(
        &app,
        VOICE,
        &voice_call("CA11111111111111111111111111111111", "+19995550100"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.unwrap_or_default().starts_with("text/xml"));
    assert!(body.contains("<Reject"), "unknown number: {body}");
    assert!(!body.contains("<Dial>"));

    let (_, _, body) = post_signed(
        &app,
        VOICE,
        &voice_call(
            "CA22222222222222222222222222222222",
            unassigned.e164.as_str(),
        ),
    )
    .await;
    assert!(body.contains("<Reject"), "number without assistant: {body}");

    let recorded = events(&app).await;
    let decisions: Vec<(String, String, String)> = recorded
        .iter()
        .map(|(id, _, _, kind, detail, _)| {
            let detail: serde_json::Value = serde_json::from_str(detail).unwrap();
            (
                id.clone(),
                kind.clone(),
                detail["decision"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(decisions.contains(&(
        format!("twilio:{CALL_SID}:voice"),
        "twilio.voice".into(),
        "dial".into()
    )));
    assert!(decisions
        .iter()
        .any(|(id, _, d)| id.contains("CA1111") && d == "unknown_number"));
    assert!(decisions
        .iter()
        .any(|(id, _, d)| id.contains("CA2222") && d == "no_assistant"));

    // A retried voice webhook gets the same answer and records nothing new.
    let (_, _, again) = post_signed(&app, VOICE, &voice_call(CALL_SID, "+14155550130")).await;
    assert!(again.contains("<Dial><Sip>"), "{again}");
    assert_eq!(events(&app).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bought_and_imported_numbers_get_dials_status_callback() {
    let app = provisioning_app().await;
    let (twilio, _) = fakes(&app);
    let callback = format!("{}{STATUS}", public_url(&app).await);

    let imported = twilio_number(&app, "+14155550132").await;
    let found: Vec<AvailableRow> = app
        .call::<AvailableNumbers>(
            &app.client,
            "numbers/search",
            &[("country", "US"), ("kind", "local"), ("area_code", "415")],
        )
        .await
        .expect("search")
        .numbers;
    let pick = found.first().expect("the sandbox has 415 numbers");
    let bought: NumberRow = app
        .call(
            &app.client,
            "numbers/buy",
            &[("e164", pick.e164.as_str()), ("label", "Front desk")],
        )
        .await
        .expect("buy");

    let at_twilio = twilio.numbers(SID);
    for e164 in [imported.e164.as_str(), bought.e164.as_str()] {
        let number = at_twilio
            .iter()
            .find(|n| n.phone_number == e164)
            .expect("number at Twilio");
        assert_eq!(
            number.status_callback.as_deref(),
            Some(callback.as_str()),
            "{e164}"
        );
    }
}
