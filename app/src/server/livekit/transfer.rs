//! TransferSIPParticipant, made by Dial itself: livekit-api 0.10's
//! `SIPClient::transfer_sip_participant` returns `()` and throws away the answer, but a
//! newer livekit-server answers with a status (livekit/livekit `pkg/service/sip.go`,
//! `TransferSIPParticipant`, since livekit/livekit#4783; the message is livekit/protocol
//! `protobufs/livekit_sip.proto`, `TransferSIPParticipantResponse`).
//!
//! The request is the one livekit-api sends (`services/sip.rs`,
//! `transfer_sip_participant`; `services/twirp_client.rs`, `request_with_timeout`): a
//! protobuf POST to `/twirp/livekit.SIP/TransferSIPParticipant` with a token granting
//! `roomAdmin` on the call's room and the SIP `call` grant, the same user agent, and a
//! time-out of the ringing timeout plus 2 s (`services/dial_timeout.rs`). It is sent once:
//! no region failover, as for every request with an effect on the phone network.

use super::{proto, LiveKitError, Result};
use livekit_api::access_token::{AccessToken, SIPGrants, VideoGrants};
use secrecy::{ExposeSecret, SecretString};
use std::{collections::HashMap, time::Duration};

/// livekit-api's default for the transfer target's ringing time
/// (`services/dial_timeout.rs`, `DEFAULT_RINGING_TIMEOUT`), sent explicitly as it does.
const DEFAULT_RINGING_TIMEOUT: Duration = Duration::from_secs(30);
/// The margin livekit-api adds to the ringing timeout for the request's own time-out
/// (`services/dial_timeout.rs`, `RINGING_TIMEOUT_MARGIN`).
const RINGING_TIMEOUT_MARGIN: Duration = Duration::from_secs(2);
/// What livekit-api 0.10 sends as its user agent (`services/twirp_client.rs`).
const USER_AGENT: &str = "livekit-server-sdk-rust/0.10.0";

/// `livekit.TransferSIPParticipantResponse` (livekit/protocol
/// `protobufs/livekit_sip.proto`): field numbers as upstream, the two enums read as
/// integers so a value Dial does not know yet still decodes. An older server answers
/// `google.protobuf.Empty`, which decodes as this message with every field at its
/// default: status 0 (`STS_TRANSFER_ONGOING`), reason 0 (`STR_UNSPECIFIED`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TransferSipParticipantResponse {
    #[prost(string, tag = "1")]
    pub transfer_id: String,
    /// `SIPTransferStatus`.
    #[prost(int32, tag = "2")]
    pub status: i32,
    /// `SIPTransferReason`.
    #[prost(int32, tag = "3")]
    pub reason: i32,
    /// Set when a SIP response reported the outcome.
    #[prost(message, optional, tag = "4")]
    pub sip_status: Option<proto::SipStatus>,
}

/// `SIPTransferStatus` (livekit/protocol `protobufs/livekit_sip.proto`).
pub const STS_TRANSFER_ONGOING: i32 = 0;
pub const STS_TRANSFER_FAILED: i32 = 1;
pub const STS_TRANSFER_SUCCESSFUL: i32 = 2;
/// `SIPTransferReason.STR_CALL_ENDED`.
pub const STR_CALL_ENDED: i32 = 2;

/// A `SIPTransferReason` in words (livekit/protocol `protobufs/livekit_sip.proto`, whose
/// comments these follow). `None` for "no reason reported".
pub fn reason_words(reason: i32) -> Option<String> {
    Some(match reason {
        0 => return None,
        1 => "the transfer target answered".into(),
        2 => "the call ended before the transfer completed".into(),
        3 => "the carrier or the transfer target refused the transfer".into(),
        4 => "the transfer target did not answer in time".into(),
        5 => "the carrier stopped reporting the transfer without a final answer".into(),
        6 => "the transfer was cancelled".into(),
        other => format!("LiveKit reported transfer reason {other}"),
    })
}

/// The same, from the name LiveKit puts in an error's metadata
/// (`sip_transfer_reason`, livekit/protocol `livekit/sip.go`,
/// `SIPTransferError.TwirpErrorMeta`: the enum's name, e.g. `STR_REJECTED`).
pub fn reason_from_name(name: &str) -> Option<i32> {
    Some(match name {
        "STR_UNSPECIFIED" => 0,
        "STR_COMPLETED" => 1,
        "STR_CALL_ENDED" => 2,
        "STR_REJECTED" => 3,
        "STR_RINGING_TIMEOUT" => 4,
        "STR_SUBSCRIPTION_TERMINATED" => 5,
        "STR_CANCELED" => 6,
        _ => return None,
    })
}

/// What a transfer came to, read from LiveKit's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferReport {
    /// The REFER was accepted and nothing says it failed.
    Done {
        transfer_id: Option<String>,
        /// "successful", or "accepted" when the server did not say more (an older
        /// server's empty answer, or `STS_TRANSFER_ONGOING`).
        status: &'static str,
    },
    /// The transfer did not complete: LiveKit said so in its answer's status, or
    /// answered with an error that carries the transfer's reason or the SIP status the
    /// REFER was refused with.
    NotCompleted {
        transfer_id: Option<String>,
        /// In words.
        reason: String,
        sip_status: Option<(u16, String)>,
        /// The Twirp code, when LiveKit answered with an error.
        code: Option<String>,
        /// The call ended before the transfer completed (`STR_CALL_ENDED`); any other
        /// failure leaves the call connected (livekit/sip `pkg/sip/inbound.go`,
        /// `transferCall`, gives the call its room audio back on error).
        call_ended: bool,
    },
}

impl TransferSipParticipantResponse {
    /// Reads the answer. Success is `STS_TRANSFER_SUCCESSFUL`, or `STS_TRANSFER_ONGOING`
    /// (the REFER was accepted; what an older server's empty answer decodes as) with no
    /// reason or `STR_COMPLETED`. Anything else — `STS_TRANSFER_FAILED`, a reason
    /// saying the call ended or the target refused, a status Dial does not know — is a
    /// transfer that did not complete, with its reason.
    pub fn report(&self) -> TransferReport {
        let transfer_id = Some(self.transfer_id.clone()).filter(|t| !t.is_empty());
        let sip_status = self
            .sip_status
            .as_ref()
            .and_then(|s| u16::try_from(s.code).ok().map(|c| (c, s.status.clone())))
            .filter(|(c, _)| *c != 0);
        let done_reason = matches!(self.reason, 0 | 1);
        match self.status {
            STS_TRANSFER_SUCCESSFUL | STS_TRANSFER_ONGOING if done_reason => TransferReport::Done {
                transfer_id,
                status: if self.status == STS_TRANSFER_SUCCESSFUL {
                    "successful"
                } else {
                    "accepted"
                },
            },
            status => TransferReport::NotCompleted {
                transfer_id,
                reason: reason_words(self.reason).unwrap_or_else(|| match status {
                    STS_TRANSFER_FAILED => "LiveKit reported the transfer as failed".into(),
                    other => format!("LiveKit reported transfer status {other}"),
                }),
                sip_status,
                code: None,
                call_ended: self.reason == STR_CALL_ENDED,
            },
        }
    }
}

/// The LiveKit URL as the Twirp base: `wss://` → `https://`, `ws://` → `http://`
/// (livekit-api `services/twirp_client.rs`, `normalize_host`).
fn twirp_base(url: &str) -> String {
    let url = url.trim_end_matches('/');
    if let Some(rest) = url.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = url.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        url.to_string()
    }
}

/// The parts of a LiveKit client Dial's own Twirp calls need.
pub(super) struct TwirpCaller {
    pub(super) http: reqwest::Client,
    pub(super) url: String,
    pub(super) api_key: String,
    pub(super) api_secret: SecretString,
    /// The time-out of calls that do not set their own (the client's request time-out).
    pub(super) timeout: Duration,
}

/// A Twirp error body (`{"code", "msg", "meta"}`).
#[derive(serde::Deserialize)]
struct TwirpErrorBody {
    code: String,
    msg: String,
    #[serde(default)]
    meta: HashMap<String, String>,
}

impl TwirpCaller {
    pub(super) async fn transfer(
        &self,
        request: proto::TransferSipParticipantRequest,
        ringing_timeout: Option<Duration>,
    ) -> Result<TransferReport> {
        use prost::Message;
        let ringing = ringing_timeout.unwrap_or(DEFAULT_RINGING_TIMEOUT);
        let request = proto::TransferSipParticipantRequest {
            ringing_timeout: Some(pbjson_types::Duration {
                seconds: i64::try_from(ringing.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(ringing.subsec_nanos()).unwrap_or(0),
            }),
            ..request
        };
        let token = AccessToken::with_api_key(&self.api_key, self.api_secret.expose_secret())
            .with_grants(VideoGrants {
                room_admin: true,
                room: request.room_name.clone(),
                ..Default::default()
            })
            .with_sip_grants(SIPGrants {
                call: true,
                ..Default::default()
            })
            .to_jwt()
            .map_err(|e| LiveKitError::Token(e.to_string()))?;
        let body = match self
            .post(
                "TransferSIPParticipant",
                &token,
                request.encode_to_vec(),
                ringing + RINGING_TIMEOUT_MARGIN,
            )
            .await?
        {
            Ok(bytes) => {
                return TransferSipParticipantResponse::decode(bytes.as_ref())
                    .map(|r| r.report())
                    .map_err(|e| LiveKitError::Decode(e.to_string()))
            }
            Err(body) => body,
        };
        refused(&body.meta)
            .map(|(reason, sip_status)| TransferReport::NotCompleted {
                transfer_id: body.meta.get("sip_transfer_id").cloned(),
                reason,
                sip_status,
                code: Some(body.code.clone()),
                call_ended: body.meta.get("sip_transfer_reason").map(String::as_str)
                    == Some("STR_CALL_ENDED"),
            })
            .ok_or_else(|| twirp_error(body.code, body.msg, body.meta))
    }
}

impl TwirpCaller {
    /// POSTs `body` (protobuf) to `livekit.SIP/<method>` with `token`, as livekit-api's
    /// Twirp client does; the answer's bytes, or the Twirp error LiveKit answered.
    async fn post(
        &self,
        method: &str,
        token: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<std::result::Result<Vec<u8>, TwirpErrorBody>> {
        let url = format!("{}/twirp/livekit.SIP/{method}", twirp_base(&self.url));
        let response = self
            .http
            .post(url)
            .bearer_auth(token)
            .header(reqwest::header::USER_AGENT, USER_AGENT)
            .header(reqwest::header::CONTENT_TYPE, "application/protobuf")
            .body(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(network_error)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(network_error)?;
        if status.is_success() {
            return Ok(Ok(bytes.to_vec()));
        }
        serde_json::from_slice(&bytes).map(Err).map_err(|_| {
            LiveKitError::Decode(format!(
                "HTTP {} without a Twirp error body",
                status.as_u16()
            ))
        })
    }

    /// CreateSIPOutboundTrunk with the whole trunk as given: livekit-api 0.10 always
    /// sends an empty `destination_country` (`services/sip.rs`,
    /// `create_sip_outbound_trunk`: "TODO: support these attributes"), so a trunk with
    /// a country would need a second request; here it is one. Same request, grant (SIP
    /// `admin`), user agent and time-out as livekit-api's; sent once.
    pub(super) async fn create_outbound_trunk(
        &self,
        trunk: proto::SipOutboundTrunkInfo,
    ) -> Result<proto::SipOutboundTrunkInfo> {
        use prost::Message;
        let token = AccessToken::with_api_key(&self.api_key, self.api_secret.expose_secret())
            .with_sip_grants(SIPGrants {
                admin: true,
                ..Default::default()
            })
            .to_jwt()
            .map_err(|e| LiveKitError::Token(e.to_string()))?;
        let request = proto::CreateSipOutboundTrunkRequest { trunk: Some(trunk) };
        match self
            .post(
                "CreateSIPOutboundTrunk",
                &token,
                request.encode_to_vec(),
                self.timeout,
            )
            .await?
        {
            Ok(bytes) => proto::SipOutboundTrunkInfo::decode(bytes.as_ref())
                .map_err(|e| LiveKitError::Decode(e.to_string())),
            Err(body) => Err(twirp_error(body.code, body.msg, body.meta)),
        }
    }
}

/// A Twirp error that says the transfer itself failed: it names the transfer's reason
/// (`sip_transfer_reason`, a newer server: livekit/protocol `livekit/sip.go`,
/// `SIPTransferError.TwirpErrorMeta`) or the SIP status the REFER or its NOTIFY was
/// answered with (`sip_status_code`: livekit/sip `pkg/sip/protocol.go`, `sendRefer` and
/// `handleReferNotify`, through `pkg/errors/errors.go`, `ApplySIPStatus`). Other errors
/// (no such room, a bad destination, LiveKit unreachable) are not the transfer's answer.
fn refused(meta: &HashMap<String, String>) -> Option<(String, Option<(u16, String)>)> {
    let sip_status = meta
        .get("sip_status_code")
        .and_then(|s| s.parse::<u16>().ok())
        .map(|code| (code, meta.get("sip_status").cloned().unwrap_or_default()));
    let reason = meta.get("sip_transfer_reason").map(|name| {
        reason_from_name(name)
            .and_then(reason_words)
            .unwrap_or_else(|| format!("LiveKit reported transfer reason {name}"))
    });
    match (reason, sip_status) {
        (None, None) => None,
        (Some(reason), sip) => Some((reason, sip)),
        (None, sip) => Some(("the transfer was refused".into(), sip)),
    }
}

/// A Twirp error as [`LiveKitError`], as livekit-api's errors are mapped
/// ([`From<ServiceError>`](super::LiveKitError)): with a SIP status in its metadata
/// (`sip_status_code`, `sip_status`: livekit/protocol `livekit/sip.go`,
/// `SIPStatus.TwirpErrorMeta`, which `SIPTransferError.TwirpErrorMeta` repeats), a
/// [`LiveKitError::Sip`]; else [`LiveKitError::Twirp`] with the metadata kept.
fn twirp_error(code: String, message: String, meta: HashMap<String, String>) -> LiveKitError {
    if let Some(status) = meta
        .get("sip_status_code")
        .and_then(|s| s.parse::<u16>().ok())
    {
        return LiveKitError::Sip {
            code,
            status,
            reason: meta.get("sip_status").cloned().unwrap_or_default(),
        };
    }
    LiveKitError::Twirp {
        code,
        message,
        meta,
    }
}

fn network_error(e: reqwest::Error) -> LiveKitError {
    if e.is_timeout() {
        return LiveKitError::Network("the request timed out".to_string());
    }
    let mut cause: &dyn std::error::Error = &e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    LiveKitError::Network(cause.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn response(
        status: i32,
        reason: i32,
        sip: Option<(i32, &str)>,
    ) -> TransferSipParticipantResponse {
        TransferSipParticipantResponse {
            transfer_id: "STR_abc".into(),
            status,
            reason,
            sip_status: sip.map(|(code, status)| proto::SipStatus {
                code,
                status: status.into(),
            }),
        }
    }

    #[test]
    fn an_older_servers_empty_answer_is_an_accepted_transfer() {
        // google.protobuf.Empty on the wire: no bytes.
        let decoded = TransferSipParticipantResponse::decode(&[][..]).unwrap();
        assert_eq!(
            decoded.report(),
            TransferReport::Done {
                transfer_id: None,
                status: "accepted"
            }
        );
    }

    #[test]
    fn the_upstream_message_decodes_field_by_field() {
        // Encoded with livekit-protocol's own generated message: same field numbers.
        let upstream = proto::TransferSipParticipantResponse {
            transfer_id: "STR_x".into(),
            status: proto::SipTransferStatus::StsTransferFailed as i32,
            reason: proto::SipTransferReason::StrRejected as i32,
            sip_status: Some(proto::SipStatus {
                code: 603,
                status: "Decline".into(),
            }),
        };
        let ours =
            TransferSipParticipantResponse::decode(upstream.encode_to_vec().as_slice()).unwrap();
        assert_eq!(
            ours.report(),
            TransferReport::NotCompleted {
                transfer_id: Some("STR_x".into()),
                reason: "the carrier or the transfer target refused the transfer".into(),
                sip_status: Some((603, "Decline".into())),
                code: None,
                call_ended: false,
            }
        );
    }

    #[test]
    fn statuses_and_reasons_read_as_success_or_failure() {
        assert_eq!(
            response(STS_TRANSFER_SUCCESSFUL, 1, None).report(),
            TransferReport::Done {
                transfer_id: Some("STR_abc".into()),
                status: "successful"
            }
        );
        let failed = |r: TransferSipParticipantResponse| {
            matches!(r.report(), TransferReport::NotCompleted { .. })
        };
        assert!(failed(response(STS_TRANSFER_FAILED, 0, None)));
        assert!(failed(response(STS_TRANSFER_FAILED, 4, None)));
        // The call ended before the REFER completed: not a completed transfer.
        assert!(failed(response(STS_TRANSFER_SUCCESSFUL, 2, None)));
        assert!(failed(response(STS_TRANSFER_ONGOING, 5, None)));
        // A status a newer server may add: not taken for success.
        assert!(failed(response(7, 0, None)));
        let TransferReport::NotCompleted { reason, .. } =
            response(STS_TRANSFER_FAILED, 0, None).report()
        else {
            unreachable!()
        };
        assert_eq!(reason, "LiveKit reported the transfer as failed");
    }

    #[test]
    fn error_metadata_says_whether_the_transfer_was_refused() {
        let meta = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        // A newer server: the reason and the SIP status.
        assert_eq!(
            refused(&meta(&[
                ("sip_status_code", "403"),
                ("sip_status", "Forbidden"),
                ("sip_transfer_reason", "STR_REJECTED"),
            ])),
            Some((
                "the carrier or the transfer target refused the transfer".into(),
                Some((403, "Forbidden".into()))
            ))
        );
        // livekit/sip before SIPTransferError: the SIP status only.
        assert_eq!(
            refused(&meta(&[
                ("sip_status_code", "603"),
                ("sip_status", "Decline")
            ])),
            Some((
                "the transfer was refused".into(),
                Some((603, "Decline".into()))
            ))
        );
        assert_eq!(
            refused(&meta(&[("sip_transfer_reason", "STR_RINGING_TIMEOUT")])),
            Some(("the transfer target did not answer in time".into(), None))
        );
        assert_eq!(refused(&meta(&[])), None);
        let e = twirp_error(
            "permission_denied".into(),
            "x".into(),
            meta(&[("sip_status_code", "403")]),
        );
        assert_eq!(e.sip_status(), Some(403));
        let plain = twirp_error("not_found".into(), "no room".into(), HashMap::new());
        assert!(plain.is_not_found());
        for (name, value) in [
            ("STR_REJECTED", 3),
            ("STR_CALL_ENDED", 2),
            ("STR_CANCELED", 6),
        ] {
            assert_eq!(reason_from_name(name), Some(value));
        }
        assert_eq!(reason_from_name("STR_NEW_THING"), None);
        assert_eq!(
            twirp_base("wss://x.livekit.cloud/"),
            "https://x.livekit.cloud"
        );
        assert_eq!(twirp_base("http://127.0.0.1:7880"), "http://127.0.0.1:7880");
    }
}
