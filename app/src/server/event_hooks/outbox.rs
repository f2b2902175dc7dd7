//! The outbox: events written in the caller's transaction, so an event exists exactly
//! when the change it reports was committed. While no endpoint is enabled, nothing is
//! written (each statement checks, in the database, in the same transaction).

use super::EventKind;
use crate::{
    error::AppError,
    server::{db::WriteTx, new_ordered_id, now},
};

/// Writes an event about anything but a call's transition (campaign events), with its
/// `data` object, in the caller's transaction. `owner_id` is whose it is: owners'
/// endpoints hear only their own events, administrators' every event.
pub async fn enqueue(
    tx: &mut WriteTx<'_>,
    owner_id: Option<&str>,
    kind: EventKind,
    payload: serde_json::Value,
) -> Result<(), AppError> {
    insert(tx, None, owner_id, kind, payload).await
}

/// [`enqueue`], once per `key` and type: a second call with the same key (a contact's id
/// for `campaign.contact_finished`, a campaign's for `campaign.completed`) adds nothing,
/// so an engine that redoes a step after a crash does not report it twice.
pub async fn enqueue_once(
    tx: &mut WriteTx<'_>,
    key: &str,
    owner_id: Option<&str>,
    kind: EventKind,
    payload: serde_json::Value,
) -> Result<(), AppError> {
    insert(tx, Some(key), owner_id, kind, payload).await
}

async fn insert(
    tx: &mut WriteTx<'_>,
    key: Option<&str>,
    owner_id: Option<&str>,
    kind: EventKind,
    payload: serde_json::Value,
) -> Result<(), AppError> {
    let at = now();
    sqlx::query(
        "INSERT INTO webhook_events (id, kind, dedupe_key, owner_id, payload, occurred_at, created_at) \
         SELECT $1, $2, $3, $4, $5, $6, $6 \
         WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled = 1) \
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(new_ordered_id())
    .bind(kind.as_str())
    .bind(key.map(|k| format!("{} {k}", kind.as_str())))
    .bind(owner_id.map(str::to_string))
    .bind(payload.to_string())
    .bind(at)
    .execute(&mut *tx.tx)
    .await?;
    Ok(())
}

/// The statement that records calls' transitions, after the rows (`$1`, a JSON array of
/// `[event id, type, call id]`, three per call) and `$2` (now). Each row becomes an event
/// if the call, as stored, has reached that point (started: it exists; answered:
/// `answered_at` is set; ended: it is ended) and the event is not recorded yet (the
/// (call, type) key), so it runs after any change to a call, however many times.
macro_rules! call_transitions {
    ($rows:literal) => {
        concat!(
            "INSERT INTO webhook_events (id, kind, dedupe_key, owner_id, call_id, occurred_at, created_at) \
             SELECT r.id, r.kind, r.kind || ' ' || s.id, s.owner_id, s.id, \
             COALESCE(CASE r.kind WHEN 'call.started' THEN s.created_at \
             WHEN 'call.answered' THEN s.answered_at ELSE s.ended_at END, $2), $2 \
             FROM (",
            $rows,
            ") AS r JOIN call_sessions s ON s.id = r.call \
             WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled = 1) \
             AND (r.kind = 'call.started' \
             OR (r.kind = 'call.answered' AND s.answered_at IS NOT NULL) \
             OR (r.kind = 'call.ended' AND s.status_rank = 3)) \
             ON CONFLICT (dedupe_key) DO NOTHING"
        )
    };
}

/// [`record_call_transitions`] on SQLite (also run by the webhook writer's own
/// connection).
pub const SQLITE_CALL_TRANSITIONS: &str = call_transitions!(
    "SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS kind, \
     json_extract(value, '$[2]') AS call FROM json_each($1)"
);

/// [`record_call_transitions`] on PostgreSQL.
const POSTGRES_CALL_TRANSITIONS: &str = call_transitions!(
    "SELECT v->>0 AS id, v->>1 AS kind, v->>2 AS call FROM jsonb_array_elements($1::jsonb) AS t(v)"
);

/// The rows of the call-transitions statement for these calls: one per call and type,
/// each with a fresh event id (used only if the event is new).
pub fn call_transition_rows<'a>(call_ids: impl IntoIterator<Item = &'a str>) -> String {
    let mut rows = Vec::new();
    for call in call_ids {
        for kind in [
            EventKind::CallStarted,
            EventKind::CallAnswered,
            EventKind::CallEnded,
        ] {
            rows.push(serde_json::json!([new_ordered_id(), kind.as_str(), call]));
        }
    }
    serde_json::Value::from(rows).to_string()
}

/// Records the transitions these calls have made and not yet reported (see
/// [`call_transitions!`]): one statement, in the caller's transaction, whatever the
/// number of calls.
pub async fn record_call_transitions(
    tx: &mut WriteTx<'_>,
    call_ids: &[&str],
) -> Result<(), sqlx::Error> {
    if call_ids.is_empty() {
        return Ok(());
    }
    let sql = if tx.backend_name() == "PostgreSQL" {
        POSTGRES_CALL_TRANSITIONS
    } else {
        SQLITE_CALL_TRANSITIONS
    };
    sqlx::query(sql)
        .bind(call_transition_rows(call_ids.iter().copied()))
        .bind(now())
        .execute(&mut *tx.tx)
        .await?;
    Ok(())
}
