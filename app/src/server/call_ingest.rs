//! LiveKit webhook ingestion with group commit.
//!
//! Every verified webhook becomes a [`Job`] on one queue per process. A single writer task
//! takes whatever is waiting (up to [`MAX_BATCH`] events) and folds it into the call
//! sessions in **one** transaction of a handful of statements, however many events it
//! holds:
//!
//! 1. which event ids were recorded before (a duplicate changes nothing);
//! 2. the sessions the events concern, by `sip.callID`, and calls Dial placed that LiveKit
//!    has not named yet (by room and participant identity);
//! 3. the numbers of new sessions (direction, number, assistant, owner);
//! 4. one upsert of every session touched, whose `DO UPDATE` only moves the state forward
//!    (`status_rank`), fills in what is missing and sets each timestamp once;
//! 5. one insert of the events, each linked to its session.
//!
//! Each request is answered after the commit, so a 200 still means "recorded". Requests
//! that are waiting together are concurrent, so any order among them is a true order; the
//! batch takes them in queue order. If a batch fails as a whole, each of its events is
//! applied alone, so one bad event (or a race with another instance on PostgreSQL) costs
//! only itself. SQLite has one writer, and this is what lets it take thousands of events a
//! second: the cost of a transaction is paid once per batch, not once per event.

use super::{
    calls::{disconnect_reason, sip_facts, CallStatus, SipFacts},
    db::{is_unique_violation, Db, WriteTx},
    new_id, now,
    state::{AppState, CallChange},
};
use crate::error::AppError;
use livekit_protocol as proto;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use tokio::sync::{broadcast, mpsc, oneshot};

/// The most events one transaction takes (20 parameters each in the session upsert keeps a
/// batch well inside SQLite's and PostgreSQL's limits).
const MAX_BATCH: usize = 256;

/// How many requests may wait for the writer before new ones wait to be queued.
const QUEUE: usize = 4096;

/// What an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Recorded, and folded into this call session (if it concerns one).
    Recorded { call_id: Option<String> },
    /// Seen before: nothing changed.
    Duplicate,
}

/// One verified event, reduced to what it means for the call sessions.
#[derive(Debug, Clone)]
pub struct Incoming {
    event_id: String,
    kind: String,
    room: String,
    detail: String,
    occurred: i64,
    received: i64,
    effect: Effect,
}

#[derive(Debug, Clone)]
enum Effect {
    /// A SIP participant's event: its session is created or moved forward.
    Sip(SipEvent),
    /// Everyone left the room: every open call in it has ended.
    RoomFinished,
    /// Recorded on no call.
    None,
}

#[derive(Debug, Clone)]
struct SipEvent {
    facts: SipFacts,
    identity: String,
    sid: String,
    status: Option<CallStatus>,
    end_reason: Option<String>,
}

impl Incoming {
    pub fn new(event: &proto::WebhookEvent, received: i64) -> Incoming {
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
        let sip = participant.and_then(|p| Some((p, sip_facts(p)?)));
        let effect = match sip {
            Some((p, facts)) => {
                let status = match event.event.as_str() {
                    "participant_left" | "participant_connection_aborted" => {
                        Some(CallStatus::Ended)
                    }
                    "participant_joined"
                    | "participant_updated"
                    | "participant_attributes_changed" => {
                        facts.status.or(Some(CallStatus::Answered))
                    }
                    _ => None,
                };
                let end_reason = (status == Some(CallStatus::Ended)).then(|| {
                    if p.disconnect_reason != 0 {
                        disconnect_reason(p)
                    } else {
                        event.event.clone()
                    }
                });
                Effect::Sip(SipEvent {
                    facts,
                    identity: p.identity.clone(),
                    sid: p.sid.clone(),
                    status,
                    end_reason,
                })
            }
            None if event.event == "room_finished" && !room.is_empty() => Effect::RoomFinished,
            None => Effect::None,
        };
        Incoming {
            event_id,
            kind: event.event.clone(),
            room,
            detail: detail.to_string(),
            occurred,
            received,
            effect,
        }
    }
}

/// An event waiting for the writer, and where its outcome goes.
pub struct Job {
    event: Incoming,
    reply: oneshot::Sender<Result<Applied, AppError>>,
}

/// Folds one verified LiveKit webhook into the call sessions, exactly once; returns after
/// it is committed.
pub async fn apply(state: &AppState, event: &proto::WebhookEvent) -> Result<Applied, AppError> {
    let (reply, outcome) = oneshot::channel();
    let job = Job {
        event: Incoming::new(event, now()),
        reply,
    };
    let queue = state
        .ingest
        .get_or_init(|| spawn_writer(state.db.clone(), state.call_changes.clone()));
    queue.send(job).await.map_err(|_| writer_stopped())?;
    outcome.await.map_err(|_| writer_stopped())?
}

fn writer_stopped() -> AppError {
    tracing::error!("the LiveKit webhook writer has stopped");
    AppError::Internal
}

/// Starts the writer; it stops when the last sender (the application state) is dropped.
fn spawn_writer(db: Db, changes: broadcast::Sender<CallChange>) -> mpsc::Sender<Job> {
    let (queue, mut waiting) = mpsc::channel::<Job>(QUEUE);
    tokio::spawn(async move {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        while waiting.recv_many(&mut jobs, MAX_BATCH).await > 0 {
            write(&db, &changes, std::mem::take(&mut jobs)).await;
        }
    });
    queue
}

/// Applies a batch in one transaction, or (if that fails) each event alone, and answers
/// every request.
async fn write(db: &Db, changes: &broadcast::Sender<CallChange>, jobs: Vec<Job>) {
    if jobs.len() > 1 {
        let events: Vec<&Incoming> = jobs.iter().map(|j| &j.event).collect();
        match apply_batch(db, &events).await {
            Ok(batch) => {
                announce(changes, batch.changed);
                for (job, applied) in jobs.into_iter().zip(batch.applied) {
                    let _ = job.reply.send(Ok(applied));
                }
                return;
            }
            Err(e) => {
                tracing::debug!(error = ?e, events = jobs.len(), "a webhook batch failed; applying its events one by one");
            }
        }
    }
    for job in jobs {
        let outcome = apply_alone(db, changes, &job.event).await;
        // A request that gave up waiting is not an error: its event is recorded.
        let _ = job.reply.send(outcome);
    }
}

/// One event in a transaction of its own. A session created meanwhile by another writer
/// (another instance, on PostgreSQL) is found on a retry.
async fn apply_alone(
    db: &Db,
    changes: &broadcast::Sender<CallChange>,
    event: &Incoming,
) -> Result<Applied, AppError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match apply_batch(db, &[event]).await {
            Ok(mut batch) => {
                announce(changes, batch.changed);
                return batch.applied.pop().ok_or(AppError::Internal);
            }
            Err(Failure::Duplicate) => return Ok(Applied::Duplicate),
            Err(Failure::Conflict) if attempt < 4 => continue,
            Err(Failure::Conflict) => {
                return Err(AppError::conflict(
                    "the call's session kept changing meanwhile",
                ))
            }
            Err(Failure::Db(e)) => return Err(e.into()),
        }
    }
}

/// Tells the pages following calls what changed. No receiver (nobody watching) is fine.
fn announce(changes: &broadcast::Sender<CallChange>, changed: Vec<CallChange>) {
    if changes.receiver_count() == 0 {
        return;
    }
    for change in changed {
        let _ = changes.send(change);
    }
}

/// Why a batch was not applied (its transaction is rolled back).
#[derive(Debug)]
enum Failure {
    /// An event id was recorded meanwhile (by another instance).
    Duplicate,
    /// A session's `sip.callID` was taken meanwhile.
    Conflict,
    Db(sqlx::Error),
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Failure::Db(e)
    }
}

struct Batch {
    /// One per event, in order.
    applied: Vec<Applied>,
    changed: Vec<CallChange>,
}

/// The session one call's events in a batch fold into.
struct Session<'a> {
    sip_call_id: &'a str,
    /// The batch's events for this call, in order.
    events: Vec<(&'a Incoming, &'a SipEvent)>,
    /// Whether the session is stored already (or a placed call was adopted).
    stored: bool,
}

fn sip(event: &Incoming) -> Option<&SipEvent> {
    match &event.effect {
        Effect::Sip(s) => Some(s),
        _ => None,
    }
}

/// `$from, $from+1, …` for `count` values.
fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn apply_batch(db: &Db, events: &[&Incoming]) -> Result<Batch, Failure> {
    let mut tx = db.begin_write().await?;

    // 1. Events recorded before, or twice in this batch, change nothing.
    let sql = format!(
        "SELECT id FROM call_events WHERE id IN ({})",
        placeholders(1, events.len())
    );
    let mut query = sqlx::query_scalar::<_, String>(&sql).persistent(false);
    for e in events {
        query = query.bind(&e.event_id);
    }
    let mut seen: HashSet<String> = query.fetch_all(&mut *tx.tx).await?.into_iter().collect();
    let fresh: Vec<bool> = events
        .iter()
        .map(|e| seen.insert(e.event_id.clone()))
        .collect();

    // 2. The sessions the fresh SIP events concern, in order of first appearance.
    let mut sessions: Vec<Session> = Vec::new();
    let mut by_call: HashMap<&str, usize> = HashMap::new();
    for (e, _) in events.iter().zip(&fresh).filter(|(_, fresh)| **fresh) {
        if let Some(s) = sip(e) {
            let at = *by_call.entry(s.facts.call_id.as_str()).or_insert_with(|| {
                sessions.push(Session {
                    sip_call_id: &s.facts.call_id,
                    events: Vec::new(),
                    stored: false,
                });
                sessions.len() - 1
            });
            sessions[at].events.push((e, s));
        }
    }
    let mut changed = Vec::new();
    let mut call_of: HashMap<&str, String> = HashMap::new();
    if !sessions.is_empty() {
        find_sessions(&mut tx, &mut sessions).await?;
        upsert_sessions(&mut tx, &sessions, &mut call_of, &mut changed).await?;
    }

    // 3. Rooms that finished close every open call in them.
    let mut room_call: HashMap<&str, Option<String>> = HashMap::new();
    for (e, _) in events.iter().zip(&fresh).filter(|(_, fresh)| **fresh) {
        if matches!(e.effect, Effect::RoomFinished) {
            let closed: Vec<(String, Option<String>)> = sqlx::query_as(
                "UPDATE call_sessions SET status = 'ended', status_rank = 3, \
                 ended_at = COALESCE(ended_at, $1), end_reason = COALESCE(end_reason, 'room_finished'), \
                 updated_at = $2 WHERE room_name = $3 AND status_rank < 3 RETURNING id, owner_id",
            )
            .bind(e.occurred)
            .bind(e.received)
            .bind(&e.room)
            .fetch_all(&mut *tx.tx)
            .await?;
            let only = match closed.as_slice() {
                [(id, _)] => Some(id.clone()),
                _ => None,
            };
            room_call.insert(e.event_id.as_str(), only);
            changed.extend(
                closed
                    .into_iter()
                    .map(|(call_id, owner_id)| CallChange { call_id, owner_id }),
            );
        }
    }

    // 4. The events, each linked to its call.
    let mut applied = Vec::with_capacity(events.len());
    let mut rows = Vec::new();
    for (e, fresh) in events.iter().zip(&fresh) {
        if !fresh {
            applied.push(Applied::Duplicate);
            continue;
        }
        let call_id = match &e.effect {
            Effect::Sip(s) => call_of.get(s.facts.call_id.as_str()).cloned(),
            Effect::RoomFinished => room_call.get(e.event_id.as_str()).cloned().flatten(),
            Effect::None => None,
        };
        rows.push((*e, call_id.clone()));
        applied.push(Applied::Recorded { call_id });
    }
    if !rows.is_empty() {
        let values = (0..rows.len())
            .map(|i| format!("({}, 'livekit')", placeholders(i * 6 + 1, 6)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO call_events (id, call_id, kind, detail, occurred_at, received_at, source) VALUES {values}"
        );
        let mut query = sqlx::query(&sql).persistent(false);
        for (e, call_id) in &rows {
            query = query
                .bind(&e.event_id)
                .bind(call_id.clone())
                .bind(&e.kind)
                .bind(&e.detail)
                .bind(e.occurred)
                .bind(e.received);
        }
        match query.execute(&mut *tx.tx).await {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Err(Failure::Duplicate),
            Err(e) => return Err(e.into()),
        }
    }
    tx.commit().await?;
    Ok(Batch { applied, changed })
}

/// Finds each call's session: by `sip.callID`, else a call Dial placed whose webhook came
/// before LiveKit's answer named it (same room and participant identity), which is adopted.
async fn find_sessions(tx: &mut WriteTx, sessions: &mut [Session<'_>]) -> Result<(), Failure> {
    let rooms: Vec<&str> = sessions
        .iter()
        .flat_map(|s| s.events.iter().map(|(e, _)| e.room.as_str()))
        .filter(|r| !r.is_empty())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut sql = format!(
        "SELECT id, sip_call_id, room_name, participant_identity FROM call_sessions WHERE sip_call_id IN ({})",
        placeholders(1, sessions.len())
    );
    if !rooms.is_empty() {
        sql.push_str(&format!(
            " OR (sip_call_id IS NULL AND room_name IN ({}))",
            placeholders(sessions.len() + 1, rooms.len())
        ));
    }
    let mut query =
        sqlx::query_as::<_, (String, Option<String>, Option<String>, Option<String>)>(&sql)
            .persistent(false);
    for s in sessions.iter() {
        query = query.bind(s.sip_call_id);
    }
    for room in &rooms {
        query = query.bind(*room);
    }
    let rows = query.fetch_all(&mut *tx.tx).await?;
    let mut named: HashSet<&str> = HashSet::new();
    let mut placed: Vec<(&str, &str, &str)> = Vec::new();
    for (id, sip_call_id, room, identity) in &rows {
        match sip_call_id {
            Some(call) => {
                named.insert(call.as_str());
            }
            None => placed.push((
                id.as_str(),
                room.as_deref().unwrap_or(""),
                identity.as_deref().unwrap_or(""),
            )),
        }
    }
    let mut adopted: HashSet<&str> = HashSet::new();
    for s in sessions.iter_mut() {
        if named.contains(s.sip_call_id) {
            s.stored = true;
            continue;
        }
        let found = s.events.iter().find_map(|(e, p)| {
            placed
                .iter()
                .find(|(id, room, identity)| {
                    *room == e.room && *identity == p.identity && !adopted.contains(id)
                })
                .map(|(id, _, _)| *id)
        });
        if let Some(id) = found {
            adopted.insert(id);
            let named = sqlx::query("UPDATE call_sessions SET sip_call_id = $1 WHERE id = $2")
                .bind(s.sip_call_id)
                .bind(id)
                .execute(&mut *tx.tx)
                .await;
            match named {
                Ok(_) => s.stored = true,
                Err(e) if is_unique_violation(&e) => return Err(Failure::Conflict),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// A session's columns as this batch's events leave them, before the forward-only merge
/// with what is stored.
struct Row {
    id: String,
    direction: &'static str,
    number_id: Option<String>,
    assistant_id: Option<String>,
    owner_id: Option<String>,
    from: String,
    to: String,
    room: Option<String>,
    identity: Option<String>,
    sid: Option<String>,
    twilio_call_sid: Option<String>,
    status: CallStatus,
    end_reason: Option<String>,
    created_at: i64,
    ringing_at: Option<i64>,
    answered_at: Option<i64>,
    ended_at: Option<i64>,
    updated_at: i64,
}

/// Creates or moves forward every session in one statement, and notes each event's call.
async fn upsert_sessions<'a>(
    tx: &mut WriteTx,
    sessions: &[Session<'a>],
    call_of: &mut HashMap<&'a str, String>,
    changed: &mut Vec<CallChange>,
) -> Result<(), Failure> {
    // The numbers new sessions were placed from or called on.
    let numbers: Vec<&str> = sessions
        .iter()
        .filter(|s| !s.stored)
        .filter_map(|s| s.events.first())
        .map(|(_, p)| p.facts.trunk_phone_number.as_str())
        .filter(|n| !n.is_empty())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut ours: HashMap<String, (String, Option<String>, Option<String>)> = HashMap::new();
    if !numbers.is_empty() {
        let sql = format!(
            "SELECT e164, id, assistant_id, owner_id FROM phone_numbers WHERE released_at IS NULL AND e164 IN ({})",
            placeholders(1, numbers.len())
        );
        let mut query = sqlx::query_as::<_, (String, String, Option<String>, Option<String>)>(&sql)
            .persistent(false);
        for n in &numbers {
            query = query.bind(*n);
        }
        for (e164, id, assistant, owner) in query.fetch_all(&mut *tx.tx).await? {
            ours.insert(e164, (id, assistant, owner));
        }
    }

    let rows: Vec<Row> = sessions.iter().map(|s| fold(s, &ours)).collect();
    const COLUMNS: usize = 20;
    let values = (0..rows.len())
        .map(|i| format!("({})", placeholders(i * COLUMNS + 1, COLUMNS)))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO call_sessions (id, sip_call_id, direction, phone_number_id, assistant_id, owner_id, \
         from_number, to_number, room_name, participant_identity, participant_sid, twilio_call_sid, \
         status, status_rank, end_reason, created_at, ringing_at, answered_at, ended_at, updated_at) \
         VALUES {values} \
         ON CONFLICT (sip_call_id) WHERE sip_call_id IS NOT NULL DO UPDATE SET \
         room_name = COALESCE(call_sessions.room_name, excluded.room_name), \
         participant_identity = COALESCE(call_sessions.participant_identity, excluded.participant_identity), \
         participant_sid = COALESCE(call_sessions.participant_sid, excluded.participant_sid), \
         twilio_call_sid = COALESCE(call_sessions.twilio_call_sid, excluded.twilio_call_sid), \
         status = CASE WHEN excluded.status_rank > call_sessions.status_rank THEN excluded.status ELSE call_sessions.status END, \
         status_rank = CASE WHEN excluded.status_rank > call_sessions.status_rank THEN excluded.status_rank ELSE call_sessions.status_rank END, \
         end_reason = COALESCE(call_sessions.end_reason, excluded.end_reason), \
         ringing_at = COALESCE(call_sessions.ringing_at, excluded.ringing_at), \
         answered_at = COALESCE(call_sessions.answered_at, excluded.answered_at), \
         ended_at = COALESCE(call_sessions.ended_at, excluded.ended_at), \
         updated_at = excluded.updated_at \
         RETURNING id, sip_call_id, owner_id"
    );
    let mut query =
        sqlx::query_as::<_, (String, Option<String>, Option<String>)>(&sql).persistent(false);
    for (row, session) in rows.into_iter().zip(sessions) {
        query = query
            .bind(row.id)
            .bind(session.sip_call_id)
            .bind(row.direction)
            .bind(row.number_id)
            .bind(row.assistant_id)
            .bind(row.owner_id)
            .bind(row.from)
            .bind(row.to)
            .bind(row.room)
            .bind(row.identity)
            .bind(row.sid)
            .bind(row.twilio_call_sid)
            .bind(row.status.as_str())
            .bind(row.status.rank())
            .bind(row.end_reason)
            .bind(row.created_at)
            .bind(row.ringing_at)
            .bind(row.answered_at)
            .bind(row.ended_at)
            .bind(row.updated_at);
    }
    let stored = match query.fetch_all(&mut *tx.tx).await {
        Ok(stored) => stored,
        Err(e) if is_unique_violation(&e) => return Err(Failure::Conflict),
        Err(e) => return Err(e.into()),
    };
    for (id, sip_call_id, owner_id) in stored {
        if let Some(s) = sessions
            .iter()
            .find(|s| Some(s.sip_call_id) == sip_call_id.as_deref())
        {
            call_of.insert(s.sip_call_id, id.clone());
        }
        changed.push(CallChange {
            call_id: id,
            owner_id,
        });
    }
    Ok(())
}

/// Folds one call's events in this batch, in order: the first value of each field wins
/// (what is stored wins over all of them), the status is the furthest one, and each
/// timestamp is the first event's that reached that status.
fn fold(
    session: &Session,
    ours: &HashMap<String, (String, Option<String>, Option<String>)>,
) -> Row {
    let events = &session.events;
    let facts = events.first().map(|(_, s)| &s.facts);
    let trunk_number = facts.map(|f| f.trunk_phone_number.as_str()).unwrap_or("");
    let (number_id, assistant_id, owner_id) = match ours.get(trunk_number) {
        Some((n, a, o)) => (Some(n.clone()), a.clone(), o.clone()),
        None => (None, None, None),
    };
    let phone_number = facts.map(|f| f.phone_number.as_str()).unwrap_or("");
    let (direction, from, to) = if facts.is_some_and(|f| f.inbound) {
        ("inbound", phone_number, trunk_number)
    } else {
        ("outbound", trunk_number, phone_number)
    };
    let nonempty = |v: &str| Some(v.to_string()).filter(|v| !v.is_empty());
    let reached = |status: CallStatus| {
        events
            .iter()
            .find(|(_, s)| s.status == Some(status))
            .map(|(e, _)| e.occurred)
    };
    Row {
        // A fresh id: for a stored session the upsert keeps its own.
        id: new_id(),
        direction,
        number_id,
        assistant_id,
        owner_id,
        from: from.to_string(),
        to: to.to_string(),
        room: events.iter().find_map(|(e, _)| nonempty(&e.room)),
        identity: events.iter().find_map(|(_, s)| nonempty(&s.identity)),
        sid: events.iter().find_map(|(_, s)| nonempty(&s.sid)),
        twilio_call_sid: events
            .iter()
            .find_map(|(_, s)| s.facts.twilio_call_sid.clone()),
        status: events
            .iter()
            .filter_map(|(_, s)| s.status)
            .max()
            .unwrap_or(CallStatus::Dialing),
        end_reason: events.iter().find_map(|(_, s)| s.end_reason.clone()),
        created_at: events.first().map(|(e, _)| e.occurred).unwrap_or_else(now),
        ringing_at: reached(CallStatus::Ringing),
        answered_at: reached(CallStatus::Answered),
        ended_at: reached(CallStatus::Ended),
        updated_at: events
            .iter()
            .map(|(e, _)| e.received)
            .max()
            .unwrap_or_else(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn sip_event(kind: &str, id: &str, call: &str, status: &str, at: i64) -> proto::WebhookEvent {
        serde_json::from_value(json!({
            "event": kind,
            "id": id,
            "createdAt": at.to_string(),
            "room": { "sid": "RM_1", "name": format!("call-{call}") },
            "participant": {
                "sid": format!("PA_{call}"),
                "identity": format!("sip_{call}"),
                "kind": "SIP",
                "attributes": {
                    "sip.callID": call,
                    "sip.callStatus": status,
                    "sip.phoneNumber": "+15105550100",
                    "sip.trunkPhoneNumber": "+14155550100",
                    "sip.ruleID": "SDR_1",
                }
            }
        }))
        .expect("a webhook event")
    }

    struct TempDb {
        db: Db,
        path: PathBuf,
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
            }
        }
    }

    async fn temp_db() -> TempDb {
        let path = std::env::temp_dir().join(format!("dial-ingest-{}.db", new_id()));
        let db = Db::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .expect("open SQLite");
        db.migrate().await.expect("migrate");
        TempDb { db, path }
    }

    /// Queues the events as one batch and returns each one's outcome.
    async fn deliver(db: &Db, events: &[proto::WebhookEvent]) -> Vec<Result<Applied, AppError>> {
        let (changes, _) = broadcast::channel(64);
        let mut jobs = Vec::new();
        let mut outcomes = Vec::new();
        for event in events {
            let (reply, outcome) = oneshot::channel();
            jobs.push(Job {
                event: Incoming::new(event, 1_700_000_100),
                reply,
            });
            outcomes.push(outcome);
        }
        write(db, &changes, jobs).await;
        let mut results = Vec::new();
        for outcome in outcomes {
            results.push(outcome.await.expect("every job is answered"));
        }
        results
    }

    type Stored = (String, Option<i64>, Option<i64>, Option<String>);

    async fn stored(db: &Db, call: &str) -> Option<Stored> {
        sqlx::query_as(
            "SELECT status, answered_at, ended_at, end_reason FROM call_sessions WHERE sip_call_id = $1",
        )
        .bind(call)
        .fetch_optional(&db.pool)
        .await
        .expect("query")
    }

    #[tokio::test]
    async fn a_batch_folds_each_call_forward_once_whatever_the_order() {
        let t = temp_db().await;
        let results = deliver(
            &t.db,
            &[
                sip_event("participant_left", "EV_2", "SCL_a", "hangup", 1_700_000_060),
                sip_event(
                    "participant_joined",
                    "EV_1",
                    "SCL_a",
                    "active",
                    1_700_000_000,
                ),
                sip_event(
                    "participant_joined",
                    "EV_3",
                    "SCL_b",
                    "ringing",
                    1_700_000_010,
                ),
                sip_event(
                    "participant_joined",
                    "EV_1",
                    "SCL_a",
                    "active",
                    1_700_000_000,
                ),
            ],
        )
        .await;
        let call_a = match &results[0] {
            Ok(Applied::Recorded { call_id: Some(id) }) => id.clone(),
            other => panic!("the leave was not recorded on a call: {other:?}"),
        };
        assert_eq!(
            results[1].as_ref().ok(),
            Some(&Applied::Recorded {
                call_id: Some(call_a.clone())
            }),
            "both events of one call land on one session"
        );
        assert_eq!(results[3].as_ref().ok(), Some(&Applied::Duplicate));
        // Ended (the leave outranks the join), each timestamp from its own event.
        assert_eq!(
            stored(&t.db, "SCL_a").await,
            Some((
                "ended".into(),
                Some(1_700_000_000),
                Some(1_700_000_060),
                Some("participant_left".into())
            ))
        );
        assert_eq!(
            stored(&t.db, "SCL_b").await.map(|s| s.0),
            Some("ringing".into())
        );
        // A late join in a later batch never reopens the call.
        let late = deliver(
            &t.db,
            &[
                sip_event(
                    "participant_updated",
                    "EV_4",
                    "SCL_a",
                    "active",
                    1_700_000_090,
                ),
                sip_event(
                    "participant_joined",
                    "EV_5",
                    "SCL_b",
                    "active",
                    1_700_000_020,
                ),
            ],
        )
        .await;
        assert!(late.iter().all(|r| r.is_ok()));
        assert_eq!(
            stored(&t.db, "SCL_a").await.map(|s| s.0),
            Some("ended".into())
        );
        assert_eq!(
            stored(&t.db, "SCL_b").await.map(|s| (s.0, s.1)),
            Some(("answered".into(), Some(1_700_000_020)))
        );
        let (events, sessions): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM call_events), (SELECT COUNT(*) FROM call_sessions)",
        )
        .fetch_one(&t.db.pool)
        .await
        .expect("count");
        assert_eq!((events, sessions), (5, 2));
    }

    #[tokio::test]
    async fn an_event_that_fails_costs_only_itself() {
        let t = temp_db().await;
        sqlx::query(
            "CREATE TRIGGER refuse_bad BEFORE INSERT ON call_events WHEN NEW.id = 'EV_bad' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        )
        .execute(&t.db.pool)
        .await
        .expect("trigger");
        let results = deliver(
            &t.db,
            &[
                sip_event(
                    "participant_joined",
                    "EV_a",
                    "SCL_a",
                    "active",
                    1_700_000_000,
                ),
                sip_event(
                    "participant_joined",
                    "EV_bad",
                    "SCL_b",
                    "active",
                    1_700_000_000,
                ),
                sip_event(
                    "participant_joined",
                    "EV_c",
                    "SCL_c",
                    "active",
                    1_700_000_000,
                ),
                sip_event(
                    "participant_joined",
                    "EV_a",
                    "SCL_a",
                    "active",
                    1_700_000_000,
                ),
            ],
        )
        .await;
        assert!(matches!(results[0], Ok(Applied::Recorded { .. })));
        assert!(results[1].is_err(), "the refused event is an error");
        assert!(matches!(results[2], Ok(Applied::Recorded { .. })));
        assert_eq!(results[3].as_ref().ok(), Some(&Applied::Duplicate));
        assert!(stored(&t.db, "SCL_a").await.is_some());
        assert!(stored(&t.db, "SCL_c").await.is_some());
        assert_eq!(
            stored(&t.db, "SCL_b").await,
            None,
            "nothing of the refused event is kept"
        );
    }
}
