//! Rolling a run back: undoing, in reverse order, exactly what it created or changed.

use super::*;

// -- Roll back ---------------------------------------------------------------------------

/// Undoes, in reverse order, what the run created, and restores what it updated.
pub(super) async fn backward(ctx: &Ctx) -> Result<(), AppError> {
    let steps = load_steps(&ctx.state, &ctx.run.id).await?;
    for s in steps.iter().rev() {
        let unfinished = matches!(s.status, StepStatus::Running | StepStatus::Failed);
        let created = s.action() == Some(StepAction::Created)
            || (s.intent.as_deref() == Some("create") && unfinished);
        let updated = s.action() == Some(StepAction::Updated) && s.name != StepName::Record;
        if s.status == StepStatus::RolledBack || !(created || updated || unfinished) {
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
                audit::record_run(
                    &ctx.state.db,
                    &ctx.run.id,
                    &ctx.actor,
                    "provisioning.step_rolled_back",
                    Some(ctx.number.e164.as_str()),
                    Some(&format!(
                        "run {} step {} {}: {detail}",
                        ctx.run.id, s.position, s.name
                    )),
                )
                .await?;
            }
            Err(error) => {
                let message = format!(
                    "roll back stopped at step {}: {}",
                    s.position,
                    error.shown(&ctx.state)
                );
                sqlx::query(
                    "UPDATE provisioning_runs SET status = 'failed', error = $1 WHERE id = $2",
                )
                .bind(&message)
                .bind(&ctx.run.id)
                .execute(db)
                .await?;
                audit::record_run(
                    &ctx.state.db,
                    &ctx.run.id,
                    &ctx.actor,
                    "provisioning.roll_back_failed",
                    Some(ctx.number.e164.as_str()),
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
    audit::record_run(
        &ctx.state.db,
        &ctx.run.id,
        &ctx.actor,
        "provisioning.rolled_back",
        Some(ctx.number.e164.as_str()),
        Some(&format!("run {}", ctx.run.id)),
    )
    .await?;
    Ok(())
}

/// Undoes one step. `created`: the step made (or may have made) its object.
pub(super) async fn undo(ctx: &Ctx, s: &StepRow, created: bool) -> Result<String, StepError> {
    match s.name {
        StepName::Precheck | StepName::Record => Ok("nothing to undo".into()),
        StepName::DispatchRule => {
            let lk = livekit(ctx)?;
            let rules = lk.list_dispatch_rules().await?;
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
                    Err(e) => Err(e.into()),
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
                    lk.replace_dispatch_rule(&id, restored).await?;
                    Ok(format!("{id} routes to {} again", previous.name))
                }
                _ => Ok("kept (not created by this run)".into()),
            }
        }
        StepName::InboundTrunk => {
            let lk = livekit(ctx)?;
            let list = lk.list_inbound_trunks().await?;
            let Some(trunk) = list
                .iter()
                .find(|t| created_by(&t.metadata).as_deref() == Some(ctx.run.id.as_str()))
            else {
                return Ok("kept (not created by this run)".into());
            };
            let id = trunk.sip_trunk_id.clone();
            lk.delete_trunk(&id).await?;
            Ok(format!("deleted {id}"))
        }
        StepName::OutboundTrunk => {
            let lk = livekit(ctx)?;
            let list = lk.list_outbound_trunks().await?;
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
            .await?;
            if users > 0 {
                return Ok(format!("kept {id}: a number uses it"));
            }
            lk.delete_trunk(&id).await?;
            sqlx::query("DELETE FROM livekit_outbound_trunks WHERE trunk_id = $1")
                .bind(&id)
                .execute(&ctx.state.db.pool)
                .await?;
            Ok(format!("deleted {id}"))
        }
        StepName::TwilioAttach => {
            if !created {
                return Ok("kept (the number was already on the trunk)".into());
            }
            let client = twilio(ctx).await?;
            let tw_err = |e: crate::server::twilio::TwilioError| StepError::twilio(&client, e);
            let incoming = client
                .find_incoming_number(ctx.number.e164.as_str())
                .await
                .map_err(tw_err)?;
            match incoming {
                Some(n) => match n.trunk_sid.filter(|t| !t.is_empty()) {
                    Some(trunk) => match client.detach_number(&trunk, &n.sid).await {
                        Ok(()) => {
                            let restored =
                                restore_voice_application(&client, &n.sid, s.data.as_deref())
                                    .await
                                    .map_err(tw_err)?;
                            Ok(match restored {
                                Some(app) => format!(
                                    "detached from {trunk}; its voice application {app} is back"
                                ),
                                None => format!("detached from {trunk}"),
                            })
                        }
                        Err(e) if e.status() == Some(404) => Ok("already detached".into()),
                        Err(e) => Err(tw_err(e)),
                    },
                    None => Ok("not attached".into()),
                },
                None => Ok("the account no longer has the number".into()),
            }
        }
        StepName::TwilioTrunk => {
            if !created {
                return Ok("kept (an existing trunk)".into());
            }
            let client = twilio(ctx).await?;
            let tw_err = |e: crate::server::twilio::TwilioError| StepError::twilio(&client, e);
            let settings = twilio::settings::load(&ctx.state).await?;
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
                twilio::settings::set_trunk(&ctx.state, None, None).await?;
            }
            Ok(format!("deleted {sid} and its credential list"))
        }
    }
}
