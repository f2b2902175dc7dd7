//! The Twirp wire: LiveKit's error codes and their HTTP statuses, protobuf or JSON bodies
//! chosen by the request's content type, and the one handler that authenticates a request
//! and hands it to the service it names.

use super::*;

// ---------------------------------------------------------------------------------------
// Errors

/// A Twirp error as LiveKit sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwirpError {
    pub code: &'static str,
    pub msg: String,
    pub meta: BTreeMap<String, String>,
}

impl TwirpError {
    pub fn new(code: &'static str, msg: impl Into<String>) -> Self {
        TwirpError {
            code,
            msg: msg.into(),
            meta: BTreeMap::new(),
        }
    }

    pub(super) fn invalid(msg: impl Into<String>) -> Self {
        Self::new("invalid_argument", msg)
    }

    pub(super) fn not_found(msg: impl Into<String>) -> Self {
        Self::new("not_found", msg)
    }

    pub(super) fn status(&self) -> StatusCode {
        match self.code {
            "invalid_argument" | "malformed" | "out_of_range" => StatusCode::BAD_REQUEST,
            "not_found" | "bad_route" => StatusCode::NOT_FOUND,
            "unauthenticated" => StatusCode::UNAUTHORIZED,
            "permission_denied" => StatusCode::FORBIDDEN,
            "already_exists" | "aborted" => StatusCode::CONFLICT,
            "failed_precondition" => StatusCode::PRECONDITION_FAILED,
            "resource_exhausted" => StatusCode::TOO_MANY_REQUESTS,
            // Twirp's table (twitchtv/twirp `errors.go`, `ServerHTTPStatusFromErrorCode`).
            "deadline_exceeded" | "canceled" => StatusCode::REQUEST_TIMEOUT,
            "unimplemented" => StatusCode::NOT_IMPLEMENTED,
            "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A call that failed with a SIP status.
    pub(super) fn sip(code: &'static str, status: u16, reason: &str) -> Self {
        // livekit/protocol `livekit/sip.go`, `SIPStatus.GRPCStatus`.
        let mut e = Self::new(code, format!("sip status {status}: {reason}"));
        e.meta.insert("sip_status_code".into(), status.to_string());
        e.meta.insert("sip_status".into(), reason.to_string());
        e
    }

    pub(super) fn into_response(self) -> Response {
        (
            self.status(),
            axum::Json(json!({ "code": self.code, "msg": self.msg, "meta": self.meta })),
        )
            .into_response()
    }
}

// ---------------------------------------------------------------------------------------
// Wire encoding: protobuf or JSON, chosen by the request's content type.

#[derive(Clone, Copy)]
pub(super) struct Body<'a> {
    bytes: &'a [u8],
    json: bool,
}

impl Body<'_> {
    pub(super) fn decode<T: Message + Default + DeserializeOwned>(&self) -> Result<T, TwirpError> {
        if self.json {
            let text = if self.bytes.is_empty() {
                b"{}".as_slice()
            } else {
                self.bytes
            };
            serde_json::from_slice(text).map_err(|e| {
                TwirpError::new(
                    "malformed",
                    format!("the request could not be decoded: {e}"),
                )
            })
        } else {
            T::decode(self.bytes).map_err(|e| {
                TwirpError::new(
                    "malformed",
                    format!("the request could not be decoded: {e}"),
                )
            })
        }
    }

    pub(super) fn encode<T: Message + Serialize>(&self, value: &T) -> Result<Vec<u8>, TwirpError> {
        if self.json {
            let v = serde_json::to_value(value)
                .map_err(|e| TwirpError::new("internal", e.to_string()))?;
            serde_json::to_vec(&snake_keys(v))
                .map_err(|e| TwirpError::new("internal", e.to_string()))
        } else {
            Ok(value.encode_to_vec())
        }
    }
}

pub(super) fn snake(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// pbjson writes camelCase names; LiveKit's Twirp JSON uses the proto (snake_case) names.
/// Keys of string maps (attributes, headers) are left alone.
pub(super) fn snake_keys(v: Value) -> Value {
    pub(super) fn walk(v: Value, is_map: bool) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let child_is_map = matches!(
                            k.as_str(),
                            "attributes"
                                | "headers"
                                | "headersToAttributes"
                                | "attributesToHeaders"
                                | "tags"
                        );
                        (if is_map { k } else { snake(&k) }, walk(v, child_is_map))
                    })
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|i| walk(i, false)).collect())
            }
            other => other,
        }
    }
    walk(v, false)
}

pub(super) async fn handle(
    State(fake): State<FakeLiveKit>,
    Path((service, method)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let recorded = Recorded {
        method: "POST".into(),
        path: format!("/twirp/{service}/{method}"),
        query: String::new(),
        body: if json {
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            format!("<{} bytes of protobuf>", bytes.len())
        },
    };
    if let Some((status, body)) = fake.faults.before(recorded).await {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, axum::Json(body)).into_response();
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = token else {
        return TwirpError::new("unauthenticated", "no authorization header").into_response();
    };
    let claims = match TokenVerifier::with_api_key(&fake.api_key, &fake.api_secret).verify(token) {
        Ok(c) => c,
        Err(e) => {
            return TwirpError::new("unauthenticated", format!("invalid token: {e}"))
                .into_response()
        }
    };
    let body = Body {
        bytes: &bytes,
        json,
    };
    let result = match service.as_str() {
        "livekit.SIP" if method == "CreateSIPParticipant" => {
            match body.decode::<proto::CreateSipParticipantRequest>() {
                Ok(req) => match fake.create_sip_participant(req, &claims).await {
                    Ok(info) => body.encode(&info),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            }
        }
        "livekit.SIP" if method == "TransferSIPParticipant" => {
            match body.decode::<proto::TransferSipParticipantRequest>() {
                Ok(req) => {
                    if !claims.video.room_admin {
                        Err(TwirpError::new("unauthenticated", "permissions denied"))
                    } else {
                        match fake.transfer(req, &claims).await {
                            Ok(answer) => body.encode(&answer),
                            Err(e) => Err(e),
                        }
                    }
                }
                Err(e) => Err(e),
            }
        }
        "livekit.SIP" => {
            let result = fake.sip_method(&method, body, &claims);
            if !method.starts_with("List") {
                fake.save();
            }
            result
        }
        "livekit.RoomService" => fake.room_method(&method, body, &claims),
        "livekit.AgentDispatchService" => fake.dispatch_method(&method, body, &claims),
        _ => Err(TwirpError::new(
            "bad_route",
            format!("unknown service {service}"),
        )),
    };
    match result {
        Ok(bytes) => (
            StatusCode::OK,
            [(
                "content-type",
                if json {
                    "application/json"
                } else {
                    "application/protobuf"
                },
            )],
            bytes,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keys_become_snake_case_but_map_keys_stay() {
        let v = json!({"sipTrunkId": "ST_1", "attributes": {"sip.callID": "x", "someKey": "y"}, "items": [{"roomName": "r"}]});
        let s = snake_keys(v);
        assert_eq!(s["sip_trunk_id"], "ST_1");
        assert_eq!(s["attributes"]["someKey"], "y");
        assert_eq!(s["items"][0]["room_name"], "r");
    }
}
