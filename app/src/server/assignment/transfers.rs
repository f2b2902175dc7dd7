//! Transfers through Twilio: a number's Elastic SIP trunk carries a call transfer (the SIP
//! REFER LiveKit sends for TransferSIPParticipant) only when its `TransferMode` allows it.
//! The assignment pre-check reads the mode, the number's page offers to turn transfers on
//! (administrators), and the call page and the API say why a transfer would be refused
//! instead of sending a REFER Twilio refuses. Numbers on other SIP carriers are not
//! concerned: Dial knows nothing of their transfer settings.

use super::*;
use crate::{model::TransferBlock, phone::TransferTarget};

/// A trunk's `TransferMode` (twilio/twilio-oai `spec/yaml/twilio_trunking_v1.yaml`,
/// `trunk_enum_transfer_setting`). A trunk created without one has `disable-all`.
/// Twilio's "Call Transfer via SIP REFER" (twilio.com/docs/sip-trunking/call-transfer):
/// transfers are enabled per trunk, to SIP destinations (`sip-only`), and optionally to
/// the PSTN too (`enable-all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferMode {
    DisableAll,
    EnableAll,
    SipOnly,
}

impl TransferMode {
    pub fn parse(text: &str) -> Option<TransferMode> {
        match text {
            "disable-all" => Some(TransferMode::DisableAll),
            "enable-all" => Some(TransferMode::EnableAll),
            "sip-only" => Some(TransferMode::SipOnly),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TransferMode::DisableAll => "disable-all",
            TransferMode::EnableAll => "enable-all",
            TransferMode::SipOnly => "sip-only",
        }
    }

    /// Whether Twilio carries a transfer to `target` (a `tel:` target is the PSTN).
    pub fn allows(self, target: &TransferTarget) -> bool {
        match self {
            TransferMode::EnableAll => true,
            TransferMode::SipOnly => target.as_str().starts_with("sip:"),
            TransferMode::DisableAll => false,
        }
    }

    /// The mode refuses some transfers.
    pub fn limits(self) -> bool {
        self != TransferMode::EnableAll
    }
}

/// What the number's page, the call page and the API say about a trunk that refuses
/// transfers.
fn block(number_id: &str, trunk_sid: &str, mode: TransferMode, admin: bool) -> TransferBlock {
    let fix = if admin {
        "Turn transfers on from the number's page (Assistant → Turn on transfers), or in the Twilio console."
    } else {
        "Ask an administrator to turn transfers on for the number."
    };
    TransferBlock {
        transfer_mode: mode.as_str().to_string(),
        trunk_sid: trunk_sid.to_string(),
        number_id: number_id.to_string(),
        message: format!("{} {fix}", refusal_words(trunk_sid, mode)),
        can_enable: admin,
    }
}

/// What the trunk's mode means for transfers, in words.
fn refusal_words(trunk_sid: &str, mode: TransferMode) -> String {
    match mode {
        TransferMode::SipOnly => format!(
            "The number's Twilio trunk {trunk_sid} allows transfers only to sip: addresses (Call Transfer “sip-only”): Twilio refuses transfers to phone numbers."
        ),
        _ => format!(
            "The number's Twilio trunk {trunk_sid} has Call Transfer off (“{}”): Twilio refuses every transfer request.",
            mode.as_str()
        ),
    }
}

/// Why Twilio would refuse transfers of the number's calls, from the mode last read;
/// `None` when it would not, or when Dial has not read it (another carrier's number).
pub async fn block_for_number(
    state: &AppState,
    number_id: &str,
    admin: bool,
) -> Result<Option<TransferBlock>, AppError> {
    let row: Option<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT twilio_transfer_mode, twilio_trunk_sid, carrier_id FROM phone_numbers WHERE id = $1",
    )
    .bind(number_id)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some((Some(mode), trunk, None)) = row else {
        return Ok(None);
    };
    let Some(mode) = TransferMode::parse(&mode).filter(|m| m.limits()) else {
        return Ok(None);
    };
    let trunk = match trunk {
        Some(t) => t,
        None => twilio::settings::load(state)
            .await?
            .trunk_sid
            .unwrap_or_else(|| "(not recorded)".into()),
    };
    Ok(Some(block(number_id, &trunk, mode, admin)))
}

/// Records the trunk's mode on the number.
pub(super) async fn record_mode(
    state: &AppState,
    number_id: &str,
    mode: Option<&str>,
) -> Result<(), AppError> {
    let mut tx = state.db.begin_write().await?;
    sqlx::query("UPDATE phone_numbers SET twilio_transfer_mode = $1 WHERE id = $2")
        .bind(mode)
        .bind(number_id)
        .execute(&mut *tx.tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The termination domain Dial's trunk has, or would get: the one in the settings, else
/// `dial-<last 10 characters of the account SID>.pstn.twilio.com`.
pub(super) fn trunk_domain(
    client: &TwilioClient,
    settings: &twilio::settings::TwilioSettings,
) -> String {
    let sid = client.account_sid();
    let suffix: String = sid
        .chars()
        .skip(sid.chars().count().saturating_sub(10))
        .collect::<String>()
        .to_ascii_lowercase();
    settings
        .sip_address
        .as_ref()
        .map(|(a, _)| a.to_ascii_lowercase())
        .unwrap_or_else(|| format!("dial-{suffix}.pstn.twilio.com"))
}

/// The pre-check's look at the trunk the run will use (the one in the settings, else
/// the one with the termination address): its mode is recorded on the number, and a
/// mode that refuses transfers is a warning in the step's detail. `None`: the trunk
/// does not exist yet (Dial creates it with transfers on).
pub(super) async fn precheck_trunk(ctx: &Ctx) -> Result<Option<String>, StepError> {
    let client = twilio(ctx).await?;
    let settings = twilio::settings::load(&ctx.state).await?;
    let tw_err = |e: crate::server::twilio::TwilioError| StepError::twilio(&client, e);
    let mut trunk = None;
    if let Some(sid) = settings.trunk_sid.as_deref() {
        match client.fetch_trunk(sid).await {
            Ok(t) => trunk = Some(t),
            Err(e) if e.status() == Some(404) => {}
            Err(e) => return Err(tw_err(e)),
        }
    }
    if trunk.is_none() {
        let domain = trunk_domain(&client, &settings);
        trunk = client
            .list_trunks()
            .await
            .map_err(tw_err)?
            .into_iter()
            .find(|t| {
                t.domain_name
                    .as_deref()
                    .is_some_and(|d| d.eq_ignore_ascii_case(&domain))
            });
    }
    let Some(trunk) = trunk else {
        return Ok(None);
    };
    // A trunk without the field is Twilio's default.
    let mode = trunk
        .transfer_mode
        .as_deref()
        .and_then(TransferMode::parse)
        .unwrap_or(TransferMode::DisableAll);
    record_mode(&ctx.state, &ctx.number.id, Some(mode.as_str())).await?;
    if !mode.limits() {
        return Ok(Some(format!("transfers on at Twilio trunk {}", trunk.sid)));
    }
    let whose = if trunk.friendly_name.as_deref() == Some(DIAL_TRUNK_NAME) {
        "Dial's trunk, changed since Dial made it"
    } else {
        "a trunk Dial did not make"
    };
    Ok(Some(format!(
        "Warning: this number's calls cannot all be transferred ({whose}). {} An administrator can turn transfers on from the number's page",
        refusal_words(&trunk.sid, mode)
    )))
}

/// Turns transfers on (to SIP addresses and phone numbers: `enable-all`) at the Twilio
/// trunk of the number's calls. Administrators only; audited.
pub async fn enable_transfers(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    number_id: &str,
) -> Result<(), AppError> {
    if !me.is_admin() {
        return Err(AppError::Forbidden);
    }
    let number = number_for(state, me, number_id).await?;
    if !is_twilio_number(&number) {
        return Err(AppError::conflict(
            "The number comes from a SIP carrier, not Twilio: Dial does not manage its transfers.",
        ));
    }
    let settings = twilio::settings::load(state).await?;
    let Some(trunk_sid) = number.twilio_trunk_sid.clone().or(settings.trunk_sid) else {
        return Err(AppError::conflict(
            "The number has no Twilio trunk yet: assign it to an assistant first.",
        ));
    };
    let client = twilio::settings::client(state).await?;
    let describe = |e: &crate::server::twilio::TwilioError| {
        twilio::settings::describe(e, client.account_sid(), &state.config.twilio_api_base)
    };
    let before = client
        .fetch_trunk(&trunk_sid)
        .await
        .map_err(|e| describe(&e))?;
    let updated = client
        .update_trunk(
            &trunk_sid,
            &TrunkParams {
                transfer_mode: Some(TransferMode::EnableAll.as_str().into()),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| describe(&e))?;
    let mode = updated
        .transfer_mode
        .unwrap_or_else(|| TransferMode::EnableAll.as_str().into());
    let mut tx = state.db.begin_write().await?;
    // Every number on the trunk shares its mode.
    sqlx::query(
        "UPDATE phone_numbers SET twilio_transfer_mode = $1 WHERE id = $2 OR twilio_trunk_sid = $3",
    )
    .bind(&mode)
    .bind(&number.id)
    .bind(&trunk_sid)
    .execute(&mut *tx.tx)
    .await?;
    audit::record_on(
        &mut *tx,
        actor,
        "twilio.trunk_transfers_enabled",
        Some(number.e164.as_str()),
        Some(&format!(
            "Twilio trunk {trunk_sid}: Call Transfer {} → {mode}",
            before.transfer_mode.as_deref().unwrap_or("disable-all")
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Before a transfer of a call on `number_id` to `target`: a conflict naming the reason
/// when the number's Twilio trunk refuses it. The recorded mode may be stale (someone
/// turned transfers on in the Twilio console), so a refusing one is read again from
/// Twilio first; if Twilio cannot be asked, the recorded mode stands.
pub async fn check_before_transfer(
    state: &AppState,
    me: &Me,
    number_id: &str,
    target: &TransferTarget,
) -> Result<(), AppError> {
    let Some(found) = block_for_number(state, number_id, me.is_admin()).await? else {
        return Ok(());
    };
    let recorded = TransferMode::parse(&found.transfer_mode).unwrap_or(TransferMode::DisableAll);
    if recorded.allows(target) {
        return Ok(());
    }
    let fresh = match twilio::settings::client(state).await {
        Ok(client) => client.fetch_trunk(&found.trunk_sid).await.ok().map(|t| {
            t.transfer_mode
                .as_deref()
                .and_then(TransferMode::parse)
                .unwrap_or(TransferMode::DisableAll)
        }),
        Err(_) => None,
    };
    if let Some(mode) = fresh {
        if mode != recorded {
            sqlx::query(
                "UPDATE phone_numbers SET twilio_transfer_mode = $1 WHERE id = $2 OR twilio_trunk_sid = $3",
            )
            .bind(mode.as_str())
            .bind(number_id)
            .bind(&found.trunk_sid)
            .execute(&state.db.pool)
            .await?;
        }
        if mode.allows(target) {
            return Ok(());
        }
        let now = block(number_id, &found.trunk_sid, mode, me.is_admin());
        return Err(AppError::conflict(now.message));
    }
    Err(AppError::conflict(found.message))
}

/// After Twilio refused a transfer of a call on `number_id`: reads the trunk's mode
/// again (someone may have changed it in the Twilio console), so the number's page and
/// the call page explain the next attempt. Best effort: a failure to ask changes nothing.
pub async fn reread_transfer_mode(state: &AppState, number_id: &str) {
    let row: Option<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT twilio_trunk_sid, carrier_id FROM phone_numbers WHERE id = $1")
            .bind(number_id)
            .fetch_optional(&state.db.pool)
            .await
            .ok()
            .flatten();
    let Some((Some(trunk_sid), None)) = row else {
        return;
    };
    let Ok(client) = twilio::settings::client(state).await else {
        return;
    };
    let Ok(trunk) = client.fetch_trunk(&trunk_sid).await else {
        return;
    };
    let mode = trunk
        .transfer_mode
        .unwrap_or_else(|| TransferMode::DisableAll.as_str().into());
    if let Err(e) = sqlx::query(
        "UPDATE phone_numbers SET twilio_transfer_mode = $1 WHERE twilio_trunk_sid = $2",
    )
    .bind(&mode)
    .bind(&trunk_sid)
    .execute(&state.db.pool)
    .await
    {
        tracing::warn!(error = %e, "could not record the Twilio trunk's transfer mode");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_allow_what_twilio_carries() {
        let tel = TransferTarget::parse("+14155550100").unwrap();
        let sip = TransferTarget::parse("sip:desk@pbx.example.com").unwrap();
        for (mode, tel_ok, sip_ok) in [
            ("enable-all", true, true),
            ("sip-only", false, true),
            ("disable-all", false, false),
        ] {
            let m = TransferMode::parse(mode).unwrap();
            assert_eq!((m.allows(&tel), m.allows(&sip)), (tel_ok, sip_ok), "{mode}");
            assert_eq!(m.as_str(), mode);
        }
        assert_eq!(TransferMode::parse("everything"), None);
    }

    #[test]
    fn the_block_says_why_and_who_can_fix_it() {
        let b = block("n1", "TK1", TransferMode::DisableAll, true);
        assert!(b.message.contains("TK1") && b.message.contains("disable-all"));
        assert!(b.message.contains("Turn transfers on"));
        assert!(b.can_enable && !b.sip_only());
        let owner = block("n1", "TK1", TransferMode::SipOnly, false);
        assert!(owner.message.contains("Ask an administrator") && owner.sip_only());
        assert!(!owner.can_enable);
    }
}
