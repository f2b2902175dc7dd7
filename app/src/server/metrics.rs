//! What Dial counts for `GET /metrics` (Prometheus; served by the binary, `src/metrics.rs`).
//!
//! Every name and label is here, so the exposition stays one vocabulary. Labels take only
//! bounded values (a provider, an operation name, an outcome): never an id, a number or a
//! raw path. Until the binary installs a recorder (`DIAL_METRICS_TOKEN` or
//! `DIAL_METRICS_LISTEN`), every call here is a no-op.

use crate::model::{Direction, Outcome};
use std::time::Duration;

/// HTTP requests by matched route, method and status (counted by the router's layer).
pub const HTTP_REQUESTS: &str = "dial_http_requests_total";
/// Their latency, to the start of the answer.
pub const HTTP_DURATION: &str = "dial_http_request_duration_seconds";
/// Provider webhooks by provider and result (`recorded`, `duplicate`, `refused`,
/// `failed`); their sum is what was received.
pub const WEBHOOKS: &str = "dial_webhooks_total";
/// Requests to Twilio and LiveKit by provider, operation and result (`ok`, `error`).
pub const PROVIDER_REQUESTS: &str = "dial_provider_requests_total";
pub const PROVIDER_DURATION: &str = "dial_provider_request_duration_seconds";
/// Provisioning runs that ended, by kind and outcome (`done`, `failed`, `rolled_back`).
pub const PROVISIONING_RUNS: &str = "dial_provisioning_runs_total";
/// Provisioning steps by step and outcome (`ok`, `failed`), with their latency.
pub const PROVISIONING_STEP_DURATION: &str = "dial_provisioning_step_duration_seconds";
/// Campaign dials by result (`placed`, `failed`).
pub const CAMPAIGN_DIALS: &str = "dial_campaign_dials_total";
/// Campaign attempts settled, by outcome.
pub const CAMPAIGN_ATTEMPTS: &str = "dial_campaign_attempts_settled_total";
/// Calls in the database by direction and outcome (`open` while not ended), read at scrape.
pub const CALLS: &str = "dial_calls";
/// The database pool: connections open and idle, read at scrape.
pub const DB_CONNECTIONS: &str = "dial_db_pool_connections";
pub const DB_IDLE: &str = "dial_db_pool_idle_connections";
pub const DB_MAX: &str = "dial_db_pool_max_connections";
/// Change notifications between instances (PostgreSQL `LISTEN/NOTIFY`), by direction.
pub const PEER_CHANGES: &str = "dial_peer_changes_total";

/// One provider webhook, by what became of it.
pub fn webhook(provider: &'static str, result: &'static str) {
    metrics::counter!(WEBHOOKS, "provider" => provider, "result" => result).increment(1);
}

/// One request to a provider: counted and timed.
pub fn provider_request(
    provider: &'static str,
    operation: impl Into<metrics::SharedString>,
    ok: bool,
    took: Duration,
) {
    let operation = operation.into();
    let result = if ok { "ok" } else { "error" };
    metrics::counter!(PROVIDER_REQUESTS, "provider" => provider, "operation" => operation.clone(), "result" => result)
        .increment(1);
    metrics::histogram!(PROVIDER_DURATION, "provider" => provider, "operation" => operation, "result" => result)
        .record(took.as_secs_f64());
}

/// Times a LiveKit request, counts it, and logs it (with the request it belongs to, by
/// its span). Reads that follow ringing calls come many a second: they log at debug.
pub async fn livekit<T, E: std::fmt::Display>(
    operation: &'static str,
    request: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = std::time::Instant::now();
    let result = request.await;
    let took = started.elapsed();
    provider_request("livekit", operation, result.is_ok(), took);
    log_provider_request("livekit", operation, &result, took);
    result
}

/// The log line of one provider request: what, how long, and the error when it failed.
pub fn log_provider_request<T, E: std::fmt::Display>(
    provider: &'static str,
    operation: &str,
    result: &Result<T, E>,
    took: Duration,
) {
    let ms = took.as_millis() as u64;
    match result {
        Ok(_) if operation == "get_participant" || operation == "list_participants" => {
            tracing::debug!(provider, operation, ms, "provider request")
        }
        Ok(_) => tracing::info!(provider, operation, ms, "provider request"),
        Err(e) => tracing::warn!(provider, operation, ms, error = %e, "provider request failed"),
    }
}

/// A provisioning run that ended.
pub fn provisioning_run(kind: &str, outcome: &str) {
    metrics::counter!(PROVISIONING_RUNS, "kind" => kind.to_string(), "outcome" => outcome.to_string())
        .increment(1);
}

/// One provisioning step's work, timed.
pub fn provisioning_step(step: &'static str, ok: bool, took: Duration) {
    let outcome = if ok { "ok" } else { "failed" };
    metrics::histogram!(PROVISIONING_STEP_DURATION, "step" => step, "outcome" => outcome)
        .record(took.as_secs_f64());
}

/// One campaign dial.
pub fn campaign_dial(placed: bool) {
    let result = if placed { "placed" } else { "failed" };
    metrics::counter!(CAMPAIGN_DIALS, "result" => result).increment(1);
}

/// One campaign attempt settled with `outcome`.
pub fn campaign_attempt(outcome: &'static str) {
    metrics::counter!(CAMPAIGN_ATTEMPTS, "outcome" => outcome).increment(1);
}

/// A change sent to (`sent`) or heard from (`received`) other instances.
pub fn peer_change(direction: &'static str, count: u64) {
    metrics::counter!(PEER_CHANGES, "direction" => direction).increment(count);
}

/// What is read at each scrape rather than counted as it happens: the database pool, and
/// the calls by direction and outcome.
pub async fn scrape(state: &super::state::AppState) {
    let pool = &state.db.pool;
    metrics::gauge!(DB_CONNECTIONS).set(f64::from(pool.size()));
    metrics::gauge!(DB_IDLE).set(pool.num_idle() as f64);
    metrics::gauge!(DB_MAX).set(f64::from(pool.options().get_max_connections()));
    // A call's outcome as the pages name it: the stored one, else `completed` or
    // `ended_before_answer` once it ended (`calls::outcome_of_ended`), else `open`.
    let calls: Result<Vec<(String, String, i64)>, _> = sqlx::query_as(
        "SELECT direction, COALESCE(outcome, CASE WHEN status <> 'ended' THEN 'open' \
         WHEN answered_at IS NOT NULL THEN 'completed' ELSE 'ended_before_answer' END), COUNT(*) \
         FROM call_sessions GROUP BY 1, 2",
    )
    .fetch_all(pool)
    .await;
    match calls {
        Ok(rows) => {
            // Every direction and outcome is set, to 0 when no call has it: a series whose
            // calls all ended (`open`) drops to 0 instead of keeping its last count.
            let mut counts: std::collections::BTreeMap<(String, String), i64> =
                [Direction::Inbound, Direction::Outbound]
                    .into_iter()
                    .flat_map(|d| {
                        Outcome::ALL
                            .iter()
                            .map(|o| o.as_str())
                            .chain(["open"])
                            .map(move |o| ((d.as_str().to_string(), o.to_string()), 0))
                    })
                    .collect();
            for (direction, outcome, count) in rows {
                counts.insert((direction, outcome), count);
            }
            for ((direction, outcome), count) in counts {
                metrics::gauge!(CALLS, "direction" => direction, "outcome" => outcome)
                    .set(count as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: could not count calls"),
    }
}
