//! The provisioning engine: giving a number to an assistant (and taking it back) across
//! Twilio and LiveKit, as a run of steps.
//!
//! Guarantees, and how they are kept:
//! - **Idempotent.** Every step first looks for what it would create — by the id recorded on
//!   the number, then in the provider by its deterministic metadata (`managed_by: dial`,
//!   the number's id) — and adopts it instead of creating a duplicate; an adopted object
//!   that differs from what the assistant needs is updated in place.
//! - **Resumable.** A step's outcome and provider id are written before the next step
//!   starts. LiveKit objects carry the id of the run that created them
//!   (`created_by_run`), and a Twilio change is preceded by a written *intent*, so a run
//!   resumed after a crash knows which objects it finds were its own. A worker renews the
//!   run's heartbeat; a run whose heartbeat is older than the lease is taken over by the
//!   resumer of any instance (a crash, `kill -9`, a restart).
//! - **Roll back** deletes, in reverse order, exactly what the run created (never an object
//!   it adopted or one another number uses) and restores what it updated.
//! - **Concurrent.** After the pre-check, the Twilio chain (trunk → attach), the LiveKit
//!   inbound chain (trunk → dispatch rule) and the outbound trunk run at the same time.
//! - **No gap on reassign.** Reassigning adopts the number's trunks and replaces its
//!   dispatch rule in one LiveKit call, so calls go to the old assistant until the moment
//!   they go to the new one.

use super::{
    audit::{self, Actor},
    crypto::Binding,
    db::is_unique_violation,
    livekit::{proto, InboundTrunkSpec, LiveKitClient, OutboundTrunkSpec},
    livekit_settings, new_id, now,
    sip_rules::{check_inbound_conflict, check_rule_conflict, normalize_number},
    state::AppState,
    twilio::{IncomingNumber, NewOriginationUrl, TrunkParams, TwilioClient},
    twilio_settings,
};
use crate::{
    error::AppError,
    model::{AssistantOption, Me, RouteCheck, Routing, RunView, StepView},
};
use livekit_api::services::sip::CreateSIPDispatchRuleOptions;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::{
    future::Future,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Twilio's SIP signalling addresses (its published ranges for Elastic SIP Trunking
/// origination), allowed to send calls to a Twilio number's LiveKit inbound trunk.
pub const TWILIO_SIGNALLING_ADDRESSES: &[&str] = &[
    "54.172.60.0/30",
    "54.244.51.0/30",
    "54.171.127.192/30",
    "35.156.191.128/30",
    "54.65.63.192/30",
    "54.169.127.128/30",
    "54.252.254.64/30",
    "177.71.206.192/30",
    "168.86.128.0/18",
];

/// The friendly name of an Elastic SIP trunk Dial created.
const DIAL_TRUNK_NAME: &str = "Dial (managed by Dial)";

const ASSIGN_STEPS: &[(&str, &str)] = &[
    ("precheck", "Check settings and LiveKit's conflict rules"),
    ("twilio_trunk", "Twilio Elastic SIP trunk"),
    ("twilio_attach", "Attach the number to the Twilio trunk"),
    ("inbound_trunk", "LiveKit inbound trunk"),
    ("outbound_trunk", "LiveKit outbound trunk"),
    ("dispatch_rule", "LiveKit dispatch rule"),
    ("record", "Record the routing on the number"),
];

const UNASSIGN_STEPS: &[(&str, &str)] = &[
    ("dispatch_rule", "Delete the LiveKit dispatch rule"),
    ("inbound_trunk", "Delete the LiveKit inbound trunk"),
    ("outbound_trunk", "Delete the LiveKit outbound trunk"),
    ("twilio_attach", "Detach the number from the Twilio trunk"),
    ("record", "Record the number as unassigned"),
];

fn step_title(kind: &str, name: &str) -> String {
    let steps = if kind == "unassign" {
        UNASSIGN_STEPS
    } else {
        ASSIGN_STEPS
    };
    steps
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| t.to_string())
        .unwrap_or_else(|| name.to_string())
}

// ---------------------------------------------------------------------------------------
// Rows

#[derive(sqlx::FromRow, Clone)]
struct NumberFull {
    id: String,
    e164: String,
    country: String,
    carrier_id: Option<String>,
    twilio_sid: Option<String>,
    owner_id: Option<String>,
    assistant_id: Option<String>,
    assignment_status: String,
    twilio_trunk_sid: Option<String>,
    inbound_trunk_id: Option<String>,
    outbound_trunk_id: Option<String>,
    dispatch_rule_id: Option<String>,
}

const NUMBER_COLUMNS: &str = "id, e164, country, carrier_id, twilio_sid, owner_id, assistant_id, \
     assignment_status, twilio_trunk_sid, inbound_trunk_id, outbound_trunk_id, dispatch_rule_id";

async fn load_number(state: &AppState, id: &str) -> Result<NumberFull, AppError> {
    let row: Option<NumberFull> = sqlx::query_as(&format!(
        "SELECT {NUMBER_COLUMNS} FROM phone_numbers WHERE id = $1 AND released_at IS NULL"
    ))
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await?;
    row.ok_or_else(|| AppError::not_found("That phone number"))
}

/// A number the user may change (others' numbers are "not found").
async fn number_for(state: &AppState, me: &Me, id: &str) -> Result<NumberFull, AppError> {
    let number = load_number(state, id).await?;
    if !me.is_admin() && number.owner_id.as_deref() != Some(me.id.as_str()) {
        return Err(AppError::not_found("That phone number"));
    }
    Ok(number)
}

#[derive(sqlx::FromRow, Clone)]
struct AssistantFull {
    id: String,
    owner_id: String,
    name: String,
    agent_name: String,
    metadata: String,
    room_prefix: String,
}

async fn load_assistant(state: &AppState, id: &str) -> Result<Option<AssistantFull>, AppError> {
    Ok(sqlx::query_as(
        "SELECT id, owner_id, name, agent_name, metadata, room_prefix FROM assistants WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await?)
}

#[derive(sqlx::FromRow, Clone)]
struct RunRow {
    id: String,
    phone_number_id: String,
    kind: String,
    assistant_id: Option<String>,
    previous_assistant_id: Option<String>,
    status: String,
    error: Option<String>,
    actor_name: Option<String>,
    started_at: i64,
    finished_at: Option<i64>,
    wall_ms: Option<i64>,
}

const RUN_COLUMNS: &str =
    "id, phone_number_id, kind, assistant_id, previous_assistant_id, status, \
     error, actor_name, started_at, finished_at, wall_ms";

async fn load_run(state: &AppState, id: &str) -> Result<Option<RunRow>, AppError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {RUN_COLUMNS} FROM provisioning_runs WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await?)
}

#[derive(sqlx::FromRow, Clone)]
struct StepRow {
    position: i64,
    name: String,
    status: String,
    action: Option<String>,
    intent: Option<String>,
    provider_id: Option<String>,
    data: Option<String>,
    detail: Option<String>,
    error: Option<String>,
}

async fn load_steps(state: &AppState, run_id: &str) -> Result<Vec<StepRow>, AppError> {
    Ok(sqlx::query_as(
        "SELECT position, name, status, action, intent, provider_id, data, detail, error \
         FROM provisioning_steps WHERE run_id = $1 ORDER BY position",
    )
    .bind(run_id)
    .fetch_all(&state.db.pool)
    .await?)
}

struct Carrier {
    sip_address: String,
    transport: String,
    auth_username: Option<String>,
    auth_password: Option<SecretString>,
    destination_country: Option<String>,
    inbound_addresses: Vec<String>,
}

async fn load_carrier(state: &AppState, id: &str) -> Result<Carrier, String> {
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT sip_address, transport, auth_username, auth_password, destination_country, \
         inbound_addresses FROM carriers WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await
    .map_err(|e| db_message(&e))?;
    let Some((sip_address, transport, auth_username, auth_password, country, addresses)) = row
    else {
        return Err("The number's carrier no longer exists.".into());
    };
    let auth_password = match auth_password {
        Some(stored) => Some(
            state
                .keyring
                .decrypt(
                    &stored,
                    Binding {
                        table: "carriers",
                        column: "auth_password",
                        row: id,
                    },
                )
                .map_err(|e| {
                    tracing::error!(error = %e, "could not decrypt a carrier password");
                    "Dial could not decrypt the carrier's password (see the server log)."
                        .to_string()
                })?,
        ),
        None => None,
    };
    Ok(Carrier {
        sip_address,
        transport,
        auth_username,
        auth_password,
        destination_country: country.filter(|c| !c.is_empty()),
        inbound_addresses: serde_json::from_str(&addresses).unwrap_or_default(),
    })
}

fn db_message(e: &sqlx::Error) -> String {
    tracing::error!(error = %e, "database error during provisioning");
    "Dial could not write to its database (see the server log).".into()
}

// ---------------------------------------------------------------------------------------
// Starting, retrying and rolling back runs

/// How long a server function waits for a run before it returns (the page then follows
/// the run's progress).
const WAIT_FOR_RUN: Duration = Duration::from_secs(20);

async fn insert_run(
    state: &AppState,
    actor: &Actor,
    number: &NumberFull,
    kind: &str,
    assistant: Option<(&str, &str)>,
) -> Result<String, AppError> {
    let assistant_id = assistant.map(|(id, _)| id);
    let id = new_id();
    let t = now();
    let steps = if kind == "unassign" {
        UNASSIGN_STEPS
    } else {
        ASSIGN_STEPS
    };
    let mut tx = state.db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO provisioning_runs (id, phone_number_id, kind, assistant_id, previous_assistant_id, \
         status, actor_id, actor_name, started_at, heartbeat_at, started_ms) \
         VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $8, $8, $9)",
    )
    .bind(&id)
    .bind(&number.id)
    .bind(kind)
    .bind(assistant_id.map(str::to_string))
    .bind(number.assistant_id.clone())
    .bind(actor.user_id.clone())
    .bind(actor.username.clone())
    .bind(t)
    .bind(super::now_ms())
    .execute(&mut *tx)
    .await;
    if let Err(e) = inserted {
        if is_unique_violation(&e) {
            return Err(AppError::conflict(format!(
                "{} already has a provisioning run that has not finished. Wait for it, or retry or roll back the failed run on the number's page.",
                number.e164
            )));
        }
        return Err(e.into());
    }
    for (i, (name, _)) in steps.iter().enumerate() {
        sqlx::query(
            "INSERT INTO provisioning_steps (run_id, position, name, status) VALUES ($1, $2, $3, 'waiting')",
        )
        .bind(&id)
        .bind(i as i64 + 1)
        .bind(*name)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE phone_numbers SET assignment_status = 'pending', last_route_check = NULL, updated_at = $1 WHERE id = $2",
    )
    .bind(t)
    .bind(&number.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let detail = match kind {
        "unassign" => "unassign".to_string(),
        _ => format!(
            "assign to {}",
            assistant.map(|(_, name)| name).unwrap_or("an assistant")
        ),
    };
    audit::record(
        &state.db,
        actor,
        "provisioning.run_started",
        Some(&number.e164),
        Some(&format!("run {id}: {detail}")),
    )
    .await?;
    Ok(id)
}

/// Starts the run's worker and waits (at most [`WAIT_FOR_RUN`]) for it to stop.
async fn drive_and_wait(state: &AppState, run_id: &str) {
    let handle = tokio::spawn(drive(state.clone(), run_id.to_string()));
    let _ = tokio::time::timeout(WAIT_FOR_RUN, handle).await;
}

/// "Assign": gives the number to the assistant (or moves it from its current assistant).
/// Returns the run's id once the run has stopped, or after [`WAIT_FOR_RUN`].
pub async fn assign(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    number_id: &str,
    assistant_id: &str,
) -> Result<String, AppError> {
    let number = number_for(state, me, number_id).await?;
    let assistant = load_assistant(state, assistant_id)
        .await?
        .filter(|a| me.is_admin() || a.owner_id == me.id)
        .ok_or_else(|| AppError::invalid("assistant_id", "Choose one of your assistants."))?;
    if let Some(owner) = number.owner_id.as_deref() {
        if owner != assistant.owner_id {
            return Err(AppError::invalid(
                "assistant_id",
                "The number and the assistant belong to different owners. Allot the number to the assistant's owner first.",
            ));
        }
    }
    let run_id = insert_run(
        state,
        actor,
        &number,
        "assign",
        Some((&assistant.id, &assistant.name)),
    )
    .await?;
    drive_and_wait(state, &run_id).await;
    Ok(run_id)
}

/// "Unassign": removes the number's dispatch rule, LiveKit trunks and Twilio attachment.
pub async fn unassign(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    number_id: &str,
) -> Result<String, AppError> {
    let number = number_for(state, me, number_id).await?;
    if number.assistant_id.is_none() && number.assignment_status == "unassigned" {
        return Err(AppError::conflict(format!(
            "{} is not assigned to an assistant.",
            number.e164
        )));
    }
    let run_id = insert_run(state, actor, &number, "unassign", None).await?;
    drive_and_wait(state, &run_id).await;
    Ok(run_id)
}

async fn numbers_of_assistant(
    state: &AppState,
    assistant_id: &str,
) -> Result<Vec<(String, String)>, AppError> {
    Ok(sqlx::query_as(
        "SELECT id, e164 FROM phone_numbers WHERE assistant_id = $1 AND released_at IS NULL ORDER BY e164",
    )
    .bind(assistant_id)
    .fetch_all(&state.db.pool)
    .await?)
}

async fn run_outcome(state: &AppState, run_id: &str) -> Result<(String, Option<String>), AppError> {
    let run = load_run(state, run_id)
        .await?
        .ok_or_else(|| AppError::not_found("That provisioning run"))?;
    Ok((run.status, run.error))
}

/// After an assistant's agent, metadata or room prefix changed: runs an assignment for each
/// of its numbers, which replaces each dispatch rule in place. Fails naming the first
/// number whose run did not finish.
pub async fn refresh_assistant(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    assistant_id: &str,
) -> Result<usize, AppError> {
    let numbers = numbers_of_assistant(state, assistant_id).await?;
    for (number_id, e164) in &numbers {
        let run = assign(state, me, actor, number_id, assistant_id).await?;
        let (status, error) = run_outcome(state, &run).await?;
        if status != "done" {
            return Err(AppError::conflict(format!(
                "The assistant was saved, but updating the route of {e164} {}: {}. Open the number to retry.",
                if status == "running" { "is still running" } else { "failed" },
                error.unwrap_or_default()
            )));
        }
    }
    Ok(numbers.len())
}

/// Before an assistant is deleted: unassigns each of its numbers. Fails (and the caller
/// keeps the assistant) naming the first number that could not be unassigned.
pub async fn unassign_all(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    assistant_id: &str,
) -> Result<usize, AppError> {
    let numbers = numbers_of_assistant(state, assistant_id).await?;
    for (number_id, e164) in &numbers {
        let run = unassign(state, me, actor, number_id).await?;
        let (status, error) = run_outcome(state, &run).await?;
        if status != "done" {
            return Err(AppError::conflict(format!(
                "Could not unassign {e164}: {}. The assistant was kept; open the number to retry.",
                error.unwrap_or_else(|| "the run is still going".into())
            )));
        }
    }
    Ok(numbers.len())
}

/// The numbers an assistant can be given (see the server function of the same name).
pub async fn assignable_numbers(
    state: &AppState,
    me: &Me,
    assistant_id: &str,
) -> Result<Vec<AssistantOption>, AppError> {
    let assistant = load_assistant(state, assistant_id)
        .await?
        .filter(|a| me.is_admin() || a.owner_id == me.id)
        .ok_or_else(|| AppError::not_found("That assistant"))?;
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT n.id, n.e164, n.label FROM phone_numbers n \
         WHERE n.released_at IS NULL AND n.assistant_id IS NULL AND n.voice <> 0 \
         AND (n.owner_id = $1 OR ($2 = 1 AND n.owner_id IS NULL)) \
         AND NOT EXISTS (SELECT 1 FROM provisioning_runs r WHERE r.phone_number_id = n.id \
                         AND r.status IN ('running', 'failed', 'rolling_back')) \
         ORDER BY n.e164 LIMIT 500",
    )
    .bind(&assistant.owner_id)
    .bind(i64::from(me.is_admin()))
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, e164, label)| AssistantOption {
            id,
            name: if label.is_empty() {
                crate::phone::format_e164(&e164)
            } else {
                format!("{} · {label}", crate::phone::format_e164(&e164))
            },
        })
        .collect())
}

async fn run_for(state: &AppState, me: &Me, run_id: &str) -> Result<RunRow, AppError> {
    let run = load_run(state, run_id)
        .await?
        .ok_or_else(|| AppError::not_found("That provisioning run"))?;
    number_for(state, me, &run.phone_number_id)
        .await
        .map_err(|_| AppError::not_found("That provisioning run"))?;
    Ok(run)
}

/// "Retry": resumes a failed run from the step that failed.
pub async fn retry(state: &AppState, me: &Me, actor: &Actor, run_id: &str) -> Result<(), AppError> {
    let run = run_for(state, me, run_id).await?;
    let claimed = sqlx::query(
        "UPDATE provisioning_runs SET status = 'running', error = NULL, heartbeat_at = $1 \
         WHERE id = $2 AND status = 'failed'",
    )
    .bind(now())
    .bind(run_id)
    .execute(&state.db.pool)
    .await?
    .rows_affected();
    if claimed != 1 {
        return Err(AppError::conflict(
            "This run is not waiting for a retry (it is running, finished or rolled back).",
        ));
    }
    let e164 = number_e164(state, &run.phone_number_id).await;
    audit::record(
        &state.db,
        actor,
        "provisioning.retry",
        Some(&e164),
        Some(&format!("run {run_id}")),
    )
    .await?;
    drive_and_wait(state, run_id).await;
    Ok(())
}

/// "Roll back": deletes what a failed assignment created and restores what it updated.
pub async fn roll_back(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    run_id: &str,
) -> Result<(), AppError> {
    let run = run_for(state, me, run_id).await?;
    if run.kind == "unassign" {
        return Err(AppError::conflict(
            "An unassignment cannot be rolled back: what it removed is gone. Retry it to finish, then assign the number again if you need to.",
        ));
    }
    let claimed = sqlx::query(
        "UPDATE provisioning_runs SET status = 'rolling_back', error = NULL, heartbeat_at = $1 \
         WHERE id = $2 AND status = 'failed'",
    )
    .bind(now())
    .bind(run_id)
    .execute(&state.db.pool)
    .await?
    .rows_affected();
    if claimed != 1 {
        return Err(AppError::conflict(
            "Only a failed run can be rolled back (this one is running, finished or already rolled back).",
        ));
    }
    let e164 = number_e164(state, &run.phone_number_id).await;
    audit::record(
        &state.db,
        actor,
        "provisioning.roll_back",
        Some(&e164),
        Some(&format!("run {run_id}")),
    )
    .await?;
    drive_and_wait(state, run_id).await;
    Ok(())
}

async fn number_e164(state: &AppState, id: &str) -> String {
    sqlx::query_scalar::<_, String>("SELECT e164 FROM phone_numbers WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.db.pool)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// The resumer

/// Takes over runs whose worker stopped (a crash, a restart, another instance that died):
/// at start-up and then every half lease.
pub fn spawn_resumer(state: AppState) {
    tokio::spawn(async move {
        let period = (state.config.provisioning_lease / 2).max(Duration::from_secs(1));
        loop {
            if let Err(e) = resume_stale(&state).await {
                tracing::warn!(error = %e, "could not look for interrupted provisioning runs");
            }
            tokio::time::sleep(period).await;
        }
    });
}

/// Claims and resumes every run whose heartbeat is older than the lease.
pub async fn resume_stale(state: &AppState) -> Result<usize, AppError> {
    let lease = state.config.provisioning_lease.as_secs().max(1) as i64;
    let stale: Vec<(String, i64)> = sqlx::query_as(
        "SELECT id, heartbeat_at FROM provisioning_runs \
         WHERE status IN ('running', 'rolling_back') AND heartbeat_at < $1",
    )
    .bind(now() - lease)
    .fetch_all(&state.db.pool)
    .await?;
    let mut resumed = 0;
    for (id, heartbeat) in stale {
        let claimed = sqlx::query(
            "UPDATE provisioning_runs SET heartbeat_at = $1 WHERE id = $2 AND heartbeat_at = $3",
        )
        .bind(now())
        .bind(&id)
        .bind(heartbeat)
        .execute(&state.db.pool)
        .await?
        .rows_affected();
        if claimed == 1 {
            tracing::info!(run = %id, "resuming an interrupted provisioning run");
            tokio::spawn(drive(state.clone(), id));
            resumed += 1;
        }
    }
    Ok(resumed)
}

// ---------------------------------------------------------------------------------------
// Running

/// What an earlier step found, reused by later ones in the same process.
#[derive(Default, Clone)]
struct Snapshot {
    inbound: Option<Vec<proto::SipInboundTrunkInfo>>,
    outbound: Option<Vec<proto::SipOutboundTrunkInfo>>,
    rules: Option<Vec<proto::SipDispatchRuleInfo>>,
    incoming: Option<Option<IncomingNumber>>,
}

struct Ctx {
    state: AppState,
    run: RunRow,
    number: NumberFull,
    assistant: Option<AssistantFull>,
    previous: Option<AssistantFull>,
    actor: Actor,
    snapshot: Mutex<Snapshot>,
    started: Instant,
}

/// What a step did.
struct Outcome {
    status: &'static str,
    action: &'static str,
    provider_id: Option<String>,
    detail: String,
    data: Option<String>,
}

impl Outcome {
    fn done(action: &'static str, provider_id: Option<String>, detail: impl Into<String>) -> Self {
        Outcome {
            status: "done",
            action,
            provider_id,
            detail: detail.into(),
            data: None,
        }
    }

    fn skipped(detail: impl Into<String>) -> Self {
        Outcome {
            status: "skipped",
            action: "none",
            provider_id: None,
            detail: detail.into(),
            data: None,
        }
    }
}

fn tw_message(client: &TwilioClient, state: &AppState, e: &super::twilio::TwilioError) -> String {
    twilio_settings::describe(e, client.account_sid(), &state.config.twilio_api_base).to_string()
}

async fn drive(state: AppState, run_id: String) {
    // The heartbeat says "a worker is on this run" to the resumers of every instance.
    let beat_state = state.clone();
    let beat_id = run_id.clone();
    let heartbeat = tokio::spawn(async move {
        let period = (beat_state.config.provisioning_lease / 3).max(Duration::from_millis(300));
        loop {
            tokio::time::sleep(period).await;
            super::logged(
                sqlx::query(
                    "UPDATE provisioning_runs SET heartbeat_at = $1 WHERE id = $2 \
                 AND status IN ('running', 'rolling_back')",
                )
                .bind(now())
                .bind(&beat_id)
                .execute(&beat_state.db.pool)
                .await,
                "the run's heartbeat",
            );
        }
    });
    if let Err(e) = drive_inner(&state, &run_id).await {
        tracing::error!(run = %run_id, error = %e, "provisioning run stopped");
        super::logged(sqlx::query(
            "UPDATE provisioning_runs SET status = 'failed', error = $1 WHERE id = $2 AND status IN ('running', 'rolling_back')",
        )
        .bind(e.to_string())
        .bind(&run_id)
        .execute(&state.db.pool)
        .await, "marking a stopped run failed");
    }
    heartbeat.abort();
}

async fn drive_inner(state: &AppState, run_id: &str) -> Result<(), AppError> {
    let Some(run) = load_run(state, run_id).await? else {
        return Ok(());
    };
    let number: Option<NumberFull> = sqlx::query_as(&format!(
        "SELECT {NUMBER_COLUMNS} FROM phone_numbers WHERE id = $1"
    ))
    .bind(&run.phone_number_id)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some(number) = number else {
        return Ok(());
    };
    let assistant = match &run.assistant_id {
        Some(id) => load_assistant(state, id).await?,
        None => None,
    };
    let previous = match &run.previous_assistant_id {
        Some(id) if Some(id) != run.assistant_id.as_ref() => load_assistant(state, id).await?,
        _ => None,
    };
    let actor = Actor {
        user_id: None,
        username: Some(
            run.actor_name
                .clone()
                .map(|n| format!("{n} (provisioning)"))
                .unwrap_or_else(|| "provisioning".into()),
        ),
        ip: None,
    };
    let ctx = Ctx {
        state: state.clone(),
        run: run.clone(),
        number,
        assistant,
        previous,
        actor,
        snapshot: Mutex::new(Snapshot::default()),
        started: Instant::now(),
    };
    match (run.status.as_str(), run.kind.as_str()) {
        ("running", "assign") => finish(&ctx, forward_assign(&ctx).await).await,
        ("running", _) => finish(&ctx, forward_unassign(&ctx).await).await,
        ("rolling_back", _) => backward(&ctx).await,
        _ => Ok(()),
    }
}

/// Runs one step unless it already finished: marks it running, does it, and writes its
/// outcome (or its error) before returning. `Err` carries the step's position.
async fn step<F, Fut>(ctx: &Ctx, name: &str, work: F) -> Result<Option<String>, i64>
where
    F: FnOnce(StepRow) -> Fut,
    Fut: Future<Output = Result<Outcome, String>>,
{
    let db = &ctx.state.db.pool;
    let row: Option<StepRow> = sqlx::query_as(
        "SELECT position, name, status, action, intent, provider_id, data, detail, error \
         FROM provisioning_steps WHERE run_id = $1 AND name = $2",
    )
    .bind(&ctx.run.id)
    .bind(name)
    .fetch_optional(db)
    .await
    .map_err(|e| {
        db_message(&e);
        0
    })?;
    let Some(row) = row else {
        return Ok(None);
    };
    if matches!(row.status.as_str(), "done" | "skipped") {
        return Ok(row.provider_id);
    }
    let position = row.position;
    sqlx::query(
        "UPDATE provisioning_steps SET status = 'running', error = NULL, started_at = $1 \
         WHERE run_id = $2 AND position = $3",
    )
    .bind(now())
    .bind(&ctx.run.id)
    .bind(position)
    .execute(db)
    .await
    .map_err(|e| {
        db_message(&e);
        position
    })?;
    let result = work(row).await;
    let e164 = ctx.number.e164.clone();
    match result {
        Ok(outcome) => {
            sqlx::query(
                "UPDATE provisioning_steps SET status = $1, action = $2, provider_id = $3, detail = $4, \
                 data = COALESCE($5, data), error = NULL, finished_at = $6 WHERE run_id = $7 AND position = $8",
            )
            .bind(outcome.status)
            .bind(outcome.action)
            .bind(outcome.provider_id.clone())
            .bind(&outcome.detail)
            .bind(outcome.data.clone())
            .bind(now())
            .bind(&ctx.run.id)
            .bind(position)
            .execute(db)
            .await
            .map_err(|e| {
                db_message(&e);
                position
            })?;
            super::logged(
                audit::record(
                    &ctx.state.db,
                    &ctx.actor,
                    "provisioning.step",
                    Some(&e164),
                    Some(&format!(
                        "run {} step {position} {name}: {} — {}",
                        ctx.run.id, outcome.action, outcome.detail
                    )),
                )
                .await,
                "the audit row of a step",
            );
            Ok(outcome.provider_id)
        }
        Err(message) => {
            super::logged(sqlx::query(
                "UPDATE provisioning_steps SET status = 'failed', error = $1, finished_at = $2 \
                 WHERE run_id = $3 AND position = $4",
            )
            .bind(&message)
            .bind(now())
            .bind(&ctx.run.id)
            .bind(position)
            .execute(db)
            .await, "marking a step failed");
            super::logged(
                audit::record(
                    &ctx.state.db,
                    &ctx.actor,
                    "provisioning.step_failed",
                    Some(&e164),
                    Some(&format!(
                        "run {} step {position} {name}: {message}",
                        ctx.run.id
                    )),
                )
                .await,
                "the audit row of a failed step",
            );
            Err(position)
        }
    }
}

/// Writes the intent to change something at a provider, before the change.
async fn set_intent(
    ctx: &Ctx,
    name: &str,
    intent: &str,
    data: Option<String>,
) -> Result<(), String> {
    sqlx::query(
        "UPDATE provisioning_steps SET intent = $1, data = COALESCE($2, data) WHERE run_id = $3 AND name = $4",
    )
    .bind(intent)
    .bind(data)
    .bind(&ctx.run.id)
    .bind(name)
    .execute(&ctx.state.db.pool)
    .await
    .map_err(|e| db_message(&e))?;
    Ok(())
}

/// Records the end of a forward run: done, or failed at its first failed step.
async fn finish(ctx: &Ctx, result: Result<(), i64>) -> Result<(), AppError> {
    let db = &ctx.state.db.pool;
    match result {
        Ok(()) => {
            super::logged(
                audit::record(
                    &ctx.state.db,
                    &ctx.actor,
                    "provisioning.run_done",
                    Some(&ctx.number.e164),
                    Some(&format!("run {} ({})", ctx.run.id, ctx.run.kind)),
                )
                .await,
                "the audit row of a finished run",
            );
            Ok(())
        }
        Err(_) => {
            let steps = load_steps(&ctx.state, &ctx.run.id).await?;
            let failed = steps.iter().find(|s| s.status == "failed");
            let message = match failed {
                Some(s) => format!(
                    "failed at step {}: {}",
                    s.position,
                    s.error.clone().unwrap_or_default()
                ),
                None => "the run stopped".to_string(),
            };
            sqlx::query("UPDATE provisioning_runs SET status = 'failed', error = $1 WHERE id = $2")
                .bind(&message)
                .bind(&ctx.run.id)
                .execute(db)
                .await?;
            sqlx::query(
                "UPDATE phone_numbers SET assignment_status = 'failed', updated_at = $1 WHERE id = $2",
            )
            .bind(now())
            .bind(&ctx.number.id)
            .execute(db)
            .await?;
            audit::record(
                &ctx.state.db,
                &ctx.actor,
                "provisioning.run_failed",
                Some(&ctx.number.e164),
                Some(&format!("run {}: {message}", ctx.run.id)),
            )
            .await?;
            Ok(())
        }
    }
}

fn is_twilio_number(number: &NumberFull) -> bool {
    number.carrier_id.is_none()
}

/// The deterministic metadata of the LiveKit objects Dial makes for a number.
fn metadata(ctx: &Ctx, assistant: Option<&AssistantFull>, created_by_run: Option<&str>) -> String {
    let mut m = json!({
        "managed_by": "dial",
        "number_id": ctx.number.id,
        "e164": ctx.number.e164,
    });
    if let Some(a) = assistant {
        m["assistant_id"] = json!(a.id);
        m["assistant"] = json!(a.name);
    }
    if let Some(run) = created_by_run {
        m["created_by_run"] = json!(run);
    }
    m.to_string()
}

fn parse_meta(metadata: &str) -> Value {
    serde_json::from_str(metadata).unwrap_or(Value::Null)
}

fn is_ours(metadata: &str, number_id: &str) -> bool {
    let m = parse_meta(metadata);
    m["managed_by"] == "dial" && m["number_id"] == number_id
}

fn created_by(metadata: &str) -> Option<String> {
    parse_meta(metadata)["created_by_run"]
        .as_str()
        .map(str::to_string)
}

/// Keeps `created_by_run` of an existing object when Dial rewrites its metadata.
fn keep_creator(new: String, old: &str) -> String {
    match (created_by(old), serde_json::from_str::<Value>(&new)) {
        (Some(run), Ok(mut v)) => {
            v["created_by_run"] = json!(run);
            v.to_string()
        }
        _ => new,
    }
}

fn livekit(ctx: &Ctx) -> Result<LiveKitClient, String> {
    livekit_settings::client(&ctx.state).map_err(|e| e.to_string())
}

async fn twilio(ctx: &Ctx) -> Result<TwilioClient, String> {
    twilio_settings::client(&ctx.state)
        .await
        .map_err(|e| e.to_string())
}

async fn inbound_trunks(
    ctx: &Ctx,
    lk: &LiveKitClient,
) -> Result<Vec<proto::SipInboundTrunkInfo>, String> {
    let cached = ctx.snapshot.lock().ok().and_then(|s| s.inbound.clone());
    match cached {
        Some(list) => Ok(list),
        None => lk.list_inbound_trunks().await.map_err(|e| e.to_string()),
    }
}

async fn outbound_trunks(
    ctx: &Ctx,
    lk: &LiveKitClient,
) -> Result<Vec<proto::SipOutboundTrunkInfo>, String> {
    let cached = ctx.snapshot.lock().ok().and_then(|s| s.outbound.clone());
    match cached {
        Some(list) => Ok(list),
        None => lk.list_outbound_trunks().await.map_err(|e| e.to_string()),
    }
}

async fn dispatch_rules(
    ctx: &Ctx,
    lk: &LiveKitClient,
) -> Result<Vec<proto::SipDispatchRuleInfo>, String> {
    let cached = ctx.snapshot.lock().ok().and_then(|s| s.rules.clone());
    match cached {
        Some(list) => Ok(list),
        None => lk.list_dispatch_rules().await.map_err(|e| e.to_string()),
    }
}

/// The number's inbound trunk in LiveKit: by the recorded id, then by Dial's metadata.
fn find_inbound<'a>(
    number: &NumberFull,
    list: &'a [proto::SipInboundTrunkInfo],
) -> Option<&'a proto::SipInboundTrunkInfo> {
    number
        .inbound_trunk_id
        .as_deref()
        .and_then(|id| list.iter().find(|t| t.sip_trunk_id == id))
        .or_else(|| list.iter().find(|t| is_ours(&t.metadata, &number.id)))
}

fn find_rule<'a>(
    number: &NumberFull,
    inbound_id: Option<&str>,
    list: &'a [proto::SipDispatchRuleInfo],
) -> Option<&'a proto::SipDispatchRuleInfo> {
    number
        .dispatch_rule_id
        .as_deref()
        .and_then(|id| list.iter().find(|r| r.sip_dispatch_rule_id == id))
        .or_else(|| list.iter().find(|r| is_ours(&r.metadata, &number.id)))
        .or_else(|| {
            inbound_id.and_then(|t| {
                list.iter().find(|r| {
                    r.trunk_ids == [t.to_string()]
                        && parse_meta(&r.metadata)["managed_by"] == "dial"
                })
            })
        })
}

/// The addresses allowed to send the number's calls: the carrier's, or Twilio's.
fn inbound_addresses_for(carrier: Option<&Carrier>) -> Vec<String> {
    match carrier {
        Some(c) => c.inbound_addresses.clone(),
        None => TWILIO_SIGNALLING_ADDRESSES
            .iter()
            .map(|a| a.to_string())
            .collect(),
    }
}

/// The dispatch rule the assistant needs for this number.
fn rule_info(
    ctx: &Ctx,
    assistant: &AssistantFull,
    inbound_id: &str,
    id: &str,
    created_by_run: Option<&str>,
) -> proto::SipDispatchRuleInfo {
    proto::SipDispatchRuleInfo {
        sip_dispatch_rule_id: id.to_string(),
        rule: Some(proto::SipDispatchRule {
            rule: Some(proto::sip_dispatch_rule::Rule::DispatchRuleIndividual(
                proto::SipDispatchRuleIndividual {
                    room_prefix: assistant.room_prefix.clone(),
                    ..Default::default()
                },
            )),
        }),
        trunk_ids: vec![inbound_id.to_string()],
        name: format!("Dial {} → {}", ctx.number.e164, assistant.name),
        metadata: metadata(ctx, Some(assistant), created_by_run),
        room_config: Some(proto::RoomConfiguration {
            agents: vec![proto::RoomAgentDispatch {
                agent_name: assistant.agent_name.clone(),
                metadata: assistant.metadata.clone(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn rule_matches(
    existing: &proto::SipDispatchRuleInfo,
    wanted: &proto::SipDispatchRuleInfo,
) -> bool {
    existing.rule == wanted.rule
        && existing.trunk_ids == wanted.trunk_ids
        && existing.name == wanted.name
        && existing.room_config.as_ref().map(|c| &c.agents)
            == wanted.room_config.as_ref().map(|c| &c.agents)
        && parse_meta(&existing.metadata)["assistant_id"]
            == parse_meta(&wanted.metadata)["assistant_id"]
}

// -- Assign ------------------------------------------------------------------------------

async fn forward_assign(ctx: &Ctx) -> Result<(), i64> {
    step(ctx, "precheck", |_| precheck(ctx)).await?;
    // The outbound trunk needs the Twilio trunk's termination address and credentials;
    // when Dial is about to create the trunk (and so choose them), it waits for it.
    let termination_known = !is_twilio_number(&ctx.number)
        || twilio_settings::load(&ctx.state).await.is_ok_and(|s| {
            s.sip_address.is_some() && s.sip_username.is_some() && s.sip_password.is_some()
        });
    let outbound = || step(ctx, "outbound_trunk", |_| outbound_trunk_step(ctx));
    let twilio_chain = async {
        let trunk = step(ctx, "twilio_trunk", |row| twilio_trunk(ctx, row)).await?;
        let attach = step(ctx, "twilio_attach", |row| twilio_attach(ctx, row, trunk));
        if termination_known {
            attach.await?;
        } else {
            let (a, o) = tokio::join!(attach, outbound());
            a?;
            o?;
        }
        Ok::<(), i64>(())
    };
    let inbound_chain = async {
        let inbound = step(ctx, "inbound_trunk", |_| inbound_trunk(ctx)).await?;
        step(ctx, "dispatch_rule", |_| dispatch_rule(ctx, inbound)).await?;
        Ok::<(), i64>(())
    };
    let outbound_now = async {
        if termination_known {
            outbound().await.map(|_| ())
        } else {
            Ok(())
        }
    };
    let (a, b, c) = tokio::join!(twilio_chain, inbound_chain, outbound_now);
    // The lowest failed position is the one the page names.
    let failed = [a.err(), b.err(), c.err()].into_iter().flatten().min();
    if let Some(position) = failed {
        return Err(position);
    }
    step(ctx, "record", |_| record_assignment(ctx)).await?;
    Ok(())
}

async fn precheck(ctx: &Ctx) -> Result<Outcome, String> {
    let Some(assistant) = ctx.assistant.as_ref() else {
        return Err("The assistant was deleted while the run waited. Roll the run back.".into());
    };
    let lk = livekit(ctx)?;
    let mut checks = vec!["LiveKit configured".to_string()];
    let twilio_number = is_twilio_number(&ctx.number);
    let incoming = async {
        if !twilio_number {
            return Ok(None);
        }
        let settings = twilio_settings::load(&ctx.state)
            .await
            .map_err(|e| e.to_string())?;
        let client = twilio(ctx).await?;
        let has_address = settings.sip_address.is_some();
        if settings.trunk_sid.is_none() && !has_address && !settings.auto_trunk {
            return Err("Twilio has no Elastic SIP trunk for Dial yet. In Settings → Twilio, enter your trunk's termination address (…pstn.twilio.com), or turn on “Create the Elastic SIP trunk for me”.".to_string());
        }
        if !settings.auto_trunk
            && (settings.sip_username.is_none() || settings.sip_password.is_none())
        {
            return Err("LiveKit needs the trunk's termination credentials to place calls. In Settings → Twilio, enter the SIP username and password (or turn on “Create the Elastic SIP trunk for me”).".to_string());
        }
        if settings.trunk_sid.is_none()
            && settings.auto_trunk
            && ctx
                .state
                .config
                .livekit
                .sip_uri
                .as_deref()
                .is_none_or(str::is_empty)
        {
            return Err("Dial needs LiveKit's SIP URI to point a new Twilio trunk at LiveKit: set DIAL_LIVEKIT_SIP_URI (e.g. abcd1234.sip.livekit.cloud) and restart Dial.".to_string());
        }
        let sid = ctx.number.twilio_sid.clone().unwrap_or_default();
        let found = client
            .find_incoming_number(&ctx.number.e164)
            .await
            .map_err(|e| tw_message(&client, &ctx.state, &e))?;
        match found {
            Some(n) if n.sid == sid || sid.is_empty() => Ok(Some(n)),
            _ => Err(format!(
                "The Twilio account no longer has {} (it was released or moved). Import the account's numbers again.",
                ctx.number.e164
            )),
        }
    };
    let (inbound, rules, outbound, incoming) = tokio::join!(
        lk.list_inbound_trunks(),
        lk.list_dispatch_rules(),
        lk.list_outbound_trunks(),
        incoming
    );
    let inbound = inbound.map_err(|e| e.to_string())?;
    let rules = rules.map_err(|e| e.to_string())?;
    let outbound = outbound.map_err(|e| e.to_string())?;
    let incoming = incoming?;
    if twilio_number {
        checks.push("Twilio settings complete".into());
    }

    // LiveKit's conflict rules, evaluated here against what exists in the project.
    let ours = find_inbound(&ctx.number, &inbound).cloned();
    let proposed = proto::SipInboundTrunkInfo {
        sip_trunk_id: ours
            .as_ref()
            .map(|t| t.sip_trunk_id.clone())
            .unwrap_or_else(|| "<new>".into()),
        numbers: vec![ctx.number.e164.clone()],
        ..Default::default()
    };
    if let Err(conflict) = check_inbound_conflict(&proposed, &inbound) {
        let owner = inbound
            .iter()
            .find(|t| t.sip_trunk_id == conflict.other_id)
            .map(|t| describe_owner(&t.metadata))
            .unwrap_or_default();
        return Err(format!(
            "LiveKit inbound trunk {} “{}”{owner} already takes calls to {}. LiveKit would refuse a second trunk for the number (“{}”). Delete or change that trunk in LiveKit, then retry.",
            conflict.other_id, conflict.other_name, ctx.number.e164, conflict.message
        ));
    }
    checks.push("no inbound trunk clashes".into());
    if let Some(trunk) = &ours {
        let rule_id = find_rule(&ctx.number, Some(&trunk.sip_trunk_id), &rules)
            .map(|r| r.sip_dispatch_rule_id.clone())
            .unwrap_or_else(|| "<new>".into());
        let wanted = rule_info(ctx, assistant, &trunk.sip_trunk_id, &rule_id, None);
        if let Err(conflict) = check_rule_conflict(&wanted, &rules) {
            let owner = rules
                .iter()
                .find(|r| r.sip_dispatch_rule_id == conflict.other_id)
                .map(|r| describe_owner(&r.metadata))
                .unwrap_or_default();
            return Err(format!(
                "LiveKit dispatch rule {} “{}”{owner} already routes calls from this number's trunk. Delete it in LiveKit, then retry.",
                conflict.other_id, conflict.other_name
            ));
        }
    }
    checks.push("no dispatch rule clashes".into());
    if let Ok(mut s) = ctx.snapshot.lock() {
        *s = Snapshot {
            inbound: Some(inbound),
            outbound: Some(outbound),
            rules: Some(rules),
            incoming: Some(incoming),
        };
    }
    Ok(Outcome::done("checked", None, checks.join(" · ")))
}

/// " (Dial's, for +1…)" or " (not made by Dial)" for a conflicting object's metadata.
fn describe_owner(metadata: &str) -> String {
    let m = parse_meta(metadata);
    if m["managed_by"] == "dial" {
        let who = m["assistant"]
            .as_str()
            .map(|a| format!(", assistant {a}"))
            .unwrap_or_default();
        format!(
            " (made by Dial for {}{who}, a number Dial no longer manages)",
            m["e164"].as_str().unwrap_or("another number")
        )
    } else {
        " (not made by Dial)".to_string()
    }
}

async fn twilio_trunk(ctx: &Ctx, row: StepRow) -> Result<Outcome, String> {
    if !is_twilio_number(&ctx.number) {
        return Ok(Outcome::skipped(
            "the number comes from a SIP carrier, not Twilio",
        ));
    }
    let client = twilio(ctx).await?;
    let settings = twilio_settings::load(&ctx.state)
        .await
        .map_err(|e| e.to_string())?;
    let tw_err = |e: super::twilio::TwilioError| tw_message(&client, &ctx.state, &e);
    // 1. The trunk recorded in the settings.
    if let Some(sid) = settings.trunk_sid.as_deref() {
        match client.fetch_trunk(sid).await {
            Ok(trunk) => {
                if row.intent.as_deref() == Some("create") {
                    let domain = trunk.domain_name.clone().unwrap_or_default();
                    complete_dial_trunk(ctx, &client, &trunk.sid, &domain, &row, false).await?;
                    return Ok(Outcome::done(
                        "created",
                        Some(trunk.sid),
                        "created this run",
                    ));
                }
                return Ok(Outcome::done(
                    "adopted",
                    Some(trunk.sid),
                    "the trunk in Settings → Twilio",
                ));
            }
            Err(e) if e.status() == Some(404) => {
                twilio_settings::set_trunk(&ctx.state, None, None)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Err(e) => return Err(tw_err(e)),
        }
    }
    // 2. A trunk whose termination address is the configured one.
    let account_suffix: String = client
        .account_sid()
        .chars()
        .rev()
        .take(10)
        .collect::<Vec<char>>()
        .into_iter()
        .rev()
        .collect::<String>()
        .to_ascii_lowercase();
    let domain = settings
        .sip_address
        .as_ref()
        .map(|(a, _)| a.to_ascii_lowercase())
        .unwrap_or_else(|| format!("dial-{account_suffix}.pstn.twilio.com"));
    let trunks = client.list_trunks().await.map_err(tw_err)?;
    if let Some(trunk) = trunks.iter().find(|t| {
        t.domain_name
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
            == Some(domain.as_str())
    }) {
        let created = row.intent.as_deref() == Some("create");
        if created || trunk.friendly_name.as_deref() == Some(DIAL_TRUNK_NAME) {
            // Dial's own trunk: finish what an interrupted creation left out.
            complete_dial_trunk(ctx, &client, &trunk.sid, &domain, &row, false).await?;
        }
        twilio_settings::set_trunk(&ctx.state, Some(&trunk.sid), None)
            .await
            .map_err(|e| e.to_string())?;
        return Ok(if created {
            Outcome::done(
                "created",
                Some(trunk.sid.clone()),
                format!("{domain}, created this run"),
            )
        } else {
            Outcome::done(
                "adopted",
                Some(trunk.sid.clone()),
                format!("found by its address {domain}"),
            )
        });
    }
    if !settings.auto_trunk {
        return Err(format!(
            "No Elastic SIP trunk on the Twilio account has the termination address {domain}. Check the address in Settings → Twilio, or turn on “Create the Elastic SIP trunk for me”."
        ));
    }
    // 3. Create it, once for the account.
    if !domain.ends_with("pstn.twilio.com") {
        return Err(format!(
            "Twilio trunk addresses end in pstn.twilio.com; {domain} does not. Fix the SIP trunk address in Settings → Twilio."
        ));
    }
    set_intent(ctx, "twilio_trunk", "create", None).await?;
    let trunk = client
        .create_trunk(&TrunkParams {
            friendly_name: Some(DIAL_TRUNK_NAME.into()),
            domain_name: Some(domain.clone()),
            transfer_mode: Some("enable-all".into()),
            transfer_caller_id: Some("from-transferee".into()),
        })
        .await
        .map_err(tw_err)?;
    let mut row = row;
    row.intent = Some("create".into());
    complete_dial_trunk(ctx, &client, &trunk.sid, &domain, &row, true).await?;
    Ok(Outcome::done(
        "created",
        Some(trunk.sid),
        format!("{domain}: transfers enabled, origination to LiveKit, termination credentials"),
    ))
}

/// Gives Dial's trunk its origination URL (LiveKit's SIP URI) and termination
/// credentials, adding only what is missing. `fresh`: the trunk was created just now, so
/// there is nothing to look for first. The origination URL and the credentials are
/// independent and set up at the same time.
async fn complete_dial_trunk(
    ctx: &Ctx,
    client: &TwilioClient,
    trunk: &str,
    domain: &str,
    row: &StepRow,
    fresh: bool,
) -> Result<(), String> {
    let tw_err = |e: super::twilio::TwilioError| tw_message(client, &ctx.state, &e);
    let settings = twilio_settings::load(&ctx.state)
        .await
        .map_err(|e| e.to_string())?;
    let origination = async {
        let Some(host) = ctx
            .state
            .config
            .livekit
            .sip_uri
            .as_deref()
            .filter(|h| !h.is_empty())
        else {
            return Ok(());
        };
        let url = format!("sip:{}", host.trim_start_matches("sip:"));
        if !fresh {
            let existing = client.list_origination_urls(trunk).await.map_err(tw_err)?;
            if existing
                .iter()
                .any(|o| o.sip_url.eq_ignore_ascii_case(&url))
            {
                return Ok(());
            }
        }
        client
            .create_origination_url(
                trunk,
                &NewOriginationUrl {
                    sip_url: url,
                    priority: 10,
                    weight: 10,
                    enabled: true,
                    friendly_name: "LiveKit".into(),
                },
            )
            .await
            .map_err(tw_err)?;
        Ok::<(), String>(())
    };
    let username = settings
        .sip_username
        .as_ref()
        .map(|(u, _)| u.clone())
        .unwrap_or_else(|| "dial".into());
    let password = settings
        .sip_password
        .as_ref()
        .map(|(p, _)| p.clone())
        .unwrap_or_else(generate_password);
    let credentials = async {
        // A credential list this step made earlier (recorded in its data) is reused.
        let recorded: Option<String> = row.data.as_deref().and_then(|d| {
            parse_meta(d)["credential_list"]
                .as_str()
                .map(str::to_string)
        });
        let fresh = fresh && recorded.is_none();
        if !fresh
            && !client
                .list_trunk_credential_lists(trunk)
                .await
                .map_err(tw_err)?
                .is_empty()
        {
            return Ok(false);
        }
        let existing = match (&recorded, fresh) {
            (Some(sid), false) => client
                .list_credential_lists()
                .await
                .map_err(tw_err)?
                .into_iter()
                .find(|l| &l.sid == sid),
            _ => None,
        };
        let (list, new_list) = match existing {
            Some(list) => (list, false),
            None => {
                let list = client
                    .create_credential_list(&format!("Dial termination ({trunk})"))
                    .await
                    .map_err(tw_err)?;
                set_intent(
                    ctx,
                    "twilio_trunk",
                    row.intent.as_deref().unwrap_or("complete"),
                    Some(json!({ "credential_list": list.sid }).to_string()),
                )
                .await?;
                (list, true)
            }
        };
        let has_user = !new_list
            && client
                .list_credentials(&list.sid)
                .await
                .map_err(tw_err)?
                .iter()
                .any(|c| c.username == username);
        if !has_user {
            client
                .create_credential(&list.sid, &username, &password)
                .await
                .map_err(tw_err)?;
        }
        client
            .associate_credential_list(trunk, &list.sid)
            .await
            .map_err(tw_err)?;
        Ok::<bool, String>(!has_user)
    };
    let (_, made_credential) = tokio::try_join!(origination, credentials)?;
    // The credentials LiveKit will present are recorded only when Dial made them.
    let termination = made_credential.then_some((domain, username.as_str(), &password));
    twilio_settings::set_trunk(&ctx.state, Some(trunk), termination)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// A termination password Twilio accepts (≥ 12 characters with upper, lower and a digit).
fn generate_password() -> SecretString {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    SecretString::from(format!("Dk9{}{}", &a[..16], &b[..13].to_ascii_uppercase()))
}

async fn twilio_attach(ctx: &Ctx, row: StepRow, trunk: Option<String>) -> Result<Outcome, String> {
    if !is_twilio_number(&ctx.number) {
        return Ok(Outcome::skipped(
            "the number comes from a SIP carrier, not Twilio",
        ));
    }
    let Some(trunk) = trunk else {
        return Err("The Twilio trunk step has no trunk id.".into());
    };
    let client = twilio(ctx).await?;
    let tw_err = |e: super::twilio::TwilioError| tw_message(&client, &ctx.state, &e);
    let cached = ctx.snapshot.lock().ok().and_then(|s| s.incoming.clone());
    let incoming = match cached {
        Some(found) => found,
        None => client
            .find_incoming_number(&ctx.number.e164)
            .await
            .map_err(tw_err)?,
    };
    let Some(incoming) = incoming else {
        return Err(format!(
            "The Twilio account no longer has {}.",
            ctx.number.e164
        ));
    };
    match incoming.trunk_sid.as_deref().filter(|t| !t.is_empty()) {
        Some(t) if t == trunk => {
            let action = if row.intent.as_deref() == Some("create") {
                "created"
            } else {
                "adopted"
            };
            Ok(Outcome::done(action, Some(trunk), "already on the trunk"))
        }
        Some(other) => Err(format!(
            "{} is on another Elastic SIP trunk ({other}). Move it to Dial's trunk {trunk} in the Twilio console, or remove it from {other}, then retry.",
            ctx.number.e164
        )),
        None => {
            set_intent(ctx, "twilio_attach", "create", None).await?;
            client
                .attach_number(&trunk, &incoming.sid)
                .await
                .map_err(tw_err)?;
            Ok(Outcome::done("created", Some(trunk), "attached"))
        }
    }
}

async fn inbound_trunk(ctx: &Ctx) -> Result<Outcome, String> {
    let lk = livekit(ctx)?;
    let carrier = match &ctx.number.carrier_id {
        Some(id) => Some(load_carrier(&ctx.state, id).await?),
        None => None,
    };
    let addresses = inbound_addresses_for(carrier.as_ref());
    let list = inbound_trunks(ctx, &lk).await?;
    let assistant = ctx.assistant.as_ref();
    if let Some(existing) = find_inbound(&ctx.number, &list) {
        let id = existing.sip_trunk_id.clone();
        let ours_this_run = created_by(&existing.metadata).as_deref() == Some(ctx.run.id.as_str());
        let wanted_meta = keep_creator(metadata(ctx, assistant, None), &existing.metadata);
        let same = existing.numbers == [ctx.number.e164.clone()]
            && existing.allowed_addresses == addresses
            && parse_meta(&existing.metadata)["assistant_id"]
                == parse_meta(&wanted_meta)["assistant_id"];
        if same {
            let action = if ours_this_run { "created" } else { "adopted" };
            return Ok(Outcome::done(action, Some(id), "found by its metadata"));
        }
        let update = proto::SipInboundTrunkUpdate {
            numbers: Some(proto::ListUpdate {
                set: vec![ctx.number.e164.clone()],
                ..Default::default()
            }),
            allowed_addresses: Some(proto::ListUpdate {
                set: addresses,
                ..Default::default()
            }),
            metadata: Some(wanted_meta),
            ..Default::default()
        };
        lk.update_inbound_trunk(&id, update)
            .await
            .map_err(|e| e.to_string())?;
        let action = if ours_this_run { "created" } else { "updated" };
        return Ok(Outcome::done(action, Some(id), "updated for the assistant"));
    }
    let created = lk
        .create_inbound_trunk(InboundTrunkSpec {
            name: format!("Dial {}", ctx.number.e164),
            numbers: vec![ctx.number.e164.clone()],
            metadata: metadata(ctx, assistant, Some(&ctx.run.id)),
            allowed_addresses: addresses,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(Outcome::done(
        "created",
        Some(created.sip_trunk_id),
        format!("numbers [{}]", ctx.number.e164),
    ))
}

async fn dispatch_rule(ctx: &Ctx, inbound: Option<String>) -> Result<Outcome, String> {
    let Some(inbound) = inbound else {
        return Err("The inbound trunk step has no trunk id.".into());
    };
    let Some(assistant) = ctx.assistant.as_ref() else {
        return Err("The assistant was deleted while the run waited. Roll the run back.".into());
    };
    let lk = livekit(ctx)?;
    let rules = dispatch_rules(ctx, &lk).await?;
    if let Some(existing) = find_rule(&ctx.number, Some(&inbound), &rules) {
        let id = existing.sip_dispatch_rule_id.clone();
        let ours_this_run = created_by(&existing.metadata).as_deref() == Some(ctx.run.id.as_str());
        let creator = created_by(&existing.metadata);
        let wanted = rule_info(ctx, assistant, &inbound, &id, creator.as_deref());
        if rule_matches(existing, &wanted) {
            let action = if ours_this_run { "created" } else { "adopted" };
            return Ok(Outcome::done(
                action,
                Some(id),
                format!("agent {}", assistant.agent_name),
            ));
        }
        lk.replace_dispatch_rule(&id, wanted)
            .await
            .map_err(|e| e.to_string())?;
        let action = if ours_this_run { "created" } else { "updated" };
        return Ok(Outcome::done(
            action,
            Some(id),
            format!(
                "now dispatches agent {} (replaced in one call)",
                assistant.agent_name
            ),
        ));
    }
    let wanted = rule_info(ctx, assistant, &inbound, "", Some(&ctx.run.id));
    let rule = wanted
        .rule
        .and_then(|r| r.rule)
        .ok_or_else(|| "internal: no rule".to_string())?;
    let created = lk
        .create_dispatch_rule(
            rule,
            CreateSIPDispatchRuleOptions {
                name: wanted.name,
                metadata: wanted.metadata,
                trunk_ids: wanted.trunk_ids,
                room_config: wanted.room_config,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(Outcome::done(
        "created",
        Some(created.sip_dispatch_rule_id),
        format!(
            "a room per call ({}…), agent {}",
            assistant.room_prefix, assistant.agent_name
        ),
    ))
}

async fn outbound_trunk_step(ctx: &Ctx) -> Result<Outcome, String> {
    let lk = livekit(ctx)?;
    let list = outbound_trunks(ctx, &lk).await?;
    let (id, action) =
        ensure_outbound(&ctx.state, &lk, &ctx.number, list, Some(&ctx.run.id)).await?;
    Ok(Outcome::done(action, Some(id), "for calls from the number"))
}

/// The number's outbound trunk: the one recorded in the database, else one in LiveKit
/// with the number, else a new one. Returns its id and what was done.
async fn ensure_outbound(
    state: &AppState,
    lk: &LiveKitClient,
    number: &NumberFull,
    list: Vec<proto::SipOutboundTrunkInfo>,
    run_id: Option<&str>,
) -> Result<(String, &'static str), String> {
    let recorded: Option<String> =
        sqlx::query_scalar("SELECT trunk_id FROM livekit_outbound_trunks WHERE e164 = $1")
            .bind(&number.e164)
            .fetch_optional(&state.db.pool)
            .await
            .map_err(|e| db_message(&e))?;
    let wanted = normalize_number(&number.e164);
    let found = recorded
        .as_deref()
        .and_then(|id| list.iter().find(|t| t.sip_trunk_id == id))
        .or_else(|| list.iter().find(|t| is_ours(&t.metadata, &number.id)))
        .or_else(|| {
            list.iter()
                .find(|t| t.numbers.iter().any(|n| normalize_number(n) == wanted))
        });
    let (id, action) = match found {
        Some(t) => {
            let mine = run_id.is_some() && created_by(&t.metadata).as_deref() == run_id;
            (
                t.sip_trunk_id.clone(),
                if mine { "created" } else { "adopted" },
            )
        }
        None => {
            let spec = outbound_spec(state, number, run_id).await?;
            let created = lk
                .create_outbound_trunk(spec)
                .await
                .map_err(|e| e.to_string())?;
            (created.sip_trunk_id, "created")
        }
    };
    sqlx::query(
        "INSERT INTO livekit_outbound_trunks (e164, phone_number_id, trunk_id, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (e164) DO UPDATE SET phone_number_id = excluded.phone_number_id, trunk_id = excluded.trunk_id",
    )
    .bind(&number.e164)
    .bind(&number.id)
    .bind(&id)
    .bind(now())
    .execute(&state.db.pool)
    .await
    .map_err(|e| db_message(&e))?;
    Ok((id, action))
}

async fn outbound_spec(
    state: &AppState,
    number: &NumberFull,
    run_id: Option<&str>,
) -> Result<OutboundTrunkSpec, String> {
    let mut meta = json!({
        "managed_by": "dial",
        "number_id": number.id,
        "e164": number.e164,
    });
    if let Some(run) = run_id {
        meta["created_by_run"] = json!(run);
    }
    match &number.carrier_id {
        Some(carrier_id) => {
            let c = load_carrier(state, carrier_id).await?;
            let transport = match c.transport.as_str() {
                "udp" => proto::SipTransport::Udp,
                "tcp" => proto::SipTransport::Tcp,
                "tls" => proto::SipTransport::Tls,
                _ => proto::SipTransport::Auto,
            };
            Ok(OutboundTrunkSpec {
                name: format!("Dial {}", number.e164),
                address: c.sip_address,
                numbers: vec![number.e164.clone()],
                transport,
                metadata: meta.to_string(),
                auth_username: c.auth_username.unwrap_or_default(),
                auth_password: c
                    .auth_password
                    .unwrap_or_else(|| SecretString::from(String::new())),
                destination_country: c.destination_country,
            })
        }
        None => {
            let settings = twilio_settings::load(state)
                .await
                .map_err(|e| e.to_string())?;
            let (Some((address, _)), Some((username, _)), Some((password, _))) = (
                settings.sip_address,
                settings.sip_username,
                settings.sip_password,
            ) else {
                return Err("LiveKit needs the Twilio trunk's termination address, SIP username and password to place calls: set them in Settings → Twilio (or let Dial create the trunk).".into());
            };
            Ok(OutboundTrunkSpec {
                name: format!("Dial {}", number.e164),
                address,
                numbers: vec![number.e164.clone()],
                transport: proto::SipTransport::Auto,
                metadata: meta.to_string(),
                auth_username: username,
                auth_password: password,
                destination_country: Some(number.country.clone()).filter(|c| !c.is_empty()),
            })
        }
    }
}

/// Outbound trunk on demand, for calls: the database first, then LiveKit by number, and
/// created only if neither has it.
pub async fn ensure_outbound_trunk(state: &AppState, number_id: &str) -> Result<String, AppError> {
    let number = load_number(state, number_id).await?;
    let lk = livekit_settings::client(state)?;
    let list = lk.list_outbound_trunks().await.map_err(AppError::from)?;
    let (id, _) = ensure_outbound(state, &lk, &number, list, None)
        .await
        .map_err(|message| AppError::Upstream {
            provider: "LiveKit".into(),
            code: None,
            message,
        })?;
    if number.outbound_trunk_id.as_deref() != Some(id.as_str()) {
        sqlx::query("UPDATE phone_numbers SET outbound_trunk_id = $1 WHERE id = $2")
            .bind(&id)
            .bind(&number.id)
            .execute(&state.db.pool)
            .await?;
    }
    Ok(id)
}

async fn provider_id_of(ctx: &Ctx, name: &str) -> Result<Option<String>, String> {
    sqlx::query_scalar::<_, Option<String>>(
        "SELECT provider_id FROM provisioning_steps WHERE run_id = $1 AND name = $2",
    )
    .bind(&ctx.run.id)
    .bind(name)
    .fetch_optional(&ctx.state.db.pool)
    .await
    .map(Option::flatten)
    .map_err(|e| db_message(&e))
}

async fn record_assignment(ctx: &Ctx) -> Result<Outcome, String> {
    let Some(assistant) = ctx.assistant.as_ref() else {
        return Err("The assistant was deleted while the run waited. Roll the run back.".into());
    };
    let trunk = provider_id_of(ctx, "twilio_trunk").await?;
    let inbound = provider_id_of(ctx, "inbound_trunk").await?;
    let outbound = provider_id_of(ctx, "outbound_trunk").await?;
    let rule = provider_id_of(ctx, "dispatch_rule").await?;
    let t = now();
    let wall = ctx.started.elapsed().as_millis() as i64;
    let mut tx = ctx
        .state
        .db
        .begin_write()
        .await
        .map_err(|e| db_message(&e))?;
    sqlx::query(
        "UPDATE phone_numbers SET assistant_id = $1, twilio_trunk_sid = $2, inbound_trunk_id = $3, \
         outbound_trunk_id = $4, dispatch_rule_id = $5, assignment_status = 'active', updated_at = $6 WHERE id = $7",
    )
    .bind(&assistant.id)
    .bind(trunk)
    .bind(inbound)
    .bind(outbound)
    .bind(rule)
    .bind(t)
    .bind(&ctx.number.id)
    .execute(&mut *tx)
    .await
    .map_err(|e| db_message(&e))?;
    sqlx::query(
        "UPDATE provisioning_runs SET status = 'done', finished_at = $1, wall_ms = $2 WHERE id = $3",
    )
    .bind(t)
    .bind(wall)
    .bind(&ctx.run.id)
    .execute(&mut *tx)
    .await
    .map_err(|e| db_message(&e))?;
    tx.commit().await.map_err(|e| db_message(&e))?;
    Ok(Outcome::done(
        "updated",
        None,
        format!("{} answers {}", assistant.name, ctx.number.e164),
    ))
}

// -- Unassign ----------------------------------------------------------------------------

async fn forward_unassign(ctx: &Ctx) -> Result<(), i64> {
    step(ctx, "dispatch_rule", |_| delete_rule(ctx)).await?;
    let inbound = step(ctx, "inbound_trunk", |_| delete_inbound(ctx));
    let outbound = step(ctx, "outbound_trunk", |_| delete_outbound(ctx));
    let detach = step(ctx, "twilio_attach", |_| detach(ctx));
    let (a, b, c) = tokio::join!(inbound, outbound, detach);
    if let Some(position) = [a.err(), b.err(), c.err()].into_iter().flatten().min() {
        return Err(position);
    }
    step(ctx, "record", |_| record_unassignment(ctx)).await?;
    Ok(())
}

async fn delete_rule(ctx: &Ctx) -> Result<Outcome, String> {
    let lk = livekit(ctx)?;
    let rules = lk.list_dispatch_rules().await.map_err(|e| e.to_string())?;
    let Some(rule) = find_rule(&ctx.number, ctx.number.inbound_trunk_id.as_deref(), &rules) else {
        return Ok(Outcome::done("none", None, "no dispatch rule to delete"));
    };
    let id = rule.sip_dispatch_rule_id.clone();
    match lk.delete_dispatch_rule(&id).await {
        Ok(()) => Ok(Outcome::done("deleted", Some(id), "deleted")),
        Err(e) if e.is_not_found() => Ok(Outcome::done("none", Some(id), "already gone")),
        Err(e) => Err(e.to_string()),
    }
}

async fn delete_inbound(ctx: &Ctx) -> Result<Outcome, String> {
    let lk = livekit(ctx)?;
    let list = lk.list_inbound_trunks().await.map_err(|e| e.to_string())?;
    let Some(trunk) = find_inbound(&ctx.number, &list) else {
        return Ok(Outcome::done("none", None, "no inbound trunk to delete"));
    };
    let id = trunk.sip_trunk_id.clone();
    lk.delete_trunk(&id).await.map_err(|e| e.to_string())?;
    Ok(Outcome::done("deleted", Some(id), "deleted"))
}

async fn delete_outbound(ctx: &Ctx) -> Result<Outcome, String> {
    let lk = livekit(ctx)?;
    let recorded: Option<String> =
        sqlx::query_scalar("SELECT trunk_id FROM livekit_outbound_trunks WHERE e164 = $1")
            .bind(&ctx.number.e164)
            .fetch_optional(&ctx.state.db.pool)
            .await
            .map_err(|e| db_message(&e))?;
    let list = lk.list_outbound_trunks().await.map_err(|e| e.to_string())?;
    let found = recorded
        .or_else(|| ctx.number.outbound_trunk_id.clone())
        .and_then(|id| list.iter().find(|t| t.sip_trunk_id == id))
        .or_else(|| list.iter().find(|t| is_ours(&t.metadata, &ctx.number.id)))
        .map(|t| t.sip_trunk_id.clone());
    if let Some(id) = &found {
        lk.delete_trunk(id).await.map_err(|e| e.to_string())?;
    }
    sqlx::query("DELETE FROM livekit_outbound_trunks WHERE e164 = $1")
        .bind(&ctx.number.e164)
        .execute(&ctx.state.db.pool)
        .await
        .map_err(|e| db_message(&e))?;
    Ok(match found {
        Some(id) => Outcome::done("deleted", Some(id), "deleted"),
        None => Outcome::done("none", None, "no outbound trunk to delete"),
    })
}

async fn detach(ctx: &Ctx) -> Result<Outcome, String> {
    if !is_twilio_number(&ctx.number) {
        return Ok(Outcome::skipped(
            "the number comes from a SIP carrier, not Twilio",
        ));
    }
    let client = twilio(ctx).await?;
    let tw_err = |e: super::twilio::TwilioError| tw_message(&client, &ctx.state, &e);
    let incoming = client
        .find_incoming_number(&ctx.number.e164)
        .await
        .map_err(tw_err)?;
    let Some(incoming) = incoming else {
        return Ok(Outcome::done(
            "none",
            None,
            "the account no longer has the number",
        ));
    };
    let Some(trunk) = incoming.trunk_sid.filter(|t| !t.is_empty()) else {
        return Ok(Outcome::done("none", None, "not on a trunk"));
    };
    // Only Dial's trunk: a number someone put on another trunk stays there.
    let ours = ctx.number.twilio_trunk_sid.as_deref() == Some(trunk.as_str())
        || twilio_settings::load(&ctx.state)
            .await
            .map_err(|e| e.to_string())?
            .trunk_sid
            .as_deref()
            == Some(trunk.as_str());
    if !ours {
        return Ok(Outcome::done(
            "none",
            None,
            format!("left on trunk {trunk}, which Dial does not manage"),
        ));
    }
    match client.detach_number(&trunk, &incoming.sid).await {
        Ok(()) => Ok(Outcome::done(
            "deleted",
            Some(trunk),
            "detached (the trunk stays for other numbers)",
        )),
        Err(e) if e.status() == Some(404) => {
            Ok(Outcome::done("none", Some(trunk), "already detached"))
        }
        Err(e) => Err(tw_err(e)),
    }
}

async fn record_unassignment(ctx: &Ctx) -> Result<Outcome, String> {
    let t = now();
    let wall = ctx.started.elapsed().as_millis() as i64;
    let mut tx = ctx
        .state
        .db
        .begin_write()
        .await
        .map_err(|e| db_message(&e))?;
    sqlx::query(
        "UPDATE phone_numbers SET assistant_id = NULL, twilio_trunk_sid = NULL, inbound_trunk_id = NULL, \
         outbound_trunk_id = NULL, dispatch_rule_id = NULL, assignment_status = 'unassigned', updated_at = $1 WHERE id = $2",
    )
    .bind(t)
    .bind(&ctx.number.id)
    .execute(&mut *tx)
    .await
    .map_err(|e| db_message(&e))?;
    sqlx::query(
        "UPDATE provisioning_runs SET status = 'done', finished_at = $1, wall_ms = $2 WHERE id = $3",
    )
    .bind(t)
    .bind(wall)
    .bind(&ctx.run.id)
    .execute(&mut *tx)
    .await
    .map_err(|e| db_message(&e))?;
    tx.commit().await.map_err(|e| db_message(&e))?;
    Ok(Outcome::done(
        "updated",
        None,
        "no assistant answers the number",
    ))
}

// -- Roll back ---------------------------------------------------------------------------

/// Undoes, in reverse order, what the run created, and restores what it updated.
async fn backward(ctx: &Ctx) -> Result<(), AppError> {
    let steps = load_steps(&ctx.state, &ctx.run.id).await?;
    for s in steps.iter().rev() {
        let created = s.action.as_deref() == Some("created")
            || (s.intent.as_deref() == Some("create")
                && matches!(s.status.as_str(), "running" | "failed"));
        let updated = s.action.as_deref() == Some("updated") && s.name != "record";
        if s.status == "rolled_back"
            || !(created || updated || matches!(s.status.as_str(), "running" | "failed"))
        {
            continue;
        }
        let result = undo(ctx, s, created).await;
        let db = &ctx.state.db.pool;
        match result {
            Ok(detail) => {
                sqlx::query(
                    "UPDATE provisioning_steps SET status = 'rolled_back', detail = $1, finished_at = $2 \
                     WHERE run_id = $3 AND position = $4",
                )
                .bind(&detail)
                .bind(now())
                .bind(&ctx.run.id)
                .bind(s.position)
                .execute(db)
                .await?;
                audit::record(
                    &ctx.state.db,
                    &ctx.actor,
                    "provisioning.step_rolled_back",
                    Some(&ctx.number.e164),
                    Some(&format!(
                        "run {} step {} {}: {detail}",
                        ctx.run.id, s.position, s.name
                    )),
                )
                .await?;
            }
            Err(message) => {
                let message = format!("roll back stopped at step {}: {message}", s.position);
                sqlx::query(
                    "UPDATE provisioning_runs SET status = 'failed', error = $1 WHERE id = $2",
                )
                .bind(&message)
                .bind(&ctx.run.id)
                .execute(db)
                .await?;
                audit::record(
                    &ctx.state.db,
                    &ctx.actor,
                    "provisioning.roll_back_failed",
                    Some(&ctx.number.e164),
                    Some(&format!("run {}: {message}", ctx.run.id)),
                )
                .await?;
                return Ok(());
            }
        }
    }
    // The number routes as before the run: to the previous assistant, or to none.
    let status = if ctx.run.previous_assistant_id.is_some() {
        "active"
    } else {
        "unassigned"
    };
    let t = now();
    let mut tx = ctx.state.db.begin_write().await?;
    sqlx::query("UPDATE phone_numbers SET assignment_status = $1, updated_at = $2 WHERE id = $3")
        .bind(status)
        .bind(t)
        .bind(&ctx.number.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE provisioning_runs SET status = 'rolled_back', finished_at = $1 WHERE id = $2",
    )
    .bind(t)
    .bind(&ctx.run.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    audit::record(
        &ctx.state.db,
        &ctx.actor,
        "provisioning.rolled_back",
        Some(&ctx.number.e164),
        Some(&format!("run {}", ctx.run.id)),
    )
    .await?;
    Ok(())
}

/// Undoes one step. `created`: the step made (or may have made) its object.
async fn undo(ctx: &Ctx, s: &StepRow, created: bool) -> Result<String, String> {
    match s.name.as_str() {
        "precheck" | "record" => Ok("nothing to undo".into()),
        "dispatch_rule" => {
            let lk = livekit(ctx)?;
            let rules = lk.list_dispatch_rules().await.map_err(|e| e.to_string())?;
            let mine = rules.iter().find(|r| {
                s.provider_id.as_deref() == Some(r.sip_dispatch_rule_id.as_str())
                    || created_by(&r.metadata).as_deref() == Some(ctx.run.id.as_str())
            });
            let Some(rule) = mine else {
                return Ok("nothing was created".into());
            };
            if created && created_by(&rule.metadata).as_deref() == Some(ctx.run.id.as_str()) {
                let id = rule.sip_dispatch_rule_id.clone();
                return match lk.delete_dispatch_rule(&id).await {
                    Ok(()) => Ok(format!("deleted {id}")),
                    Err(e) if e.is_not_found() => Ok(format!("{id} was already gone")),
                    Err(e) => Err(e.to_string()),
                };
            }
            // An adopted rule this run changed goes back to the previous assistant.
            match (&ctx.previous, rule.trunk_ids.first()) {
                (Some(previous), Some(trunk)) => {
                    let id = rule.sip_dispatch_rule_id.clone();
                    let restored = rule_info(
                        ctx,
                        previous,
                        trunk,
                        &id,
                        created_by(&rule.metadata).as_deref(),
                    );
                    lk.replace_dispatch_rule(&id, restored)
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok(format!("{id} routes to {} again", previous.name))
                }
                _ => Ok("kept (not created by this run)".into()),
            }
        }
        "inbound_trunk" => {
            let lk = livekit(ctx)?;
            let list = lk.list_inbound_trunks().await.map_err(|e| e.to_string())?;
            let Some(trunk) = list
                .iter()
                .find(|t| created_by(&t.metadata).as_deref() == Some(ctx.run.id.as_str()))
            else {
                return Ok("kept (not created by this run)".into());
            };
            let id = trunk.sip_trunk_id.clone();
            lk.delete_trunk(&id).await.map_err(|e| e.to_string())?;
            Ok(format!("deleted {id}"))
        }
        "outbound_trunk" => {
            let lk = livekit(ctx)?;
            let list = lk.list_outbound_trunks().await.map_err(|e| e.to_string())?;
            let Some(trunk) = list
                .iter()
                .find(|t| created_by(&t.metadata).as_deref() == Some(ctx.run.id.as_str()))
            else {
                return Ok("kept (not created by this run)".into());
            };
            let id = trunk.sip_trunk_id.clone();
            let users: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM phone_numbers WHERE outbound_trunk_id = $1 AND released_at IS NULL",
            )
            .bind(&id)
            .fetch_one(&ctx.state.db.pool)
            .await
            .map_err(|e| db_message(&e))?;
            if users > 0 {
                return Ok(format!("kept {id}: a number uses it"));
            }
            lk.delete_trunk(&id).await.map_err(|e| e.to_string())?;
            sqlx::query("DELETE FROM livekit_outbound_trunks WHERE trunk_id = $1")
                .bind(&id)
                .execute(&ctx.state.db.pool)
                .await
                .map_err(|e| db_message(&e))?;
            Ok(format!("deleted {id}"))
        }
        "twilio_attach" => {
            if !created {
                return Ok("kept (the number was already on the trunk)".into());
            }
            let client = twilio(ctx).await?;
            let tw_err = |e: super::twilio::TwilioError| tw_message(&client, &ctx.state, &e);
            let incoming = client
                .find_incoming_number(&ctx.number.e164)
                .await
                .map_err(tw_err)?;
            match incoming {
                Some(n) => match n.trunk_sid.filter(|t| !t.is_empty()) {
                    Some(trunk) => match client.detach_number(&trunk, &n.sid).await {
                        Ok(()) => Ok(format!("detached from {trunk}")),
                        Err(e) if e.status() == Some(404) => Ok("already detached".into()),
                        Err(e) => Err(tw_err(e)),
                    },
                    None => Ok("not attached".into()),
                },
                None => Ok("the account no longer has the number".into()),
            }
        }
        "twilio_trunk" => {
            if !created {
                return Ok("kept (an existing trunk)".into());
            }
            let client = twilio(ctx).await?;
            let tw_err = |e: super::twilio::TwilioError| tw_message(&client, &ctx.state, &e);
            let settings = twilio_settings::load(&ctx.state)
                .await
                .map_err(|e| e.to_string())?;
            let sid = match s.provider_id.clone().or(settings.trunk_sid.clone()) {
                Some(sid) => sid,
                None => {
                    // Created, but the id was never written: find it by the address.
                    let domain = settings.sip_address.map(|(a, _)| a.to_ascii_lowercase());
                    let trunks = client.list_trunks().await.map_err(tw_err)?;
                    match trunks.into_iter().find(|t| {
                        t.friendly_name.as_deref() == Some(DIAL_TRUNK_NAME)
                            && (domain.is_none()
                                || t.domain_name.as_deref().map(str::to_ascii_lowercase) == domain)
                    }) {
                        Some(t) => t.sid,
                        None => return Ok("nothing was created".into()),
                    }
                }
            };
            let numbers = match client.list_trunk_numbers(&sid).await {
                Ok(n) => n,
                Err(e) if e.status() == Some(404) => return Ok(format!("{sid} was already gone")),
                Err(e) => return Err(tw_err(e)),
            };
            if !numbers.is_empty() {
                return Ok(format!("kept {sid}: other numbers use it"));
            }
            match client.delete_trunk(&sid).await {
                Ok(()) => {}
                Err(e) if e.status() == Some(404) => {}
                Err(e) => return Err(tw_err(e)),
            }
            if let Some(list) = s.data.as_deref().and_then(|d| {
                parse_meta(d)["credential_list"]
                    .as_str()
                    .map(str::to_string)
            }) {
                match client.delete_credential_list(&list).await {
                    Ok(()) => {}
                    Err(e) if e.status() == Some(404) => {}
                    Err(e) => return Err(tw_err(e)),
                }
            }
            if settings.trunk_sid.as_deref() == Some(sid.as_str()) {
                twilio_settings::set_trunk(&ctx.state, None, None)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(format!("deleted {sid} and its credential list"))
        }
        _ => Ok("nothing to undo".into()),
    }
}

// ---------------------------------------------------------------------------------------
// Reading

async fn run_view(state: &AppState, run: RunRow) -> Result<RunView, AppError> {
    let steps = load_steps(state, &run.id).await?;
    let name_of = |id: Option<String>| async move {
        match id {
            Some(id) => {
                sqlx::query_scalar::<_, String>("SELECT name FROM assistants WHERE id = $1")
                    .bind(&id)
                    .fetch_optional(&state.db.pool)
                    .await
                    .ok()
                    .flatten()
                    .or(Some("(deleted assistant)".into()))
            }
            None => None,
        }
    };
    let assistant = name_of(run.assistant_id.clone()).await;
    let previous = name_of(run.previous_assistant_id.clone()).await;
    let e164 = number_e164(state, &run.phone_number_id).await;
    Ok(RunView {
        steps: steps
            .into_iter()
            .map(|s| StepView {
                position: s.position,
                title: step_title(&run.kind, &s.name),
                name: s.name,
                status: s.status,
                action: s.action,
                provider_id: s.provider_id,
                detail: s.detail,
                error: s.error,
            })
            .collect(),
        id: run.id,
        number_id: run.phone_number_id,
        e164,
        kind: run.kind,
        assistant_id: run.assistant_id,
        assistant,
        previous_assistant: previous,
        status: run.status,
        error: run.error,
        actor: run.actor_name,
        started_at: run.started_at,
        finished_at: run.finished_at,
        wall_ms: run.wall_ms,
    })
}

/// One run, for the user allowed to see its number.
pub async fn get_run(state: &AppState, me: &Me, run_id: &str) -> Result<RunView, AppError> {
    let run = run_for(state, me, run_id).await?;
    run_view(state, run).await
}

/// The number's routing, its current run and its provisioning history.
pub async fn routing(state: &AppState, me: &Me, number_id: &str) -> Result<Routing, AppError> {
    let full = number_for(state, me, number_id).await?;
    let number = super::numbers::get(state, me, number_id).await?;
    let runs: Vec<RunRow> = sqlx::query_as(&format!(
        "SELECT {RUN_COLUMNS} FROM provisioning_runs WHERE phone_number_id = $1 ORDER BY started_ms DESC LIMIT 20"
    ))
    .bind(number_id)
    .fetch_all(&state.db.pool)
    .await?;
    let mut views = Vec::new();
    for run in runs {
        views.push(run_view(state, run).await?);
    }
    // The open run if there is one, else the latest.
    let current_index = views
        .iter()
        .position(RunView::is_open)
        .or(if views.is_empty() { None } else { Some(0) });
    let current = current_index.map(|i| views.remove(i));
    let last_route_check: Option<String> =
        sqlx::query_scalar("SELECT last_route_check FROM phone_numbers WHERE id = $1")
            .bind(number_id)
            .fetch_one(&state.db.pool)
            .await?;
    let last_route_check = last_route_check.and_then(|j| serde_json::from_str(&j).ok());
    let owner = full.owner_id.clone();
    let assistants: Vec<(String, String)> = match (me.is_admin(), owner) {
        (_, Some(owner)) => {
            sqlx::query_as("SELECT id, name FROM assistants WHERE owner_id = $1 ORDER BY name")
                .bind(owner)
                .fetch_all(&state.db.pool)
                .await?
        }
        (true, None) => {
            sqlx::query_as("SELECT id, name FROM assistants ORDER BY name")
                .fetch_all(&state.db.pool)
                .await?
        }
        (false, None) => Vec::new(),
    };
    Ok(Routing {
        number,
        twilio_trunk_sid: full.twilio_trunk_sid,
        inbound_trunk_id: full.inbound_trunk_id,
        outbound_trunk_id: full.outbound_trunk_id,
        dispatch_rule_id: full.dispatch_rule_id,
        current,
        history: views,
        assistants: assistants
            .into_iter()
            .map(|(id, name)| AssistantOption { id, name })
            .collect(),
        last_route_check,
    })
}

// ---------------------------------------------------------------------------------------
// Test inbound route

/// The caller a route test pretends to be.
pub const TEST_CALLER: &str = "+15005550006";

/// "Test inbound route": in sandbox mode places a call through the LiveKit fake's matching;
/// against a real LiveKit, checks that the trunk and rule exist and match (it cannot place
/// a real call).
pub async fn test_route(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    number_id: &str,
) -> Result<RouteCheck, AppError> {
    let number = number_for(state, me, number_id).await?;
    let assistant = match &number.assistant_id {
        Some(id) => load_assistant(state, id).await?,
        None => None,
    };
    let result = match (&state.sandbox, &assistant) {
        (_, None) => RouteCheck {
            ok: false,
            simulated: false,
            summary: format!(
                "{} is not assigned to an assistant, so LiveKit would reject its calls.",
                number.e164
            ),
            checks: vec![],
            at: now(),
        },
        (Some(sandbox), Some(assistant)) => simulate(state, sandbox, &number, assistant).await?,
        (None, Some(assistant)) => inspect(state, &number, assistant).await?,
    };
    sqlx::query("UPDATE phone_numbers SET last_route_check = $1 WHERE id = $2")
        .bind(serde_json::to_string(&result).unwrap_or_default())
        .bind(&number.id)
        .execute(&state.db.pool)
        .await?;
    audit::record(
        &state.db,
        actor,
        "provisioning.route_test",
        Some(&number.e164),
        Some(if result.ok { "passed" } else { "failed" }),
    )
    .await?;
    Ok(result)
}

async fn simulate(
    state: &AppState,
    sandbox: &super::sandbox::Sandbox,
    number: &NumberFull,
    assistant: &AssistantFull,
) -> Result<RouteCheck, AppError> {
    let source: std::net::IpAddr = match &number.carrier_id {
        None => std::net::IpAddr::from([54, 172, 60, 1]),
        Some(id) => {
            let carrier = load_carrier(state, id).await.map_err(AppError::conflict)?;
            carrier
                .inbound_addresses
                .first()
                .and_then(|a| a.split('/').next())
                .and_then(|ip| ip.parse().ok())
                .unwrap_or(std::net::IpAddr::from([192, 0, 2, 1]))
        }
    };
    let fake = &sandbox.livekit;
    let routed =
        match fake.simulate_inbound(&number.e164, TEST_CALLER, source, None, Some("CAtestroute")) {
            Ok(r) => r,
            Err(rejected) => {
                return Ok(RouteCheck {
                    ok: false,
                    simulated: true,
                    summary: format!("LiveKit rejected the test call: {rejected}."),
                    checks: vec![(false, rejected.to_string())],
                    at: now(),
                })
            }
        };
    let participant = fake
        .participants(&routed.room)
        .into_iter()
        .find(|p| p.identity == routed.participant_identity);
    let mut checks = vec![
        (
            routed.room.starts_with(&assistant.room_prefix),
            format!(
                "the call landed in room {} (prefix “{}”)",
                routed.room, assistant.room_prefix
            ),
        ),
        (
            participant
                .as_ref()
                .is_some_and(|p| p.kind == proto::participant_info::Kind::Sip as i32),
            format!("a SIP participant {} joined", routed.participant_identity),
        ),
    ];
    let agent_ok = routed
        .agents
        .iter()
        .any(|(name, meta)| name == &assistant.agent_name && meta == &assistant.metadata);
    checks.push((
        agent_ok,
        format!(
            "agent {} was dispatched with the assistant's metadata",
            assistant.agent_name
        ),
    ));
    checks.push((
        number.inbound_trunk_id.as_deref() == Some(routed.trunk_id.as_str()),
        format!("through the number's inbound trunk {}", routed.trunk_id),
    ));
    // The test call hangs up and its room goes away.
    fake.hang_up_from_phone(&routed.room, &routed.participant_identity);
    if let Ok(lk) = livekit_settings::client(state) {
        let _ = lk.delete_room(&routed.room).await;
    }
    let ok = checks.iter().all(|(ok, _)| *ok);
    Ok(RouteCheck {
        ok,
        simulated: true,
        summary: if ok {
            format!(
                "A test call to {} from {TEST_CALLER} reached {}.",
                number.e164, assistant.name
            )
        } else {
            format!(
                "A test call to {} did not reach {} as expected.",
                number.e164, assistant.name
            )
        },
        checks,
        at: now(),
    })
}

async fn inspect(
    state: &AppState,
    number: &NumberFull,
    assistant: &AssistantFull,
) -> Result<RouteCheck, AppError> {
    let lk = livekit_settings::client(state)?;
    let (inbound, rules) = tokio::join!(lk.list_inbound_trunks(), lk.list_dispatch_rules());
    let inbound = inbound.map_err(AppError::from)?;
    let rules = rules.map_err(AppError::from)?;
    let trunk = find_inbound(number, &inbound);
    let mut checks = vec![(
        trunk.is_some_and(|t| t.numbers.iter().any(|n| normalize_number(n) == number.e164)),
        format!("an inbound trunk takes calls to {}", number.e164),
    )];
    let rule = find_rule(number, trunk.map(|t| t.sip_trunk_id.as_str()), &rules);
    checks.push((
        rule.is_some_and(|r| trunk.is_some_and(|t| r.trunk_ids.contains(&t.sip_trunk_id))),
        "a dispatch rule routes that trunk's calls".to_string(),
    ));
    checks.push((
        rule.and_then(|r| r.room_config.as_ref()).is_some_and(|c| {
            c.agents
                .iter()
                .any(|a| a.agent_name == assistant.agent_name)
        }),
        format!("the rule dispatches agent {}", assistant.agent_name),
    ));
    let ok = checks.iter().all(|(ok, _)| *ok);
    Ok(RouteCheck {
        ok,
        simulated: false,
        summary: if ok {
            "The trunk and rule exist in LiveKit and match. Dial cannot place a real call to check further: call the number from a phone.".into()
        } else {
            "LiveKit's trunk or rule for this number is missing or different. Assign the number again to repair it.".into()
        },
        checks,
        at: now(),
    })
}
