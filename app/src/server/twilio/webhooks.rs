//! Twilio's webhooks: status callbacks and the voice answer for numbers not on the trunk.
//!
//! Both routes check `X-Twilio-Signature` against the configured public URL (the URL
//! Twilio was told to request) plus the request's path and query, and refuse anything
//! unsigned, wrongly signed or from another account with 403 before writing anything.
//! Every delivery is recorded once in `call_events` (Twilio retries: a repeat hits the
//! event's key and changes nothing). Call sessions themselves come from LiveKit; a status
//! callback is only linked to the session carrying its `CallSid`.

use crate::error::AppError;
use crate::server::{db::is_unique_violation, now, state::AppState, twilio};
use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{header, HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

/// Twilio's form bodies are small; anything larger is not Twilio.
const MAX_BODY: usize = 64 * 1024;

/// The path of the status callback, under the public URL.
pub const STATUS_PATH: &str = "/webhooks/twilio/status";
const VOICE_PATH: &str = "/webhooks/twilio/voice";

/// Every `CallStatus` Twilio sends.
const CALL_STATUSES: &[&str] = &[
    "queued",
    "initiated",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "failed",
    "no-answer",
    "canceled",
];

/// The routes under `/webhooks/twilio/`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(STATUS_PATH, post(status))
        .route(VOICE_PATH, post(voice))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// The status callback URL numbers get when a public URL is configured.
pub async fn status_callback_url(state: &AppState) -> Result<Option<String>, AppError> {
    let settings = twilio::settings::load(state).await?;
    Ok(settings
        .public_url
        .map(|(url, _)| format!("{}{STATUS_PATH}", url.trim_end_matches('/'))))
}

/// A verified delivery's form fields (repeated names kept, in order).
struct Form(Vec<(String, String)>);

impl Form {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

fn forbidden(message: &'static str) -> Response {
    (StatusCode::FORBIDDEN, message).into_response()
}

fn internal() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

/// Checks the signature and the account; on success returns the form fields.
async fn verify(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Form, Response> {
    let path = uri.path();
    let settings = twilio::settings::load(state).await.map_err(|e| {
        tracing::error!(path, error = %e, "could not load the Twilio settings for a webhook");
        internal()
    })?;
    let (Some((public_url, _)), Some((token, _)), Some((account_sid, _))) = (
        settings.public_url,
        settings.auth_token,
        settings.account_sid,
    ) else {
        tracing::warn!(
            path,
            "refused a Twilio webhook: Dial cannot check its signature until the public URL \
             (DIAL_PUBLIC_URL or Settings → Twilio) and the Account SID and Auth Token are configured"
        );
        return Err(forbidden("webhooks are not configured"));
    };
    let Some(signature) = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
    else {
        tracing::warn!(path, "refused a Twilio webhook without X-Twilio-Signature");
        return Err(forbidden("invalid signature"));
    };
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or(path);
    let url = format!("{}{path_and_query}", public_url.trim_end_matches('/'));
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if !twilio::signature::validate(token.expose_secret(), &url, &params, signature) {
        tracing::warn!(path, %url, "refused a Twilio webhook with a wrong signature");
        return Err(forbidden("invalid signature"));
    }
    let form = Form(params);
    if form.get("AccountSid") != Some(account_sid.as_str()) {
        tracing::warn!(
            path,
            account = form.get("AccountSid").unwrap_or_default(),
            "refused a Twilio webhook for another account"
        );
        return Err(forbidden("wrong account"));
    }
    crate::server::setup_check::heard(state, crate::server::setup_check::Provider::Twilio);
    Ok(form)
}

/// The session of a Twilio call leg, through the partial index `call_sessions_twilio`.
pub(crate) const SESSION_OF_CALL_SID: &str =
    "SELECT id FROM call_sessions WHERE twilio_call_sid = $1 ORDER BY created_at, id LIMIT 1";

/// The call session LiveKit reported for this Twilio call, if any yet.
async fn session_of(state: &AppState, call_sid: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(SESSION_OF_CALL_SID)
        .bind(call_sid)
        .fetch_optional(&state.db.pool)
        .await
}

/// Records one event; `Ok(false)` when it was already recorded.
async fn record_event(
    state: &AppState,
    id: &str,
    call_id: Option<String>,
    kind: &str,
    detail: &Value,
    occurred_at: i64,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO call_events (id, call_id, source, kind, detail, occurred_at, received_at) \
         VALUES ($1, $2, 'twilio', $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(call_id)
    .bind(kind)
    .bind(detail.to_string())
    .bind(occurred_at)
    .bind(now())
    .execute(&state.db.pool)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The fields worth keeping, under Twilio's own names (so `CallSid` finds the event later).
fn detail_of(form: &Form, names: &[&str]) -> Map<String, Value> {
    names
        .iter()
        .filter_map(|name| {
            form.get(name)
                .map(|v| (name.to_string(), Value::String(v.to_string())))
        })
        .collect()
}

/// `POST /webhooks/twilio/status`: one event per status (and sequence number).
async fn status(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match verify(&state, &uri, &headers, &body).await {
        Ok(form) => form,
        Err(response) => {
            crate::server::metrics::webhook("twilio", "refused");
            return response;
        }
    };
    let Some(call_sid) = form.get("CallSid") else {
        crate::server::metrics::webhook("twilio", "refused");
        return (StatusCode::BAD_REQUEST, "missing CallSid").into_response();
    };
    let Some(call_status) = form.get("CallStatus").filter(|s| CALL_STATUSES.contains(s)) else {
        crate::server::metrics::webhook("twilio", "refused");
        return (StatusCode::BAD_REQUEST, "missing or unknown CallStatus").into_response();
    };
    let sequence = form
        .get("SequenceNumber")
        .or_else(|| form.get("Timestamp"))
        .unwrap_or_default();
    let id = format!("twilio:{call_sid}:{call_status}:{sequence}");
    let occurred_at = form
        .get("Timestamp")
        .and_then(|t| chrono::DateTime::parse_from_rfc2822(t).ok())
        .map(|t| t.timestamp())
        .unwrap_or_else(now);
    let detail = Value::Object(detail_of(
        &form,
        &[
            "CallSid",
            "CallStatus",
            "SequenceNumber",
            "Timestamp",
            "CallDuration",
            "SipResponseCode",
            "From",
            "To",
            "Direction",
        ],
    ));
    let outcome = async {
        let call_id = session_of(&state, call_sid).await?;
        record_event(
            &state,
            &id,
            call_id,
            &format!("twilio.{call_status}"),
            &detail,
            occurred_at,
        )
        .await
    }
    .await;
    crate::server::metrics::webhook(
        "twilio",
        match outcome {
            Ok(true) => "recorded",
            Ok(false) => "duplicate",
            Err(_) => "failed",
        },
    );
    match outcome {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => {
            tracing::debug!(%id, "a Twilio status callback delivered again; already recorded");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => {
            tracing::error!(%id, error = %e, "could not record a Twilio status callback");
            internal()
        }
    }
}

/// What the voice webhook decided for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Dial,
    UnknownNumber,
    NoAssistant,
    NoSipUri,
}

impl Decision {
    fn as_str(self) -> &'static str {
        match self {
            Decision::Dial => "dial",
            Decision::UnknownNumber => "unknown_number",
            Decision::NoAssistant => "no_assistant",
            Decision::NoSipUri => "no_sip_uri",
        }
    }
}

const XML_DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// TwiML that sends the call to LiveKit's SIP endpoint for the dialled number.
fn twiml_dial(to: &str, sip_host: &str) -> String {
    let uri = format!("sip:{to}@{sip_host}");
    format!(
        "{XML_DECLARATION}<Response><Dial><Sip>{}</Sip></Dial></Response>",
        crate::escape::markup(&uri)
    )
}

/// TwiML that refuses the call (the caller hears that the call was rejected).
fn twiml_reject() -> String {
    format!(r#"{XML_DECLARATION}<Response><Reject reason="rejected"/></Response>"#)
}

fn twiml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

/// `POST /webhooks/twilio/voice`: a call to a number that is not on the Elastic SIP trunk.
async fn voice(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match verify(&state, &uri, &headers, &body).await {
        Ok(form) => form,
        Err(response) => {
            crate::server::metrics::webhook("twilio_voice", "refused");
            return response;
        }
    };
    crate::server::metrics::webhook("twilio_voice", "recorded");
    let Some(call_sid) = form.get("CallSid") else {
        return (StatusCode::BAD_REQUEST, "missing CallSid").into_response();
    };
    let to = form.get("To").unwrap_or_default();
    let sip_host = state
        .config
        .livekit
        .sip_uri
        .as_deref()
        .map(|s| s.trim().trim_start_matches("sip:"))
        .filter(|s| !s.is_empty());
    let number: Result<Option<(Option<String>,)>, sqlx::Error> = if to.is_empty() {
        Ok(None)
    } else {
        sqlx::query_as(
            "SELECT assistant_id FROM phone_numbers WHERE e164 = $1 AND released_at IS NULL",
        )
        .bind(to)
        .fetch_optional(&state.db.pool)
        .await
    };
    let decision = match number {
        Err(e) => {
            tracing::error!(error = %e, "could not look up the number of a Twilio call");
            return internal();
        }
        Ok(None) => Decision::UnknownNumber,
        Ok(Some((None,))) => Decision::NoAssistant,
        Ok(Some((Some(_),))) if sip_host.is_none() => Decision::NoSipUri,
        Ok(Some((Some(_),))) => Decision::Dial,
    };
    let answer = match (decision, sip_host) {
        (Decision::Dial, Some(host)) => twiml_dial(to, host),
        _ => twiml_reject(),
    };
    if decision == Decision::NoSipUri {
        tracing::warn!(
            to,
            "rejected a call to an assigned number: set DIAL_LIVEKIT_SIP_URI so Dial can send it to LiveKit"
        );
    }
    let mut detail = detail_of(&form, &["CallSid", "To", "From", "Direction"]);
    detail.insert("decision".into(), Value::String(decision.as_str().into()));
    let id = format!("twilio:{call_sid}:voice");
    let outcome = async {
        let call_id = session_of(&state, call_sid).await?;
        record_event(
            &state,
            &id,
            call_id,
            "twilio.voice",
            &Value::Object(detail),
            now(),
        )
        .await
    }
    .await;
    match outcome {
        Ok(_) => twiml(answer),
        Err(e) => {
            tracing::error!(%id, error = %e, "could not record a Twilio voice webhook");
            internal()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Fuzz target: whatever the caller's number and host, the TwiML has exactly one
        /// Response, Dial and Sip element and no markup from the input.
        #[test]
        fn twiml_never_carries_markup_from_its_input(to in any::<String>(), host in any::<String>()) {
            let twiml = twiml_dial(&to, &host);
            prop_assert_eq!(twiml.matches('<').count(), 7);
            prop_assert_eq!(twiml.matches("<Sip>").count(), 1);
        }
    }

    #[test]
    fn twiml_escapes_the_sip_uri() {
        assert_eq!(
            twiml_dial("+14155550100", "abcd.sip.livekit.cloud"),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial><Sip>sip:+14155550100@abcd.sip.livekit.cloud</Sip></Dial></Response>"#
        );
        let hostile = twiml_dial("+1<Hangup/>&\"'", "h>st");
        assert!(hostile.contains("<Sip>sip:+1&lt;Hangup/&gt;&amp;&quot;&apos;@h&gt;st</Sip>"));
        assert!(!hostile.contains("<Hangup/>"));
    }

    #[test]
    fn reject_is_polite_twiml() {
        assert_eq!(
            twiml_reject(),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="rejected"/></Response>"#
        );
    }

    #[test]
    fn forms_keep_repeated_names_and_skip_empty_values() {
        let form = Form(vec![
            ("To".into(), String::new()),
            ("Digits".into(), "1".into()),
            ("Digits".into(), "2".into()),
        ]);
        assert_eq!(form.get("To"), None);
        assert_eq!(form.get("Digits"), Some("1"));
        assert_eq!(form.0.len(), 3);
    }
}
