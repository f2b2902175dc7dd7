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

use super::{
    audit,
    db::{is_unique_violation, WriteTx},
    livekit_settings, new_id, now,
    state::AppState,
};
use crate::error::AppError;
use livekit_protocol as proto;
use serde_json::json;
use std::{collections::BTreeMap, time::Duration};

/// A session's status and its rank (the state only moves to a higher rank).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CallStatus {
    Dialing,
    Ringing,
    Answered,
    Ended,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Dialing => "dialing",
            CallStatus::Ringing => "ringing",
            CallStatus::Answered => "answered",
            CallStatus::Ended => "ended",
        }
    }

    pub fn rank(self) -> i64 {
        self as i64
    }

    /// From a SIP participant's `sip.callStatus` attribute.
    pub fn from_sip(status: &str) -> Option<CallStatus> {
        match status {
            "dialing" => Some(CallStatus::Dialing),
            "ringing" => Some(CallStatus::Ringing),
            "automation" | "active" => Some(CallStatus::Answered),
            "hangup" => Some(CallStatus::Ended),
            _ => None,
        }
    }
}

/// What an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Recorded, and folded into this call session (if it concerns one).
    Recorded { call_id: Option<String> },
    /// Seen before: nothing changed.
    Duplicate,
}

/// The SIP facts of a participant, from its attributes.
struct SipFacts {
    call_id: String,
    status: Option<CallStatus>,
    phone_number: String,
    trunk_phone_number: String,
    inbound: bool,
    twilio_call_sid: Option<String>,
}

fn sip_facts(p: &proto::ParticipantInfo) -> Option<SipFacts> {
    if p.kind != proto::participant_info::Kind::Sip as i32 {
        return None;
    }
    let attr = |k: &str| p.attributes.get(k).cloned().filter(|v| !v.is_empty());
    Some(SipFacts {
        call_id: attr("sip.callID")?,
        status: attr("sip.callStatus").and_then(|s| CallStatus::from_sip(&s)),
        phone_number: attr("sip.phoneNumber").unwrap_or_default(),
        trunk_phone_number: attr("sip.trunkPhoneNumber").unwrap_or_default(),
        // Calls routed by a dispatch rule came in; calls Dial (or anyone) placed went out.
        inbound: attr("sip.ruleID").is_some(),
        twilio_call_sid: attr("sip.twilio.callSid"),
    })
}

fn disconnect_reason(p: &proto::ParticipantInfo) -> String {
    proto::DisconnectReason::try_from(p.disconnect_reason)
        .map(|r| r.as_str_name().to_ascii_lowercase())
        .unwrap_or_else(|_| "unknown".into())
}

/// Folds one verified LiveKit webhook into the call sessions, exactly once.
pub async fn apply_livekit_event(
    state: &AppState,
    event: &proto::WebhookEvent,
) -> Result<Applied, AppError> {
    // Two first events of one call may race to create its session: the loser retries and
    // finds the winner's row.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match apply_once(state, event).await {
            Err(AppError::Conflict { .. }) if attempt < 4 => continue,
            other => return other,
        }
    }
}

async fn apply_once(state: &AppState, event: &proto::WebhookEvent) -> Result<Applied, AppError> {
    let received = now();
    let occurred = if event.created_at > 0 {
        event.created_at
    } else {
        received
    };
    let room = event
        .room
        .as_ref()
        .map(|r| r.name.clone())
        .unwrap_or_default();
    let participant = event.participant.as_ref();
    let facts = participant.and_then(sip_facts);
    let mut detail = json!({ "room": room });
    if let Some(p) = participant {
        detail["identity"] = json!(p.identity);
        if let Some(s) = p.attributes.get("sip.callStatus") {
            detail["sip_call_status"] = json!(s);
        }
        if p.disconnect_reason != 0 {
            detail["disconnect_reason"] = json!(disconnect_reason(p));
        }
    }
    let event_id = if event.id.is_empty() {
        format!("livekit:{}:{}:{}", event.event, room, occurred)
    } else {
        event.id.clone()
    };

    let mut tx = state.db.begin_write().await?;
    let mut call_id = None;
    if let (Some(p), Some(f)) = (participant, facts.as_ref()) {
        let status = match event.event.as_str() {
            "participant_left" | "participant_connection_aborted" => Some(CallStatus::Ended),
            "participant_joined" | "participant_updated" | "participant_attributes_changed" => {
                f.status.or(Some(CallStatus::Answered))
            }
            _ => None,
        };
        let existing: Option<String> =
            sqlx::query_scalar("SELECT id FROM call_sessions WHERE sip_call_id = $1")
                .bind(&f.call_id)
                .fetch_optional(&mut *tx.tx)
                .await?;
        let id = match existing {
            Some(id) => id,
            None => {
                let id = new_id();
                let ours = if f.trunk_phone_number.is_empty() {
                    None
                } else {
                    sqlx::query_as::<_, (String, Option<String>, Option<String>)>(
                        "SELECT id, assistant_id, owner_id FROM phone_numbers WHERE e164 = $1 AND released_at IS NULL",
                    )
                    .bind(&f.trunk_phone_number)
                    .fetch_optional(&mut *tx.tx)
                    .await?
                };
                let (number_id, assistant_id, owner_id) = match ours {
                    Some((n, a, o)) => (Some(n), a, o),
                    None => (None, None, None),
                };
                let (direction, from, to) = if f.inbound {
                    ("inbound", &f.phone_number, &f.trunk_phone_number)
                } else {
                    ("outbound", &f.trunk_phone_number, &f.phone_number)
                };
                let inserted = sqlx::query(
                    "INSERT INTO call_sessions (id, sip_call_id, direction, phone_number_id, assistant_id, owner_id, \
                     from_number, to_number, room_name, participant_identity, participant_sid, twilio_call_sid, \
                     status, status_rank, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'dialing', 0, $13, $14)",
                )
                .bind(&id)
                .bind(&f.call_id)
                .bind(direction)
                .bind(number_id)
                .bind(assistant_id)
                .bind(owner_id)
                .bind(from)
                .bind(to)
                .bind(&room)
                .bind(&p.identity)
                .bind(&p.sid)
                .bind(f.twilio_call_sid.clone())
                .bind(occurred)
                .bind(received)
                .execute(&mut *tx.tx)
                .await;
                if let Err(e) = inserted {
                    if is_unique_violation(&e) {
                        return Err(AppError::conflict(
                            "the call's session was created meanwhile",
                        ));
                    }
                    return Err(e.into());
                }
                id
            }
        };
        // Fill in what this event knows; move the state forward only.
        sqlx::query(
            "UPDATE call_sessions SET \
             room_name = COALESCE(room_name, $1), participant_identity = COALESCE(participant_identity, $2), \
             participant_sid = COALESCE(participant_sid, $3), twilio_call_sid = COALESCE(twilio_call_sid, $4), \
             updated_at = $5 WHERE id = $6",
        )
        .bind(Some(room.clone()).filter(|r| !r.is_empty()))
        .bind(Some(p.identity.clone()).filter(|i| !i.is_empty()))
        .bind(Some(p.sid.clone()).filter(|s| !s.is_empty()))
        .bind(f.twilio_call_sid.clone())
        .bind(received)
        .bind(&id)
        .execute(&mut *tx.tx)
        .await?;
        if let Some(status) = status {
            let reason = (status == CallStatus::Ended).then(|| {
                if p.disconnect_reason != 0 {
                    disconnect_reason(p)
                } else {
                    event.event.clone()
                }
            });
            advance(&mut tx, &id, status, occurred, reason.as_deref(), received).await?;
        }
        call_id = Some(id);
    } else if event.event == "room_finished" && !room.is_empty() {
        // Everyone left: every open call in the room has ended.
        let open: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM call_sessions WHERE room_name = $1 AND status_rank < 3",
        )
        .bind(&room)
        .fetch_all(&mut *tx.tx)
        .await?;
        for id in &open {
            advance(
                &mut tx,
                id,
                CallStatus::Ended,
                occurred,
                Some("room_finished"),
                received,
            )
            .await?;
        }
        if let [only] = open.as_slice() {
            call_id = Some(only.clone());
        }
    }
    let recorded = sqlx::query(
        "INSERT INTO call_events (id, call_id, source, kind, detail, occurred_at, received_at) \
         VALUES ($1, $2, 'livekit', $3, $4, $5, $6)",
    )
    .bind(&event_id)
    .bind(call_id.clone())
    .bind(&event.event)
    .bind(detail.to_string())
    .bind(occurred)
    .bind(received)
    .execute(&mut *tx.tx)
    .await;
    match recorded {
        Ok(_) => {
            tx.commit().await?;
            Ok(Applied::Recorded { call_id })
        }
        Err(e) if is_unique_violation(&e) => {
            // Seen before: roll back whatever this delivery would have changed.
            tx.rollback().await?;
            Ok(Applied::Duplicate)
        }
        Err(e) => Err(e.into()),
    }
}

/// Moves a session to `status` if that is forward, setting the status's timestamp once.
async fn advance(
    tx: &mut WriteTx,
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
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reconcile

/// What a reconcile pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    pub checked: usize,
    pub closed: usize,
    pub updated: usize,
}

/// Sessions younger than this are left alone (their webhooks may still be on the way).
const RECONCILE_GRACE_SECS: i64 = 5;

/// Compares open sessions with LiveKit's participants: a participant that is gone closes
/// its session ("closed by reconcile"); one that is there moves it forward to its
/// `sip.callStatus`.
pub async fn reconcile(state: &AppState) -> Result<Reconciled, AppError> {
    reconcile_older_than(state, RECONCILE_GRACE_SECS).await
}

/// [`reconcile`] with another grace period (tests use 0).
pub async fn reconcile_older_than(
    state: &AppState,
    grace_secs: i64,
) -> Result<Reconciled, AppError> {
    let lk = livekit_settings::client(state)?;
    let open: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT id, room_name, participant_identity FROM call_sessions \
         WHERE status_rank < 3 AND updated_at <= $1",
    )
    .bind(now() - grace_secs)
    .fetch_all(&state.db.pool)
    .await?;
    let mut rooms: BTreeMap<String, Vec<(String, Option<String>)>> = BTreeMap::new();
    let mut report = Reconciled {
        checked: open.len(),
        ..Default::default()
    };
    for (id, room, identity) in open {
        match room {
            Some(room) if !room.is_empty() => rooms.entry(room).or_default().push((id, identity)),
            // Never reached a room (an outbound call whose creation failed): nothing to wait for.
            _ => {
                close(state, &id, "closed by reconcile: no room").await?;
                report.closed += 1;
            }
        }
    }
    for (room, sessions) in rooms {
        let participants = match lk.list_participants(&room).await {
            Ok(list) => list,
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => {
                tracing::warn!(%room, error = %e, "reconcile could not list a room's participants");
                continue;
            }
        };
        for (id, identity) in sessions {
            let present = participants
                .iter()
                .find(|p| Some(p.identity.as_str()) == identity.as_deref());
            match present {
                None => {
                    close(state, &id, "closed by reconcile").await?;
                    report.closed += 1;
                }
                Some(p) => {
                    if let Some(status) = sip_facts(p).and_then(|f| f.status) {
                        let mut tx = state.db.begin_write().await?;
                        advance(&mut tx, &id, status, now(), None, now()).await?;
                        tx.commit().await?;
                        report.updated += 1;
                    }
                }
            }
        }
    }
    if report.closed > 0 {
        tracing::info!(
            closed = report.closed,
            "reconcile closed calls LiveKit no longer has"
        );
    }
    Ok(report)
}

async fn close(state: &AppState, id: &str, reason: &str) -> Result<(), AppError> {
    let t = now();
    let mut tx = state.db.begin_write().await?;
    advance(&mut tx, id, CallStatus::Ended, t, Some(reason), t).await?;
    sqlx::query(
        "INSERT INTO call_events (id, call_id, source, kind, detail, occurred_at, received_at) \
         VALUES ($1, $2, 'dial', 'reconcile.closed', $3, $4, $4)",
    )
    .bind(format!("reconcile:{id}"))
    .bind(id)
    .bind(json!({ "reason": reason }).to_string())
    .bind(t)
    .execute(&mut *tx.tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Reconciles every minute while LiveKit is configured.
pub fn spawn_reconciler(state: AppState) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        every.tick().await;
        loop {
            every.tick().await;
            if livekit_settings::client(&state).is_err() {
                continue;
            }
            if let Err(e) = reconcile(&state).await {
                tracing::warn!(error = %e, "call reconcile failed");
            }
        }
    });
}

/// Records "reconcile now" from a person in the audit log and runs it.
pub async fn reconcile_now(state: &AppState, actor: &audit::Actor) -> Result<Reconciled, AppError> {
    let report = reconcile(state).await?;
    audit::record(
        &state.db,
        actor,
        "calls.reconcile",
        None,
        Some(&format!(
            "checked {}, closed {}",
            report.checked, report.closed
        )),
    )
    .await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
