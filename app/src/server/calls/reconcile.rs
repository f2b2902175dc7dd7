//! Reconcile: open sessions compared with LiveKit's participants, closing what is gone.

use super::*;

/// What a reconcile pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    pub checked: usize,
    pub closed: usize,
    pub updated: usize,
}

/// Sessions younger than this are left alone (their webhooks may still be on the way).
pub(super) const RECONCILE_GRACE_SECS: i64 = 5;

/// The open sessions not updated since `$1`, but a browser's call whose token (issued
/// after `$2`) may still be used; read through the partial index `call_sessions_open`,
/// which holds only open calls.
pub(crate) const OPEN_CALLS: &str =
    "SELECT id, room_name, participant_identity FROM call_sessions \
     WHERE status_rank < 3 AND updated_at <= $1 \
     AND NOT (browser_identity IS NOT NULL AND browser_joined_at IS NULL AND created_at > $2)";

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
    let lk = livekit::settings::client(state)?;
    // A call from the browser has no SIP participant until the browser joined: it is left
    // alone while its token may still be used, then closed like any other.
    let open: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(OPEN_CALLS)
        .bind(now() - grace_secs)
        .bind(now() - i64::try_from(browser::TOKEN_TTL.as_secs()).unwrap_or(i64::MAX))
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

pub(super) async fn close(state: &AppState, id: &str, reason: &str) -> Result<(), AppError> {
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
    notify_by_id(state, id).await;
    Ok(())
}

/// Reconciles every minute while LiveKit is configured.
pub fn spawn_reconciler(state: AppState) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        every.tick().await;
        loop {
            every.tick().await;
            if livekit::settings::client(&state).is_err() {
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

/// What [`reconcile_session`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCheck {
    /// The session had ended already, or LiveKit no longer has its call: it is closed.
    Over,
    /// LiveKit has the call: its webhooks and the follower take it from here.
    Live,
    /// Not known yet (LiveKit could not be asked, or a dial may still reach it).
    Unknown,
}

/// Reconciles one open session against LiveKit (a campaign dial whose instance stopped):
/// a participant that is there moves the session forward; one that is not there closes
/// it, once the session is older than `settle_secs` (a dial in flight when its instance
/// stopped may still reach LiveKit until then).
pub async fn reconcile_session(
    state: &AppState,
    id: &str,
    settle_secs: i64,
) -> Result<SessionCheck, AppError> {
    let session: Option<(Option<String>, Option<String>, i64, i64)> = sqlx::query_as(
        "SELECT room_name, participant_identity, status_rank, created_at FROM call_sessions WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some((room, identity, rank, created_at)) = session else {
        return Ok(SessionCheck::Over);
    };
    if rank >= CallStatus::Ended.rank() {
        return Ok(SessionCheck::Over);
    }
    let (Some(room), Some(identity)) = (room, identity) else {
        close(state, id, "closed by reconcile: no room").await?;
        return Ok(SessionCheck::Over);
    };
    let lk = livekit::settings::client(state)?;
    match lk.get_participant(&room, &identity).await {
        Ok(p) => {
            if let Some(status) = sip_facts(&p).and_then(|f| f.status) {
                let mut tx = state.db.begin_write().await?;
                advance(&mut tx, id, status, now(), None, now()).await?;
                tx.commit().await?;
            }
            Ok(SessionCheck::Live)
        }
        Err(e) if e.is_not_found() && created_at <= now() - settle_secs => {
            close(state, id, "closed by reconcile").await?;
            Ok(SessionCheck::Over)
        }
        Err(_) => Ok(SessionCheck::Unknown),
    }
}
