use crate::helpers::*;
use dial::api_v1::ENDPOINTS;
use dial_app::{
    error::AppError,
    model::{ApiKeyView, CreatedKey},
};
use reqwest::{header, Method, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

const PAGE: &str = "/dashboard/settings/api-keys";

async fn create_key(app: &TestApp, client: &reqwest::Client, name: &str) -> CreatedKey {
    app.call(client, "api-keys/create", &[("name", name)])
        .await
        .unwrap_or_else(|e| panic!("create key {name}: {e}"))
}

async fn list_keys(app: &TestApp, client: &reqwest::Client) -> Vec<ApiKeyView> {
    app.call(client, "api-keys/list", &[]).await.unwrap()
}

/// A JSON API request with an optional `Authorization` header; the body is recorded
/// with every other answer the test saw.
async fn api(
    app: &TestApp,
    method: Method,
    path: &str,
    authorization: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let client = new_client();
    let mut request = client.request(method.clone(), app.url(path));
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
        request = request.json(&serde_json::json!({}));
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    app.bodies.lock().unwrap().push(text.clone());
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {path}: {status} answer is not JSON ({e}): {text:?}"));
    (status, headers, body)
}

async fn me_with(app: &TestApp, secret: &str) -> (StatusCode, Value) {
    let (status, _, body) = api(
        app,
        Method::GET,
        "/api/v1/me",
        Some(&format!("Bearer {secret}")),
    )
    .await;
    (status, body)
}

fn assert_unauthorized(status: StatusCode, body: &Value, what: &str) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
    assert_eq!(body["error"]["code"], "unauthorized", "{what}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("API key")),
        "{what}: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_shown_once_stored_hashed_and_acts_as_its_user() {
    let app = spawn_with_admin().await;
    let (owner, owner_id) = app.owner_client().await;

    let created = create_key(&app, &owner, "  CRM integration ").await;
    let secret = created.secret.clone();
    assert!(secret.starts_with("dial_"), "{secret}");
    assert_eq!(secret.len(), 45);
    assert!(secret[5..].chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(created.key.name, "CRM integration");
    assert_eq!(created.key.prefix, format!("{}\u{2026}", &secret[..12]));
    assert!(created.key.revoked_at.is_none() && created.key.last_used_at.is_none());
    assert!(!format!("{created:?}").contains(&secret), "Debug hides it");

    // Shown once: the list has the key but never its secret.
    let list = list_keys(&app, &owner).await;
    assert_eq!(list, vec![created.key.clone()]);

    // Stored hashed: the row holds SHA-256 of the key, not the key.
    let stored: String = sqlx::query_scalar("SELECT secret_hash FROM api_keys WHERE id = $1")
        .bind(&created.key.id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_ne!(stored, secret);
    assert!(!stored.contains(&secret[5..]));
    assert_eq!(stored, format!("{:x}", Sha256::digest(secret.as_bytes())));

    // The key acts as its user.
    let (status, body) = me_with(&app, &secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], owner_id.as_str());
    assert_eq!(body["username"], OWNER);
    assert_eq!(body["role"], "owner");
    let list = list_keys(&app, &owner).await;
    let used = list[0].last_used_at.expect("last use recorded");
    // A second use within the minute does not write again.
    let (status, _) = me_with(&app, &secret).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list_keys(&app, &owner).await[0].last_used_at, Some(used));

    // Names: required, at most 64 characters, unique among the user's active keys.
    for (name, why) in [
        ("", "empty"),
        ("CRM integration", "taken"),
        (&"k".repeat(65), "too long"),
    ] {
        let refused = app
            .call::<CreatedKey>(&owner, "api-keys/create", &[("name", name)])
            .await
            .expect_err(why);
        assert!(refused.field("name").is_some(), "{why}: {refused:?}");
    }
    // Another user may use the same name.
    create_key(&app, &app.client, "CRM integration").await;

    // The key is in the create answer and nowhere else: not in any other answer, not
    // in the logs, not in the audit log.
    let bodies = app.all_bodies();
    assert_eq!(bodies.matches(&secret).count(), 1, "only the create answer");
    assert!(!captured_logs().contains(&secret));
    assert!(!captured_logs().contains(&secret[5..]));
    let audit: Vec<(String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT action, target, detail FROM audit_log")
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap();
    assert!(audit
        .iter()
        .any(|(a, t, _)| a == "api_key.create" && t.as_deref() == Some(&created.key.id)));
    for (_, target, detail) in &audit {
        for text in [target, detail].into_iter().flatten() {
            assert!(!text.contains(&secret[5..]), "audit row {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_unknown_missing_and_disabled_users_keys_are_refused() {
    let app = spawn_with_admin().await;
    let (owner, owner_id) = app.owner_client().await;
    let kept = create_key(&app, &owner, "kept").await;
    let revoked = create_key(&app, &owner, "revoked").await;
    assert_eq!(me_with(&app, &revoked.secret).await.0, StatusCode::OK);

    let view: ApiKeyView = app
        .call(&owner, "api-keys/revoke", &[("id", &revoked.key.id)])
        .await
        .unwrap();
    assert!(view.revoked_at.is_some());
    let (status, headers, body) = api(
        &app,
        Method::GET,
        "/api/v1/me",
        Some(&format!("Bearer {}", revoked.secret)),
    )
    .await;
    assert_unauthorized(status, &body, "revoked");
    assert!(headers
        .get(header::WWW_AUTHENTICATE)
        .is_some_and(|v| v.to_str().unwrap().starts_with("Bearer")));
    assert_eq!(me_with(&app, &kept.secret).await.0, StatusCode::OK);
    // The revoked key's name is free again; the list shows the revoked key, last.
    create_key(&app, &owner, "revoked").await;
    let list = list_keys(&app, &owner).await;
    assert_eq!(list.len(), 3);
    assert_eq!(list.last().map(|k| k.id.as_str()), Some(&*revoked.key.id));

    // A well-formed key nobody has, garbage, another scheme, no header at all.
    let unknown = format!("dial_{}", "A".repeat(40));
    let (status, body) = me_with(&app, &unknown).await;
    assert_unauthorized(status, &body, "unknown key");
    let (status, body) = me_with(&app, "not-a-key").await;
    assert_unauthorized(status, &body, "garbage");
    let (status, _, body) = api(
        &app,
        Method::GET,
        "/api/v1/me",
        Some(&format!("Basic {}", kept.secret)),
    )
    .await;
    assert_unauthorized(status, &body, "basic scheme");
    let (status, _, body) = api(&app, Method::GET, "/api/v1/me", None).await;
    assert_unauthorized(status, &body, "no header");
    // A signed-in browser session is not an API key.
    let response = owner.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // A disabled user's keys stop working at once, and work again when enabled.
    app.call::<()>(
        &app.client,
        "users/set-disabled",
        &[("user_id", &owner_id), ("disabled", "true")],
    )
    .await
    .unwrap();
    let (status, body) = me_with(&app, &kept.secret).await;
    assert_unauthorized(status, &body, "disabled user");
    app.call::<()>(
        &app.client,
        "users/set-disabled",
        &[("user_id", &owner_id), ("disabled", "false")],
    )
    .await
    .unwrap();
    assert_eq!(me_with(&app, &kept.secret).await.0, StatusCode::OK);

    let actions = app.audit_actions().await;
    assert_eq!(actions.iter().filter(|a| *a == "api_key.create").count(), 3);
    assert!(actions.contains(&"api_key.revoke".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_personal_even_for_admins() {
    let app = spawn_with_admin().await;
    let (owner, _) = app.owner_client().await;
    let admins = create_key(&app, &app.client, "ops").await;
    let owners = create_key(&app, &owner, "crm").await;

    assert_eq!(list_keys(&app, &app.client).await, vec![admins.key.clone()]);
    assert_eq!(list_keys(&app, &owner).await, vec![owners.key.clone()]);

    // An owner cannot revoke the admin's key, nor the admin the owner's.
    let refused = app
        .call::<ApiKeyView>(&owner, "api-keys/revoke", &[("id", &admins.key.id)])
        .await
        .unwrap_err();
    assert!(matches!(refused, AppError::NotFound { .. }), "{refused:?}");
    let refused = app
        .call::<ApiKeyView>(&app.client, "api-keys/revoke", &[("id", &owners.key.id)])
        .await
        .unwrap_err();
    assert!(matches!(refused, AppError::NotFound { .. }), "{refused:?}");

    let (status, body) = me_with(&app, &admins.secret).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["username"], ADMIN);
    assert_eq!(body["role"], "admin");
    assert_eq!(me_with(&app, &owners.secret).await.0, StatusCode::OK);
    assert!(!app
        .audit_actions()
        .await
        .contains(&"api_key.revoke".to_string()));

    // Signed out: nothing.
    let signed_out = new_client();
    let refused = app
        .call::<Vec<ApiKeyView>>(&signed_out, "api-keys/list", &[])
        .await
        .unwrap_err();
    assert_eq!(refused, AppError::Unauthorized);
}

/// The one-time key as the page shows it.
fn shown_key(body: &str) -> Option<String> {
    let start = body.find("data-secret=\"api-key\">")? + "data-secret=\"api-key\">".len();
    Some(body[start..].chars().take(45).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_keys_page_works_without_javascript() {
    let app = spawn_with_admin().await;
    let (owner, _) = app.owner_client().await;

    let (status, _, body) = app.get_page(&owner, PAGE).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("No API keys yet"), "the empty state");
    assert!(body.contains("/api/v1/me"), "the curl example");
    assert!(
        body.contains("href=\"/dashboard/settings/api-keys\""),
        "the settings tab, for owners too"
    );
    assert!(shown_key(&body).is_none());

    let post = |endpoint: &str, form: Vec<(&str, &str)>| {
        owner
            .post(app.url(&format!("/api/{endpoint}")))
            .header("accept", "text/html")
            .header("referer", app.url(PAGE))
            .form(&form)
            .send()
    };

    // A refused name comes back with its message next to the field.
    let response = post("api-keys/create", vec![("name", " ")]).await.unwrap();
    assert!(response.status().is_redirection());
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("__err="), "{location}");
    let (status, _, body) = app
        .get_page(&owner, location.trim_start_matches(&app.address))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("field-name-error"), "shown without JS");

    // A created key is shown on the next render of the page, once.
    let response = post("api-keys/create", vec![("name", "Billing")])
        .await
        .unwrap();
    assert!(response.status().is_redirection());
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(location.ends_with(PAGE), "{location}");
    let redirect_body = response.text().await.unwrap();
    let (status, _, body) = app.get_page(&owner, PAGE).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Copy it now: Dial keeps only a hash and cannot show it again."));
    let secret = shown_key(&body).expect("the new key is shown");
    assert!(secret.starts_with("dial_"), "{secret}");
    assert!(
        !redirect_body.contains(&secret),
        "the redirect carries no key"
    );
    let (status, me) = me_with(&app, &secret).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], OWNER);
    let sessions: Vec<String> = sqlx::query_scalar("SELECT data FROM sessions")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
    assert!(
        sessions.iter().all(|d| !d.contains(&secret[5..])),
        "the key never sits in a session in the clear"
    );

    let (_, _, body) = app.get_page(&owner, PAGE).await;
    assert!(shown_key(&body).is_none(), "shown once");
    assert!(!body.contains(&secret));
    assert!(!body.contains("Copy it now"));
    assert!(body.contains("Billing"));
    assert!(body.contains(&format!("{}\u{2026}", &secret[..12])));
    assert!(body.contains("Active"));
    assert!(body.contains("Revoke Billing"));

    // Revoke from its row.
    let id = list_keys(&app, &owner).await[0].id.clone();
    let response = post("api-keys/revoke", vec![("id", &id)]).await.unwrap();
    assert!(response.status().is_redirection());
    let (_, _, body) = app.get_page(&owner, PAGE).await;
    assert!(body.contains("Revoked"));
    assert!(!body.contains("Revoke Billing"));
    assert_eq!(me_with(&app, &secret).await.0, StatusCode::UNAUTHORIZED);
    assert!(!captured_logs().contains(&secret[5..]));

    // Admins see their own (empty) list.
    let (status, _, body) = app.get_page(&app.client, PAGE).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("No API keys yet"));
    assert!(!body.contains("Billing"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_the_routes() {
    let app = spawn_with_admin().await;
    let key = create_key(&app, &app.client, "openapi").await;
    let bearer = format!("Bearer {}", key.secret);

    // Served without a key.
    let (status, _, doc) = api(&app, Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let scheme = &doc["components"]["securitySchemes"]["apiKey"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    // An error is {"error": {"code", …}}, the code one of the listed enum values.
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["Error"]["properties"]["error"]["$ref"],
        "#/components/schemas/ErrorDetail"
    );
    assert_eq!(
        schemas["ErrorDetail"]["properties"]["code"]["$ref"],
        "#/components/schemas/ErrorCode"
    );
    let codes = &schemas["ErrorCode"]["enum"];
    assert!(codes
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c == "unauthorized")));

    // Every documented operation is served (a route the router lacks answers the JSON
    // 404 "The API route … was not found", a method it lacks 405).
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented = Vec::new();
    for (path, item) in paths {
        for (method, _) in item.as_object().expect("path item") {
            let concrete: String = path
                .split('/')
                .map(|s| {
                    if s.starts_with('{') {
                        "00000000-0000-0000-0000-000000000000"
                    } else {
                        s
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            let (status, _, body) = api(&app, m, &concrete, Some(&bearer)).await;
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {body}"
            );
            let no_route = status == StatusCode::NOT_FOUND
                && body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("The API route"));
            assert!(!no_route, "{method} {path} is documented but not served");
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    // …and every route is documented.
    for endpoint in ENDPOINTS {
        let entry = (endpoint.method.to_string(), endpoint.full_path());
        assert!(documented.contains(&entry), "{entry:?} is not documented");
    }
    assert_eq!(documented.len(), ENDPOINTS.len());

    // Anything else under /api/v1 is a JSON error.
    let (status, _, body) = api(&app, Method::GET, "/api/v1/nothing-here", Some(&bearer)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _, body) = api(&app, Method::POST, "/api/v1/nothing-here", Some(&bearer)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _, body) = api(&app, Method::GET, "/api/v1", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _, body) = api(&app, Method::DELETE, "/api/v1/me", Some(&bearer)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(body["error"]["code"], "request");
}
