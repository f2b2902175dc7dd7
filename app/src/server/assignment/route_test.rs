//! "Test inbound route": a simulated call through the sandbox's LiveKit, or a check of the trunk and rule against a real project.

use super::*;

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
    let result = match (state.sandbox(), &assistant) {
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
        Some(number.e164.as_str()),
        Some(if result.ok { "passed" } else { "failed" }),
    )
    .await?;
    Ok(result)
}

pub(super) async fn simulate(
    state: &AppState,
    sandbox: &crate::server::sandbox::Sandbox,
    number: &NumberFull,
    assistant: &AssistantFull,
) -> Result<RouteCheck, AppError> {
    let source: std::net::IpAddr = match &number.carrier_id {
        None => std::net::IpAddr::from([54, 172, 60, 1]),
        Some(id) => {
            let carrier = load_carrier(state, id)
                .await
                .map_err(|e| AppError::conflict(e.shown(state)))?;
            carrier
                .inbound_addresses
                .first()
                .and_then(|a| a.split('/').next())
                .and_then(|ip| ip.parse().ok())
                .unwrap_or(std::net::IpAddr::from([192, 0, 2, 1]))
        }
    };
    let fake = &sandbox.livekit;
    let routed = match fake.simulate_inbound(
        number.e164.as_str(),
        TEST_CALLER,
        source,
        None,
        Some("CAtestroute"),
    ) {
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
    mark_test_call(state, &routed.call_id).await;
    // The test call hangs up and its room goes away.
    fake.hang_up_from_phone(&routed.room, &routed.participant_identity);
    if let Ok(lk) = livekit::settings::client(state) {
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

pub(super) async fn inspect(
    state: &AppState,
    number: &NumberFull,
    assistant: &AssistantFull,
) -> Result<RouteCheck, AppError> {
    let lk = livekit::settings::client(state)?;
    let (inbound, rules) = tokio::join!(lk.list_inbound_trunks(), lk.list_dispatch_rules());
    let inbound = inbound.map_err(AppError::from)?;
    let rules = rules.map_err(AppError::from)?;
    let trunk = find_inbound(number, &inbound);
    let mut checks = vec![(
        trunk.is_some_and(|t| {
            t.numbers
                .iter()
                .any(|n| normalize_number(n) == number.e164.as_str())
        }),
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

/// Marks the test call's session as a test, once LiveKit's participant_joined webhook has
/// created it (the fake sends it at once; Dial writes it within milliseconds). A session
/// that has not appeared within three seconds (no webhook URL set, say) stays unmarked.
async fn mark_test_call(state: &AppState, sip_call_id: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let marked = async {
            let mut tx = state.db.begin_write().await?;
            let done = sqlx::query("UPDATE call_sessions SET is_test = 1 WHERE sip_call_id = $1")
                .bind(sip_call_id)
                .execute(&mut *tx.tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok::<u64, AppError>(done)
        }
        .await;
        match marked {
            Ok(0) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not mark a route test's call as a test");
                return;
            }
        }
    }
}
