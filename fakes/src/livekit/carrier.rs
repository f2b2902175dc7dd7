//! The carrier at the far end of an outbound trunk, for the INVITE of each call: it may
//! refuse the call before any callee hears it (the sandbox links the Twilio fake, which
//! refuses calls over a trunk's calls-per-second limit with SIP 503, `twilio/cps.rs`).
//!
//! How a refusal reaches LiveKit's API follows livekit/sip: the INVITE's final response
//! becomes a `livekit.SIPStatus` with the response's reason (`pkg/sip/outbound.go`,
//! `sipSignal`: "unexpected status from INVITE response: %w" for a status outside the few
//! it names; "INVITE failed: %w" for 400, 404, 480, 486 and 488); `classifyInviteError`
//! (`pkg/sip/errors.go`) decides how the call closes; `ApplySIPStatus`
//! (`pkg/errors/errors.go`) gives the error protocol's Twirp code for the status
//! (`code_for_sip_status`), and the metadata `sip_status_code` / `sip_status`
//! (livekit/protocol `livekit/sip.go`, `TwirpErrorMeta`). psrpc carries the error's text
//! as the message (livekit/psrpc `errors.go`). The participant leaves with the reason of
//! the call's close status (`CallStatus.DisconnectReason`, `pkg/sip/participant.go`), as
//! livekit-server keeps it (`pkg/rtc/signalling/signalhandler.go`: USER_REJECTED and
//! USER_UNAVAILABLE survive, anything else becomes CLIENT_INITIATED); the call never
//! rang, so `sip.callStatus` stays `dialing`.

use super::transfer::code_for_sip_status;
use super::*;

/// An outbound call's INVITE as the carrier sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialledCall {
    /// The outbound trunk's address: the carrier's termination host.
    pub trunk_address: String,
    /// The number called, as the request named it.
    pub to: String,
}

/// The carrier refused the INVITE with this final response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRefused {
    pub status: u16,
    pub reason: String,
}

/// The carrier's answer to an INVITE: `None` when the call is not its own (another
/// carrier's trunk: the call goes on), `Some(Ok)` accepted, `Some(Err)` refused.
pub type DialPeer = Arc<dyn Fn(&DialledCall) -> Option<Result<(), InviteRefused>> + Send + Sync>;

impl FakeLiveKit {
    /// Links the carrier that answers outbound calls' INVITEs (see [`DialPeer`]).
    pub fn set_dial_peer(&self, peer: Option<DialPeer>) {
        if let Ok(mut w) = self.world.lock() {
            w.dial_peer = peer;
        }
    }
}

/// How a call the carrier refused ends: the API's error and the participant's leaving
/// reason (never a hang-up: `sip.callStatus` is left as it was).
pub(super) fn refused_invite(refused: &InviteRefused) -> (TwirpError, proto::DisconnectReason) {
    let InviteRefused { status, reason } = refused;
    let wrapper = match status {
        400 | 404 | 480 | 486 | 488 => "INVITE failed",
        _ => "unexpected status from INVITE response",
    };
    let mut error = TwirpError::new(
        code_for_sip_status(*status),
        format!("{wrapper}: sip status: {status}: {reason}"),
    );
    error
        .meta
        .insert("sip_status_code".into(), status.to_string());
    error.meta.insert("sip_status".into(), reason.clone());
    // classifyInviteError's close status, and so the room's leaving reason.
    let lower = reason.to_ascii_lowercase();
    let left = match status {
        404 | 408 | 480 => proto::DisconnectReason::UserUnavailable,
        500..=599
            if !(lower.contains("cps limit exceeded")
                || lower.contains("concurrent call limit exceeded")) =>
        {
            // `callDropped`: UNKNOWN_REASON, which livekit-server reports as
            // CLIENT_INITIATED.
            proto::DisconnectReason::ClientInitiated
        }
        _ => proto::DisconnectReason::UserRejected,
    };
    (error, left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_invite_reads_as_livekit_reports_it() {
        let (error, left) = refused_invite(&InviteRefused {
            status: 503,
            reason: "Trunk CPS limit exceeded. Region: us1".into(),
        });
        assert_eq!(error.code, "failed_precondition");
        assert_eq!(
            error.msg,
            "unexpected status from INVITE response: sip status: 503: Trunk CPS limit exceeded. Region: us1"
        );
        assert_eq!(error.meta["sip_status_code"], "503");
        assert_eq!(
            error.meta["sip_status"],
            "Trunk CPS limit exceeded. Region: us1"
        );
        assert_eq!(left, proto::DisconnectReason::UserRejected);
        // Another carrier 5xx is a dropped call.
        let (error, left) = refused_invite(&InviteRefused {
            status: 503,
            reason: "Service Unavailable".into(),
        });
        assert_eq!(error.code, "failed_precondition");
        assert_eq!(left, proto::DisconnectReason::ClientInitiated);
        let (error, left) = refused_invite(&InviteRefused {
            status: 404,
            reason: "Not Found".into(),
        });
        assert_eq!(error.code, "not_found");
        assert_eq!(error.msg, "INVITE failed: sip status: 404: Not Found");
        assert_eq!(left, proto::DisconnectReason::UserUnavailable);
    }
}
