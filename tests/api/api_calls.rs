//! The JSON API's call routes, with an API key, against the sandbox's LiveKit.

use crate::{assignment::*, helpers::*};
use dial_app::model::{CreatedKey, NumberRow};
use serde_json::{json, Value};

async fn api(
    app: &TestApp,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, app.url(path))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// A sandbox app with `e164` assigned to an assistant "Sales", and an admin's API key:
/// the app, the number, the assistant's id and the key.
async fn assigned_with_key(e164: &str) -> (TestApp, NumberRow, String, String) {
    let app = provisioning_app().await;
    let admin = user_id(&app, ADMIN).await;
    let number = twilio_number(&app, e164).await;
    let assistant = insert_assistant(&app, &admin, "Sales", "sales-agent", "sales-").await;
    assign(&app, &app.client, &number.id, &assistant)
        .await
        .unwrap();
    let key: CreatedKey = app
        .call(&app.client, "api-keys/create", &[("name", "CRM")])
        .await
        .expect("key");
    (app, number, assistant, key.secret)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_placed_listed_transferred_and_hung_up_with_an_api_key() {
    let (app, number, _, key) = assigned_with_key("+14155550135").await;
    use reqwest::Method;

    // Bad input: 422 with each field named.
    let (status, body) = api(
        &app,
        &key,
        Method::POST,
        "/api/v1/calls",
        Some(json!({
            "number_id": number.id, "to": "555", "dtmf": "x", "ringing_timeout": 0
        })),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid");
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    for field in ["to", "dtmf", "ringing_timeout"] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
    let (status, body) = api(
        &app,
        &key,
        Method::POST,
        "/api/v1/calls",
        Some(json!({ "number_id": number.id, "to": "+14155550100", "colour": "red" })),
    )
    .await;
    assert_eq!(status, 422, "unknown fields are refused: {body}");

    let (status, call) = api(
        &app,
        &key,
        Method::POST,
        "/api/v1/calls",
        Some(json!({
            "number_id": number.id, "to": "+14155550100", "wait_until_answered": true, "dtmf": "1w#"
        })),
    )
    .await;
    assert_eq!(status, 200, "{call}");
    assert_eq!(call["status"], "answered");
    let id = call["id"].as_str().unwrap().to_string();

    let (status, page) = api(
        &app,
        &key,
        Method::GET,
        "/api/v1/calls?direction=outbound&status=live",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["id"], id.as_str());
    let (status, body) = api(&app, &key, Method::GET, "/api/v1/calls?colour=red", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("invalid"))
    );

    let (status, detail) = api(
        &app,
        &key,
        Method::GET,
        &format!("/api/v1/calls/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "call.requested"));

    let (status, body) = api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/calls/{id}/transfer"),
        Some(json!({ "to": "desk" })),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    // The field as this body names it (the page's form calls it transfer_to).
    assert_eq!(body["error"]["fields"][0]["field"], "to");

    let (status, ended) = api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/calls/{id}/hangup"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{ended}");
    assert_eq!(ended["status"], "ended");
    // Who hung up is recorded, whether LiveKit's participant_left came first or not.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let detail = loop {
        let (_, detail) = api(
            &app,
            &key,
            Method::GET,
            &format!("/api/v1/calls/{id}"),
            None,
        )
        .await;
        let left = detail["timeline"]
            .as_array()
            .is_some_and(|t| t.iter().any(|e| e["kind"] == "participant_left"));
        if left || std::time::Instant::now() > deadline {
            break detail;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        detail["call"]["end_reason"], "hung up by admin (API key)",
        "{detail}"
    );
    let hangup = detail["timeline"]
        .as_array()
        .and_then(|t| t.iter().find(|e| e["kind"] == "call.hangup"))
        .cloned()
        .unwrap_or_default();
    // Timeline details are objects, not JSON text inside JSON.
    assert_eq!(hangup["detail"]["by"], "admin (API key)", "{detail}");
    assert_eq!(detail["call"]["outcome"], "completed", "{detail}");
    let (status, body) = api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/calls/{id}/hangup"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    let actions = app.audit_actions().await;
    assert!(
        actions.iter().any(|a| a == "call.place") && actions.iter().any(|a| a == "call.hangup")
    );

    // Another user's key sees none of it.
    let (owner, _) = app.owner_client().await;
    let owner_key: CreatedKey = app
        .call(&owner, "api-keys/create", &[("name", "mine")])
        .await
        .unwrap();
    let (status, body) = api(
        &app,
        &owner_key.secret,
        Method::GET,
        &format!("/api/v1/calls/{id}"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, body) = api(
        &app,
        &owner_key.secret,
        Method::POST,
        &format!("/api/v1/calls/{id}/hangup"),
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, page) = api(&app, &owner_key.secret, Method::GET, "/api/v1/calls", None).await;
    assert_eq!((status, page["total"].as_u64()), (200, Some(0)));
    let (status, body) = api(
        &app,
        &owner_key.secret,
        Method::POST,
        "/api/v1/calls",
        Some(json!({ "number_id": number.id, "to": "+14155550100" })),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    // No key: 401.
    let (status, _) = api(&app, "", Method::GET, "/api/v1/calls", None).await;
    assert_eq!(status, 401);
}

/// An integrator needs no id from the dashboard: numbers and assistants are listed, and a
/// call may name its number by E.164.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_lists_numbers_and_assistants_and_takes_a_number_by_e164() {
    use reqwest::Method;
    let (app, number, assistant, key) = assigned_with_key("+14155550136").await;

    let (status, numbers) = api(&app, &key, Method::GET, "/api/v1/numbers", None).await;
    assert_eq!(status, 200, "{numbers}");
    assert_eq!(numbers["total"], 1);
    assert_eq!(numbers["items"][0]["id"], number.id.as_str());
    assert_eq!(numbers["items"][0]["e164"], "+14155550136");
    assert_eq!(numbers["items"][0]["assignment_status"], "active");
    let (status, none) = api(&app, &key, Method::GET, "/api/v1/numbers?q=999999", None).await;
    assert_eq!((status, none["total"].as_u64()), (200, Some(0)));
    let (status, bad) = api(&app, &key, Method::GET, "/api/v1/numbers?colour=red", None).await;
    assert_eq!(status, 422, "{bad}");

    let (status, assistants) = api(&app, &key, Method::GET, "/api/v1/assistants", None).await;
    assert_eq!(status, 200, "{assistants}");
    assert_eq!(assistants[0]["id"], assistant.as_str());
    assert_eq!(assistants[0]["agent_name"], "sales-agent");
    assert_eq!(assistants[0]["numbers"], 1);

    // The number by E.164, in any format a person writes.
    let (status, call) = api(
        &app,
        &key,
        Method::POST,
        "/api/v1/calls",
        Some(json!({ "number_id": "+1 (415) 555-0136", "to": "+14155550100" })),
    )
    .await;
    assert_eq!(status, 200, "{call}");
    assert_eq!(call["number_id"], number.id.as_str());
    let (status, unknown) = api(
        &app,
        &key,
        Method::POST,
        "/api/v1/calls",
        Some(json!({ "number_id": "+14155550999", "to": "+14155550100" })),
    )
    .await;
    assert_eq!(status, 422, "{unknown}");
    assert_eq!(unknown["error"]["fields"][0]["field"], "number_id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_character_anywhere_is_the_requests_fault_on_either_database() {
    let (app, number, _, key) = assigned_with_key("+14155550137").await;
    // A query parameter, a JSON body, a server function's form: each a 4xx, never a 500
    // (PostgreSQL cannot hold a NUL in text).
    let (status, body) = api(
        &app,
        &key,
        reqwest::Method::GET,
        "/api/v1/calls?number=a%00b",
        None,
    )
    .await;
    assert_eq!(
        (status, &body["error"]["fields"][0]["field"]),
        (422, &json!("number")),
        "{body}"
    );
    let (status, body) = api(
        &app,
        &key,
        reqwest::Method::POST,
        "/api/v1/calls",
        Some(json!({ "number_id": "a\u{0}b", "to": "+14155550100" })),
    )
    .await;
    assert!((400..500).contains(&status), "{status} {body}");
    let (status, body) = api(
        &app,
        &key,
        reqwest::Method::POST,
        "/api/v1/calls/a\u{0}b/hangup",
        None,
    )
    .await;
    assert!((400..500).contains(&status), "{status} {body}");
    let listed = app
        .call::<dial_app::model::Page<dial_app::model::CallRow>>(
            &app.client,
            "calls/list",
            &[("assistant", "x\u{0}y")],
        )
        .await;
    match listed {
        Ok(page) => assert_eq!(page.total, 0),
        Err(e) => assert!(
            matches!(e, dial_app::error::AppError::Request { .. }),
            "{e:?}"
        ),
    }
    let renamed = app
        .call::<NumberRow>(
            &app.client,
            "numbers/label",
            &[("id", &number.id), ("label", "front\u{0}desk")],
        )
        .await;
    if let Err(e) = renamed {
        assert!(
            matches!(
                e,
                dial_app::error::AppError::Request { .. }
                    | dial_app::error::AppError::Invalid { .. }
            ),
            "{e:?}"
        );
    }
}

/// A released number keeps its calls (their pages link to it, the calls filter offers
/// it), the API shows it only when asked, and no call is placed from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_number_keeps_its_calls_and_places_no_more() {
    use reqwest::{Method, StatusCode};
    let (app, number, _, key) = assigned_with_key("+14155550137").await;
    let (status, call) = api(
        &app,
        &key,
        Method::POST,
        "/api/v1/calls",
        Some(json!({ "number_id": number.id, "to": "+14155550100", "wait_until_answered": true })),
    )
    .await;
    assert_eq!(status, 200, "{call}");
    let call_id = call["id"].as_str().unwrap().to_string();
    let (status, _) = api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/calls/{call_id}/hangup"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let _: String = app
        .call(
            &app.client,
            "assignment/unassign",
            &[("number_id", &number.id)],
        )
        .await
        .expect("unassign");
    app.call::<()>(&app.client, "numbers/release", &[("id", &number.id)])
        .await
        .expect("release");

    // Reads: only when asked, with when and by whom.
    let (status, live) = api(&app, &key, Method::GET, "/api/v1/numbers", None).await;
    assert_eq!((status, live["total"].as_u64()), (200, Some(0)), "{live}");
    for asked in ["true", "only"] {
        let (status, page) = api(
            &app,
            &key,
            Method::GET,
            &format!("/api/v1/numbers?released={asked}"),
            None,
        )
        .await;
        assert_eq!((status, page["total"].as_u64()), (200, Some(1)), "{page}");
        let item = &page["items"][0];
        assert_eq!(item["id"], number.id.as_str());
        assert_eq!(item["assignment_status"], "released");
        assert_eq!(item["released_by"], ADMIN);
        assert!(item["released_at"].as_i64().is_some(), "{item}");
    }
    let (status, bad) = api(
        &app,
        &key,
        Method::GET,
        "/api/v1/numbers?released=maybe",
        None,
    )
    .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["error"]["fields"][0]["field"], "released");
    // The document says so.
    let (_, doc) = api(&app, &key, Method::GET, "/api/v1/openapi.json", None).await;
    let params = doc["paths"]["/api/v1/numbers"]["get"]["parameters"].to_string();
    assert!(params.contains("\"released\""), "{params}");
    assert!(
        doc["components"]["schemas"]["Number"]["properties"]["released_by"].is_object(),
        "{doc}"
    );

    // No call goes out from it, by id or by E.164, and the refusal says why.
    for from in [number.id.as_str(), "+14155550137"] {
        let (status, refused) = api(
            &app,
            &key,
            Method::POST,
            "/api/v1/calls",
            Some(json!({ "number_id": from, "to": "+14155550100" })),
        )
        .await;
        assert_eq!(status, 422, "{refused}");
        assert_eq!(refused["error"]["fields"][0]["field"], "number_id");
        let message = refused["error"]["fields"][0]["message"].as_str().unwrap();
        assert!(message.contains("was released on"), "{message}");
    }

    // Its call still names it, and the call's page links to the number's page, which
    // shows it released.
    let (status, detail) = api(
        &app,
        &key,
        Method::GET,
        &format!("/api/v1/calls/{call_id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(detail["call"]["number_id"], number.id.as_str());
    let number_page = format!("/dashboard/phone-numbers/{}", number.id);
    let (status, _, body) = app
        .get_page(&app.client, &format!("/dashboard/calls/{call_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(&format!(r#"href="{number_page}""#)));
    let (status, _, body) = app.get_page(&app.client, &number_page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("released-notice") && body.contains(&format!("by {ADMIN}.")));
    // The calls list still filters by it, marked released.
    let (_, _, body) = app
        .get_page(
            &app.client,
            &format!("/dashboard/calls?number={}", number.id),
        )
        .await;
    assert!(body.contains("+1 (415) 555-0137 (released)"), "{body}");
    assert!(body.contains(&format!(r#"data-call="{call_id}""#)));
}
