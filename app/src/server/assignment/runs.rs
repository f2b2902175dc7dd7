//! Starting, retrying and rolling back runs, and resuming runs whose worker stopped.

use super::*;

// ---------------------------------------------------------------------------------------
// Starting, retrying and rolling back runs

/// How long a server function waits for a run before it returns (the page then follows
/// the run's progress).
pub(super) const WAIT_FOR_RUN: Duration = Duration::from_secs(20);

pub(super) async fn insert_run(
    state: &AppState,
    actor: &Actor,
    number: &NumberFull,
    kind: RunKind,
    assistant: Option<(&str, &str)>,
) -> Result<String, AppError> {
    let assistant_id = assistant.map(|(id, _)| id);
    let id = new_id();
    let t = now();
    let steps = steps_of(kind);
    let mut tx = state.db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO provisioning_runs (id, phone_number_id, kind, assistant_id, previous_assistant_id, \
         status, actor_id, actor_name, started_at, heartbeat_at, started_ms) \
         VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $8, $8, $9)",
    )
    .bind(&id)
    .bind(&number.id)
    .bind(kind.as_str())
    .bind(assistant_id.map(str::to_string))
    .bind(number.assistant_id.clone())
    .bind(actor.user_id.clone())
    .bind(actor.username.clone())
    .bind(t)
    .bind(crate::server::now_ms())
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
        .bind(name.as_str())
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
    let detail = match kind {
        RunKind::Unassign => "unassign".to_string(),
        RunKind::Assign => format!(
            "assign to {}",
            assistant.map(|(_, name)| name).unwrap_or("an assistant")
        ),
    };
    audit::record_run_on(
        &mut *tx,
        &id,
        actor,
        "provisioning.run_started",
        Some(number.e164.as_str()),
        Some(&format!("run {id}: {detail}")),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Starts the run's worker and waits (at most [`WAIT_FOR_RUN`]) for it to stop.
pub(super) async fn drive_and_wait(state: &AppState, run_id: &str) {
    // The run's log lines name the request that started it (its span) and the run.
    let span = tracing::info_span!("run", run = %run_id);
    let handle = tokio::spawn(tracing::Instrument::instrument(
        drive(state.clone(), run_id.to_string()),
        span,
    ));
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
        RunKind::Assign,
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
    if number.assistant_id.is_none() && number.assignment_status == AssignmentStatus::Unassigned {
        return Err(AppError::conflict(format!(
            "{} is not assigned to an assistant.",
            number.e164
        )));
    }
    let run_id = insert_run(state, actor, &number, RunKind::Unassign, None).await?;
    drive_and_wait(state, &run_id).await;
    Ok(run_id)
}

pub(super) async fn numbers_of_assistant(
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

pub(super) async fn run_outcome(
    state: &AppState,
    run_id: &str,
) -> Result<(RunStatus, Option<String>), AppError> {
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
        if status != RunStatus::Done {
            return Err(AppError::conflict(format!(
                "The assistant was saved, but updating the route of {e164} {}: {}. Open the number to retry.",
                if status.is_moving() { "is still running" } else { "failed" },
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
        if status != RunStatus::Done {
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

pub(super) async fn run_for(state: &AppState, me: &Me, run_id: &str) -> Result<RunRow, AppError> {
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
    take_failed_run(
        state,
        actor,
        &run,
        RunStatus::Running,
        "provisioning.retry",
        "This run is not waiting for a retry (it is running, finished or rolled back).",
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
    if run.kind == RunKind::Unassign {
        return Err(AppError::conflict(
            "An unassignment cannot be rolled back: what it removed is gone. Retry it to finish, then assign the number again if you need to.",
        ));
    }
    take_failed_run(
        state,
        actor,
        &run,
        RunStatus::RollingBack,
        "provisioning.roll_back",
        "Only a failed run can be rolled back (this one is running, finished or already rolled back).",
    )
    .await?;
    drive_and_wait(state, run_id).await;
    Ok(())
}

/// Moves a failed run to `to` (only one request wins a run) and records who did it, in
/// one transaction; `refusal` when the run is not failed (any more).
async fn take_failed_run(
    state: &AppState,
    actor: &Actor,
    run: &RunRow,
    to: RunStatus,
    action: &str,
    refusal: &str,
) -> Result<(), AppError> {
    let e164 = number_e164(state, &run.phone_number_id).await?;
    let mut tx = state.db.begin_write().await?;
    let claimed = sqlx::query(
        "UPDATE provisioning_runs SET status = $1, error = NULL, heartbeat_at = $2 \
         WHERE id = $3 AND status = 'failed'",
    )
    .bind(to.as_str())
    .bind(now())
    .bind(&run.id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if claimed != 1 {
        return Err(AppError::conflict(refusal));
    }
    audit::record_run_on(
        &mut *tx,
        &run.id,
        actor,
        action,
        Some(e164.as_str()),
        Some(&format!("run {}", run.id)),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The number a run is about (released numbers included: their runs stay readable).
pub(super) async fn number_e164(state: &AppState, id: &str) -> Result<E164, AppError> {
    let text: Option<String> = sqlx::query_scalar("SELECT e164 FROM phone_numbers WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.db.pool)
        .await?;
    let text = text.ok_or_else(|| AppError::not_found("Number"))?;
    E164::try_from(text).map_err(|e| {
        tracing::error!(error = %e, number = id, "a stored number is not E.164");
        AppError::Internal
    })
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
