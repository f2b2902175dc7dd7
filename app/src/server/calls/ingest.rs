//! LiveKit webhook ingestion with group commit.
//!
//! Every verified webhook becomes a [`Job`] on a writer's queue: one writer on SQLite,
//! [`postgres_writers`] on PostgreSQL, each call's events always on the same one ([`shard`]).
//! A writer takes whatever is waiting (up to [`MAX_BATCH`] events) and folds it into the
//! call sessions in **one** transaction of a handful of statements, however many events
//! it holds:
//!
//! 1. which event ids were recorded before (a duplicate changes nothing);
//! 2. the sessions the events concern, by `sip.callID`, and calls Dial placed that LiveKit
//!    has not named yet (by room and participant identity);
//! 3. the numbers of new sessions (direction, number, assistant, owner);
//! 4. one upsert of every session touched, whose `DO UPDATE` only moves the state forward
//!    (`status_rank`), fills in what is missing and sets each timestamp once;
//! 5. one insert of the events, each linked to its session;
//! 6. one insert of the webhook events of the calls that moved (`event_hooks`: each
//!    transition once, keyed by call and type); skipped while no event-webhook endpoint is
//!    enabled, when it would write nothing (PostgreSQL's lookup says so in step 1).
//!
//! Each request is answered after the commit, so a 200 still means "recorded". Requests
//! that are waiting together are concurrent, so any order among them is a true order; the
//! batch takes them in queue order. If a batch fails as a whole, each of its events is
//! applied alone, so one bad event (or a race with another instance on PostgreSQL) costs
//! only itself. SQLite has one writer, and this is what lets it take thousands of events a
//! second: the cost of a transaction is paid once per batch, not once per event. On
//! PostgreSQL each batch waits for its round trips and its commit's WAL flush; several
//! writers overlap those waits, and since one call's events never go to two writers, they
//! are applied in order and never race for the call's session. Most batches there are two
//! round trips: the read, then steps 4 and 5 as one statement (see [`postgres_batch`]).

use crate::error::AppError;
use crate::server::{
    calls::{disconnect_reason, outcome_of_disconnect, sip_facts, CallStatus, Outcome, SipFacts},
    db::{is_unique_violation, Backend, Db, WriteTx},
    new_ordered_id, now,
    state::{AppState, CallChange},
};
use livekit_protocol as proto;
use serde::Serialize;
use serde_json::json;
use sqlx::pool::PoolConnection;
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, OnceLock},
};
use tokio::sync::{broadcast, mpsc, oneshot};

/// The most events one batch takes: a request waits for at most this many others' writes
/// before its own is committed.
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
                // LiveKit's webhooks are room_started/finished, participant_joined/left/
                // connection_aborted, track_published/unpublished, egress, ingress and
                // agent job events (livekit/protocol `webhook/consts.go`): none for a
                // participant's attribute or `sip.callStatus` change, which is followed by
                // reading the participant (`follow.rs`). Any other event about a SIP
                // participant (its track, or a name a newer LiveKit adds) is recorded on
                // its call and moves nothing.
                let status = match event.event.as_str() {
                    "participant_left" | "participant_connection_aborted" => {
                        Some(CallStatus::Ended)
                    }
                    "participant_joined" => facts.status.or(Some(CallStatus::Answered)),
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
struct Job {
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
    let IngestQueues(queues) = state.handle(|| {
        IngestQueues(Arc::new(spawn_writers(
            state.db.clone(),
            state.call_changes.clone(),
        )))
    });
    enqueue(&queues, job).await?;
    outcome.await.map_err(|_| writer_stopped())?
}

/// Puts the job on its writer's queue (see [`shard`]).
async fn enqueue(queues: &[mpsc::Sender<Job>], job: Job) -> Result<(), AppError> {
    let queue = &queues[shard(&job.event, queues.len())];
    queue.send(job).await.map_err(|_| writer_stopped())
}

/// The writers' queues, kept in the application state ([`AppState::handle`]).
#[derive(Clone)]
struct IngestQueues(Arc<Vec<mpsc::Sender<Job>>>);

/// How many writers PostgreSQL gets: one per core, 1 to 8. Each commits its own batches,
/// so one writer's round trips and commit (the WAL flush) overlap the others' work; but
/// each batch costs PostgreSQL the same CPU however few events it holds, so more writers
/// than cores make smaller batches for the same work. Measured on 2 cores (`cargo bench
/// --bench webhooks`, wrk, 32 connections, README "Calls"): 1 writer 8,735 events/s, 2
/// writers 9,103 and 8,406/s (p99 6.7 ms), 4 writers 7,807 and 6,959/s (p99 9–10 ms), 8
/// writers 6,127/s (p99 11.8 ms), PostgreSQL's CPU per 1,000 events rising from 62 ms
/// to 198 ms. With a batch of two round trips ([`postgres_batch`]), on a slower machine:
/// 1 writer 8,894 and 8,868/s, 2 writers 8,883 and 8,263/s, 3 writers 7,608 and 8,450/s,
/// 4 writers 7,298 and 7,032/s. SQLite has one writer.
pub fn postgres_writers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 8))
}

/// The writer an event goes to: all the events of one call (`sip.callID`) go to the same
/// writer, so they are applied in the order they came, and no two writers ever write one
/// call's session at once. Other events go by room, then by id (a duplicate goes where
/// its first copy went).
fn shard(event: &Incoming, writers: usize) -> usize {
    use std::hash::{Hash, Hasher};
    if writers <= 1 {
        return 0;
    }
    let key = match &event.effect {
        Effect::Sip(s) => s.facts.call_id.as_str(),
        _ if !event.room.is_empty() => event.room.as_str(),
        _ => event.event_id.as_str(),
    };
    // Fixed keys: the same call goes to the same writer for the life of the process.
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % writers as u64) as usize
}

fn writer_stopped() -> AppError {
    tracing::error!("the LiveKit webhook writer has stopped");
    AppError::Internal
}

/// Starts the writers (one on SQLite, [`postgres_writers`] on PostgreSQL); each stops when
/// the last sender (the application state) is dropped.
///
/// On SQLite the writer runs on a thread of its own: its transaction is a chain of round
/// trips to the connection's thread, and on the server's runtime each step would wait
/// behind every request in progress; the whole ingest waits on that chain.
fn spawn_writers(db: Db, changes: broadcast::Sender<CallChange>) -> Vec<mpsc::Sender<Job>> {
    match db.backend {
        Backend::Sqlite => {
            let (queue, waiting) = mpsc::channel::<Job>(QUEUE);
            let writer = Writer::new(db, changes);
            let started = std::thread::Builder::new()
                .name("dial-webhooks".into())
                .spawn(move || {
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime.block_on(writer.run(waiting)),
                        Err(e) => tracing::error!(error = %e, "could not start the webhook writer"),
                    }
                });
            if let Err(e) = started {
                tracing::error!(error = %e, "could not start the webhook writer's thread");
            }
            vec![queue]
        }
        // PostgreSQL connections belong to the runtime that opened them.
        Backend::Postgres => {
            let writers = postgres_writers();
            (0..writers)
                .map(|_| {
                    let (queue, waiting) = mpsc::channel::<Job>(QUEUE / writers);
                    tokio::spawn(Writer::new(db.clone(), changes.clone()).run(waiting));
                    queue
                })
                .collect()
        }
    }
}

/// A writer: it keeps a connection of its own (a warm page cache, no pool checks per
/// batch) and gives it back when it fails.
struct Writer {
    db: Db,
    changes: broadcast::Sender<CallChange>,
    /// PostgreSQL: a connection from the pool, kept.
    conn: Option<PoolConnection<sqlx::Any>>,
    /// SQLite: a connection of the writer's own, outside the pool (see [`sqlite_batch`]).
    sqlite: Option<rusqlite::Connection>,
}

impl Writer {
    fn new(db: Db, changes: broadcast::Sender<CallChange>) -> Writer {
        Writer {
            db,
            changes,
            conn: None,
            sqlite: None,
        }
    }

    async fn run(mut self, mut waiting: mpsc::Receiver<Job>) {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        while waiting.recv_many(&mut jobs, MAX_BATCH).await > 0 {
            self.write(std::mem::take(&mut jobs)).await;
        }
    }

    /// Applies a batch in one transaction, or (if that fails) each event alone, and answers
    /// every request.
    async fn write(&mut self, jobs: Vec<Job>) {
        if jobs.len() > 1 {
            let events: Vec<&Incoming> = jobs.iter().map(|j| &j.event).collect();
            match self.apply(&events).await {
                Ok(batch) => {
                    announce(&self.changes, batch.changed);
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
            let outcome = self.apply_alone(&job.event).await;
            // A request that gave up waiting is not an error: its event is recorded.
            let _ = job.reply.send(outcome);
        }
    }

    /// One event in a transaction of its own. A session created meanwhile by another
    /// writer (another instance, on PostgreSQL) is found on a retry.
    async fn apply_alone(&mut self, event: &Incoming) -> Result<Applied, AppError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.apply(&[event]).await {
                Ok(mut batch) => {
                    announce(&self.changes, batch.changed);
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
                Err(Failure::Sqlite(e)) => {
                    tracing::error!(error = %e, "database error");
                    return Err(AppError::Internal);
                }
            }
        }
    }

    async fn apply(&mut self, events: &[&Incoming]) -> Result<Batch, Failure> {
        if self.db.backend == Backend::Sqlite {
            let _lane = self.db.lane().await;
            let conn = match &mut self.sqlite {
                Some(conn) => conn,
                None => self.sqlite.insert(open_sqlite(&self.db)?),
            };
            let applied = sqlite_batch(conn, events);
            if let Err(Failure::Sqlite(_)) = applied {
                self.sqlite = None;
            }
            return applied;
        }
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self.conn.insert(self.db.pool.acquire().await?),
        };
        let applied = postgres_batch(&self.db, conn, events).await;
        if let Err(Failure::Db(_)) = applied {
            // The connection may be what failed: the next batch takes another.
            self.conn = None;
        }
        applied
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
    Sqlite(rusqlite::Error),
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Failure::Db(e)
    }
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Failure::Sqlite(e)
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

// ---------------------------------------------------------------------------------------
// The statements. Each takes its rows as one JSON array parameter, so its text (and its
// prepared statement) is the same for a batch of one event or of 256, and the database
// unpacks the rows in C rather than through thousands of bound parameters.

/// The columns of a session row, with their PostgreSQL types.
const SESSION_COLUMNS: [(&str, &str); 21] = [
    ("id", "text"),
    ("sip_call_id", "text"),
    ("direction", "text"),
    ("phone_number_id", "text"),
    ("assistant_id", "text"),
    ("owner_id", "text"),
    ("from_number", "text"),
    ("to_number", "text"),
    ("room_name", "text"),
    ("participant_identity", "text"),
    ("participant_sid", "text"),
    ("twilio_call_sid", "text"),
    ("status", "text"),
    ("status_rank", "integer"),
    ("end_reason", "text"),
    ("outcome", "text"),
    ("created_at", "bigint"),
    ("ringing_at", "bigint"),
    ("answered_at", "bigint"),
    ("ended_at", "bigint"),
    ("updated_at", "bigint"),
];

/// The columns of an event row, with their PostgreSQL types.
const EVENT_COLUMNS: [(&str, &str); 6] = [
    ("id", "text"),
    ("call_id", "text"),
    ("kind", "text"),
    ("detail", "text"),
    ("occurred_at", "bigint"),
    ("received_at", "bigint"),
];

/// The columns of an event row whose session is named by its `sip_call_id` (the statement
/// finds the session's id).
const LINKED_EVENT_COLUMNS: [(&str, &str); 6] = [
    ("id", "text"),
    ("sip_call_id", "text"),
    ("kind", "text"),
    ("detail", "text"),
    ("occurred_at", "bigint"),
    ("received_at", "bigint"),
];

/// How a stored session takes a batch's row: what is stored wins, the status only moves
/// forward, each timestamp is set once.
const MERGE_SESSION: &str = "ON CONFLICT (sip_call_id) WHERE sip_call_id IS NOT NULL DO UPDATE SET \
     room_name = COALESCE(call_sessions.room_name, excluded.room_name), \
     participant_identity = COALESCE(call_sessions.participant_identity, excluded.participant_identity), \
     participant_sid = COALESCE(call_sessions.participant_sid, excluded.participant_sid), \
     twilio_call_sid = COALESCE(call_sessions.twilio_call_sid, excluded.twilio_call_sid), \
     status = CASE WHEN excluded.status_rank > call_sessions.status_rank THEN excluded.status ELSE call_sessions.status END, \
     status_rank = CASE WHEN excluded.status_rank > call_sessions.status_rank THEN excluded.status_rank ELSE call_sessions.status_rank END, \
     end_reason = COALESCE(call_sessions.end_reason, excluded.end_reason), \
     outcome = COALESCE(call_sessions.outcome, CASE WHEN call_sessions.answered_at IS NULL THEN excluded.outcome END), \
     ringing_at = COALESCE(call_sessions.ringing_at, excluded.ringing_at), \
     answered_at = COALESCE(call_sessions.answered_at, excluded.answered_at), \
     ended_at = COALESCE(call_sessions.ended_at, excluded.ended_at), \
     updated_at = excluded.updated_at \
     RETURNING id, sip_call_id, owner_id";

/// Closes every open call of a finished room ($1 when, $2 now, $3 the room). Only calls
/// that began before the room finished: a room lasts 20 s after its last participant
/// (livekit/livekit `pkg/rtc/room.go`), and a rule without random room names (or a
/// direct rule) can put a newer call in a new room of the same name meanwhile.
const CLOSE_ROOM: &str = "UPDATE call_sessions SET status = 'ended', status_rank = 3, \
     ended_at = COALESCE(ended_at, $1), end_reason = COALESCE(end_reason, 'room_finished'), \
     updated_at = $2 WHERE room_name = $3 AND status_rank < 3 AND created_at <= $1 \
     RETURNING id, owner_id";

/// Adopts a placed call ($1 the call id LiveKit gave, $2 the session).
const NAME_PLACED: &str = "UPDATE call_sessions SET sip_call_id = $1 WHERE id = $2";

fn names(columns: &[(&str, &str)]) -> String {
    columns
        .iter()
        .map(|(c, _)| *c)
        .collect::<Vec<_>>()
        .join(", ")
}

/// PostgreSQL: the rows of `table` (these `columns`) where `filter` holds and `key` is one
/// of the values of the JSON array of strings `$n`, each value looked up on its own
/// (`LATERAL`, kept from being flattened by `OFFSET 0`). So the read is a nested loop over
/// the key's index whatever the planner believes the table holds: as `key IN (SELECT
/// …)`, a plan made while the table was small (a fresh database, before any `ANALYZE`)
/// hashed the keys and scanned the table, and PostgreSQL kept that plan for the
/// connection's prepared statement as the table grew (12 ms a batch at 10,000 calls).
fn rows_by_key(n: usize, tag: &str, columns: &str, table: &str, filter: &str, key: &str) -> String {
    format!(
        "SELECT '{tag}', t.* FROM json_array_elements_text(${n}::json) AS k(v) \
         CROSS JOIN LATERAL (SELECT {columns} FROM {table} WHERE {filter}{key} = k.v OFFSET 0) AS t"
    )
}

/// PostgreSQL: the rows of the JSON array of objects `$n`, with these columns. The
/// parameters are read as `json`, not `jsonb`: each is read once, row by row, where `jsonb`
/// would first build a binary copy with every object's keys sorted (in psql, 3,000 batches
/// of 32 session rows took 526–664 ms as `json`, 1,104–1,136 ms as `jsonb`).
fn json_rows(n: usize, columns: &[(&str, &str)]) -> String {
    format!(
        "SELECT {} FROM json_to_recordset(${n}::json) AS r({})",
        columns
            .iter()
            .map(|(c, _)| format!("r.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
        columns
            .iter()
            .map(|(c, t)| format!("{c} {t}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The session columns PostgreSQL takes from the number called, not from the batch's rows.
const NUMBER_COLUMNS: [(&str, &str); 3] = [
    ("phone_number_id", "n.id"),
    ("assistant_id", "n.assistant_id"),
    ("owner_id", "n.owner_id"),
];

/// PostgreSQL: the session rows of the JSON array of objects `$n` ([`SessionRow`]), each
/// with the live number its `trunk_number` names (its id, assistant and owner), looked up
/// by the number's index ([`rows_by_key`] says why `LATERAL … OFFSET 0`).
fn session_rows(n: usize) -> String {
    let given: Vec<(&str, &str)> = SESSION_COLUMNS
        .iter()
        .filter(|(c, _)| !NUMBER_COLUMNS.iter().any(|(n, _)| n == c))
        .copied()
        .chain([("trunk_number", "text")])
        .collect();
    format!(
        "SELECT {} FROM json_to_recordset(${n}::json) AS r({}) \
         LEFT JOIN LATERAL (SELECT id, assistant_id, owner_id FROM phone_numbers \
         WHERE released_at IS NULL AND e164 = r.trunk_number OFFSET 0) AS n ON true",
        SESSION_COLUMNS
            .iter()
            .map(|(c, _)| match NUMBER_COLUMNS.iter().find(|(n, _)| n == c) {
                Some((_, from)) => from.to_string(),
                None => format!("r.{c}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        given
            .iter()
            .map(|(c, t)| format!("{c} {t}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// PostgreSQL's statements: each takes its rows as one JSON parameter, so its text (and
/// its prepared statement) is the same for a batch of one event or of 256.
struct Statements {
    /// Events seen before, the sessions concerned (by call id, or placed calls by room)
    /// and whether any event-webhook endpoint is enabled: one read, rows tagged `event`,
    /// `session` or `hooks`, each read through its key's index ([`rows_by_key`]). The
    /// sessions are two reads, by call id and by room: as one `OR` PostgreSQL scanned the
    /// whole table on every batch (30 ms a batch at 100,000 calls).
    lookup: String,
    upsert_sessions: String,
    insert_events: String,
    /// The whole of a plain batch as one statement (no transaction of its own: one
    /// statement is atomic), written only if a guard finds nothing that needs more: none
    /// of the event ids `$3` recorded before, no placed call waiting for its call id in
    /// the rooms `$4`, no event-webhook endpoint enabled. Then the sessions `$1` are
    /// upserted and the events `$2` inserted, each linked to its session by `sip_call_id`
    /// through the upsert's `RETURNING`; the foreign key of `call_events.call_id` is
    /// checked at the statement's end, when the sessions exist. Rows: the guard's verdict
    /// and each session written (one row of NULLs when none was).
    write_at_once: String,
}

impl Statements {
    fn get() -> &'static Statements {
        static STATEMENTS: OnceLock<Statements> = OnceLock::new();
        STATEMENTS.get_or_init(|| {
            let seen = |n| rows_by_key(n, "event", "id, NULL, NULL, NULL", "call_events", "", "id");
            let placed = |n| {
                rows_by_key(
                    n,
                    "session",
                    "id, sip_call_id, room_name, participant_identity",
                    "call_sessions",
                    "sip_call_id IS NULL AND ",
                    "room_name",
                )
            };
            const HOOKS: &str = "SELECT 1 FROM webhook_endpoints WHERE enabled = 1";
            Statements {
                lookup: [
                    seen(1),
                    rows_by_key(
                        2,
                        "session",
                        "id, sip_call_id, room_name, participant_identity",
                        "call_sessions",
                        "",
                        "sip_call_id",
                    ),
                    placed(3),
                    format!("SELECT 'hooks', '', NULL, NULL, NULL WHERE EXISTS ({HOOKS})"),
                ]
                .join(" UNION ALL "),
                upsert_sessions: format!(
                    "INSERT INTO call_sessions ({}) {} {MERGE_SESSION}",
                    names(&SESSION_COLUMNS),
                    session_rows(1)
                ),
                insert_events: format!(
                    "INSERT INTO call_events ({}, source) SELECT *, 'livekit' FROM ({}) AS batch",
                    names(&EVENT_COLUMNS),
                    json_rows(1, &EVENT_COLUMNS)
                ),
                write_at_once: format!(
                    "WITH guard AS (SELECT NOT EXISTS ({}) AND NOT EXISTS ({}) \
                     AND NOT EXISTS ({HOOKS}) AS ok), \
                     s AS (INSERT INTO call_sessions ({}) {} WHERE (SELECT ok FROM guard) \
                     {MERGE_SESSION}), \
                     e AS (INSERT INTO call_events ({}, source) \
                     SELECT r.id, s.id, r.kind, r.detail, r.occurred_at, r.received_at, 'livekit' \
                     FROM ({}) AS r LEFT JOIN s ON s.sip_call_id = r.sip_call_id \
                     WHERE (SELECT ok FROM guard)) \
                     SELECT g.ok, s.id, s.sip_call_id, s.owner_id FROM guard AS g LEFT JOIN s ON true",
                    seen(3),
                    placed(4),
                    names(&SESSION_COLUMNS),
                    session_rows(1),
                    names(&EVENT_COLUMNS),
                    json_rows(2, &LINKED_EVENT_COLUMNS)
                ),
            }
        })
    }
}

/// A JSON array of the values, each once (a key looked up twice would be read twice), as
/// one parameter.
fn json_list<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    let mut seen = HashSet::new();
    let unique: Vec<&str> = values.into_iter().filter(|v| seen.insert(*v)).collect();
    serde_json::Value::from(unique).to_string()
}

/// PostgreSQL: the batch in one statement when it can be, however many events it holds.
/// Each statement is a round trip, and PostgreSQL's own cost per statement hardly depends
/// on the rows it takes, so the round trips are what a batch costs.
///
/// A batch that only creates or moves sessions forward and records its events (no room
/// finished) is first written by [`Statements::write_at_once`], whose guard refuses it if
/// one of its events was recorded before, a placed call waits for its call id in one of
/// its rooms, or an event-webhook endpoint is enabled. Refused (or a room finished), the
/// batch is read first ([`Statements::lookup`]; outside any transaction: at READ
/// COMMITTED, PostgreSQL's level, a transaction's statements each see what was committed
/// when they began, so it reads the same inside one or not), then written by the same
/// one statement if what it found leaves it plain (only events recorded before, which
/// are left out), or else in one transaction of a statement per step.
async fn postgres_batch(
    db: &Db,
    conn: &mut sqlx::AnyConnection,
    events: &[&Incoming],
) -> Result<Batch, Failure> {
    let sql = Statements::get();
    let closes_rooms = events
        .iter()
        .any(|e| matches!(e.effect, Effect::RoomFinished));
    if !closes_rooms {
        // Twice in this batch: the second copy changes nothing.
        let mut once = HashSet::new();
        let fresh: Vec<bool> = events
            .iter()
            .map(|e| once.insert(e.event_id.as_str()))
            .collect();
        let sessions = sessions_of(events, &fresh, &HashSet::new());
        let guard = Guard {
            events: json_list(
                events
                    .iter()
                    .zip(&fresh)
                    .filter(|(_, fresh)| **fresh)
                    .map(|(e, _)| e.event_id.as_str()),
            ),
            rooms: json_list(
                events
                    .iter()
                    .filter(|e| sip(e).is_some() && !e.room.is_empty())
                    .map(|e| e.room.as_str()),
            ),
        };
        if let Some(batch) = write_at_once(conn, events, &fresh, &sessions, guard).await? {
            return Ok(batch);
        }
    }

    // 1. One read: events recorded before, the sessions concerned.
    let sips: Vec<&SipEvent> = events.iter().filter_map(|e| sip(e)).collect();
    let rows: Vec<LookupRow> = sqlx::query_as(&sql.lookup)
        .bind(json_list(events.iter().map(|e| e.event_id.as_str())))
        .bind(json_list(sips.iter().map(|s| s.facts.call_id.as_str())))
        .bind(json_list(
            events
                .iter()
                .filter(|e| sip(e).is_some() && !e.room.is_empty())
                .map(|e| e.room.as_str()),
        ))
        .fetch_all(&mut *conn)
        .await?;
    let mut seen: HashSet<&str> = HashSet::new();
    let mut named: HashSet<&str> = HashSet::new();
    let mut placed: Vec<(&str, &str, &str)> = Vec::new();
    let mut hooks = false;
    for (tag, id, a, b, c) in &rows {
        match (tag.as_str(), a) {
            ("hooks", _) => hooks = true,
            ("event", _) => {
                seen.insert(id);
            }
            ("session", Some(call)) => {
                named.insert(call);
            }
            ("session", None) => {
                placed.push((id, b.as_deref().unwrap_or(""), c.as_deref().unwrap_or("")))
            }
            _ => {}
        }
    }
    // Recorded before, or twice in this batch: changes nothing.
    let fresh: Vec<bool> = events.iter().map(|e| seen.insert(&e.event_id)).collect();

    // 2. The sessions the fresh SIP events concern, in order of first appearance.
    let mut sessions = sessions_of(events, &fresh, &named);
    let adoptions = placed_to_adopt(&sessions, &placed);
    let closes_rooms = events
        .iter()
        .zip(&fresh)
        .any(|(e, fresh)| *fresh && matches!(e.effect, Effect::RoomFinished));
    if adoptions.is_empty() && !closes_rooms && !hooks {
        // Checked already: the guard has nothing left to look for.
        let guard = Guard {
            events: "[]".into(),
            rooms: "[]".into(),
        };
        return match write_at_once(conn, events, &fresh, &sessions, guard).await? {
            Some(batch) => Ok(batch),
            // An endpoint was enabled since the read: the events go one by one.
            None => Err(Failure::Conflict),
        };
    }

    let mut tx = db.begin_write_on(conn).await?;
    let mut changed = Vec::new();
    let mut call_of: HashMap<&str, String> = HashMap::new();
    if !sessions.is_empty() {
        adopt_placed(&mut tx, &mut sessions, &adoptions).await?;
        let rows: Vec<SessionRow> = sessions.iter().map(fold).collect();
        let rows =
            serde_json::to_string(&rows).map_err(|e| Failure::Db(sqlx::Error::Encode(e.into())))?;
        let stored =
            sqlx::query_as::<_, (String, Option<String>, Option<String>)>(&sql.upsert_sessions)
                .bind(rows)
                .fetch_all(&mut *tx.tx)
                .await;
        let stored = match stored {
            Ok(stored) => stored,
            Err(e) if is_unique_violation(&e) => return Err(Failure::Conflict),
            Err(e) => return Err(e.into()),
        };
        link_sessions(&sessions, stored, &mut call_of, &mut changed);
    }

    // 3. Rooms that finished close every open call in them.
    let mut room_call: HashMap<&str, Option<String>> = HashMap::new();
    for (e, _) in events.iter().zip(&fresh).filter(|(_, fresh)| **fresh) {
        if matches!(e.effect, Effect::RoomFinished) {
            let closed: Vec<(String, Option<String>)> = sqlx::query_as(CLOSE_ROOM)
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

    // 4. The webhook events of the calls that moved (one statement; see `event_hooks`),
    // skipped while no endpoint is enabled (the lookup says), when it would write nothing.
    if hooks {
        let moved = moved_calls(&changed);
        crate::server::event_hooks::record_call_transitions(&mut tx, &moved).await?;
    }

    // 5. The events, each linked to its call.
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
        rows.push(EventRow {
            id: &e.event_id,
            call_id: call_id.clone(),
            kind: &e.kind,
            detail: &e.detail,
            occurred_at: e.occurred,
            received_at: e.received,
        });
        applied.push(Applied::Recorded { call_id });
    }
    if !rows.is_empty() {
        let rows =
            serde_json::to_string(&rows).map_err(|e| Failure::Db(sqlx::Error::Encode(e.into())))?;
        match sqlx::query(&sql.insert_events)
            .bind(rows)
            .execute(&mut *tx.tx)
            .await
        {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Err(Failure::Duplicate),
            Err(e) => return Err(e.into()),
        }
    }
    tx.commit().await?;
    Ok(Batch { applied, changed })
}

/// What [`Statements::write_at_once`] looks for before it writes, as JSON arrays: the
/// batch's event ids (recorded before?) and its rooms (a placed call waiting there?).
struct Guard {
    events: String,
    rooms: String,
}

/// The batch as one statement ([`Statements::write_at_once`]): every session upserted and
/// every fresh event recorded, linked to its session by `sip.callID`. `None` when the
/// guard found something that needs the batch read first: then nothing was written.
async fn write_at_once(
    conn: &mut sqlx::AnyConnection,
    events: &[&Incoming],
    fresh: &[bool],
    sessions: &[Session<'_>],
    guard: Guard,
) -> Result<Option<Batch>, Failure> {
    let encode = |e: serde_json::Error| Failure::Db(sqlx::Error::Encode(e.into()));
    let rows: Vec<SessionRow> = sessions.iter().map(fold).collect();
    let sessions_json = serde_json::to_string(&rows).map_err(encode)?;
    let linked: Vec<LinkedEventRow> = events
        .iter()
        .zip(fresh)
        .filter(|(_, fresh)| **fresh)
        .map(|(e, _)| LinkedEventRow {
            id: &e.event_id,
            sip_call_id: sip(e).map(|s| s.facts.call_id.as_str()),
            kind: &e.kind,
            detail: &e.detail,
            occurred_at: e.occurred,
            received_at: e.received,
        })
        .collect();
    if linked.is_empty() {
        // Every event was recorded before.
        return Ok(Some(Batch {
            applied: vec![Applied::Duplicate; events.len()],
            changed: Vec::new(),
        }));
    }
    let events_json = serde_json::to_string(&linked).map_err(encode)?;
    type Written = (bool, Option<String>, Option<String>, Option<String>);
    let written = sqlx::query_as::<_, Written>(&Statements::get().write_at_once)
        .bind(sessions_json)
        .bind(events_json)
        .bind(guard.events)
        .bind(guard.rooms)
        .fetch_all(&mut *conn)
        .await;
    let written = match written {
        Ok(written) => written,
        // The one key this statement can find taken is an event's id, recorded meanwhile by
        // another instance (the upsert resolves a taken `sip.callID` by updating). A batch
        // then fails as a whole and each event is applied alone; one event alone is a
        // duplicate.
        Err(e) if is_unique_violation(&e) => return Err(Failure::Duplicate),
        Err(e) => return Err(e.into()),
    };
    if !written.first().is_some_and(|(ok, ..)| *ok) {
        return Ok(None);
    }
    let stored = written
        .into_iter()
        .filter_map(|(_, id, sip_call_id, owner_id)| Some((id?, sip_call_id, owner_id)))
        .collect();
    let mut call_of: HashMap<&str, String> = HashMap::new();
    let mut changed = Vec::new();
    link_sessions(sessions, stored, &mut call_of, &mut changed);
    let applied = events
        .iter()
        .zip(fresh)
        .map(|(e, fresh)| match (fresh, sip(e)) {
            (false, _) => Applied::Duplicate,
            (true, Some(s)) => Applied::Recorded {
                call_id: call_of.get(s.facts.call_id.as_str()).cloned(),
            },
            (true, None) => Applied::Recorded { call_id: None },
        })
        .collect();
    Ok(Some(Batch { applied, changed }))
}

/// The sessions the fresh SIP events concern, in order of first appearance, each with its
/// events in order; `named` are the call ids stored already.
fn sessions_of<'a>(
    events: &[&'a Incoming],
    fresh: &[bool],
    named: &HashSet<&str>,
) -> Vec<Session<'a>> {
    let mut sessions: Vec<Session> = Vec::new();
    let mut by_call: HashMap<&str, usize> = HashMap::new();
    for (e, _) in events.iter().zip(fresh).filter(|(_, fresh)| **fresh) {
        if let Some(s) = sip(e) {
            let at = *by_call.entry(s.facts.call_id.as_str()).or_insert_with(|| {
                sessions.push(Session {
                    sip_call_id: &s.facts.call_id,
                    events: Vec::new(),
                    stored: named.contains(s.facts.call_id.as_str()),
                });
                sessions.len() - 1
            });
            sessions[at].events.push((e, s));
        }
    }
    sessions
}

// SQLite's writer reads one row at a time, each by a key an index serves.
/// SQLite: whether the event ($1) was recorded before.
const SQLITE_SEEN: &str = "SELECT 1 FROM call_events WHERE id = $1";
/// SQLite: whether the call ($1, LiveKit's `sip.callID`) has a session.
const SQLITE_STORED: &str = "SELECT 1 FROM call_sessions WHERE sip_call_id = $1";
/// SQLite: a placed call waiting for LiveKit's call id, by room ($1) and participant ($2).
const SQLITE_PLACED: &str = "SELECT id FROM call_sessions WHERE sip_call_id IS NULL \
     AND room_name = $1 AND participant_identity = $2 LIMIT 1";
/// SQLite: the live number ($1) called.
const SQLITE_NUMBER: &str = "SELECT id, assistant_id, owner_id FROM phone_numbers \
     WHERE e164 = $1 AND released_at IS NULL";

/// Opens the SQLite writer's own connection.
fn open_sqlite(db: &Db) -> Result<rusqlite::Connection, Failure> {
    let path = db.sqlite_path.as_ref().ok_or_else(|| {
        Failure::Db(sqlx::Error::Configuration(
            "webhooks need a SQLite file (sqlite://path), not an in-memory database".into(),
        ))
    })?;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch(crate::server::db::SQLITE_PRAGMAS)?;
    Ok(conn)
}

fn is_sqlite_unique(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// SQLite: the batch in one `BEGIN IMMEDIATE` transaction on the writer's own connection,
/// event by event with cached prepared statements. The writer already holds the
/// process's writer lane. Through the pool each statement would be a round trip to the
/// connection's thread (two thread wake-ups); here it is a function call, which is what
/// makes thousands of events a second cheap.
fn sqlite_batch(conn: &mut rusqlite::Connection, events: &[&Incoming]) -> Result<Batch, Failure> {
    use rusqlite::{params, OptionalExtension};
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    static UPSERT: OnceLock<String> = OnceLock::new();
    let upsert = UPSERT.get_or_init(|| {
        format!(
            "INSERT INTO call_sessions ({}) VALUES ({}) {MERGE_SESSION}",
            names(&SESSION_COLUMNS),
            (1..=SESSION_COLUMNS.len())
                .map(|n| format!("${n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    let mut applied = Vec::with_capacity(events.len());
    let mut changed = Vec::new();
    let mut numbers: HashMap<String, Option<StoredNumber>> = HashMap::new();
    for e in events {
        // Recorded before, or earlier in this batch: changes nothing.
        if tx.prepare_cached(SQLITE_SEEN)?.exists([&e.event_id])? {
            applied.push(Applied::Duplicate);
            continue;
        }
        let call_id = match &e.effect {
            Effect::Sip(p) => {
                let call = p.facts.call_id.as_str();
                let mut stored = tx.prepare_cached(SQLITE_STORED)?.exists([call])?;
                if !stored {
                    let placed: Option<String> = tx
                        .prepare_cached(SQLITE_PLACED)?
                        .query_row([&e.room, &p.identity], |r| r.get(0))
                        .optional()?;
                    if let Some(id) = placed {
                        match tx.prepare_cached(NAME_PLACED)?.execute([call, &id]) {
                            Ok(_) => stored = true,
                            Err(e) if is_sqlite_unique(&e) => return Err(Failure::Conflict),
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
                let trunk = p.facts.trunk_phone_number.as_str();
                if !stored && !trunk.is_empty() && !numbers.contains_key(trunk) {
                    let number = tx
                        .prepare_cached(SQLITE_NUMBER)?
                        .query_row([trunk], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                        .optional()?;
                    numbers.insert(trunk.to_string(), number);
                }
                let number = numbers.get(trunk).and_then(|n| n.as_ref());
                let session = Session {
                    sip_call_id: call,
                    events: vec![(e, p)],
                    stored,
                };
                let r = fold(&session);
                let (id, owner_id): (String, Option<String>) =
                    match tx.prepare_cached(upsert)?.query_row(
                        params![
                            r.id,
                            r.sip_call_id,
                            r.direction,
                            number.map(|(id, _, _)| id),
                            number.and_then(|(_, assistant_id, _)| assistant_id.as_deref()),
                            number.and_then(|(_, _, owner_id)| owner_id.as_deref()),
                            r.from_number,
                            r.to_number,
                            r.room_name,
                            r.participant_identity,
                            r.participant_sid,
                            r.twilio_call_sid,
                            r.status,
                            r.status_rank,
                            r.end_reason,
                            r.outcome,
                            r.created_at,
                            r.ringing_at,
                            r.answered_at,
                            r.ended_at,
                            r.updated_at,
                        ],
                        |row| Ok((row.get(0)?, row.get(2)?)),
                    ) {
                        Ok(stored) => stored,
                        Err(e) if is_sqlite_unique(&e) => return Err(Failure::Conflict),
                        Err(e) => return Err(e.into()),
                    };
                changed.push(CallChange {
                    call_id: id.clone(),
                    owner_id,
                });
                Some(id)
            }
            Effect::RoomFinished => {
                let mut close = tx.prepare_cached(CLOSE_ROOM)?;
                let closed = close
                    .query_map(params![e.occurred, e.received, e.room], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                let only = match closed.as_slice() {
                    [(id, _)] => Some(id.clone()),
                    _ => None,
                };
                changed.extend(
                    closed
                        .into_iter()
                        .map(|(call_id, owner_id)| CallChange { call_id, owner_id }),
                );
                only
            }
            Effect::None => None,
        };
        tx.prepare_cached(
            "INSERT INTO call_events (id, call_id, source, kind, detail, occurred_at, received_at) \
             VALUES ($1, $2, 'livekit', $3, $4, $5, $6)",
        )?
        .execute(params![
            e.event_id,
            call_id,
            e.kind,
            e.detail,
            e.occurred,
            e.received
        ])?;
        applied.push(Applied::Recorded { call_id });
    }
    // The webhook events of the calls that moved (one statement; see `event_hooks`),
    // built only while some endpoint is enabled: otherwise the statement would write
    // nothing, and the batch skips making its rows.
    let moved = moved_calls(&changed);
    if !moved.is_empty()
        && tx
            .prepare_cached("SELECT 1 FROM webhook_endpoints WHERE enabled = 1 LIMIT 1")?
            .exists([])?
    {
        tx.prepare_cached(crate::server::event_hooks::SQLITE_CALL_TRANSITIONS)?
            // By name: SQLite numbers `$n` parameters in order of appearance, not by n.
            .execute(rusqlite::named_params! {
                "$1": crate::server::event_hooks::call_transition_rows(moved.iter().copied()),
                "$2": now(),
            })?;
    }
    tx.commit()?;
    Ok(Batch { applied, changed })
}

/// The calls a batch touched, once each.
fn moved_calls(changed: &[CallChange]) -> Vec<&str> {
    let mut seen = HashSet::new();
    changed
        .iter()
        .map(|c| c.call_id.as_str())
        .filter(|id| seen.insert(*id))
        .collect()
}

/// A row of the PostgreSQL lookup: tag, id and three tagged values.
type LookupRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// A number's id, assistant and owner, as stored.
type StoredNumber = (String, Option<String>, Option<String>);

/// A call Dial placed is known by its room and participant identity before LiveKit names
/// it (the participant's webhook can come before CreateSIPParticipant's answer): the first
/// event of that call adopts it.
async fn adopt_placed(
    tx: &mut WriteTx<'_>,
    sessions: &mut [Session<'_>],
    adoptions: &[(usize, &str)],
) -> Result<(), Failure> {
    for &(at, id) in adoptions {
        let s = &mut sessions[at];
        let named = sqlx::query(NAME_PLACED)
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
    Ok(())
}

/// The sessions as the upsert returned them (id, `sip.callID`, owner): each batch
/// session's stored id goes in `call_of`, and every session in `changed`.
fn link_sessions<'a>(
    sessions: &[Session<'a>],
    stored: Vec<(String, Option<String>, Option<String>)>,
    call_of: &mut HashMap<&'a str, String>,
    changed: &mut Vec<CallChange>,
) {
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
}

/// Which placed calls (`placed`: id, room, identity) the sessions not stored yet adopt:
/// (the session's index, the placed call's id), each placed call once.
fn placed_to_adopt<'a>(
    sessions: &[Session<'_>],
    placed: &[(&'a str, &str, &str)],
) -> Vec<(usize, &'a str)> {
    let mut adopted: HashSet<&str> = HashSet::new();
    let mut adoptions = Vec::new();
    for (at, s) in sessions.iter().enumerate().filter(|(_, s)| !s.stored) {
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
            adoptions.push((at, id));
        }
    }
    adoptions
}

/// A session's columns as this batch's events leave them, before the forward-only merge
/// with what is stored (names as in [`SESSION_COLUMNS`]). The number's columns
/// ([`NUMBER_COLUMNS`]) come from the live number `trunk_number` names: PostgreSQL's
/// statements look it up ([`session_rows`]), SQLite's writer binds what it read.
#[derive(Serialize)]
struct SessionRow<'a> {
    id: String,
    sip_call_id: &'a str,
    direction: &'static str,
    trunk_number: &'a str,
    from_number: &'a str,
    to_number: &'a str,
    room_name: Option<&'a str>,
    participant_identity: Option<&'a str>,
    participant_sid: Option<&'a str>,
    twilio_call_sid: Option<&'a str>,
    status: &'static str,
    status_rank: i64,
    end_reason: Option<&'a str>,
    /// Why a call that was never answered ended, when LiveKit's `disconnect_reason` says.
    outcome: Option<&'static str>,
    created_at: i64,
    ringing_at: Option<i64>,
    answered_at: Option<i64>,
    ended_at: Option<i64>,
    updated_at: i64,
}

/// An event's columns, its session named by `sip.callID` (names as in
/// [`LINKED_EVENT_COLUMNS`]).
#[derive(Serialize)]
struct LinkedEventRow<'a> {
    id: &'a str,
    sip_call_id: Option<&'a str>,
    kind: &'a str,
    detail: &'a str,
    occurred_at: i64,
    received_at: i64,
}

/// An event's columns (names as in [`EVENT_COLUMNS`]).
#[derive(Serialize)]
struct EventRow<'a> {
    id: &'a str,
    call_id: Option<String>,
    kind: &'a str,
    detail: &'a str,
    occurred_at: i64,
    received_at: i64,
}

/// Folds one call's events in this batch, in order: the first value of each field wins
/// (what is stored wins over all of them), the status is the furthest one, and each
/// timestamp is the first event's that reached that status.
fn fold<'a>(session: &Session<'a>) -> SessionRow<'a> {
    let events = &session.events;
    let facts = events.first().map(|(_, s)| &s.facts);
    let trunk_number = facts.map(|f| f.trunk_phone_number.as_str()).unwrap_or("");
    let phone_number = facts.map(|f| f.phone_number.as_str()).unwrap_or("");
    let (direction, from, to) = if facts.is_some_and(|f| f.inbound) {
        ("inbound", phone_number, trunk_number)
    } else {
        ("outbound", trunk_number, phone_number)
    };
    let nonempty = |v: &'a str| Some(v).filter(|v| !v.is_empty());
    let reached = |status: CallStatus| {
        events
            .iter()
            .find(|(_, s)| s.status == Some(status))
            .map(|(e, _)| e.occurred)
    };
    let status = events
        .iter()
        .filter_map(|(_, s)| s.status)
        .max()
        .unwrap_or(CallStatus::Dialing);
    let end_reason = events.iter().find_map(|(_, s)| s.end_reason.as_deref());
    SessionRow {
        // A fresh id: for a stored session the upsert keeps its own.
        id: new_ordered_id(),
        sip_call_id: session.sip_call_id,
        direction,
        trunk_number,
        from_number: from,
        to_number: to,
        room_name: events.iter().find_map(|(e, _)| nonempty(&e.room)),
        participant_identity: events.iter().find_map(|(_, s)| nonempty(&s.identity)),
        participant_sid: events.iter().find_map(|(_, s)| nonempty(&s.sid)),
        twilio_call_sid: events
            .iter()
            .find_map(|(_, s)| s.facts.twilio_call_sid.as_deref()),
        status: status.as_str(),
        status_rank: status.rank(),
        end_reason,
        outcome: (status == CallStatus::Ended && reached(CallStatus::Answered).is_none())
            .then(|| end_reason.and_then(outcome_of_disconnect))
            .flatten()
            .map(Outcome::as_str),
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

    /// A fresh database: a SQLite file, or with `DIAL_TEST_DATABASE=postgres` a new
    /// PostgreSQL database (the fold has one implementation per database, so both are
    /// tested the same way).
    struct TempDb {
        db: Db,
        path: Option<PathBuf>,
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            if let Some(path) = &self.path {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
        }
    }

    async fn temp_db() -> TempDb {
        let (url, path) = if std::env::var("DIAL_TEST_DATABASE").as_deref() == Ok("postgres") {
            let admin = std::env::var("DIAL_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
            let name = format!("dial_test_ingest_{}", uuid::Uuid::new_v4().simple());
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&admin)
                .await
                .expect("connect to PostgreSQL");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&pool)
                .await
                .expect("create a test database");
            pool.close().await;
            let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
            (format!("{base}/{name}"), None)
        } else {
            let path =
                std::env::temp_dir().join(format!("dial-ingest-{}.db", crate::server::new_id()));
            (format!("sqlite://{}?mode=rwc", path.display()), Some(path))
        };
        let db = Db::connect(&url).await.expect("open the database");
        db.migrate().await.expect("migrate");
        TempDb { db, path }
    }

    /// The batch's reads find events, sessions and numbers through indexes however many
    /// calls are stored. A read that scans a table makes every batch slower as calls
    /// accumulate: PostgreSQL's one lookup did, as one `OR` (30 ms a batch at 100,000
    /// calls), and, as `IN (…)`, with the plan it made while the tables were empty.
    #[tokio::test]
    async fn the_batch_reads_go_through_indexes_however_many_calls_are_stored() {
        let t = temp_db().await;
        let db = &t.db;
        match db.backend {
            Backend::Postgres => {
                // The plan PostgreSQL makes for a fresh database, whose tables are empty and
                // never analysed (the writer's prepared statement keeps it as they grow), then
                // the plan for 100,000 ended calls with two events each, analysed.
                assert_lookup_uses_indexes(db).await;
                for statement in [
                    "INSERT INTO call_sessions (id, sip_call_id, direction, status, status_rank, \
                     room_name, from_number, to_number, created_at, updated_at) \
                     SELECT 'CA' || i, 'SCL_' || i, 'inbound', 'ended', 3, 'call-' || i, \
                     '+15105550100', '+14155550100', i, i FROM generate_series(1, 100000) AS i",
                    "INSERT INTO call_events (id, call_id, source, kind, detail, occurred_at, received_at) \
                     SELECT 'EV_' || k || i, 'CA' || i, 'livekit', 'participant_' || k, '{}', i, i \
                     FROM generate_series(1, 100000) AS i, (VALUES ('joined'), ('left')) AS kinds(k)",
                    "ANALYZE call_sessions",
                    "ANALYZE call_events",
                ] {
                    sqlx::query(statement)
                        .execute(&db.pool)
                        .await
                        .expect("fill the tables");
                }
                assert_lookup_uses_indexes(db).await;
            }
            Backend::Sqlite => {
                for statement in [SQLITE_SEEN, SQLITE_STORED, SQLITE_PLACED, SQLITE_NUMBER] {
                    let args: &[&str] = if statement.contains("$2") {
                        &["x", "y"]
                    } else {
                        &["x"]
                    };
                    let plan = explain(db, statement, args).await;
                    assert!(!plan.is_empty(), "no plan for {statement}");
                    for step in plan.lines() {
                        assert!(
                            step.starts_with("SEARCH") && step.contains("INDEX"),
                            "{statement} reads a whole table: {step}"
                        );
                    }
                }
            }
        }
    }

    /// The open calls' reconcile, a Twilio leg's session and a campaign's calls are read
    /// through indexes that hold only the calls they concern: an ended call with no Twilio
    /// leg and no campaign (most calls a webhook writes) is in none of them, so writing it
    /// adds no entry there.
    #[tokio::test]
    async fn the_partial_indexes_serve_their_reads_and_hold_only_their_calls() {
        let t = temp_db().await;
        let db = &t.db;
        // 20,000 calls, one in a hundred open, one in fifty with a Twilio leg (a recursive
        // `WITH` counts on both databases).
        let fill =
            "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 20000) \
             INSERT INTO call_sessions (id, sip_call_id, direction, status, status_rank, \
             twilio_call_sid, created_at, updated_at) \
             SELECT 'CA' || i, 'SCL_' || i, 'inbound', \
             CASE WHEN i % 100 = 0 THEN 'answered' ELSE 'ended' END, \
             CASE WHEN i % 100 = 0 THEN 2 ELSE 3 END, \
             CASE WHEN i % 50 = 0 THEN 'TW' || i END, i, i FROM g";
        sqlx::query(fill).execute(&db.pool).await.expect("fill");
        sqlx::query("ANALYZE")
            .execute(&db.pool)
            .await
            .expect("analyze");

        // Each index is partial: what it holds is said by its definition.
        let definitions: Vec<(String, String)> = match db.backend {
            Backend::Postgres => sqlx::query_as(
                "SELECT indexname::text, indexdef FROM pg_indexes WHERE tablename = 'call_sessions'",
            ),
            Backend::Sqlite => sqlx::query_as(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' \
                 AND tbl_name = 'call_sessions' AND sql IS NOT NULL",
            ),
        }
        .fetch_all(&db.pool)
        .await
        .expect("read the indexes");
        for (index, only) in [
            ("call_sessions_open", "status_rank < 3"),
            ("call_sessions_twilio", "twilio_call_sid IS NOT NULL"),
            ("call_sessions_campaign", "campaign_id IS NOT NULL"),
        ] {
            let (_, sql) = definitions
                .iter()
                .find(|(name, _)| name == index)
                .unwrap_or_else(|| panic!("no index {index}: {definitions:?}"));
            let predicate = sql.split_once(" WHERE ").map(|(_, p)| p).unwrap_or("");
            assert_eq!(
                predicate.replace(['(', ')'], ""),
                only,
                "{index} holds more than it serves: {sql}"
            );
        }

        // Each read goes through its index.
        for (sql, args, index) in [
            (
                super::super::reconcile::OPEN_CALLS,
                &["10000", "0"][..],
                "call_sessions_open",
            ),
            (
                crate::server::twilio::webhooks::SESSION_OF_CALL_SID,
                &["TW100"],
                "call_sessions_twilio",
            ),
            (
                "SELECT id FROM call_sessions WHERE campaign_id = $1 ORDER BY created_at",
                &["a-campaign"],
                "call_sessions_campaign",
            ),
        ] {
            let plan = explain(db, sql, args).await;
            assert!(plan.contains(index), "{sql} does not read {index}:\n{plan}");
        }
    }

    /// The plan of `sql` with these arguments (a number is bound as one), a step a line:
    /// `EXPLAIN` on PostgreSQL, `EXPLAIN QUERY PLAN`'s detail column on SQLite.
    async fn explain(db: &Db, sql: &str, args: &[&str]) -> String {
        use sqlx::Row;
        let (explain, step) = match db.backend {
            Backend::Postgres => (format!("EXPLAIN {sql}"), 0),
            Backend::Sqlite => (format!("EXPLAIN QUERY PLAN {sql}"), 3),
        };
        let mut query = sqlx::query(&explain);
        for arg in args {
            query = match arg.parse::<i64>() {
                Ok(n) => query.bind(n),
                Err(_) => query.bind(*arg),
            };
        }
        let rows = query.fetch_all(&db.pool).await.expect("explain");
        let lines: Vec<String> = rows
            .iter()
            .map(|row| row.try_get::<String, _>(step).expect("a plan step"))
            .collect();
        lines.join("\n")
    }

    /// PostgreSQL: the batch's lookup, and the guard of its one-statement write, read no
    /// table whole, and go through each key's index.
    async fn assert_lookup_uses_indexes(db: &Db) {
        let sql = Statements::get();
        let lookup = [
            r#"["EV_joined5", "EV_new"]"#,
            r#"["SCL_5", "SCL_new"]"#,
            r#"["call-new"]"#,
        ];
        let write = [
            r#"[{"id": "CA_new", "sip_call_id": "SCL_new", "trunk_number": "+14155550100"}]"#,
            r#"[{"id": "EV_new", "sip_call_id": "SCL_new"}]"#,
            r#"["EV_joined5", "EV_new"]"#,
            r#"["call-new"]"#,
        ];
        for (statement, keys, indexes) in [
            (
                &sql.lookup,
                &lookup[..],
                &[
                    "call_events_pkey",
                    "call_sessions_sip_call",
                    "call_sessions_room",
                ][..],
            ),
            (
                &sql.write_at_once,
                &write[..],
                &[
                    "call_events_pkey",
                    "call_sessions_room",
                    "using phone_numbers_",
                ],
            ),
        ] {
            let plan = explain(db, statement, keys).await;
            for scan in [
                "Seq Scan on call_sessions",
                "Seq Scan on call_events",
                "Seq Scan on phone_numbers",
            ] {
                assert!(
                    !plan.contains(scan),
                    "{statement}\nreads a whole table:\n{plan}"
                );
            }
            for index in indexes {
                assert!(
                    plan.contains(index),
                    "{statement}\ndoes not use {index}:\n{plan}"
                );
            }
        }
    }

    /// Makes the database refuse to record the event `EV_bad`.
    async fn refuse_bad_event(db: &Db) {
        let statements: &[&str] = match db.backend {
            crate::server::db::Backend::Sqlite => &[
                "CREATE TRIGGER refuse_bad BEFORE INSERT ON call_events WHEN NEW.id = 'EV_bad' \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
            ],
            crate::server::db::Backend::Postgres => &[
                "CREATE FUNCTION refuse_bad() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.id = 'EV_bad' THEN RAISE EXCEPTION 'refused by the test'; END IF; \
                 RETURN NEW; END $$",
                "CREATE TRIGGER refuse_bad BEFORE INSERT ON call_events FOR EACH ROW \
                 EXECUTE FUNCTION refuse_bad()",
            ],
        };
        for sql in statements {
            sqlx::query(sql)
                .execute(&db.pool)
                .await
                .expect("a refusing trigger");
        }
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
        let mut writer = Writer {
            db: db.clone(),
            changes,
            conn: None,
            sqlite: None,
        };
        writer.write(jobs).await;
        let mut results = Vec::new();
        for outcome in outcomes {
            results.push(outcome.await.expect("every job is answered"));
        }
        results
    }

    /// What a batch needs read before it is written (an event recorded before, a placed
    /// call waiting for its call id) is found whether the batch is written in one
    /// statement or read first; and each new session takes the number called.
    #[tokio::test]
    async fn a_batch_finds_what_was_recorded_before_and_the_calls_it_placed() {
        let t = temp_db().await;
        let db = &t.db;
        for statement in [
            "INSERT INTO phone_numbers (id, e164, country, assistant_id, created_at, updated_at) \
             VALUES ('PN_1', '+14155550100', 'US', 'AS_1', 1, 1)",
            // A call Dial placed, before LiveKit named it.
            "INSERT INTO call_sessions (id, direction, status, status_rank, room_name, \
             participant_identity, created_at, updated_at) \
             VALUES ('CA_placed', 'outbound', 'dialing', 0, 'call-SCL_c', 'sip_SCL_c', 1, 1)",
        ] {
            sqlx::query(statement)
                .execute(&db.pool)
                .await
                .expect("setup");
        }
        let at = 1_700_000_000;
        let first = deliver(
            db,
            &[
                sip_event("participant_joined", "EV_1", "SCL_a", "active", at),
                sip_event("participant_joined", "EV_2", "SCL_b", "ringing", at),
            ],
        )
        .await;
        let call_a = match &first[0] {
            Ok(Applied::Recorded { call_id: Some(id) }) => id.clone(),
            other => panic!("the join was not recorded on a call: {other:?}"),
        };
        let number: (Option<String>, Option<String>) = sqlx::query_as(
            "SELECT phone_number_id, assistant_id FROM call_sessions WHERE sip_call_id = 'SCL_a'",
        )
        .fetch_one(&db.pool)
        .await
        .expect("the session");
        assert_eq!(number, (Some("PN_1".into()), Some("AS_1".into())));

        // A copy of EV_1 (LiveKit retries) and the call's leave.
        let second = deliver(
            db,
            &[
                sip_event("participant_joined", "EV_1", "SCL_a", "active", at),
                sip_event("participant_left", "EV_3", "SCL_a", "ended", at + 60),
            ],
        )
        .await;
        assert_eq!(second[0].as_ref().ok(), Some(&Applied::Duplicate));
        assert_eq!(
            second[1].as_ref().ok(),
            Some(&Applied::Recorded {
                call_id: Some(call_a.clone())
            })
        );
        // The placed call's join, and another call's.
        let third = deliver(
            db,
            &[
                sip_event("participant_joined", "EV_4", "SCL_c", "active", at),
                sip_event("participant_joined", "EV_5", "SCL_d", "ringing", at),
            ],
        )
        .await;
        assert_eq!(
            third[0].as_ref().ok(),
            Some(&Applied::Recorded {
                call_id: Some("CA_placed".into())
            }),
            "the placed call takes LiveKit's call id"
        );
        assert_eq!(stored(db, "SCL_a").await.map(|s| s.0), Some("ended".into()));
        assert_eq!(
            stored(db, "SCL_c").await.map(|s| s.0),
            Some("answered".into())
        );
        let (events, sessions): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM call_events), (SELECT COUNT(*) FROM call_sessions)",
        )
        .fetch_one(&db.pool)
        .await
        .expect("count");
        assert_eq!(
            (events, sessions),
            (5, 4),
            "EV_1 once; no session for SCL_c of its own"
        );
    }

    /// All of one call's events go to one writer, whatever they are; calls spread over
    /// the writers.
    #[test]
    fn one_calls_events_go_to_one_writer() {
        // As on a machine with 4 cores.
        const WRITERS: usize = 4;
        let mut used = HashSet::new();
        for i in 0..200 {
            let call = format!("SCL_{i}");
            let agent: proto::WebhookEvent = serde_json::from_value(json!({
                "event": "track_published",
                "id": format!("EV_t{i}"),
                "room": { "sid": "RM_x", "name": "another-room" },
                "participant": { "identity": "agent", "kind": "AGENT" },
            }))
            .expect("an event");
            let writers: HashSet<usize> = [
                sip_event(
                    "participant_joined",
                    &format!("EV_j{i}"),
                    &call,
                    "ringing",
                    1,
                ),
                sip_event("participant_left", &format!("EV_l{i}"), &call, "hangup", 2),
                sip_event("track_published", &format!("EV_p{i}"), &call, "active", 3),
            ]
            .iter()
            .map(|e| shard(&Incoming::new(e, 10), WRITERS))
            .collect();
            assert_eq!(writers.len(), 1, "{call} went to writers {writers:?}");
            used.extend(writers);
            // An event of no call goes by its room; a duplicate where its first copy went.
            assert_eq!(
                shard(&Incoming::new(&agent, 10), WRITERS),
                shard(&Incoming::new(&agent, 99), WRITERS)
            );
        }
        assert_eq!(used.len(), WRITERS, "every writer takes calls");
    }

    /// Through the writers as the server runs them (several on PostgreSQL): each call's
    /// events are applied in the order they were queued, even when they are waiting
    /// together. The order shows: a call answered and then left is completed, while a
    /// leave applied before the answer would make it "rejected" (never answered when it
    /// ended).
    #[tokio::test]
    async fn each_calls_events_are_applied_in_the_order_they_came() {
        const CALLS: usize = 200;
        let t = temp_db().await;
        let (changes, _) = broadcast::channel(64);
        let queues = spawn_writers(t.db.clone(), changes);
        let mut outcomes = Vec::new();
        for i in 0..CALLS {
            let call = format!("SCL_{i}");
            let joined = sip_event(
                "participant_joined",
                &format!("EV_j{i}"),
                &call,
                "active",
                1_700_000_000,
            );
            let mut left = sip_event(
                "participant_left",
                &format!("EV_l{i}"),
                &call,
                "active",
                1_700_000_060,
            );
            if let Some(p) = left.participant.as_mut() {
                p.disconnect_reason = proto::DisconnectReason::UserRejected as i32;
            }
            for event in [joined, left] {
                let (reply, outcome) = oneshot::channel();
                let job = Job {
                    event: Incoming::new(&event, 1_700_000_100),
                    reply,
                };
                enqueue(&queues, job).await.expect("queued");
                outcomes.push(outcome);
            }
        }
        for outcome in outcomes {
            let applied = outcome.await.expect("answered");
            assert!(
                matches!(applied, Ok(Applied::Recorded { call_id: Some(_) })),
                "{applied:?}"
            );
        }
        let (ended, rejected): (i64, i64) = sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN outcome IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM call_sessions WHERE status = 'ended' AND answered_at IS NOT NULL",
        )
        .fetch_one(&t.db.pool)
        .await
        .expect("count");
        assert_eq!((ended, rejected), (CALLS as i64, 0));
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

    /// A late `room_finished` of a room whose name a newer call's room has taken closes
    /// the older call only.
    #[tokio::test]
    async fn a_late_room_finished_leaves_a_newer_call_in_a_room_of_the_same_name() {
        let t = temp_db().await;
        let in_shared = |mut e: proto::WebhookEvent| {
            if let Some(room) = e.room.as_mut() {
                room.name = "call-shared".into();
            }
            e
        };
        let finished: proto::WebhookEvent = serde_json::from_value(json!({
            "event": "room_finished",
            "id": "EV_finished",
            "createdAt": "1700000030",
            "room": { "sid": "RM_1", "name": "call-shared" },
        }))
        .expect("a webhook event");
        deliver(
            &t.db,
            &[
                in_shared(sip_event(
                    "participant_joined",
                    "EV_1",
                    "SCL_old",
                    "active",
                    1_700_000_000,
                )),
                in_shared(sip_event(
                    "participant_joined",
                    "EV_2",
                    "SCL_new",
                    "ringing",
                    1_700_000_050,
                )),
            ],
        )
        .await;
        sqlx::query(
            "UPDATE call_sessions SET created_at = 1700000050 WHERE sip_call_id = 'SCL_new'",
        )
        .execute(&t.db.pool)
        .await
        .expect("the newer call began after the room finished");
        sqlx::query(
            "UPDATE call_sessions SET created_at = 1700000000 WHERE sip_call_id = 'SCL_old'",
        )
        .execute(&t.db.pool)
        .await
        .expect("the older call began before");
        deliver(&t.db, &[finished]).await;
        let old = stored(&t.db, "SCL_old").await.expect("the older call");
        assert_eq!(
            (old.0.as_str(), old.3.as_deref()),
            ("ended", Some("room_finished"))
        );
        let new = stored(&t.db, "SCL_new").await.expect("the newer call");
        assert_ne!(new.0, "ended", "{new:?}");
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
                    "participant_joined",
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

    /// LiveKit sends no webhook when a participant's attributes (its `sip.callStatus`)
    /// change (livekit/protocol `webhook/consts.go`): such a name, like any a newer
    /// LiveKit may add, is recorded on its call and moves nothing.
    #[tokio::test]
    async fn an_event_name_livekit_does_not_send_is_recorded_and_moves_nothing() {
        let t = temp_db().await;
        let results = deliver(
            &t.db,
            &[sip_event(
                "participant_joined",
                "EV_1",
                "SCL_r",
                "ringing",
                1_700_000_000,
            )],
        )
        .await;
        let call = match &results[0] {
            Ok(Applied::Recorded { call_id: Some(id) }) => id.clone(),
            other => panic!("the join was not recorded on a call: {other:?}"),
        };
        let later = deliver(
            &t.db,
            &[
                sip_event(
                    "participant_attributes_changed",
                    "EV_2",
                    "SCL_r",
                    "active",
                    1_700_000_010,
                ),
                sip_event(
                    "participant_updated",
                    "EV_3",
                    "SCL_r",
                    "active",
                    1_700_000_020,
                ),
                sip_event(
                    "sip_call_answered_in_a_newer_livekit",
                    "EV_4",
                    "SCL_r",
                    "active",
                    1_700_000_030,
                ),
            ],
        )
        .await;
        for result in &later {
            assert_eq!(
                result.as_ref().ok(),
                Some(&Applied::Recorded {
                    call_id: Some(call.clone())
                }),
                "recorded on the call, not refused"
            );
        }
        assert_eq!(
            stored(&t.db, "SCL_r").await,
            Some(("ringing".into(), None, None, None)),
            "still ringing: only reading the participant says it was answered"
        );
        let kinds: Vec<String> =
            sqlx::query_scalar("SELECT kind FROM call_events ORDER BY occurred_at")
                .fetch_all(&t.db.pool)
                .await
                .expect("kinds");
        assert_eq!(
            kinds,
            [
                "participant_joined",
                "participant_attributes_changed",
                "participant_updated",
                "sip_call_answered_in_a_newer_livekit"
            ]
        );
    }

    #[tokio::test]
    async fn an_event_that_fails_costs_only_itself() {
        let t = temp_db().await;
        refuse_bad_event(&t.db).await;
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

    /// The webhook events of the calls' transitions, as (call, type), sorted.
    async fn transition_events(db: &Db) -> Vec<(String, String)> {
        sqlx::query_as(
            "SELECT s.sip_call_id, e.kind FROM webhook_events e \
             JOIN call_sessions s ON s.id = e.call_id ORDER BY s.sip_call_id, e.kind",
        )
        .fetch_all(&db.pool)
        .await
        .expect("events")
    }

    /// Each call's transitions become one webhook event each, in the batch's own
    /// transaction, however the provider's events are batched, repeated or reordered;
    /// while no endpoint is enabled nothing is written.
    #[tokio::test]
    async fn each_transition_is_one_webhook_event_whatever_the_batches() {
        let t = temp_db().await;
        deliver(
            &t.db,
            &[sip_event(
                "participant_joined",
                "EV_0",
                "SCL_quiet",
                "ringing",
                1_700_000_000,
            )],
        )
        .await;
        assert!(
            transition_events(&t.db).await.is_empty(),
            "no endpoint, no events"
        );
        for sql in [
            "INSERT INTO users (id, username, password_hash, role, created_at, updated_at) \
             VALUES ('u1', 'ada', 'x', 'admin', 0, 0)",
            "INSERT INTO webhook_endpoints (id, user_id, url, events, secret, enabled, created_at, \
             updated_at, secret_rotated_at) VALUES ('w1', 'u1', 'https://example.com/', 'call.ended', 'x', 1, 0, 0, 0)",
        ] {
            sqlx::query(sql).execute(&t.db.pool).await.expect("an endpoint");
        }
        let left = sip_event("participant_left", "EV_2", "SCL_a", "hangup", 1_700_000_060);
        let joined = sip_event(
            "participant_joined",
            "EV_1",
            "SCL_a",
            "active",
            1_700_000_000,
        );
        let ringing = sip_event(
            "participant_joined",
            "EV_3",
            "SCL_b",
            "ringing",
            1_700_000_010,
        );
        // One batch (the leave first), then the same events alone, then a late join.
        deliver(&t.db, &[left.clone(), joined.clone(), ringing]).await;
        deliver(&t.db, std::slice::from_ref(&joined)).await;
        deliver(&t.db, &[left]).await;
        deliver(
            &t.db,
            &[sip_event(
                "participant_joined",
                "EV_4",
                "SCL_a",
                "active",
                1_700_000_090,
            )],
        )
        .await;
        let pair = |call: &str, kind: &str| (call.to_string(), kind.to_string());
        assert_eq!(
            transition_events(&t.db).await,
            [
                pair("SCL_a", "call.answered"),
                pair("SCL_a", "call.ended"),
                pair("SCL_a", "call.started"),
                pair("SCL_b", "call.started"),
            ]
        );
        // The ringing call is answered later, alone: one more event.
        deliver(
            &t.db,
            &[sip_event(
                "participant_joined",
                "EV_5",
                "SCL_b",
                "active",
                1_700_000_020,
            )],
        )
        .await;
        let events = transition_events(&t.db).await;
        assert!(
            events.contains(&pair("SCL_b", "call.answered")),
            "{events:?}"
        );
        assert_eq!(events.len(), 5);
    }

    #[tokio::test]
    async fn a_call_never_answered_takes_its_outcome_from_the_disconnect_reason() {
        let t = temp_db().await;
        let left = |id: &str, call: &str, reason: proto::DisconnectReason| {
            let mut event = sip_event("participant_left", id, call, "ringing", 1_700_000_030);
            if let Some(p) = event.participant.as_mut() {
                p.disconnect_reason = reason as i32;
            }
            event
        };
        let results = deliver(
            &t.db,
            &[
                sip_event(
                    "participant_joined",
                    "EV_1",
                    "SCL_r",
                    "dialing",
                    1_700_000_000,
                ),
                left("EV_2", "SCL_r", proto::DisconnectReason::UserRejected),
                sip_event(
                    "participant_joined",
                    "EV_3",
                    "SCL_u",
                    "ringing",
                    1_700_000_000,
                ),
                left("EV_4", "SCL_u", proto::DisconnectReason::UserUnavailable),
                sip_event(
                    "participant_joined",
                    "EV_5",
                    "SCL_c",
                    "ringing",
                    1_700_000_000,
                ),
                left("EV_6", "SCL_c", proto::DisconnectReason::ClientInitiated),
                sip_event(
                    "participant_joined",
                    "EV_7",
                    "SCL_a",
                    "active",
                    1_700_000_000,
                ),
                left("EV_8", "SCL_a", proto::DisconnectReason::UserRejected),
            ],
        )
        .await;
        assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
        let outcome = |call: &'static str| {
            let db = t.db.clone();
            async move {
                sqlx::query_scalar::<_, Option<String>>(
                    "SELECT outcome FROM call_sessions WHERE sip_call_id = $1",
                )
                .bind(call)
                .fetch_one(&db.pool)
                .await
                .expect("a session")
            }
        };
        assert_eq!(outcome("SCL_r").await.as_deref(), Some("rejected"));
        assert_eq!(outcome("SCL_u").await.as_deref(), Some("no_answer"));
        // No reason LiveKit gives (the caller hung up while it rang): none stored; the
        // call reads as ended before answer.
        assert_eq!(outcome("SCL_c").await, None);
        // Answered calls are completed, whatever the leave says.
        assert_eq!(outcome("SCL_a").await, None);
    }
}
