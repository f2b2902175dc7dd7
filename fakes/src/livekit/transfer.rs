//! TransferSIPParticipant: the SIP REFER the bridge sends to the carrier for a call, and
//! how its answer comes back through the API.
//!
//! - livekit/livekit `pkg/service/sip.go`, `TransferSIPParticipant`: needs the SIP `call`
//!   grant and `roomAdmin` on the room (checked in `twirp.rs`), finds the participant
//!   (`not_found` otherwise), takes its `sip.callID` attribute, and answers the bridge's
//!   `TransferSIPParticipantResponse` (livekit/livekit#4783): transfer id, status, reason
//!   and the SIP status that reported the outcome (livekit/protocol
//!   `protobufs/livekit_sip.proto`).
//! - livekit/sip `pkg/sip/outbound.go` (`sipOutbound.transferCall`): a call that was
//!   never established, or is hanging up, is `failed_precondition`. The REFER's own
//!   answer other than 200/202 fails the transfer with that SIP status
//!   (`pkg/sip/protocol.go`, `sendRefer`); so does a NOTIFY reporting the transfer
//!   target's final failure (`handleReferNotify`).
//! - The error's Twirp code is protocol's mapping of the SIP status (`livekit/sip.go`,
//!   `sipCodeToGRPCCode` and `SIPStatus.GRPCStatus`, applied by livekit/sip
//!   `pkg/errors/errors.go`, `ApplySIPStatus`); its metadata is `SIPTransferError`'s
//!   (livekit/protocol `livekit/sip.go`, `TwirpErrorMeta`: `sip_transfer_reason`,
//!   `sip_transfer_id`, and the SIP status under `sip_status_code` / `sip_status`, the
//!   keys a failed dial uses), and its message `SIPTransferError.Error()`.
//! - A refused REFER leaves the call connected (livekit/sip `pkg/sip/inbound.go`,
//!   `transferCall`, gives the call its room audio back on error); an accepted one ends
//!   it: the bridge hangs up its leg once the transfer completed.
//!
//! Who answers the REFER: a destination's outcome set by a test
//! ([`FakeLiveKit::set_transfer_outcome`]), else the carrier linked to the fake
//! ([`FakeLiveKit::set_refer_peer`]: the sandbox links the Twilio fake, which answers by
//! its trunk's `TransferMode`), else the REFER is accepted.

use super::*;

/// A call's REFER as the carrier sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferredCall {
    /// `inbound` (the carrier called LiveKit) or `outbound` (LiveKit called out
    /// through an outbound trunk).
    pub direction: &'static str,
    /// The outbound trunk's address (the carrier's termination host), for an outbound
    /// call.
    pub trunk_address: Option<String>,
    /// The number the call was made to, for an inbound call (the carrier's number that
    /// rang LiveKit).
    pub called_number: String,
    /// The REFER's `Refer-To`: `tel:+…` or `sip:…`.
    pub refer_to: String,
}

/// The carrier at the other end of the calls' trunks: how it answers a REFER, or `None`
/// when the call is not one of its own (then the REFER is accepted).
pub type ReferPeer = Arc<dyn Fn(&ReferredCall) -> Option<TransferOutcome> + Send + Sync>;

/// The Twirp code protocol gives a SIP status (livekit/protocol `livekit/sip.go`,
/// `sipCodeToGRPCCode`, and `SIPStatus.GRPCStatus` for a status the table lacks).
pub(super) fn code_for_sip_status(status: u16) -> &'static str {
    match status {
        300 | 305 | 380 => "invalid_argument",
        301 | 302 | 404 | 410 | 481 | 604 => "not_found",
        401 | 402 | 403 | 433 | 470 | 603 | 607 | 608 => "permission_denied",
        407 | 428 | 436 | 437 | 438 | 494 => "unauthenticated",
        408 | 504 => "deadline_exceeded",
        409 | 412 | 482 | 483 => "failed_precondition",
        416 => "out_of_range",
        440 | 480 | 486 | 600 => "resource_exhausted",
        487 | 491 => "aborted",
        500..=503 => "failed_precondition",
        200..=299 => "ok",
        _ if status < 200 => "unknown",
        _ if status < 500 => "invalid_argument",
        _ if status < 600 => "failed_precondition",
        _ if status < 700 => "invalid_argument",
        _ => "unknown",
    }
}

/// The reason phrase a carrier sends with a status (RFC 3261 §21).
fn reason_phrase(status: u16) -> &'static str {
    match status {
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        603 => "Decline",
        _ => "Failed",
    }
}

impl FakeLiveKit {
    /// Links the carrier that answers the calls' REFERs (see [`ReferPeer`]).
    pub fn set_refer_peer(&self, peer: Option<ReferPeer>) {
        if let Ok(mut w) = self.world.lock() {
            w.refer_peer = peer;
        }
    }

    pub(super) async fn transfer(
        &self,
        req: proto::TransferSipParticipantRequest,
        claims: &Claims,
    ) -> Result<proto::TransferSipParticipantResponse, TwirpError> {
        if !claims.sip.call {
            return Err(TwirpError::new("unauthenticated", "permissions denied"));
        }
        let to = req.transfer_to.trim();
        if !(to.starts_with("tel:") || to.starts_with("sip:")) {
            return Err(TwirpError::invalid(format!(
                "transfer destination must be a tel: or sip: URI, got {to:?}"
            )));
        }
        let (outcome, peer, referred) = {
            let w = self.lock()?;
            let room = w.rooms.get(&req.room_name).ok_or_else(|| {
                TwirpError::not_found(format!("room {:?} not found", req.room_name))
            })?;
            let p = room
                .participants
                .iter()
                .find(|p| p.identity == req.participant_identity)
                .ok_or_else(|| {
                    TwirpError::not_found(format!(
                        "participant {:?} not found",
                        req.participant_identity
                    ))
                })?;
            // pkg/service/sip.go: the participant's sip.callID names the call.
            if p.kind != participant_info::Kind::Sip as i32
                || !p.attributes.contains_key("sip.callID")
            {
                return Err(TwirpError::invalid(
                    "no SIP session associated with participant",
                ));
            }
            // outbound.go, transferCall: only an established call is transferred.
            if p.attributes.get("sip.callStatus").map(String::as_str) != Some("active") {
                return Err(TwirpError::new(
                    "failed_precondition",
                    "can't transfer non established call",
                ));
            }
            let call = w
                .calls
                .iter()
                .find(|c| c.room == req.room_name && c.identity == req.participant_identity);
            let referred = ReferredCall {
                direction: call.map(|c| c.direction).unwrap_or("inbound"),
                trunk_address: call.and_then(|c| {
                    w.outbound
                        .iter()
                        .find(|t| t.sip_trunk_id == c.trunk_id)
                        .map(|t| t.address.clone())
                }),
                called_number: call.map(|c| c.to.clone()).unwrap_or_default(),
                refer_to: to.to_string(),
            };
            (w.transfers.get(to).copied(), w.refer_peer.clone(), referred)
        };
        let outcome = outcome
            .or_else(|| peer.and_then(|answer| answer(&referred)))
            .unwrap_or(TransferOutcome::Succeed);
        if let Ok(mut w) = self.world.lock() {
            if let Some(c) = w
                .calls
                .iter_mut()
                .find(|c| c.room == req.room_name && c.identity == req.participant_identity)
            {
                c.transfers.push(to.to_string());
            }
        }
        let transfer_id = id("STR_");
        let timing = self.lock()?.timing;
        tokio::time::sleep(timing.answer_after).await;
        match outcome {
            TransferOutcome::Succeed => {
                // The bridge hangs up its leg once the transfer completed.
                self.end_call(
                    &req.room_name,
                    &req.participant_identity,
                    proto::DisconnectReason::ClientInitiated,
                );
                Ok(proto::TransferSipParticipantResponse {
                    transfer_id,
                    status: proto::SipTransferStatus::StsTransferSuccessful as i32,
                    reason: proto::SipTransferReason::StrCompleted as i32,
                    sip_status: None,
                })
            }
            TransferOutcome::Fail(status) => {
                let phrase = reason_phrase(status);
                let mut e = TwirpError::new(
                    code_for_sip_status(status),
                    format!("sip transfer failed: STR_REJECTED: sip status: {status}: {phrase}"),
                );
                e.meta
                    .insert("sip_transfer_reason".into(), "STR_REJECTED".into());
                e.meta.insert("sip_transfer_id".into(), transfer_id);
                e.meta.insert("sip_status_code".into(), status.to_string());
                e.meta.insert("sip_status".into(), phrase.into());
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_statuses_map_to_protocols_twirp_codes() {
        // livekit/protocol livekit/sip.go, sipCodeToGRPCCode.
        for (status, code) in [
            (403, "permission_denied"),
            (603, "permission_denied"),
            (486, "resource_exhausted"),
            (480, "resource_exhausted"),
            (404, "not_found"),
            (408, "deadline_exceeded"),
            (503, "failed_precondition"),
            (488, "invalid_argument"),
            (499, "invalid_argument"),
            (599, "failed_precondition"),
            (699, "invalid_argument"),
        ] {
            assert_eq!(code_for_sip_status(status), code, "{status}");
        }
    }
}
