//! A number's LiveKit outbound trunk, found or created on demand: the database first, then LiveKit by number, then a new one. Used by assignment and by outbound calls.

use super::*;
use secrecy::ExposeSecret;

/// The number's outbound trunk: the one recorded in the database, else one in LiveKit
/// with the number, else a new one. Returns its id and what was done.
pub(super) async fn ensure_outbound(
    state: &AppState,
    lk: &LiveKitClient,
    number: &NumberFull,
    list: Vec<proto::SipOutboundTrunkInfo>,
    run_id: Option<&str>,
) -> Result<(String, StepAction), StepError> {
    let recorded: Option<String> =
        sqlx::query_scalar("SELECT trunk_id FROM livekit_outbound_trunks WHERE e164 = $1")
            .bind(number.e164.as_str())
            .fetch_optional(&state.db.pool)
            .await?;
    let wanted = normalize_number(number.e164.as_str());
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
            let mut action = if mine {
                StepAction::Created
            } else {
                StepAction::Adopted
            };
            // Dial's own trunk changed behind its back (drift): the number, the address and
            // the user name are put back as the settings say. A trunk Dial did not make is
            // adopted as it is; so is Dial's while the settings are incomplete.
            let ours = is_ours(&t.metadata, &number.id)
                || recorded.as_deref() == Some(t.sip_trunk_id.as_str());
            let spec = if ours {
                outbound_spec(state, number, run_id).await.ok()
            } else {
                None
            };
            let carries = t.numbers.iter().any(|n| normalize_number(n) == wanted);
            if let Some(spec) = spec.filter(|spec| {
                !carries || t.address != spec.address || t.auth_username != spec.auth_username
            }) {
                let update = proto::SipOutboundTrunkUpdate {
                    address: Some(spec.address),
                    numbers: Some(proto::ListUpdate {
                        set: vec![number.e164.to_string()],
                        ..Default::default()
                    }),
                    auth_username: Some(spec.auth_username),
                    auth_password: Some(spec.auth_password.expose_secret().to_string()),
                    ..Default::default()
                };
                lk.update_outbound_trunk(&t.sip_trunk_id, update).await?;
                if !mine {
                    action = StepAction::Updated;
                }
            }
            (t.sip_trunk_id.clone(), action)
        }
        None => {
            let spec = outbound_spec(state, number, run_id).await?;
            let created = lk.create_outbound_trunk(spec).await?;
            (created.sip_trunk_id, StepAction::Created)
        }
    };
    sqlx::query(
        "INSERT INTO livekit_outbound_trunks (e164, phone_number_id, trunk_id, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (e164) DO UPDATE SET phone_number_id = excluded.phone_number_id, trunk_id = excluded.trunk_id",
    )
    .bind(number.e164.as_str())
    .bind(&number.id)
    .bind(&id)
    .bind(now())
    .execute(&state.db.pool)
    .await?;
    Ok((id, action))
}

pub(super) async fn outbound_spec(
    state: &AppState,
    number: &NumberFull,
    run_id: Option<&str>,
) -> Result<OutboundTrunkSpec, StepError> {
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
                numbers: vec![number.e164.to_string()],
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
            let settings = twilio::settings::load(state).await?;
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
                numbers: vec![number.e164.to_string()],
                transport: proto::SipTransport::Auto,
                metadata: meta.to_string(),
                auth_username: username,
                auth_password: password,
                // Not the number's own country: LiveKit routes the call through its
                // region for that country, and a number calls abroad too. Only a carrier
                // whose admin set one gets a destination country.
                destination_country: None,
            })
        }
    }
}

/// Outbound trunk on demand, for calls: the database first, then LiveKit by number, and
/// created only if neither has it.
pub async fn ensure_outbound_trunk(state: &AppState, number_id: &str) -> Result<String, AppError> {
    let number = load_number(state, number_id).await?;
    let lk = livekit::settings::client(state)?;
    let list = lk.list_outbound_trunks().await.map_err(AppError::from)?;
    let (id, _) = ensure_outbound(state, &lk, &number, list, None)
        .await
        .map_err(|e| e.into_app(state))?;
    if number.outbound_trunk_id.as_deref() != Some(id.as_str()) {
        sqlx::query("UPDATE phone_numbers SET outbound_trunk_id = $1 WHERE id = $2")
            .bind(&id)
            .bind(&number.id)
            .execute(&state.db.pool)
            .await?;
    }
    Ok(id)
}
