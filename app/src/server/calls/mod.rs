//! Call tracking: one call session per SIP participant, keyed by LiveKit's `sip.callID`,
//! built from LiveKit's webhooks and Dial's own actions, and kept true by a reconcile
//! against LiveKit's rooms.
//!
//! Webhooks arrive twice, late, out of order, or never (WIRE.md). So:
//! - every event is recorded once (its id is the primary key of `call_events`), in the same
//!   transaction as its effect on the session; a duplicate changes nothing;
//! - a session's state only moves forward (dialing → ringing → answered → ended, by
//!   `status_rank`); a late `participant_joined` fills in what it knows but never reopens an
//!   ended call; each timestamp is set once;
//! - [`reconcile`] compares open sessions with LiveKit's participants and closes what is
//!   gone ("closed by reconcile").

pub mod browser;
mod control;
pub mod follow;
pub mod ingest;
mod place;
mod query;
mod reconcile;

pub use control::*;
pub use place::*;
pub use query::*;
pub use reconcile::*;

use super::{audit, db::WriteTx, livekit, new_id, now, state::AppState};
use crate::{error::AppError, phone::TransferTarget};
use livekit_protocol as proto;
use serde_json::json;
use std::{collections::BTreeMap, time::Duration};

pub use crate::model::{CallStatus, Direction, Outcome};

/// Tells the pages following calls that this one changed.
pub(super) fn notify(state: &AppState, call_id: &str, owner_id: Option<String>) {
    // No receiver (nobody watching) is not an error.
    let _ = state.call_changes.send(super::state::CallChange {
        call_id: call_id.to_string(),
        owner_id,
    });
}

pub(super) async fn notify_by_id(state: &AppState, call_id: &str) {
    if state.call_changes.receiver_count() == 0 {
        return;
    }
    let owner: Option<Option<String>> =
        sqlx::query_scalar("SELECT owner_id FROM call_sessions WHERE id = $1")
            .bind(call_id)
            .fetch_optional(&state.db.pool)
            .await
            .ok()
            .flatten();
    if let Some(owner) = owner {
        notify(state, call_id, owner);
    }
}

/// The SIP facts of a participant, from its attributes.
#[derive(Debug, Clone)]
pub(super) struct SipFacts {
    pub call_id: String,
    pub status: Option<CallStatus>,
    pub phone_number: String,
    pub trunk_phone_number: String,
    pub inbound: bool,
    pub twilio_call_sid: Option<String>,
}

pub(super) fn sip_facts(p: &proto::ParticipantInfo) -> Option<SipFacts> {
    if p.kind != proto::participant_info::Kind::Sip as i32 {
        return None;
    }
    let attr = |k: &str| p.attributes.get(k).cloned().filter(|v| !v.is_empty());
    Some(SipFacts {
        call_id: attr("sip.callID")?,
        status: attr("sip.callStatus").and_then(|s| CallStatus::from_sip(&s)),
        // LiveKit passes the numbers on as the carrier wrote them (livekit/protocol
        // `rpc/sip.go`): normalised here, once, the way LiveKit matches them.
        phone_number: attr("sip.phoneNumber")
            .map(|n| dial_sip::normalize_number(&n))
            .unwrap_or_default(),
        trunk_phone_number: attr("sip.trunkPhoneNumber")
            .map(|n| dial_sip::normalize_number(&n))
            .unwrap_or_default(),
        // Calls routed by a dispatch rule came in; calls Dial (or anyone) placed went out.
        inbound: attr("sip.ruleID").is_some(),
        twilio_call_sid: attr("sip.twilio.callSid"),
    })
}

pub(super) fn disconnect_reason(p: &proto::ParticipantInfo) -> String {
    proto::DisconnectReason::try_from(p.disconnect_reason)
        .map(|r| r.as_str_name().to_ascii_lowercase())
        .unwrap_or_else(|_| "unknown".into())
}

// -- Outcomes -----------------------------------------------------------------------------
//
// One outcome from every source (the README's table):
// - CreateSIPParticipant's error (with "wait until answered"): its SIP status when it has
//   one ([`outcome_of_sip`]), else its Twirp code and message ([`outcome_of_dial`]);
// - `participant_left`'s `disconnect_reason` for a call never answered
//   ([`outcome_of_disconnect`]);
// - otherwise, once the call has ended: completed if it was answered, ended before
//   answer if not ([`outcome_of_ended`]).
// The dial's error is the most precise and wins over the webhook's.

/// The outcome of a failed call, from its SIP status (livekit/protocol `livekit/sip.go`
/// maps the same statuses to Twirp codes).
pub fn outcome_of_sip(status: u16) -> Outcome {
    match status {
        486 | 600 => Outcome::Busy,
        408 | 480 | 487 => Outcome::NoAnswer,
        603 | 403 => Outcome::Declined,
        401 | 407 => Outcome::TrunkAuthFailed,
        404 | 410 | 484 | 485 | 488 | 502 | 503 | 604 => Outcome::Unreachable,
        _ => Outcome::Failed,
    }
}

/// The outcome of a CreateSIPParticipant that failed.
///
/// Without a SIP status: the bridge's ringing timer cancels an unanswered INVITE as
/// `canceled` "sip request timed out" (livekit/sip `pkg/sip/outbound.go`, `sipResponse`);
/// livekit-server's own deadline while it rings is `deadline_exceeded`
/// (`pkg/service/sip.go`); refused trunk credentials end, after 5 attempts, as
/// `failed_precondition` "max auth retry attempts reached for SIP invite" or "sip server
/// required auth, but no username or password was provided" (`authLoop`).
pub fn outcome_of_dial(error: &super::livekit::LiveKitError) -> Outcome {
    if let Some(status) = error.sip_status() {
        return outcome_of_sip(status);
    }
    let message = error.to_string().to_ascii_lowercase();
    match error.code() {
        Some("canceled") if message.contains("timed out") => Outcome::NoAnswer,
        Some("deadline_exceeded") => Outcome::NoAnswer,
        Some("failed_precondition") if message.contains("auth") => Outcome::TrunkAuthFailed,
        _ => Outcome::Failed,
    }
}

/// The outcome `participant_left` gives a call that was never answered, by its
/// `disconnect_reason` (stored lower-case). livekit-server keeps only CLIENT_INITIATED,
/// USER_UNAVAILABLE, USER_REJECTED and AGENT_ERROR of what the SIP bridge reports
/// (`pkg/rtc/signalling/signalhandler.go`); the bridge reports busy, declined and refused
/// credentials as USER_REJECTED and no answer as USER_UNAVAILABLE (livekit/sip
/// `pkg/sip/errors.go`, `classifyInviteError`).
pub fn outcome_of_disconnect(reason: &str) -> Option<Outcome> {
    match reason {
        "user_rejected" => Some(Outcome::Rejected),
        "user_unavailable" => Some(Outcome::NoAnswer),
        _ => None,
    }
}

/// The outcome of an ended call no source explained.
pub fn outcome_of_ended(answered: bool) -> Outcome {
    if answered {
        Outcome::Completed
    } else {
        Outcome::EndedBeforeAnswer
    }
}

/// Moves a session to `status` if that is forward, setting the status's timestamp once.
pub(super) async fn advance(
    tx: &mut WriteTx<'_>,
    id: &str,
    status: CallStatus,
    at: i64,
    end_reason: Option<&str>,
    now: i64,
) -> Result<(), AppError> {
    let column = match status {
        CallStatus::Dialing => None,
        CallStatus::Ringing => Some("ringing_at"),
        CallStatus::Answered => Some("answered_at"),
        CallStatus::Ended => Some("ended_at"),
    };
    let stamp = column
        .map(|c| format!(", {c} = COALESCE({c}, $4)"))
        .unwrap_or_default();
    let sql = format!(
        "UPDATE call_sessions SET \
         status = CASE WHEN $1 > status_rank THEN $2 ELSE status END, \
         status_rank = CASE WHEN $1 > status_rank THEN $1 ELSE status_rank END, \
         end_reason = COALESCE(end_reason, $3), updated_at = $5{stamp} WHERE id = $6"
    );
    sqlx::query(&sql)
        .bind(status.rank())
        .bind(status.as_str())
        .bind(end_reason.map(str::to_string))
        .bind(at)
        .bind(now)
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
    // The transition's webhook event, in the same transaction (once per call and type).
    crate::server::event_hooks::record_call_transitions(tx, &[id]).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn transfer_targets_are_normalised_once() {
        for typed in [
            "+1 (415) 555-0142",
            "tel:+14155550142",
            " tel:+1 415 555 0142 ",
        ] {
            assert_eq!(
                parse_transfer_target(typed, "to").unwrap().as_str(),
                "tel:+14155550142",
                "{typed}"
            );
        }
        assert_eq!(
            parse_transfer_target("sip:desk@pbx.example.com", "to")
                .unwrap()
                .as_str(),
            "sip:desk@pbx.example.com"
        );
        for bad in [
            "sip:a b@host",
            "sip:<x>@host",
            "sip:@host",
            "tel:12",
            "",
            "sip:x@host\r\nX: y",
        ] {
            assert!(parse_transfer_target(bad, "to").is_err(), "{bad:?}");
        }
    }

    proptest! {
        /// Fuzz target: any text is a transfer target in one of the two sent forms, or
        /// refused; never a panic.
        #[test]
        fn transfer_target_parsing_is_total(text in any::<String>()) {
            if let Ok(target) = parse_transfer_target(&text, "to") {
                let target = target.as_str();
                prop_assert!(target.starts_with("tel:+") || target.starts_with("sip:"));
                prop_assert!(target.bytes().all(|b| b.is_ascii_graphic()));
            }
        }
    }

    #[test]
    fn only_well_formed_call_sids_reach_a_like_pattern() {
        assert!(is_call_sid("CA0123456789abcdef0123456789abcdef"));
        for bad in [
            "CA%",
            "CA0123456789abcdef0123456789abcde_",
            "",
            "CA0123456789abcdef0123456789abcdeé",
        ] {
            assert!(!is_call_sid(bad), "{bad}");
        }
    }

    #[test]
    fn days_are_real_calendar_days() {
        assert_eq!(parse_day("1970-01-02"), Some(86_400));
        assert_eq!(parse_day("2024-02-29"), Some(1_709_164_800));
        assert_eq!(parse_day("2024-02-31"), None);
        assert_eq!(parse_day("2023-02-29"), None);
        assert_eq!(parse_day("9223372036854775807-03-01"), None);
        assert_eq!(parse_day("2024-13-01"), None);
        assert_eq!(parse_day("2024-01-01x"), None);
        assert_eq!(parse_day(""), None);
    }

    proptest! {
        /// Fuzz target: the `date` filter comes from the URL; no text makes it panic, and
        /// what it accepts is midnight UTC of a day.
        #[test]
        fn day_parsing_is_total(text in any::<String>()) {
            if let Some(t) = parse_day(&text) {
                prop_assert_eq!(t.rem_euclid(86_400), 0);
            }
        }

        #[test]
        fn day_parsing_of_near_dates_is_total(y in any::<i64>(), m in any::<i64>(), d in any::<i64>()) {
            let _ = parse_day(&format!("{y}-{m}-{d}"));
        }
    }

    #[test]
    fn sip_call_status_maps_forward_ranks() {
        assert_eq!(CallStatus::from_sip("dialing"), Some(CallStatus::Dialing));
        assert_eq!(CallStatus::from_sip("ringing"), Some(CallStatus::Ringing));
        assert_eq!(
            CallStatus::from_sip("automation"),
            Some(CallStatus::Answered)
        );
        assert_eq!(CallStatus::from_sip("active"), Some(CallStatus::Answered));
        assert_eq!(CallStatus::from_sip("hangup"), Some(CallStatus::Ended));
        assert_eq!(CallStatus::from_sip("weird"), None);
        assert!(CallStatus::Dialing < CallStatus::Ringing);
        assert!(CallStatus::Answered < CallStatus::Ended);
        assert_eq!(CallStatus::Ended.rank(), 3);
    }

    #[test]
    fn every_source_maps_to_one_outcome() {
        use crate::server::livekit::LiveKitError;
        let twirp = |code: &str, message: &str| LiveKitError::Twirp {
            code: code.into(),
            message: message.into(),
            meta: Default::default(),
        };
        let sip = |status: u16| LiveKitError::Sip {
            code: "resource_exhausted".into(),
            status,
            reason: "Busy Here".into(),
        };
        assert_eq!(outcome_of_dial(&sip(486)), Outcome::Busy);
        assert_eq!(outcome_of_dial(&sip(480)), Outcome::NoAnswer);
        assert_eq!(outcome_of_dial(&sip(603)), Outcome::Declined);
        assert_eq!(outcome_of_dial(&sip(404)), Outcome::Unreachable);
        assert_eq!(
            outcome_of_dial(&twirp("canceled", "sip request timed out")),
            Outcome::NoAnswer
        );
        assert_eq!(
            outcome_of_dial(&twirp("deadline_exceeded", "context deadline exceeded")),
            Outcome::NoAnswer
        );
        assert_eq!(
            outcome_of_dial(&twirp(
                "failed_precondition",
                "max auth retry attempts reached for SIP invite"
            )),
            Outcome::TrunkAuthFailed
        );
        assert_eq!(
            outcome_of_dial(&twirp(
                "failed_precondition",
                "no numbers on outbound trunk"
            )),
            Outcome::Failed
        );
        assert_eq!(
            outcome_of_disconnect("user_rejected"),
            Some(Outcome::Rejected)
        );
        assert_eq!(
            outcome_of_disconnect("user_unavailable"),
            Some(Outcome::NoAnswer)
        );
        assert_eq!(outcome_of_disconnect("client_initiated"), None);
        assert_eq!(outcome_of_ended(true), Outcome::Completed);
        assert_eq!(outcome_of_ended(false), Outcome::EndedBeforeAnswer);
    }
}
