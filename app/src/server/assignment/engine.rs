//! Running a run: its context, the step wrapper that records each outcome, and the forward order of the steps.

use super::*;

// ---------------------------------------------------------------------------------------
// Running

/// What an earlier step found, reused by later ones in the same process.
#[derive(Default, Clone)]
pub(super) struct Snapshot {
    pub(super) inbound: Option<Vec<proto::SipInboundTrunkInfo>>,
    pub(super) outbound: Option<Vec<proto::SipOutboundTrunkInfo>>,
    pub(super) rules: Option<Vec<proto::SipDispatchRuleInfo>>,
    pub(super) incoming: Option<Option<IncomingNumber>>,
}

pub(super) struct Ctx {
    pub(super) state: AppState,
    pub(super) run: RunRow,
    pub(super) number: NumberFull,
    pub(super) assistant: Option<AssistantFull>,
    pub(super) previous: Option<AssistantFull>,
    pub(super) actor: Actor,
    pub(super) snapshot: Mutex<Snapshot>,
    pub(super) started: Instant,
}

/// What a step did.
pub(super) struct Outcome {
    pub(super) status: StepStatus,
    pub(super) action: StepAction,
    pub(super) provider_id: Option<String>,
    pub(super) detail: String,
    pub(super) data: Option<String>,
}

impl Outcome {
    pub(super) fn done(
        action: StepAction,
        provider_id: Option<String>,
        detail: impl Into<String>,
    ) -> Self {
        Outcome {
            status: StepStatus::Done,
            action,
            provider_id,
            detail: detail.into(),
            data: None,
        }
    }

    pub(super) fn skipped(detail: impl Into<String>) -> Self {
        Outcome {
            status: StepStatus::Skipped,
            action: StepAction::Nothing,
            provider_id: None,
            detail: detail.into(),
            data: None,
        }
    }
}

pub(super) async fn drive(state: AppState, run_id: String) {
    // The heartbeat says "a worker is on this run" to the resumers of every instance.
    let beat_state = state.clone();
    let beat_id = run_id.clone();
    let heartbeat = tokio::spawn(async move {
        let period = (beat_state.config.provisioning_lease / 3).max(Duration::from_millis(300));
        loop {
            tokio::time::sleep(period).await;
            crate::server::logged(
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
        crate::server::logged(sqlx::query(
            "UPDATE provisioning_runs SET status = 'failed', error = $1 WHERE id = $2 AND status IN ('running', 'rolling_back')",
        )
        .bind(e.to_string())
        .bind(&run_id)
        .execute(&state.db.pool)
        .await, "marking a stopped run failed");
    }
    heartbeat.abort();
    // A run that reached an end (not one paused for a retry or taken over) is counted.
    let ended: Option<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT r.kind, r.status, n.owner_id FROM provisioning_runs r \
         JOIN phone_numbers n ON n.id = r.phone_number_id WHERE r.id = $1",
    )
    .bind(&run_id)
    .fetch_optional(&state.db.pool)
    .await
    .ok()
    .flatten();
    if let Some((kind, status, owner)) = ended {
        if matches!(status.as_str(), "done" | "failed" | "rolled_back") {
            crate::server::metrics::provisioning_run(&kind, &status);
        }
        crate::server::changes::run(&state, &run_id, owner);
    }
}

pub(super) async fn drive_inner(state: &AppState, run_id: &str) -> Result<(), AppError> {
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
    match (run.status, run.kind) {
        (RunStatus::Running, RunKind::Assign) => finish(&ctx, forward_assign(&ctx).await).await,
        (RunStatus::Running, RunKind::Unassign) => finish(&ctx, forward_unassign(&ctx).await).await,
        (RunStatus::RollingBack, _) => backward(&ctx).await,
        (RunStatus::Failed | RunStatus::Done | RunStatus::RolledBack, _) => Ok(()),
    }
}

/// Runs one step unless it already finished: marks it running, does it, and writes its
/// outcome (or its error, put into words here) before returning. Returns the provider id
/// the step created or adopted.
pub(super) async fn step<F, Fut>(
    ctx: &Ctx,
    name: StepName,
    work: F,
) -> Result<Option<String>, StepFailed>
where
    F: FnOnce(StepRow) -> Fut,
    Fut: Future<Output = Result<Outcome, StepError>>,
{
    let db = &ctx.state.db.pool;
    // A database failure before the step has a position is reported at position 0
    // (the run's own failure); after, at the step's.
    let failed_at = |position: i64| {
        move |e: sqlx::Error| {
            StepError::Database(e).shown(&ctx.state);
            StepFailed { position }
        }
    };
    let row: Option<StepRow> = sqlx::query_as(
        "SELECT position, name, status, action, intent, provider_id, data, detail, error \
         FROM provisioning_steps WHERE run_id = $1 AND name = $2",
    )
    .bind(&ctx.run.id)
    .bind(name.as_str())
    .fetch_optional(db)
    .await
    .map_err(failed_at(0))?;
    let Some(row) = row else {
        return Ok(None);
    };
    if matches!(row.status, StepStatus::Done | StepStatus::Skipped) {
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
    .map_err(failed_at(position))?;
    let started = Instant::now();
    let result = work(row).await;
    crate::server::metrics::provisioning_step(name.as_str(), result.is_ok(), started.elapsed());
    let e164 = ctx.number.e164.clone();
    match result {
        Ok(outcome) => {
            sqlx::query(
                "UPDATE provisioning_steps SET status = $1, action = $2, provider_id = $3, detail = $4, \
                 data = COALESCE($5, data), error = NULL, finished_at = $6 WHERE run_id = $7 AND position = $8",
            )
            .bind(outcome.status.as_str())
            .bind(outcome.action.as_str())
            .bind(outcome.provider_id.clone())
            .bind(&outcome.detail)
            .bind(outcome.data.clone())
            .bind(now())
            .bind(&ctx.run.id)
            .bind(position)
            .execute(db)
            .await
            .map_err(failed_at(position))?;
            crate::server::logged(
                audit::record_run(
                    &ctx.state.db,
                    &ctx.run.id,
                    &ctx.actor,
                    "provisioning.step",
                    Some(e164.as_str()),
                    Some(&format!(
                        "run {} step {position} {name}: {} — {}",
                        ctx.run.id, outcome.action, outcome.detail
                    )),
                )
                .await,
                "the audit row of a step",
            );
            crate::server::changes::run(&ctx.state, &ctx.run.id, ctx.number.owner_id.clone());
            Ok(outcome.provider_id)
        }
        Err(error) => {
            let message = error.shown(&ctx.state);
            crate::server::logged(sqlx::query(
                "UPDATE provisioning_steps SET status = 'failed', error = $1, finished_at = $2 \
                 WHERE run_id = $3 AND position = $4",
            )
            .bind(&message)
            .bind(now())
            .bind(&ctx.run.id)
            .bind(position)
            .execute(db)
            .await, "marking a step failed");
            crate::server::logged(
                audit::record_run(
                    &ctx.state.db,
                    &ctx.run.id,
                    &ctx.actor,
                    "provisioning.step_failed",
                    Some(e164.as_str()),
                    Some(&format!(
                        "run {} step {position} {name}: {message}",
                        ctx.run.id
                    )),
                )
                .await,
                "the audit row of a failed step",
            );
            crate::server::changes::run(&ctx.state, &ctx.run.id, ctx.number.owner_id.clone());
            Err(StepFailed { position })
        }
    }
}

/// Writes the intent to change something at a provider, before the change.
pub(super) async fn set_intent(
    ctx: &Ctx,
    name: StepName,
    intent: &str,
    data: Option<String>,
) -> Result<(), StepError> {
    sqlx::query(
        "UPDATE provisioning_steps SET intent = $1, data = COALESCE($2, data) WHERE run_id = $3 AND name = $4",
    )
    .bind(intent)
    .bind(data)
    .bind(&ctx.run.id)
    .bind(name.as_str())
    .execute(&ctx.state.db.pool)
    .await?;
    Ok(())
}

/// Records the end of a forward run: done, or failed at its first failed step.
pub(super) async fn finish(ctx: &Ctx, result: Result<(), StepFailed>) -> Result<(), AppError> {
    let db = &ctx.state.db.pool;
    match result {
        Ok(()) => {
            crate::server::logged(
                audit::record_run(
                    &ctx.state.db,
                    &ctx.run.id,
                    &ctx.actor,
                    "provisioning.run_done",
                    Some(ctx.number.e164.as_str()),
                    Some(&format!("run {} ({})", ctx.run.id, ctx.run.kind)),
                )
                .await,
                "the audit row of a finished run",
            );
            Ok(())
        }
        Err(_) => {
            let steps = load_steps(&ctx.state, &ctx.run.id).await?;
            let failed = steps.iter().find(|s| s.status == StepStatus::Failed);
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
            audit::record_run(
                &ctx.state.db,
                &ctx.run.id,
                &ctx.actor,
                "provisioning.run_failed",
                Some(ctx.number.e164.as_str()),
                Some(&format!("run {}: {message}", ctx.run.id)),
            )
            .await?;
            Ok(())
        }
    }
}

pub(super) fn is_twilio_number(number: &NumberFull) -> bool {
    number.carrier_id.is_none()
}

/// The deterministic metadata of the LiveKit objects Dial makes for a number.
pub(super) fn metadata(
    ctx: &Ctx,
    assistant: Option<&AssistantFull>,
    created_by_run: Option<&str>,
) -> String {
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

pub(super) fn parse_meta(metadata: &str) -> Value {
    serde_json::from_str(metadata).unwrap_or(Value::Null)
}

pub(super) fn is_ours(metadata: &str, number_id: &str) -> bool {
    let m = parse_meta(metadata);
    m["managed_by"] == "dial" && m["number_id"] == number_id
}

pub(super) fn created_by(metadata: &str) -> Option<String> {
    parse_meta(metadata)["created_by_run"]
        .as_str()
        .map(str::to_string)
}

/// Keeps `created_by_run` of an existing object when Dial rewrites its metadata.
pub(super) fn keep_creator(new: String, old: &str) -> String {
    match (created_by(old), serde_json::from_str::<Value>(&new)) {
        (Some(run), Ok(mut v)) => {
            v["created_by_run"] = json!(run);
            v.to_string()
        }
        _ => new,
    }
}

pub(super) fn livekit(ctx: &Ctx) -> Result<LiveKitClient, StepError> {
    Ok(livekit::settings::client(&ctx.state)?)
}

pub(super) async fn twilio(ctx: &Ctx) -> Result<TwilioClient, StepError> {
    Ok(twilio::settings::client(&ctx.state).await?)
}

pub(super) async fn inbound_trunks(
    ctx: &Ctx,
    lk: &LiveKitClient,
) -> Result<Vec<proto::SipInboundTrunkInfo>, StepError> {
    let cached = ctx.snapshot.lock().ok().and_then(|s| s.inbound.clone());
    match cached {
        Some(list) => Ok(list),
        None => Ok(lk.list_inbound_trunks().await?),
    }
}

pub(super) async fn outbound_trunks(
    ctx: &Ctx,
    lk: &LiveKitClient,
) -> Result<Vec<proto::SipOutboundTrunkInfo>, StepError> {
    let cached = ctx.snapshot.lock().ok().and_then(|s| s.outbound.clone());
    match cached {
        Some(list) => Ok(list),
        None => Ok(lk.list_outbound_trunks().await?),
    }
}

pub(super) async fn dispatch_rules(
    ctx: &Ctx,
    lk: &LiveKitClient,
) -> Result<Vec<proto::SipDispatchRuleInfo>, StepError> {
    let cached = ctx.snapshot.lock().ok().and_then(|s| s.rules.clone());
    match cached {
        Some(list) => Ok(list),
        None => Ok(lk.list_dispatch_rules().await?),
    }
}

/// The number's inbound trunk in LiveKit: by the recorded id, then by Dial's metadata.
pub(super) fn find_inbound<'a>(
    number: &NumberFull,
    list: &'a [proto::SipInboundTrunkInfo],
) -> Option<&'a proto::SipInboundTrunkInfo> {
    number
        .inbound_trunk_id
        .as_deref()
        .and_then(|id| list.iter().find(|t| t.sip_trunk_id == id))
        .or_else(|| list.iter().find(|t| is_ours(&t.metadata, &number.id)))
}

pub(super) fn find_rule<'a>(
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

/// The addresses allowed to send the number's calls: the carrier's, or Twilio's (as
/// configured, else its published signalling gateways).
pub(super) fn inbound_addresses_for(
    config: &crate::server::config::Config,
    carrier: Option<&Carrier>,
) -> Vec<String> {
    match carrier {
        Some(c) => c.inbound_addresses.clone(),
        None if !config.twilio_signalling_addresses.is_empty() => config
            .twilio_signalling_addresses
            .iter()
            .map(ToString::to_string)
            .collect(),
        None => TWILIO_SIGNALLING_ADDRESSES
            .iter()
            .map(|a| a.to_string())
            .collect(),
    }
}

/// The dispatch rule the assistant needs for this number.
pub(super) fn rule_info(
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

pub(super) fn rule_matches(
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
