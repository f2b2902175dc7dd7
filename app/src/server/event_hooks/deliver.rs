//! The delivery worker: one task per process that, every poll,
//! 1. fans out new events: each event gets one delivery per enabled endpoint that hears
//!    it (its types; the owner's own events, or every event for an administrator's), and
//!    a call event's body is written from the call as recorded (then kept, so every
//!    attempt sends the same body);
//! 2. starts a lane for every endpoint with deliveries due. A lane claims a round of up to
//!    [`ROUND`] of its endpoint's due deliveries (a lease; on PostgreSQL with
//!    `FOR UPDATE SKIP LOCKED`), sends them with at most [`PER_ENDPOINT`] in flight,
//!    records the answers (one transaction per round), and goes on until nothing of its
//!    endpoint is due. Lanes run side by side, so a slow or dead endpoint holds up only
//!    its own deliveries;
//! 3. once an hour, forgets finished deliveries after 30 days, and events no endpoint
//!    heard after a day.

use super::{address, reach, sign, EventKind, PER_ENDPOINT};
use crate::{
    error::AppError,
    server::{
        calls::{outcome_of_ended, Outcome},
        db::Backend,
        new_ordered_id, now, now_ms,
        state::AppState,
    },
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::{
    collections::HashSet,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

/// Events fanned out per transaction.
const FAN_OUT_BATCH: i64 = 200;
/// Deliveries a lane claims at once (sent [`PER_ENDPOINT`] at a time).
const ROUND: usize = 4 * PER_ENDPOINT;
/// The most lanes (endpoints being delivered to) at once per process.
const MAX_LANES: usize = 100;
/// Finished deliveries are kept this long.
const KEEP_DELIVERIES_SECS: i64 = 30 * 86_400;
/// Events no endpoint heard are kept this long.
const KEEP_UNHEARD_SECS: i64 = 86_400;

/// Starts the worker; it stops when the process shuts down.
pub fn spawn_worker(state: AppState) {
    let worker = Worker::new(state);
    tokio::spawn(worker.run());
}

#[derive(Clone)]
struct Worker {
    state: AppState,
    client: reqwest::Client,
    /// Endpoints with a lane running in this process.
    lanes: Arc<Mutex<HashSet<String>>>,
    slots: Arc<tokio::sync::Semaphore>,
}

/// An endpoint as a lane delivers to it. No `Debug`: it holds the secret.
struct Endpoint {
    url: url::Url,
    secret: SecretString,
}

/// A delivery a lane holds (until `lease`), with its event.
struct Claimed {
    id: String,
    event_id: String,
    attempts: i64,
    retry_until_ms: i64,
    lease: i64,
    kind: String,
    /// The request body (the same on every attempt).
    body: String,
}

/// How an attempt went.
enum Answer {
    /// 2xx.
    Delivered(u16),
    /// Any other HTTP status.
    Refused(u16),
    /// No HTTP answer (or a refused address), in words.
    Failed(String),
}

/// Removes a lane from the running set however it ends (even by a panic).
struct LaneGuard {
    lanes: Arc<Mutex<HashSet<String>>>,
    endpoint: String,
}

impl Drop for LaneGuard {
    fn drop(&mut self) {
        self.lanes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.endpoint);
    }
}

impl Worker {
    fn new(state: AppState) -> Worker {
        let settings = &state.config.webhooks;
        let client = reqwest::Client::builder()
            .user_agent(concat!("Dial-Webhooks/", env!("CARGO_PKG_VERSION")))
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve names itself, past the guard.
            .no_proxy()
            .dns_resolver(Arc::new(address::GuardedResolver {
                reach: reach(&state),
            }))
            .pool_max_idle_per_host(PER_ENDPOINT)
            .build()
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "could not build the webhook client; using the default");
                reqwest::Client::new()
            });
        Worker {
            state,
            client,
            lanes: Arc::default(),
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_LANES)),
        }
    }

    async fn run(self) {
        let mut tick = tokio::time::interval(self.state.config.webhooks.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned_at = 0;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = self.state.shutting_down() => return,
            }
            self.pass().await;
            if self.closed() {
                return;
            }
            if now() - pruned_at >= 3600 {
                pruned_at = now();
                if let Err(e) = prune(&self.state).await {
                    if self.closed() {
                        return;
                    }
                    tracing::warn!(error = %e, "could not forget old webhook deliveries");
                }
            }
        }
    }

    /// Whether the database pool was closed (the process is stopping): the worker stops
    /// instead of warning about every statement that can no longer run.
    fn closed(&self) -> bool {
        self.state.db.pool.is_closed()
    }

    /// Fans out what is new, then starts a lane for every endpoint with work due.
    async fn pass(&self) {
        loop {
            match fan_out(&self.state).await {
                Ok(n) if n as i64 == FAN_OUT_BATCH => continue,
                Ok(_) => break,
                Err(_) if self.closed() => return,
                Err(e) => {
                    tracing::warn!(error = %e, "could not hand new events to their webhook endpoints");
                    break;
                }
            }
        }
        match due_endpoints(&self.state).await {
            Ok(endpoints) => {
                for endpoint in endpoints {
                    self.start_lane(endpoint);
                }
            }
            Err(_) if self.closed() => {}
            Err(e) => tracing::warn!(error = %e, "could not look for webhook deliveries due"),
        }
    }

    fn start_lane(&self, endpoint: String) {
        if !self
            .lanes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(endpoint.clone())
        {
            return;
        }
        let guard = LaneGuard {
            lanes: self.lanes.clone(),
            endpoint: endpoint.clone(),
        };
        let worker = self.clone();
        tokio::spawn(async move {
            let _guard = guard;
            let Ok(_slot) = worker.slots.clone().acquire_owned().await else {
                return;
            };
            if let Err(e) = worker.lane(&endpoint).await {
                tracing::warn!(%endpoint, error = %e, "a webhook endpoint's deliveries stopped for now");
            }
        });
    }

    /// Delivers the endpoint's due deliveries, a round at a time, until none is due (or
    /// the endpoint is disabled or deleted meanwhile).
    async fn lane(&self, endpoint_id: &str) -> Result<(), AppError> {
        let in_flight = Arc::new(tokio::sync::Semaphore::new(PER_ENDPOINT));
        while !*self.state.shutdown.borrow() {
            let Some(endpoint) = load_endpoint(&self.state, endpoint_id).await? else {
                return Ok(());
            };
            let claimed = claim(&self.state, endpoint_id).await?;
            if claimed.is_empty() {
                return Ok(());
            }
            let endpoint = Arc::new(endpoint);
            let mut attempts = tokio::task::JoinSet::new();
            for delivery in claimed {
                let (worker, endpoint, in_flight) =
                    (self.clone(), endpoint.clone(), in_flight.clone());
                attempts.spawn(async move {
                    let _slot = in_flight.acquire_owned().await;
                    let answer = worker.send(&endpoint, &delivery).await;
                    (delivery, answer)
                });
            }
            let mut answers = Vec::with_capacity(ROUND);
            while let Some(done) = attempts.join_next().await {
                match done {
                    Ok(answer) => answers.push(answer),
                    Err(e) => tracing::error!(error = %e, "a webhook delivery attempt panicked"),
                }
            }
            record(&self.state, &answers).await?;
        }
        Ok(())
    }

    async fn send(&self, endpoint: &Endpoint, delivery: &Claimed) -> Answer {
        if let Err(why) = address::deliverable(&endpoint.url, reach(&self.state)) {
            return Answer::Failed(why);
        }
        let signature = sign::header(
            endpoint.secret.expose_secret(),
            now(),
            delivery.body.as_bytes(),
        );
        let sent = self
            .client
            .post(endpoint.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(sign::EVENT_ID_HEADER, &delivery.event_id)
            .header(sign::EVENT_TYPE_HEADER, &delivery.kind)
            .header(sign::ATTEMPT_HEADER, (delivery.attempts + 1).to_string())
            .header(sign::SIGNATURE_HEADER, signature)
            .body(delivery.body.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                Answer::Delivered(response.status().as_u16())
            }
            Ok(response) => Answer::Refused(response.status().as_u16()),
            Err(e) => Answer::Failed(describe(e, self.state.config.webhooks.timeout)),
        }
    }
}

/// `(SELECT …)`: the values of the JSON array of strings `$n`, on this backend.
fn json_list(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Postgres => format!("(SELECT jsonb_array_elements_text(${n}::jsonb))"),
        Backend::Sqlite => format!("(SELECT value FROM json_each(${n}))"),
    }
}

fn json_text<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    Value::from(values.into_iter().collect::<Vec<_>>()).to_string()
}

/// The body of an event: the same bytes on every attempt and replay.
fn envelope(id: &str, kind: &str, occurred_at: i64, payload: Option<&str>) -> String {
    let data: Value = payload
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_else(|| json!({}));
    json!({ "id": id, "type": kind, "created_at": occurred_at, "data": data }).to_string()
}

/// A failed request in words, without its URL (which may carry a token).
fn describe(error: reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("no answer within {} s", timeout.as_secs_f64());
    }
    let error = error.without_url();
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    let text = parts.join(": ");
    text.chars().take(300).collect()
}

async fn load_endpoint(state: &AppState, id: &str) -> Result<Option<Endpoint>, AppError> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT e.url, e.secret FROM webhook_endpoints e JOIN users u ON u.id = e.user_id \
         WHERE e.id = $1 AND e.enabled = 1 AND u.disabled = 0",
    )
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some((url, sealed)) = row else {
        return Ok(None);
    };
    let secret = state
        .keyring
        .decrypt(&sealed, super::endpoints::secret_binding(id))
        .map_err(|e| {
            tracing::error!(endpoint = %id, error = %e, "a webhook endpoint's secret does not decrypt");
            AppError::Internal
        })?;
    let url = url::Url::parse(&url).map_err(|e| {
        tracing::error!(endpoint = %id, error = %e, "a webhook endpoint's stored address does not parse");
        AppError::Internal
    })?;
    Ok(Some(Endpoint { url, secret }))
}

/// The endpoints with deliveries due now and nobody on them.
async fn due_endpoints(state: &AppState) -> Result<Vec<String>, AppError> {
    let at = now_ms();
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT d.endpoint_id FROM webhook_deliveries d \
         JOIN webhook_endpoints e ON e.id = d.endpoint_id \
         WHERE d.status = 'pending' AND d.next_attempt_ms <= $1 \
         AND (d.lease_until_ms IS NULL OR d.lease_until_ms < $1) AND e.enabled = 1 LIMIT 1000",
    )
    .bind(at)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows)
}

/// Takes a round (up to [`ROUND`]) of the endpoint's due deliveries for this worker, with
/// their events, until the lease ends (a worker that dies lets them go then). The lease
/// covers the round sent [`PER_ENDPOINT`] at a time, each up to the time-out.
async fn claim(state: &AppState, endpoint_id: &str) -> Result<Vec<Claimed>, AppError> {
    let at = now_ms();
    let waves = ROUND.div_ceil(PER_ENDPOINT) as u32;
    let hold = state.config.webhooks.timeout * waves + Duration::from_secs(30);
    let lease = at + i64::try_from(hold.as_millis()).unwrap_or(i64::MAX / 2);
    let lock = match state.db.backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let mut tx = state.db.begin_write().await?;
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(&format!(
        "UPDATE webhook_deliveries SET lease_until_ms = $1 WHERE id IN (\
         SELECT id FROM webhook_deliveries WHERE endpoint_id = $2 AND status = 'pending' \
         AND next_attempt_ms <= $3 AND (lease_until_ms IS NULL OR lease_until_ms < $3) \
         ORDER BY next_attempt_ms, id LIMIT $4{lock}) \
         RETURNING id, event_id, attempts, retry_until_ms"
    ))
    .bind(lease)
    .bind(endpoint_id)
    .bind(at)
    .bind(ROUND as i64)
    .fetch_all(&mut *tx.tx)
    .await?;
    tx.commit().await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let events: Vec<(String, String, Option<String>, i64)> = sqlx::query_as(&format!(
        "SELECT id, kind, payload, occurred_at FROM webhook_events WHERE id IN {}",
        json_list(state.db.backend, 1)
    ))
    .bind(json_text(rows.iter().map(|(_, event, ..)| event.as_str())))
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, event_id, attempts, retry_until_ms)| {
            let (_, kind, payload, occurred_at) = events.iter().find(|e| e.0 == event_id)?;
            Some(Claimed {
                body: envelope(&event_id, kind, *occurred_at, payload.as_deref()),
                kind: kind.clone(),
                id,
                event_id,
                attempts,
                retry_until_ms,
                lease,
            })
        })
        .collect())
}

/// Records a round's attempts in one transaction: each delivered, or its next attempt
/// after the back-off, or (past its retry window) given up. A delivery replayed while its
/// attempt was on the way lost this worker's lease, and keeps the replay's state.
async fn record(state: &AppState, answers: &[(Claimed, Answer)]) -> Result<(), AppError> {
    if answers.is_empty() {
        return Ok(());
    }
    let at = now();
    let at_ms = now_ms();
    let mut tx = state.db.begin_write().await?;
    for (delivery, answer) in answers {
        if let Answer::Delivered(code) = answer {
            sqlx::query(
                "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, \
                 last_attempt_at = $1, last_status_code = $2, last_error = NULL, delivered_at = $1, \
                 next_attempt_ms = NULL, lease_until_ms = NULL WHERE id = $3 AND lease_until_ms = $4",
            )
            .bind(at)
            .bind(i64::from(*code))
            .bind(&delivery.id)
            .bind(delivery.lease)
            .execute(&mut *tx.tx)
            .await?;
            continue;
        }
        let (code, error) = match answer {
            Answer::Refused(code) if (300..400).contains(code) => (
                Some(i64::from(*code)),
                Some(
                    "a redirect: Dial does not follow redirects, give the final address"
                        .to_string(),
                ),
            ),
            Answer::Refused(code) => (Some(i64::from(*code)), None),
            Answer::Failed(why) => (None, Some(why.clone())),
            Answer::Delivered(_) => (None, None),
        };
        let attempts = delivery.attempts + 1;
        let delay = jitter(state.config.webhooks.backoff(attempts));
        let next = at_ms.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2));
        let give_up = next > delivery.retry_until_ms;
        if give_up {
            tracing::info!(delivery = %delivery.id, event = %delivery.event_id, attempts, "gave up on a webhook delivery: no 2xx answer within its retry window");
        }
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, \
             last_attempt_at = $2, last_status_code = $3, last_error = $4, \
             next_attempt_ms = $5, lease_until_ms = NULL WHERE id = $6 AND lease_until_ms = $7",
        )
        .bind(if give_up { "failed" } else { "pending" })
        .bind(at)
        .bind(code)
        .bind(error)
        .bind((!give_up).then_some(next))
        .bind(&delivery.id)
        .bind(delivery.lease)
        .execute(&mut *tx.tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// ±10 %, so endpoints that failed together do not retry in lockstep.
fn jitter(delay: Duration) -> Duration {
    use rand::Rng;
    delay.mul_f64(rand::thread_rng().gen_range(0.9..=1.1))
}

#[derive(sqlx::FromRow)]
struct CallFacts {
    id: String,
    direction: String,
    from_number: String,
    to_number: String,
    phone_number_id: Option<String>,
    assistant_id: Option<String>,
    assistant: Option<String>,
    outcome: Option<String>,
    sip_status_code: Option<i64>,
    end_reason: Option<String>,
    created_at: i64,
    answered_at: Option<i64>,
    ended_at: Option<i64>,
    campaign_id: Option<String>,
    campaign_contact_id: Option<String>,
    is_test: i64,
}

/// A call event's `data`: the call as recorded, with what the event's type is about
/// (answered: when; ended: when, the outcome, SIP status and duration).
fn call_data(kind: EventKind, c: &CallFacts) -> Value {
    let mut call = json!({
        "id": c.id,
        "direction": c.direction,
        "from": c.from_number,
        "to": c.to_number,
        "number_id": c.phone_number_id,
        "assistant_id": c.assistant_id,
        "assistant": c.assistant,
        "started_at": c.created_at,
        "campaign_id": c.campaign_id,
        "campaign_contact_id": c.campaign_contact_id,
        "test": c.is_test != 0,
    });
    if matches!(kind, EventKind::CallAnswered | EventKind::CallEnded) {
        call["answered_at"] = json!(c.answered_at);
    }
    if kind == EventKind::CallEnded {
        let outcome = c
            .outcome
            .as_deref()
            .and_then(Outcome::parse)
            .unwrap_or_else(|| outcome_of_ended(c.answered_at.is_some()));
        call["ended_at"] = json!(c.ended_at);
        call["outcome"] = json!(outcome.as_str());
        call["sip_status_code"] = json!(c.sip_status_code);
        call["end_reason"] = json!(c.end_reason);
        call["duration_secs"] = json!(c
            .answered_at
            .zip(c.ended_at)
            .map(|(answered, ended)| (ended - answered).max(0)));
    }
    json!({ "call": call })
}

/// `(SELECT … AS c0, c1, …)`: the rows of the JSON array of arrays `$1`, with `columns`
/// text columns, on this backend.
fn json_rows(backend: Backend, columns: usize) -> String {
    let (each, from) = match backend {
        Backend::Postgres => ("v->>{i} AS c{i}", "jsonb_array_elements($1::jsonb) AS t(v)"),
        Backend::Sqlite => ("json_extract(value, '$[{i}]') AS c{i}", "json_each($1)"),
    };
    let list: Vec<String> = (0..columns)
        .map(|i| each.replace("{i}", &i.to_string()))
        .collect();
    format!("(SELECT {} FROM {from})", list.join(", "))
}

/// Hands new events to the endpoints that hear them, in one transaction of five
/// statements per batch whatever its size; returns how many events it took.
async fn fan_out(state: &AppState) -> Result<usize, AppError> {
    let backend = state.db.backend;
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let mut tx = state.db.begin_write().await?;
    type EventRow = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let events: Vec<EventRow> = sqlx::query_as(&format!(
        "SELECT id, kind, owner_id, call_id, payload FROM webhook_events \
         WHERE fanned_out = 0 ORDER BY created_at, id LIMIT $1{lock}"
    ))
    .bind(FAN_OUT_BATCH)
    .fetch_all(&mut *tx.tx)
    .await?;
    if events.is_empty() {
        return Ok(0);
    }
    // Who hears what: each enabled endpoint of an active user, with that user's role now.
    let endpoints: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT e.id, e.user_id, e.events, u.role FROM webhook_endpoints e \
         JOIN users u ON u.id = e.user_id WHERE e.enabled = 1 AND u.disabled = 0",
    )
    .fetch_all(&mut *tx.tx)
    .await?;
    // The calls whose events' bodies are written now, in one read.
    let calls: Vec<&str> = events
        .iter()
        .filter(|(.., payload)| payload.is_none())
        .filter_map(|(_, _, _, call, _)| call.as_deref())
        .collect();
    let facts: Vec<CallFacts> = if calls.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as(&format!(
            "SELECT s.id, s.direction, s.from_number, s.to_number, s.phone_number_id, \
             s.assistant_id, a.name AS assistant, s.outcome, s.sip_status_code, s.end_reason, \
             s.created_at, s.answered_at, s.ended_at, s.campaign_id, s.campaign_contact_id, \
             s.is_test FROM call_sessions s LEFT JOIN assistants a ON a.id = s.assistant_id \
             WHERE s.id IN {}",
            json_list(backend, 1)
        ))
        .bind(json_text(calls))
        .fetch_all(&mut *tx.tx)
        .await?
    };
    let mut handed = Vec::with_capacity(events.len());
    let mut deliveries = Vec::new();
    for (id, kind_name, owner_id, call_id, payload) in &events {
        let kind = EventKind::parse(kind_name);
        let written = match (payload, call_id, kind) {
            (Some(_), ..) => None,
            (None, Some(call), Some(kind)) => Some(
                facts
                    .iter()
                    .find(|f| &f.id == call)
                    .map(|f| call_data(kind, f))
                    .unwrap_or_else(|| json!({ "call": { "id": call } }))
                    .to_string(),
            ),
            (None, ..) => Some("{}".to_string()),
        };
        handed.push(json!([id, written]));
        let Some(kind) = kind else {
            tracing::error!(event = %id, kind = %kind_name, "an event of an unknown type; not sent");
            continue;
        };
        for (endpoint, user_id, hears, role) in &endpoints {
            let theirs = role == "admin" || owner_id.as_deref() == Some(user_id.as_str());
            if theirs && hears.split_whitespace().any(|k| k == kind.as_str()) {
                deliveries.push(json!([new_ordered_id(), endpoint, id]));
            }
        }
    }
    sqlx::query(&format!(
        "UPDATE webhook_events SET fanned_out = 1, payload = COALESCE(webhook_events.payload, r.c1) \
         FROM {} AS r WHERE webhook_events.id = r.c0",
        json_rows(backend, 2)
    ))
    .bind(Value::from(handed).to_string())
    .execute(&mut *tx.tx)
    .await?;
    if !deliveries.is_empty() {
        let at_ms = now_ms();
        let retry_for =
            i64::try_from(state.config.webhooks.retry_for.as_millis()).unwrap_or(i64::MAX / 2);
        sqlx::query(&format!(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, status, attempts, \
             next_attempt_ms, retry_until_ms, created_at) \
             SELECT r.c0, r.c1, r.c2, 'pending', 0, $2, $3, $4 FROM {} AS r WHERE true \
             ON CONFLICT (endpoint_id, event_id) DO NOTHING",
            json_rows(backend, 3)
        ))
        .bind(Value::from(deliveries).to_string())
        .bind(at_ms)
        .bind(at_ms.saturating_add(retry_for))
        .bind(now())
        .execute(&mut *tx.tx)
        .await?;
    }
    tx.commit().await?;
    Ok(events.len())
}

/// The smallest id a row made at `epoch` can have: ids are UUIDv7, whose text starts
/// with the creation time in milliseconds (48 bits of hex), so smaller ids are older.
fn id_at(epoch: i64) -> String {
    let ms = u64::try_from(epoch).unwrap_or(0).saturating_mul(1000) & 0xffff_ffff_ffff;
    format!(
        "{:08x}-{:04x}-7000-0000-000000000000",
        ms >> 16,
        ms & 0xffff
    )
}

/// Forgets finished deliveries after 30 days, and events no delivery refers to after a
/// day (by id, which sorts by time: no index on their times is needed).
async fn prune(state: &AppState) -> Result<(), AppError> {
    let at = now();
    let mut tx = state.db.begin_write().await?;
    sqlx::query("DELETE FROM webhook_deliveries WHERE id < $1 AND status <> 'pending'")
        .bind(id_at(at - KEEP_DELIVERIES_SECS))
        .execute(&mut *tx.tx)
        .await?;
    sqlx::query(
        "DELETE FROM webhook_events WHERE id < $1 AND fanned_out = 1 \
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)",
    )
    .bind(id_at(at - KEEP_UNHEARD_SECS))
    .execute(&mut *tx.tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> CallFacts {
        CallFacts {
            id: "c1".into(),
            direction: "outbound".into(),
            from_number: "+14155550100".into(),
            to_number: "+14155550101".into(),
            phone_number_id: Some("n1".into()),
            assistant_id: Some("a1".into()),
            assistant: Some("Sales".into()),
            outcome: None,
            sip_status_code: None,
            end_reason: Some("client_initiated".into()),
            created_at: 100,
            answered_at: Some(110),
            ended_at: Some(170),
            campaign_id: Some("cmp1".into()),
            campaign_contact_id: Some("ct1".into()),
            is_test: 0,
        }
    }

    #[test]
    fn each_call_event_says_what_its_type_is_about() {
        let started = call_data(EventKind::CallStarted, &facts());
        assert_eq!(started["call"]["started_at"], 100);
        assert_eq!(started["call"]["campaign_id"], "cmp1");
        assert!(started["call"].get("answered_at").is_none());
        assert!(started["call"].get("outcome").is_none());
        let answered = call_data(EventKind::CallAnswered, &facts());
        assert_eq!(answered["call"]["answered_at"], 110);
        assert!(answered["call"].get("ended_at").is_none());
        let ended = call_data(EventKind::CallEnded, &facts());
        assert_eq!(ended["call"]["outcome"], "completed");
        assert_eq!(ended["call"]["duration_secs"], 60);
        assert_eq!(ended["call"]["campaign_contact_id"], "ct1");
        let busy = CallFacts {
            answered_at: None,
            outcome: Some("busy".into()),
            sip_status_code: Some(486),
            ..facts()
        };
        let ended = call_data(EventKind::CallEnded, &busy);
        assert_eq!(ended["call"]["outcome"], "busy");
        assert_eq!(ended["call"]["sip_status_code"], 486);
        assert_eq!(ended["call"]["duration_secs"], Value::Null);
    }

    #[test]
    fn ids_sort_by_time_so_pruning_by_id_is_pruning_by_age() {
        let older = id_at(now() - 10);
        let newer = new_ordered_id();
        assert!(older < newer, "{older} {newer}");
        assert!(id_at(now() + 10) > newer);
        assert!(id_at(now() - 86_400) < id_at(now() - 86_399));
    }

    #[test]
    fn the_body_is_the_same_for_the_same_event() {
        let a = envelope("e1", "call.ended", 5, Some(r#"{"call":{"id":"c1"}}"#));
        let b = envelope("e1", "call.ended", 5, Some(r#"{"call":{"id":"c1"}}"#));
        assert_eq!(a, b);
        let parsed: Value = serde_json::from_str(&a).unwrap();
        assert_eq!(parsed["id"], "e1");
        assert_eq!(parsed["type"], "call.ended");
        assert_eq!(parsed["data"]["call"]["id"], "c1");
        let empty: Value =
            serde_json::from_str(&envelope("e2", "campaign.paused", 5, None)).unwrap();
        assert_eq!(empty["data"], json!({}));
    }
}
