//! LiveKit's webhooks (`POST /webhooks/livekit`): the `Authorization` header holds a bare
//! JWT signed with the API secret (`iss` = API key, one minute of leeway on `exp`) whose
//! `sha256` claim is the base64 SHA-256 of the raw body (WIRE.md). A request that fails any
//! check is answered 401 and nothing is written; a verified event is folded into its call
//! session by [`crate::server::calls::ingest::apply`], which
//! commits events in batches (group commit).

use crate::server::{calls, state::AppState};
use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use livekit_api::access_token::TokenVerifier;
use livekit_protocol as proto;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

/// Webhook bodies are small JSON documents.
const MAX_BODY: usize = 256 * 1024;

/// The route `/webhooks/livekit`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks/livekit", post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// Why a webhook was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error("LiveKit is not configured on this Dial")]
    NotConfigured,
    #[error("no Authorization header")]
    MissingToken,
    #[error("the token is not valid: {0}")]
    BadToken(String),
    #[error("the body does not match the token's sha256 claim")]
    WrongHash,
    #[error("the body is not a LiveKit webhook event: {0}")]
    BadBody(String),
}

/// Checks the token and the body hash, and decodes the event.
pub fn verify(
    api_key: &str,
    api_secret: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> Result<proto::WebhookEvent, Refused> {
    let token = authorization
        .map(|v| v.trim())
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v))
        .filter(|v| !v.is_empty())
        .ok_or(Refused::MissingToken)?;
    let claims = TokenVerifier::with_api_key(api_key, api_secret)
        .verify(token)
        .map_err(|e| Refused::BadToken(e.to_string()))?;
    let claimed = STANDARD
        .decode(claims.sha256.as_bytes())
        .map_err(|_| Refused::WrongHash)?;
    let actual = Sha256::digest(body);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        claimed.as_slice(),
        actual.as_slice(),
    )) {
        return Err(Refused::WrongHash);
    }
    decode(body).map_err(Refused::BadBody)
}

/// The event in `body`. A value of an enum that this Dial's LiveKit protocol does not know
/// yet (a newer server's disconnect reason, participant kind, …) is read as that enum's
/// unknown value, so the event is still recorded rather than refused; anything else that
/// is not an event is refused.
fn decode(body: &[u8]) -> Result<proto::WebhookEvent, String> {
    let first = match serde_json::from_slice::<proto::WebhookEvent>(body) {
        Ok(event) => return Ok(event),
        Err(e) => e.to_string(),
    };
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Err(first);
    };
    let mut error = first.clone();
    // Each round replaces one unknown enum value; an event has only a few enum fields.
    for _ in 0..8 {
        let Some(variant) = unknown_variant(&error) else {
            return Err(first);
        };
        if !replace_string(&mut value, &variant) {
            return Err(first);
        }
        tracing::info!(%variant, "a LiveKit webhook names a value this Dial does not know; recorded as unknown");
        match serde_json::from_value::<proto::WebhookEvent>(value.clone()) {
            Ok(event) => return Ok(event),
            Err(e) => error = e.to_string(),
        }
    }
    Err(first)
}

/// The value serde names in "unknown variant `X`, expected …".
fn unknown_variant(message: &str) -> Option<String> {
    let rest = message.split_once("unknown variant `")?.1;
    Some(rest.split_once('`')?.0.to_string())
}

/// Replaces every string equal to `variant` with 0 (an enum's unknown value). Whether it
/// replaced anything.
fn replace_string(value: &mut serde_json::Value, variant: &str) -> bool {
    match value {
        serde_json::Value::String(s) if s == variant => {
            *value = serde_json::Value::from(0);
            true
        }
        // Every occurrence is replaced (no short-circuit).
        serde_json::Value::Array(items) => {
            let replaced: Vec<bool> = items
                .iter_mut()
                .map(|item| replace_string(item, variant))
                .collect();
            replaced.contains(&true)
        }
        serde_json::Value::Object(fields) => {
            let replaced: Vec<bool> = fields
                .values_mut()
                .map(|item| replace_string(item, variant))
                .collect();
            replaced.contains(&true)
        }
        _ => false,
    }
}

async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let lk = &state.config.livekit;
    let (Some(key), Some(secret)) = (
        lk.api_key.as_deref().filter(|k| !k.is_empty()),
        lk.api_secret.as_ref(),
    ) else {
        tracing::warn!("a LiveKit webhook arrived, but LiveKit is not configured");
        crate::server::metrics::webhook("livekit", "refused");
        return (StatusCode::UNAUTHORIZED, Refused::NotConfigured.to_string()).into_response();
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let event = match verify(key, secret.expose_secret(), authorization, &body) {
        Ok(event) => event,
        Err(refused) => {
            tracing::warn!(reason = %refused, "refused a LiveKit webhook");
            crate::server::metrics::webhook("livekit", "refused");
            let status = match refused {
                Refused::BadBody(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::UNAUTHORIZED,
            };
            return (status, refused.to_string()).into_response();
        }
    };
    crate::server::setup_check::heard(&state, crate::server::setup_check::Provider::LiveKit);
    match calls::ingest::apply(&state, &event).await {
        Ok(applied) => {
            crate::server::metrics::webhook(
                "livekit",
                match applied {
                    calls::ingest::Applied::Recorded { .. } => "recorded",
                    calls::ingest::Applied::Duplicate => "duplicate",
                },
            );
            follow_up(&state, &event, &applied);
            StatusCode::OK.into_response()
        }
        Err(e) => {
            tracing::error!(event = %event.id, error = %e, "could not record a LiveKit webhook");
            crate::server::metrics::webhook("livekit", "failed");
            // LiveKit retries a failed delivery.
            (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response()
        }
    }
}

/// What an event means for following calls: a SIP participant that joined unanswered is
/// followed until it is answered ([`calls::follow`]); a track published by anyone else
/// in a call's room (its agent) may have just answered it.
fn follow_up(state: &AppState, event: &proto::WebhookEvent, applied: &calls::ingest::Applied) {
    let Some(p) = event.participant.as_ref() else {
        return;
    };
    let room = event.room.as_ref().map(|r| r.name.as_str()).unwrap_or("");
    let sip = p.kind == proto::participant_info::Kind::Sip as i32;
    match event.event.as_str() {
        "participant_joined" if sip => {
            let answered = p.attributes.get("sip.callStatus").is_some_and(|s| {
                calls::CallStatus::from_sip(s).is_some_and(|s| s >= calls::CallStatus::Answered)
            });
            // Only inbound calls carry the dispatch rule's id (livekit/protocol
            // `livekit/attrs.go`, set in livekit/sip `pkg/sip/inbound.go`). Their answer
            // comes with their agent's track (a nudge); an outbound call's only with a read.
            let lane = if p.attributes.contains_key("sip.ruleID") {
                calls::follow::Lane::Background
            } else {
                calls::follow::Lane::Outbound
            };
            if let (false, calls::ingest::Applied::Recorded { call_id: Some(id) }) =
                (answered, applied)
            {
                calls::follow::follow(state, id, room, &p.identity, lane);
            }
        }
        "track_published" if !sip => calls::follow::nudge(state, room),
        // The agent says the callee opted out (it sets the attribute on itself; LiveKit
        // reports attributes when the participant leaves).
        "participant_left"
            if !sip
                && p.attributes
                    .get(crate::server::do_not_call::OPT_OUT_ATTRIBUTE)
                    .is_some_and(|v| {
                        matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes")
                    }) =>
        {
            let (state, room) = (state.clone(), room.to_string());
            tokio::spawn(async move {
                match crate::server::do_not_call::opt_out_in_room(&state, &room).await {
                    Ok(Some(done)) => {
                        tracing::info!(number = %done.e164, "a callee opted out during a call")
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(%room, error = %e, "could not record an opt-out"),
                }
            });
        }
        // A person's browser left the room of the call they placed from it (the page was
        // closed, or its connection lost): the phone is not left talking to nobody.
        "participant_left" | "participant_connection_aborted"
            if !sip && room.starts_with("dial-browser-") =>
        {
            let (state, room, identity) = (state.clone(), room.to_string(), p.identity.clone());
            tokio::spawn(async move {
                if let Err(e) = calls::browser::browser_left(&state, &room, &identity).await {
                    tracing::warn!(%room, error = %e, "could not end a call whose browser left");
                }
            });
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Fuzz target: any body with any Authorization is refused without a panic; any
        /// body correctly signed is decoded or refused as not an event.
        #[test]
        fn any_body_is_decoded_or_refused(
            body in proptest::collection::vec(any::<u8>(), 0..512),
            authorization in any::<String>(),
        ) {
            let forged = verify("mykey", "mysecret", Some(&authorization), &body);
            prop_assert!(forged.is_err());
            let signed = token("mykey", "mysecret", &body, 60);
            let decoded = verify("mykey", "mysecret", Some(&signed), &body);
            prop_assert!(matches!(decoded, Ok(_) | Err(Refused::BadBody(_))));
        }
    }

    /// The WIRE.md vector: key `mykey`, secret `mysecret`.
    const BODY: &str = r#"{"event":"participant_joined","room":{"sid":"RM_test","name":"call-1"},"participant":{"sid":"PA_test","identity":"sip_+15105550100","state":"ACTIVE","joinedAt":"1700000000","name":"Phone +15105550100","kind":"SIP","attributes":{"sip.callID":"SCL_test","sip.callStatus":"active","sip.phoneNumber":"+15105550100","sip.trunkID":"ST_test","sip.trunkPhoneNumber":"+15105550123"}},"id":"EV_test","createdAt":"1700000000"}"#;

    /// An HS256 JWT as LiveKit signs webhooks, with any expiry (also in the past).
    fn token(key: &str, secret: &str, body: &[u8], ttl: i64) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use hmac::{Hmac, Mac};
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = serde_json::json!({
            "iss": key,
            "exp": crate::server::now() + ttl,
            "nbf": 0,
            "sha256": STANDARD.encode(Sha256::digest(body)),
        });
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{header}.{payload}").as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{header}.{payload}.{signature}")
    }

    #[test]
    fn the_wire_vector_hashes_as_documented() {
        assert_eq!(
            STANDARD.encode(Sha256::digest(BODY.as_bytes())),
            "549kReMKUvH4oKpRY493vXHMzf76u4gFTPQ7kbQtlS0="
        );
    }

    #[test]
    fn a_signed_event_is_accepted_and_decoded() {
        let jwt = token("mykey", "mysecret", BODY.as_bytes(), 300);
        let event = verify("mykey", "mysecret", Some(&jwt), BODY.as_bytes()).unwrap();
        assert_eq!(event.event, "participant_joined");
        assert_eq!(event.id, "EV_test");
        assert_eq!(event.created_at, 1_700_000_000);
        let p = event.participant.unwrap();
        assert_eq!(p.kind, proto::participant_info::Kind::Sip as i32);
        assert_eq!(p.attributes["sip.callID"], "SCL_test");
        // The fake's signer produces the same thing.
        let fake = dial_fakes::livekit::sign_webhook("mykey", "mysecret", BODY.as_bytes());
        assert!(verify("mykey", "mysecret", Some(&fake), BODY.as_bytes()).is_ok());
    }

    #[test]
    fn forged_expired_and_tampered_events_are_refused() {
        let body = BODY.as_bytes();
        // Wrong secret, wrong issuer.
        let forged = token("mykey", "not-the-secret", body, 300);
        assert!(matches!(
            verify("mykey", "mysecret", Some(&forged), body),
            Err(Refused::BadToken(_))
        ));
        let other_key = token("otherkey", "mysecret", body, 300);
        assert!(matches!(
            verify("mykey", "mysecret", Some(&other_key), body),
            Err(Refused::BadToken(_))
        ));
        // Expired beyond the minute of leeway; within it is accepted.
        let expired = token("mykey", "mysecret", body, -120);
        assert!(matches!(
            verify("mykey", "mysecret", Some(&expired), body),
            Err(Refused::BadToken(_))
        ));
        let just_expired = token("mykey", "mysecret", body, -20);
        assert!(verify("mykey", "mysecret", Some(&just_expired), body).is_ok());
        // A body changed after signing (a replay with another body).
        let jwt = token("mykey", "mysecret", body, 300);
        let tampered = BODY.replace("SCL_test", "SCL_evil");
        assert_eq!(
            verify("mykey", "mysecret", Some(&jwt), tampered.as_bytes()),
            Err(Refused::WrongHash)
        );
        assert_eq!(
            verify("mykey", "mysecret", None, body),
            Err(Refused::MissingToken)
        );
    }

    #[test]
    fn an_enum_value_from_a_newer_livekit_is_read_as_unknown() {
        let body = br#"{"event":"participant_left","id":"EV_new","createdAt":"1700000000",
            "room":{"name":"call-1"},
            "participant":{"identity":"sip_1","kind":"SIP","disconnectReason":"SOMETHING_NEW",
              "attributes":{"sip.callID":"SCL_1"}}}"#;
        let signed = token("mykey", "mysecret", body, 60);
        let event = verify("mykey", "mysecret", Some(&signed), body).expect("recorded");
        let participant = event.participant.expect("the participant");
        assert_eq!(participant.disconnect_reason, 0, "unknown");
        assert_eq!(participant.kind, proto::participant_info::Kind::Sip as i32);
        assert_eq!(participant.attributes["sip.callID"], "SCL_1");
        // Not an event at all is still refused.
        let junk = br#"{"event": 5}"#;
        let signed = token("mykey", "mysecret", junk, 60);
        assert!(matches!(
            verify("mykey", "mysecret", Some(&signed), junk),
            Err(Refused::BadBody(_))
        ));
    }
}
