//! The steps: what each one looks for, adopts, creates or deletes at Twilio and LiveKit.

use super::*;

// -- Assign ------------------------------------------------------------------------------

pub(super) async fn forward_assign(ctx: &Ctx) -> Result<(), StepFailed> {
    step(ctx, StepName::Precheck, |_| precheck(ctx)).await?;
    // The outbound trunk needs the Twilio trunk's termination address and credentials;
    // when Dial is about to create the trunk (and so choose them), it waits for it.
    let termination_known = !is_twilio_number(&ctx.number)
        || twilio::settings::load(&ctx.state).await.is_ok_and(|s| {
            s.sip_address.is_some() && s.sip_username.is_some() && s.sip_password.is_some()
        });
    let outbound = || step(ctx, StepName::OutboundTrunk, |_| outbound_trunk_step(ctx));
    let twilio_chain = async {
        let trunk = step(ctx, StepName::TwilioTrunk, |row| twilio_trunk(ctx, row)).await?;
        let attach = step(ctx, StepName::TwilioAttach, |row| {
            twilio_attach(ctx, row, trunk)
        });
        if termination_known {
            attach.await?;
        } else {
            let (a, o) = tokio::join!(attach, outbound());
            a?;
            o?;
        }
        Ok::<(), StepFailed>(())
    };
    let inbound_chain = async {
        let inbound = step(ctx, StepName::InboundTrunk, |_| inbound_trunk(ctx)).await?;
        step(ctx, StepName::DispatchRule, |_| dispatch_rule(ctx, inbound)).await?;
        Ok::<(), StepFailed>(())
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
    step(ctx, StepName::Record, |_| record_assignment(ctx)).await?;
    Ok(())
}

pub(super) async fn precheck(ctx: &Ctx) -> Result<Outcome, StepError> {
    let Some(assistant) = ctx.assistant.as_ref() else {
        return Err("The assistant was deleted while the run waited. Roll the run back.".into());
    };
    let lk = livekit(ctx)?;
    let mut checks = vec!["LiveKit configured".to_string()];
    let twilio_number = is_twilio_number(&ctx.number);
    let incoming = async {
        if !twilio_number {
            return Ok::<_, StepError>(None);
        }
        let settings = twilio::settings::load(&ctx.state).await?;
        let client = twilio(ctx).await?;
        let has_address = settings.sip_address.is_some();
        if settings.trunk_sid.is_none() && !has_address && !settings.auto_trunk {
            return Err("Twilio has no Elastic SIP trunk for Dial yet. In Settings → Twilio, enter your trunk's termination address (…pstn.twilio.com), or turn on “Create the Elastic SIP trunk for me”.".into());
        }
        if !settings.auto_trunk
            && (settings.sip_username.is_none() || settings.sip_password.is_none())
        {
            return Err("LiveKit needs the trunk's termination credentials to place calls. In Settings → Twilio, enter the SIP username and password (or turn on “Create the Elastic SIP trunk for me”).".into());
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
            return Err("Dial needs LiveKit's SIP URI to point a new Twilio trunk at LiveKit: set DIAL_LIVEKIT_SIP_URI (e.g. abcd1234.sip.livekit.cloud) and restart Dial.".into());
        }
        let sid = ctx.number.twilio_sid.clone().unwrap_or_default();
        let found = client
            .find_incoming_number(ctx.number.e164.as_str())
            .await
            .map_err(|e| StepError::twilio(&client, e))?;
        match found {
            Some(n) if n.sid == sid || sid.is_empty() => Ok(Some(n)),
            _ => Err(format!(
                "The Twilio account no longer has {} (it was released or moved). Import the account's numbers again.",
                ctx.number.e164
            ).into()),
        }
    };
    // The Twilio trunk's Call Transfer setting: a warning, not a failure (calls work;
    // only their transfers would be refused).
    let transfers = async {
        if twilio_number {
            precheck_trunk(ctx).await
        } else {
            Ok(None)
        }
    };
    let (inbound, rules, outbound, incoming, transfers) = tokio::join!(
        lk.list_inbound_trunks(),
        lk.list_dispatch_rules(),
        lk.list_outbound_trunks(),
        incoming,
        transfers
    );
    let inbound = inbound?;
    let rules = rules?;
    let outbound = outbound?;
    let incoming = incoming?;
    let transfers = transfers?;
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
        numbers: vec![ctx.number.e164.to_string()],
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
        ).into());
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
            ).into());
        }
    }
    checks.push("no dispatch rule clashes".into());
    checks.extend(transfers);
    if let Ok(mut s) = ctx.snapshot.lock() {
        *s = Snapshot {
            inbound: Some(inbound),
            outbound: Some(outbound),
            rules: Some(rules),
            incoming: Some(incoming),
        };
    }
    Ok(Outcome::done(StepAction::Checked, None, checks.join(" · ")))
}

/// " (Dial's, for +1…)" or " (not made by Dial)" for a conflicting object's metadata.
pub(super) fn describe_owner(metadata: &str) -> String {
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

pub(super) async fn twilio_trunk(ctx: &Ctx, row: StepRow) -> Result<Outcome, StepError> {
    if !is_twilio_number(&ctx.number) {
        return Ok(Outcome::skipped(
            "the number comes from a SIP carrier, not Twilio",
        ));
    }
    let client = twilio(ctx).await?;
    let settings = twilio::settings::load(&ctx.state).await?;
    let tw_err = |e: crate::server::twilio::TwilioError| StepError::twilio(&client, e);
    // 1. The trunk recorded in the settings.
    if let Some(sid) = settings.trunk_sid.as_deref() {
        match client.fetch_trunk(sid).await {
            Ok(trunk) => {
                if row.intent.as_deref() == Some("create") {
                    let domain = trunk.domain_name.clone().unwrap_or_default();
                    complete_dial_trunk(ctx, &client, &trunk.sid, &domain, &row, false).await?;
                    return Ok(Outcome::done(
                        StepAction::Created,
                        Some(trunk.sid),
                        "created this run",
                    ));
                }
                return Ok(Outcome::done(
                    StepAction::Adopted,
                    Some(trunk.sid),
                    "the trunk in Settings → Twilio",
                ));
            }
            Err(e) if e.status() == Some(404) => {
                twilio::settings::set_trunk(&ctx.state, None, None).await?;
            }
            Err(e) => return Err(tw_err(e)),
        }
    }
    // 2. A trunk whose termination address is the configured one.
    let domain = trunk_domain(&client, &settings);
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
        twilio::settings::set_trunk(&ctx.state, Some(&trunk.sid), None).await?;
        return Ok(if created {
            Outcome::done(
                StepAction::Created,
                Some(trunk.sid.clone()),
                format!("{domain}, created this run"),
            )
        } else {
            Outcome::done(
                StepAction::Adopted,
                Some(trunk.sid.clone()),
                format!("found by its address {domain}"),
            )
        });
    }
    if !settings.auto_trunk {
        return Err(format!(
            "No Elastic SIP trunk on the Twilio account has the termination address {domain}. Check the address in Settings → Twilio, or turn on “Create the Elastic SIP trunk for me”."
        ).into());
    }
    // 3. Create it, once for the account.
    if !domain.ends_with("pstn.twilio.com") {
        return Err(format!(
            "Twilio trunk addresses end in pstn.twilio.com; {domain} does not. Fix the SIP trunk address in Settings → Twilio."
        ).into());
    }
    set_intent(ctx, StepName::TwilioTrunk, "create", None).await?;
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
    record_mode(&ctx.state, &ctx.number.id, trunk.transfer_mode.as_deref()).await?;
    complete_dial_trunk(ctx, &client, &trunk.sid, &domain, &row, true).await?;
    Ok(Outcome::done(
        StepAction::Created,
        Some(trunk.sid),
        format!("{domain}: transfers enabled, origination to LiveKit, termination credentials"),
    ))
}

/// Gives Dial's trunk its origination URL (LiveKit's SIP URI) and termination
/// credentials, adding only what is missing. `fresh`: the trunk was created just now, so
/// there is nothing to look for first. The origination URL and the credentials are
/// independent and set up at the same time.
pub(super) async fn complete_dial_trunk(
    ctx: &Ctx,
    client: &TwilioClient,
    trunk: &str,
    domain: &str,
    row: &StepRow,
    fresh: bool,
) -> Result<(), StepError> {
    let tw_err = |e: crate::server::twilio::TwilioError| StepError::twilio(client, e);
    let settings = twilio::settings::load(&ctx.state).await?;
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
        Ok::<(), StepError>(())
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
                    StepName::TwilioTrunk,
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
        Ok::<bool, StepError>(!has_user)
    };
    let (_, made_credential) = tokio::try_join!(origination, credentials)?;
    // The credentials LiveKit will present are recorded only when Dial made them.
    let termination = made_credential.then_some((domain, username.as_str(), &password));
    twilio::settings::set_trunk(&ctx.state, Some(trunk), termination).await?;
    Ok(())
}

/// A termination password Twilio accepts (≥ 12 characters with upper, lower and a digit).
pub(super) fn generate_password() -> SecretString {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    SecretString::from(format!("Dk9{}{}", &a[..16], &b[..13].to_ascii_uppercase()))
}

pub(super) async fn twilio_attach(
    ctx: &Ctx,
    row: StepRow,
    trunk: Option<String>,
) -> Result<Outcome, StepError> {
    if !is_twilio_number(&ctx.number) {
        return Ok(Outcome::skipped(
            "the number comes from a SIP carrier, not Twilio",
        ));
    }
    let Some(trunk) = trunk else {
        return Err("The Twilio trunk step has no trunk id.".into());
    };
    let client = twilio(ctx).await?;
    let tw_err = |e: crate::server::twilio::TwilioError| StepError::twilio(&client, e);
    let cached = ctx.snapshot.lock().ok().and_then(|s| s.incoming.clone());
    let incoming = match cached {
        Some(found) => found,
        None => client
            .find_incoming_number(ctx.number.e164.as_str())
            .await
            .map_err(tw_err)?,
    };
    let Some(incoming) = incoming else {
        return Err(format!("The Twilio account no longer has {}.", ctx.number.e164).into());
    };
    match incoming.trunk_sid.as_deref().filter(|t| !t.is_empty()) {
        Some(t) if t == trunk => {
            let action = if row.intent.as_deref() == Some("create") {
                StepAction::Created
            } else {
                StepAction::Adopted
            };
            Ok(Outcome::done(action, Some(trunk), "already on the trunk"))
        }
        Some(other) => Err(format!(
            "{} is on another Elastic SIP trunk ({other}). Move it to Dial's trunk {trunk} in the Twilio console, or remove it from {other}, then retry.",
            ctx.number.e164
        ).into()),
        None => {
            // Attaching deletes the number's voice application (Twilio's number resource,
            // `trunk_sid`): what it was goes with the intent, so unassign and roll back can
            // put it back.
            let before = json!({
                "voice_application_sid": incoming.voice_application_sid,
                "voice_url": incoming.voice_url,
            });
            set_intent(
                ctx,
                StepName::TwilioAttach,
                "create",
                Some(before.to_string()),
            )
            .await?;
            client
                .attach_number(&trunk, &incoming.sid)
                .await
                .map_err(tw_err)?;
            let detail = match &incoming.voice_application_sid {
                Some(app) => format!("attached (its voice application {app} is set aside until unassign)"),
                None => "attached".to_string(),
            };
            Ok(Outcome::done(StepAction::Created, Some(trunk), detail))
        }
    }
}

pub(super) async fn inbound_trunk(ctx: &Ctx) -> Result<Outcome, StepError> {
    let lk = livekit(ctx)?;
    let carrier = match &ctx.number.carrier_id {
        Some(id) => Some(load_carrier(&ctx.state, id).await?),
        None => None,
    };
    let addresses = inbound_addresses_for(&ctx.state.config, carrier.as_ref());
    let list = inbound_trunks(ctx, &lk).await?;
    let assistant = ctx.assistant.as_ref();
    if let Some(existing) = find_inbound(&ctx.number, &list) {
        let id = existing.sip_trunk_id.clone();
        let ours_this_run = created_by(&existing.metadata).as_deref() == Some(ctx.run.id.as_str());
        let wanted_meta = keep_creator(metadata(ctx, assistant, None), &existing.metadata);
        let same = existing.numbers == [ctx.number.e164.to_string()]
            && existing.allowed_addresses == addresses
            && parse_meta(&existing.metadata)["assistant_id"]
                == parse_meta(&wanted_meta)["assistant_id"];
        if same {
            let action = if ours_this_run {
                StepAction::Created
            } else {
                StepAction::Adopted
            };
            return Ok(Outcome::done(action, Some(id), "found by its metadata"));
        }
        let update = proto::SipInboundTrunkUpdate {
            numbers: Some(proto::ListUpdate {
                set: vec![ctx.number.e164.to_string()],
                ..Default::default()
            }),
            allowed_addresses: Some(proto::ListUpdate {
                set: addresses,
                ..Default::default()
            }),
            metadata: Some(wanted_meta),
            ..Default::default()
        };
        lk.update_inbound_trunk(&id, update).await?;
        let action = if ours_this_run {
            StepAction::Created
        } else {
            StepAction::Updated
        };
        return Ok(Outcome::done(action, Some(id), "updated for the assistant"));
    }
    let created = lk
        .create_inbound_trunk(InboundTrunkSpec {
            name: format!("Dial {}", ctx.number.e164),
            numbers: vec![ctx.number.e164.to_string()],
            metadata: metadata(ctx, assistant, Some(&ctx.run.id)),
            allowed_addresses: addresses,
            ..Default::default()
        })
        .await?;
    Ok(Outcome::done(
        StepAction::Created,
        Some(created.sip_trunk_id),
        format!("numbers [{}]", ctx.number.e164),
    ))
}

pub(super) async fn dispatch_rule(
    ctx: &Ctx,
    inbound: Option<String>,
) -> Result<Outcome, StepError> {
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
            let action = if ours_this_run {
                StepAction::Created
            } else {
                StepAction::Adopted
            };
            return Ok(Outcome::done(
                action,
                Some(id),
                format!("agent {}", assistant.agent_name),
            ));
        }
        lk.replace_dispatch_rule(&id, wanted).await?;
        let action = if ours_this_run {
            StepAction::Created
        } else {
            StepAction::Updated
        };
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
        .ok_or_else(|| StepError::from("internal: no rule"))?;
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
        .await?;
    Ok(Outcome::done(
        StepAction::Created,
        Some(created.sip_dispatch_rule_id),
        format!(
            "a room per call ({}…), agent {}",
            assistant.room_prefix, assistant.agent_name
        ),
    ))
}

pub(super) async fn outbound_trunk_step(ctx: &Ctx) -> Result<Outcome, StepError> {
    let lk = livekit(ctx)?;
    let list = outbound_trunks(ctx, &lk).await?;
    let (id, action) =
        ensure_outbound(&ctx.state, &lk, &ctx.number, list, Some(&ctx.run.id)).await?;
    Ok(Outcome::done(action, Some(id), "for calls from the number"))
}

pub(super) async fn provider_id_of(ctx: &Ctx, name: StepName) -> Result<Option<String>, StepError> {
    Ok(sqlx::query_scalar::<_, Option<String>>(
        "SELECT provider_id FROM provisioning_steps WHERE run_id = $1 AND name = $2",
    )
    .bind(&ctx.run.id)
    .bind(name.as_str())
    .fetch_optional(&ctx.state.db.pool)
    .await?
    .flatten())
}

pub(super) async fn record_assignment(ctx: &Ctx) -> Result<Outcome, StepError> {
    let Some(assistant) = ctx.assistant.as_ref() else {
        return Err("The assistant was deleted while the run waited. Roll the run back.".into());
    };
    let trunk = provider_id_of(ctx, StepName::TwilioTrunk).await?;
    let inbound = provider_id_of(ctx, StepName::InboundTrunk).await?;
    let outbound = provider_id_of(ctx, StepName::OutboundTrunk).await?;
    let rule = provider_id_of(ctx, StepName::DispatchRule).await?;
    let t = now();
    let mut tx = ctx.state.db.begin_write().await?;
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
    .await?;
    mark_done(ctx, &mut tx, t).await?;
    tx.commit().await?;
    Ok(Outcome::done(
        StepAction::Updated,
        None,
        format!("{} answers {}", assistant.name, ctx.number.e164),
    ))
}

// -- Unassign ----------------------------------------------------------------------------

pub(super) async fn forward_unassign(ctx: &Ctx) -> Result<(), StepFailed> {
    step(ctx, StepName::DispatchRule, |_| delete_rule(ctx)).await?;
    let inbound = step(ctx, StepName::InboundTrunk, |_| delete_inbound(ctx));
    let outbound = step(ctx, StepName::OutboundTrunk, |_| delete_outbound(ctx));
    let detach = step(ctx, StepName::TwilioAttach, |_| detach(ctx));
    let (a, b, c) = tokio::join!(inbound, outbound, detach);
    if let Some(position) = [a.err(), b.err(), c.err()].into_iter().flatten().min() {
        return Err(position);
    }
    step(ctx, StepName::Record, |_| record_unassignment(ctx)).await?;
    Ok(())
}

pub(super) async fn delete_rule(ctx: &Ctx) -> Result<Outcome, StepError> {
    let lk = livekit(ctx)?;
    let rules = lk.list_dispatch_rules().await?;
    let Some(rule) = find_rule(&ctx.number, ctx.number.inbound_trunk_id.as_deref(), &rules) else {
        return Ok(Outcome::done(
            StepAction::Nothing,
            None,
            "no dispatch rule to delete",
        ));
    };
    let id = rule.sip_dispatch_rule_id.clone();
    match lk.delete_dispatch_rule(&id).await {
        Ok(()) => Ok(Outcome::done(StepAction::Deleted, Some(id), "deleted")),
        Err(e) if e.is_not_found() => {
            Ok(Outcome::done(StepAction::Nothing, Some(id), "already gone"))
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn delete_inbound(ctx: &Ctx) -> Result<Outcome, StepError> {
    let lk = livekit(ctx)?;
    let list = lk.list_inbound_trunks().await?;
    let Some(trunk) = find_inbound(&ctx.number, &list) else {
        return Ok(Outcome::done(
            StepAction::Nothing,
            None,
            "no inbound trunk to delete",
        ));
    };
    let id = trunk.sip_trunk_id.clone();
    lk.delete_trunk(&id).await?;
    Ok(Outcome::done(StepAction::Deleted, Some(id), "deleted"))
}

pub(super) async fn delete_outbound(ctx: &Ctx) -> Result<Outcome, StepError> {
    let lk = livekit(ctx)?;
    let recorded: Option<String> =
        sqlx::query_scalar("SELECT trunk_id FROM livekit_outbound_trunks WHERE e164 = $1")
            .bind(ctx.number.e164.as_str())
            .fetch_optional(&ctx.state.db.pool)
            .await?;
    let list = lk.list_outbound_trunks().await?;
    let found = recorded
        .or_else(|| ctx.number.outbound_trunk_id.clone())
        .and_then(|id| list.iter().find(|t| t.sip_trunk_id == id))
        .or_else(|| list.iter().find(|t| is_ours(&t.metadata, &ctx.number.id)))
        .map(|t| t.sip_trunk_id.clone());
    if let Some(id) = &found {
        lk.delete_trunk(id).await?;
    }
    sqlx::query("DELETE FROM livekit_outbound_trunks WHERE e164 = $1")
        .bind(ctx.number.e164.as_str())
        .execute(&ctx.state.db.pool)
        .await?;
    Ok(match found {
        Some(id) => Outcome::done(StepAction::Deleted, Some(id), "deleted"),
        None => Outcome::done(StepAction::Nothing, None, "no outbound trunk to delete"),
    })
}

pub(super) async fn detach(ctx: &Ctx) -> Result<Outcome, StepError> {
    if !is_twilio_number(&ctx.number) {
        return Ok(Outcome::skipped(
            "the number comes from a SIP carrier, not Twilio",
        ));
    }
    let client = twilio(ctx).await?;
    let tw_err = |e: crate::server::twilio::TwilioError| StepError::twilio(&client, e);
    let incoming = client
        .find_incoming_number(ctx.number.e164.as_str())
        .await
        .map_err(tw_err)?;
    let Some(incoming) = incoming else {
        return Ok(Outcome::done(
            StepAction::Nothing,
            None,
            "the account no longer has the number",
        ));
    };
    let Some(trunk) = incoming.trunk_sid.filter(|t| !t.is_empty()) else {
        return Ok(Outcome::done(StepAction::Nothing, None, "not on a trunk"));
    };
    // Only Dial's trunk: a number someone put on another trunk stays there.
    let ours = ctx.number.twilio_trunk_sid.as_deref() == Some(trunk.as_str())
        || twilio::settings::load(&ctx.state)
            .await?
            .trunk_sid
            .as_deref()
            == Some(trunk.as_str());
    if !ours {
        return Ok(Outcome::done(
            StepAction::Nothing,
            None,
            format!("left on trunk {trunk}, which Dial does not manage"),
        ));
    }
    match client.detach_number(&trunk, &incoming.sid).await {
        Ok(()) => {
            let saved: Option<String> = sqlx::query_scalar(
                "SELECT s.data FROM provisioning_steps s JOIN provisioning_runs r ON r.id = s.run_id \
                 WHERE r.phone_number_id = $1 AND r.kind = 'assign' AND s.name = 'twilio_attach' \
                 AND s.data IS NOT NULL ORDER BY r.started_at DESC, r.started_ms DESC LIMIT 1",
            )
            .bind(&ctx.number.id)
            .fetch_optional(&ctx.state.db.pool)
            .await?;
            let restored = restore_voice_application(&client, &incoming.sid, saved.as_deref())
                .await
                .map_err(tw_err)?;
            let detail = match restored {
                Some(app) => format!(
                    "detached (the trunk stays for other numbers); its voice application {app} is back"
                ),
                None => "detached (the trunk stays for other numbers)".to_string(),
            };
            Ok(Outcome::done(StepAction::Deleted, Some(trunk), detail))
        }
        Err(e) if e.status() == Some(404) => Ok(Outcome::done(
            StepAction::Nothing,
            Some(trunk),
            "already detached",
        )),
        Err(e) => Err(tw_err(e)),
    }
}

/// Puts back the voice application a number had before Dial attached it to its trunk
/// (`saved`: the attach step's data). Returns the application restored, if any.
pub(super) async fn restore_voice_application(
    client: &TwilioClient,
    number_sid: &str,
    saved: Option<&str>,
) -> Result<Option<String>, crate::server::twilio::TwilioError> {
    let app = saved
        .map(parse_meta)
        .and_then(|v| v["voice_application_sid"].as_str().map(str::to_string))
        .filter(|a| !a.is_empty());
    let Some(app) = app else {
        return Ok(None);
    };
    client
        .update_number(
            number_sid,
            &crate::server::twilio::UpdateNumber {
                voice_application_sid: Some(app.clone()),
                ..Default::default()
            },
        )
        .await?;
    Ok(Some(app))
}

/// The run is done, with its wall time (in the transaction that records its effect).
async fn mark_done(
    ctx: &Ctx,
    tx: &mut crate::server::db::WriteTx<'_>,
    at: i64,
) -> Result<(), StepError> {
    let wall = ctx.started.elapsed().as_millis() as i64;
    sqlx::query(
        "UPDATE provisioning_runs SET status = 'done', finished_at = $1, wall_ms = $2 WHERE id = $3",
    )
    .bind(at)
    .bind(wall)
    .bind(&ctx.run.id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn record_unassignment(ctx: &Ctx) -> Result<Outcome, StepError> {
    let t = now();
    let mut tx = ctx.state.db.begin_write().await?;
    sqlx::query(
        "UPDATE phone_numbers SET assistant_id = NULL, twilio_trunk_sid = NULL, twilio_transfer_mode = NULL, inbound_trunk_id = NULL, \
         outbound_trunk_id = NULL, dispatch_rule_id = NULL, assignment_status = 'unassigned', updated_at = $1 WHERE id = $2",
    )
    .bind(t)
    .bind(&ctx.number.id)
    .execute(&mut *tx)
    .await?;
    mark_done(ctx, &mut tx, t).await?;
    tx.commit().await?;
    Ok(Outcome::done(
        StepAction::Updated,
        None,
        "no assistant answers the number",
    ))
}
