use super::*;

#[test]
fn every_endpoint_is_documented_once_with_its_parameters() {
    let doc = openapi_document();
    for endpoint in ENDPOINTS {
        let op = &doc["paths"][endpoint.full_path()][endpoint.method.as_str().to_ascii_lowercase()];
        assert_eq!(op["summary"], endpoint.summary);
        assert_eq!(op.get("security").is_none(), endpoint.auth);
    }
    assert_eq!(
        path_parameters("/calls/{id}/transfer").collect::<Vec<_>>(),
        ["id"]
    );
    assert_eq!(
        operation_id(&ENDPOINTS[0]),
        "get_me",
        "operation ids are stable"
    );
    let ids: Vec<String> = ENDPOINTS.iter().map(operation_id).collect();
    for (from, _, targets) in LINKS {
        assert!(ids.iter().any(|id| id == from), "{from}");
        for target in *targets {
            assert!(ids.iter().any(|id| id == target), "{target}");
        }
    }
    let placed = &doc["paths"]["/api/v1/calls"]["post"]["responses"]["200"]["links"];
    assert_eq!(
        placed["post_calls_id_hangup"]["parameters"]["id"],
        "$response.body#/id"
    );
}

#[test]
fn stored_names_are_the_documented_ones() {
    use dial_app::model::{AssignmentStatus, Outcome};
    let doc = openapi_document();
    let documented = |name: &str| doc["components"]["schemas"][name]["enum"].clone();
    let names = |all: Vec<&str>| json!(all);
    assert_eq!(
        documented("AssignmentStatus"),
        names(AssignmentStatus::ALL.iter().map(|s| s.as_str()).collect())
    );
    assert_eq!(
        documented("Outcome"),
        names(Outcome::ALL.iter().map(|s| s.as_str()).collect())
    );
}

async fn json_body(content_type: Option<&str>, body: &str) -> Result<Vec<u32>, StatusCode> {
    let mut request = Request::builder().method(Method::POST).uri("/");
    if let Some(ct) = content_type {
        request = request.header(header::CONTENT_TYPE, ct);
    }
    let request = request
        .body(axum::body::Body::from(body.to_string()))
        .expect("a request");
    ApiJson::<Vec<u32>>::from_request(request, &())
        .await
        .map(|ApiJson(v)| v)
        .map_err(|e| e.status())
}

#[tokio::test]
async fn json_bodies_are_refused_as_api_errors() {
    let json = Some("application/json");
    assert_eq!(json_body(json, "[1, 2]").await, Ok(vec![1, 2]));
    assert_eq!(
        json_body(json, "{}").await,
        Err(StatusCode::UNPROCESSABLE_ENTITY)
    );
    assert_eq!(json_body(json, "[1,").await, Err(StatusCode::BAD_REQUEST));
    assert_eq!(
        json_body(None, "[1]").await,
        Err(StatusCode::UNSUPPORTED_MEDIA_TYPE)
    );
}

#[test]
fn errors_have_their_status_and_every_code_is_documented() {
    let cases = [
        (AppError::Unauthorized, 401),
        (AppError::Forbidden, 403),
        (AppError::not_found("x"), 404),
        (AppError::invalid("f", "m"), 422),
        (AppError::conflict("c"), 409),
        (
            AppError::TooManyAttempts {
                retry_after_secs: 3,
            },
            429,
        ),
        (
            AppError::Upstream {
                provider: "Twilio".into(),
                code: None,
                message: "m".into(),
            },
            502,
        ),
        (AppError::Internal, 500),
        (
            AppError::Request {
                message: "m".into(),
            },
            400,
        ),
    ];
    for (error, status) in cases {
        assert_eq!(status_of(&error).as_u16(), status, "{error:?}");
        // The code a client sees is the one `AppError` names, and the document lists it.
        let code = serde_json::to_value(ErrorCode::of(&error)).expect("a code");
        assert_eq!(code, error.code(), "{error:?}");
        let listed = &openapi_document()["components"]["schemas"]["ErrorCode"]["enum"];
        assert!(
            listed.as_array().is_some_and(|codes| codes.contains(&code)),
            "{code} is not in {listed}"
        );
    }
}

#[test]
fn the_documented_bounds_are_the_ones_calls_enforce() {
    use dial_app::server::calls::{
        MAX_CALL_DURATION_SECS, MAX_DISPLAY_NAME_CHARS, MAX_DTMF_LEN, MAX_RINGING_TIMEOUT_SECS,
    };
    let doc = openapi_document();
    let place = &doc["components"]["schemas"]["PlaceCall"]["properties"];
    assert_eq!(
        place["ringing_timeout"]["maximum"],
        MAX_RINGING_TIMEOUT_SECS
    );
    assert_eq!(place["max_duration"]["maximum"], MAX_CALL_DURATION_SECS);
    assert_eq!(place["dtmf"]["maxLength"], MAX_DTMF_LEN);
    assert_eq!(place["display_name"]["maxLength"], MAX_DISPLAY_NAME_CHARS);
}

#[test]
fn every_schema_a_route_names_is_in_the_document() {
    let doc = openapi_document();
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for (name, _) in [
        "Error",
        "Me",
        "PlaceCall",
        "Call",
        "CallDetail",
        "CallEvent",
        "Transfer",
        "TransferResult",
    ]
    .iter()
    .map(|n| (n, ()))
    {
        assert!(schemas.contains_key(*name), "{name} is missing");
    }
    // Every reference resolves.
    for part in text.split("#/components/schemas/").skip(1) {
        let name: String = part.chars().take_while(|c| *c != '"').collect();
        assert!(
            schemas.contains_key(&name),
            "a reference to {name}, which is not defined"
        );
    }
}
