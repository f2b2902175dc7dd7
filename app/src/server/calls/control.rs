//! Controlling a live call: hang up, transfer, and refresh from LiveKit.

use super::*;
use crate::server::livekit::transfer::TransferReport;

pub(super) async fn live_call(
    state: &AppState,
    me: &crate::model::Me,
    id: &str,
) -> Result<(crate::model::CallRow, String, String), AppError> {
    let call = get(state, me, id).await?;
    if !call.is_live() {
        return Err(AppError::conflict("The call has ended."));
    }
    let identity: Option<String> =
        sqlx::query_scalar("SELECT participant_identity FROM call_sessions WHERE id = $1")
            .bind(id)
            .fetch_one(&state.db.pool)
            .await?;
    match (call.room.clone(), identity) {
        (Some(room), Some(identity)) => Ok((call, room, identity)),
        _ => Err(AppError::conflict("The call has not reached LiveKit yet.")),
    }
}

/// Hangs the call up (removes its SIP participant).
pub async fn hang_up(
    state: &AppState,
    me: &crate::model::Me,
    actor: &audit::Actor,
    id: &str,
) -> Result<crate::model::CallRow, AppError> {
    let (call, room, identity) = live_call(state, me, id).await?;
    let lk = livekit::settings::client(state)?;
    // A call placed from the browser ends for both: its room goes, with the phone and the
    // browser in it (LiveKit disconnects every participant of a deleted room).
    let removed = if browser::is_browser_call(state, id).await? {
        lk.delete_room(&room).await
    } else {
        lk.remove_participant(&room, &identity).await
    };
    match removed {
        Ok(()) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.into()),
    }
    let t = now();
    let reason = format!(
        "hung up by {}",
        actor.username.clone().unwrap_or_else(|| "Dial".into())
    );
    let mut tx = state.db.begin_write().await?;
    advance(&mut tx, id, CallStatus::Ended, t, Some(&reason), t).await?;
    // LiveKit's participant_left for the removal may have ended the session first, with
    // its own reason; who hung up says more.
    sqlx::query("UPDATE call_sessions SET end_reason = $1 WHERE id = $2")
        .bind(&reason)
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
    audit::record_on(
        &mut *tx,
        actor,
        "call.hangup",
        Some(&call.to),
        Some(&format!("call {id}")),
    )
    .await?;
    tx.commit().await?;
    dial_event(state, id, "call.hangup", json!({ "by": actor.username })).await?;
    get(state, me, id).await
}

/// Parses a transfer target (see [`TransferTarget`]); a wrong one is refused on `field`,
/// the name the caller's form or body gives it.
pub fn parse_transfer_target(text: &str, field: &str) -> Result<TransferTarget, AppError> {
    TransferTarget::parse(text).map_err(|message| AppError::invalid(field, message))
}

/// Transfers the call (SIP REFER). Succeeded or failed, with LiveKit's reason and SIP
/// status; a transfer the number's Twilio trunk would refuse is not tried (a conflict
/// naming the reason). A refused transfer leaves the call connected.
pub async fn transfer(
    state: &AppState,
    me: &crate::model::Me,
    actor: &audit::Actor,
    id: &str,
    target: &TransferTarget,
) -> Result<crate::model::TransferResult, AppError> {
    let (call, room, identity) = live_call(state, me, id).await?;
    // LiveKit's bridge transfers only an established call (livekit/sip
    // `pkg/sip/outbound.go` and `inbound.go`, `transferCall`: "can't transfer non
    // established call"): one still ringing is refused here, with nothing sent.
    if call.status < CallStatus::Answered {
        return Err(AppError::conflict(
            "The call has not been answered yet: a call can be transferred once it is answered.",
        ));
    }
    if let Some(number) = call.number_id.as_deref() {
        crate::server::assignment::check_before_transfer(state, me, number, target).await?;
    }
    let target = target.as_str();
    let lk = livekit::settings::client(state)?;
    dial_event(
        state,
        id,
        "transfer.started",
        json!({ "to": target, "by": actor.username }),
    )
    .await?;
    audit::record(
        &state.db,
        actor,
        "call.transfer",
        Some(&call.to),
        Some(&format!("call {id} to {target}")),
    )
    .await?;
    let answer = lk
        .transfer_sip_participant(&room, &identity, target, false, None)
        .await;
    let result = match answer {
        Ok(TransferReport::Done {
            transfer_id,
            status,
        }) => {
            // The bridge hangs up its side once the REFER succeeded; participant_left
            // (which may have come first) says only that: the transfer is why it ended.
            let mut tx = state.db.begin_write().await?;
            sqlx::query("UPDATE call_sessions SET end_reason = $1 WHERE id = $2")
                .bind(format!("transferred to {target}"))
                .bind(id)
                .execute(&mut *tx.tx)
                .await?;
            tx.commit().await?;
            dial_event(
                state,
                id,
                "transfer.succeeded",
                json!({ "to": target, "transfer_status": status, "transfer_id": transfer_id }),
            )
            .await?;
            crate::model::TransferResult {
                ok: true,
                message: format!(
                    "Transferred to {target}. The call was handed over: the caller is connected there now, and Dial's part of the call has ended."
                ),
                sip_status_code: None,
            }
        }
        Ok(TransferReport::NotCompleted {
            transfer_id,
            reason,
            sip_status,
            code,
            call_ended,
        }) => {
            let status_words = sip_status
                .as_ref()
                .map(|(c, r)| {
                    if r.is_empty() {
                        format!(" (SIP {c})")
                    } else {
                        format!(" (SIP {c} {r})")
                    }
                })
                .unwrap_or_default();
            if let Some(number) = call.number_id.as_deref() {
                crate::server::assignment::reread_transfer_mode(state, number).await;
            }
            let after = if call_ended {
                "The call has ended."
            } else {
                "The call is still connected."
            };
            dial_event(
                state,
                id,
                "transfer.failed",
                json!({
                    "to": target,
                    "error": reason,
                    "sip_status": sip_status.as_ref().map(|(c, _)| i64::from(*c)),
                    "sip_reason": sip_status.as_ref().map(|(_, r)| r.clone()).filter(|r| !r.is_empty()),
                    "code": code,
                    "transfer_id": transfer_id,
                    "call": if call_ended { "ended" } else { "still connected" },
                }),
            )
            .await?;
            crate::model::TransferResult {
                ok: false,
                message: format!(
                    "The transfer to {target} failed: {reason}{status_words}. {after}"
                ),
                sip_status_code: sip_status.map(|(c, _)| i64::from(c)),
            }
        }
        Err(e) => {
            let status = e.sip_status().map(i64::from);
            dial_event(
                state,
                id,
                "transfer.failed",
                json!({ "to": target, "error": e.to_string(), "sip_status": status }),
            )
            .await?;
            // The call ended, or is not established, as the transfer reached LiveKit: the
            // call's state, not the carrier, refused it.
            if status.is_none() && (e.is_not_found() || e.code() == Some("failed_precondition")) {
                return Err(AppError::conflict(format!(
                    "The call could not be transferred: it {} as the transfer reached LiveKit.",
                    if e.is_not_found() {
                        "had ended"
                    } else {
                        "was not established"
                    }
                )));
            }
            crate::model::TransferResult {
                ok: false,
                message: format!("The transfer to {target} failed: {e}"),
                sip_status_code: status,
            }
        }
    };
    Ok(result)
}

/// Asks LiveKit for the call's participant and moves the session to its `sip.callStatus`.
pub async fn refresh(
    state: &AppState,
    me: &crate::model::Me,
    id: &str,
) -> Result<crate::model::CallRow, AppError> {
    let call = get(state, me, id).await?;
    if !call.is_live() {
        return Ok(call);
    }
    let Ok((_, room, identity)) = live_call(state, me, id).await else {
        return Ok(call);
    };
    let lk = livekit::settings::client(state)?;
    let status = match lk.get_participant(&room, &identity).await {
        Ok(p) => sip_facts(&p).and_then(|f| f.status),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(status) = status {
        let mut tx = state.db.begin_write().await?;
        advance(&mut tx, id, status, now(), None, now()).await?;
        tx.commit().await?;
    }
    get(state, me, id).await
}
