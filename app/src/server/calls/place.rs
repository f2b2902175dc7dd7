//! Placing a call: the request parsed once, the outbound dial through the number's
//! trunk, and the numbers a user may call from.

use super::*;

/// What a user asks for when placing a call (parsed by [`CallRequest::parse`]).
#[derive(Debug, Clone, Default)]
pub struct CallInput {
    pub number_id: String,
    pub to: String,
    pub assistant_id: Option<String>,
    pub dtmf: Option<String>,
    pub play_dialtone: bool,
    pub wait_until_answered: bool,
    pub ringing_timeout_secs: Option<String>,
    pub max_duration_secs: Option<String>,
    pub display_name: Option<String>,
}

/// A valid call request.
#[derive(Debug, Clone)]
pub struct CallRequest {
    pub number_id: String,
    pub to: crate::phone::E164,
    pub assistant_id: Option<String>,
    pub dtmf: Option<String>,
    pub play_dialtone: bool,
    pub wait_until_answered: bool,
    pub ringing_timeout: Option<Duration>,
    pub max_duration: Option<Duration>,
    pub display_name: Option<String>,
}

/// The longest a call may ring, in seconds (the API document states the same bounds).
pub const MAX_RINGING_TIMEOUT_SECS: u64 = 300;
/// The longest a call may last, in seconds.
pub const MAX_CALL_DURATION_SECS: u64 = 86_400;
/// At most this many DTMF digits (and pauses) are sent after connecting.
pub const MAX_DTMF_LEN: usize = 64;
/// A caller display name is at most this many characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 128;

pub(super) fn seconds(
    field: &str,
    value: Option<&str>,
    range: std::ops::RangeInclusive<u64>,
    errors: &mut Vec<crate::error::FieldError>,
) -> Option<Duration> {
    let text = value.map(str::trim).filter(|v| !v.is_empty())?;
    match text.parse::<u64>() {
        Ok(n) if range.contains(&n) => Some(Duration::from_secs(n)),
        _ => {
            errors.push(crate::error::FieldError::new(
                field,
                format!(
                    "Enter a whole number of seconds from {} to {}.",
                    range.start(),
                    range.end()
                ),
            ));
            None
        }
    }
}

impl CallRequest {
    /// Checks every field; all problems are reported at once, each on its field.
    pub fn parse(input: &CallInput) -> Result<CallRequest, AppError> {
        let mut errors = Vec::new();
        let to = match crate::phone::E164::parse(input.to.trim(), None) {
            Ok(n) => Some(n),
            Err(_) => {
                errors.push(crate::error::FieldError::new(
                    "to",
                    "Enter the number to call in international format, e.g. +14155550100.",
                ));
                None
            }
        };
        let dtmf = input
            .dtmf
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_string);
        if let Some(d) = &dtmf {
            if d.len() > MAX_DTMF_LEN
                || !d
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'w'))
            {
                errors.push(crate::error::FieldError::new(
                    "dtmf",
                    "Digits to send may contain 0–9, * and #, and w for a half-second pause (at most 64).",
                ));
            }
        }
        let ringing = seconds(
            "ringing_timeout",
            input.ringing_timeout_secs.as_deref(),
            1..=MAX_RINGING_TIMEOUT_SECS,
            &mut errors,
        );
        let max = seconds(
            "max_duration",
            input.max_duration_secs.as_deref(),
            1..=MAX_CALL_DURATION_SECS,
            &mut errors,
        );
        let display_name = input
            .display_name
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_string);
        if display_name
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_DISPLAY_NAME_CHARS)
        {
            errors.push(crate::error::FieldError::new(
                "display_name",
                "A caller display name is at most 128 characters.",
            ));
        }
        if input.number_id.trim().is_empty() {
            errors.push(crate::error::FieldError::new(
                "number_id",
                "Choose the number to call from.",
            ));
        }
        match (to, errors.is_empty()) {
            (Some(to), true) => Ok(CallRequest {
                number_id: input.number_id.trim().to_string(),
                to,
                assistant_id: input.assistant_id.clone().filter(|a| !a.trim().is_empty()),
                dtmf,
                play_dialtone: input.play_dialtone,
                wait_until_answered: input.wait_until_answered,
                ringing_timeout: ringing,
                max_duration: max,
                display_name,
            }),
            _ => Err(AppError::Invalid { errors }),
        }
    }
}

pub(super) async fn dial_event(
    state: &AppState,
    call_id: &str,
    kind: &str,
    detail: serde_json::Value,
) -> Result<(), AppError> {
    let t = now();
    sqlx::query(
        "INSERT INTO call_events (id, call_id, source, kind, detail, occurred_at, received_at) VALUES ($1, $2, 'dial', $3, $4, $5, $5)",
    )
    .bind(new_id())
    .bind(call_id)
    .bind(kind)
    .bind(detail.to_string())
    .bind(t)
    .execute(&state.db.pool)
    .await?;
    notify_by_id(state, call_id).await;
    Ok(())
}

/// The LiveKit half of placing a call: room, agent, SIP participant, outcome.
pub(super) struct DialOut {
    pub(super) state: AppState,
    pub(super) lk: crate::server::livekit::LiveKitClient,
    pub(super) id: String,
    pub(super) trunk: String,
    /// The number the call is from (its caller ID).
    pub(super) from: String,
    pub(super) room: String,
    pub(super) identity: String,
    /// The agent dispatched into the room; empty for none (a call from the browser).
    pub(super) agent: String,
    pub(super) agent_metadata: String,
    pub(super) request: CallRequest,
}

impl DialOut {
    pub(super) async fn run(self) -> Result<(), AppError> {
        let DialOut {
            state,
            lk,
            id,
            trunk,
            from,
            room,
            identity,
            agent,
            agent_metadata,
            request,
        } = self;
        let state = &state;
        let create = async {
            lk.create_room(&room, "").await?;
            if !agent.is_empty() {
                lk.dispatch_agent(&room, &agent, &agent_metadata).await?;
            }
            lk.create_sip_participant(
                &trunk,
                request.to.as_str(),
                &room,
                crate::server::livekit::CallOptions {
                    participant_identity: identity.clone(),
                    participant_name: Some(format!("Phone {}", request.to.as_str())),
                    // Without it LiveKit picks one of the trunk's numbers at random
                    // (livekit/sip `pkg/sip/outbound.go`); the caller ID is the number
                    // the call is placed from.
                    sip_number: Some(from.clone()),
                    display_name: request.display_name.clone(),
                    dtmf: request.dtmf.clone(),
                    play_dialtone: request.play_dialtone,
                    wait_until_answered: request.wait_until_answered,
                    ringing_timeout: request.ringing_timeout,
                    max_call_duration: request.max_duration,
                    ..Default::default()
                },
            )
            .await
        };
        // While LiveKit dials (and, with "wait until answered", until the callee answers),
        // follow the participant's sip.callStatus so the pages show "ringing". The dial's
        // own answer settles the call, so these reads wait behind those that alone can
        // see an answer (`follow::Lane`); the claim keeps the webhooks' follower away.
        let claim = follow::claim(state, &id, &room);
        let watch = async {
            for delay in follow::cadence() {
                tokio::time::sleep(delay).await;
                follow::read_slot(state, follow::Lane::Background).await;
                let status = match lk.get_participant(&room, &identity).await {
                    Ok(p) => sip_facts(&p).and_then(|f| f.status),
                    Err(_) => None,
                };
                if let Some(status @ (CallStatus::Ringing | CallStatus::Answered)) = status {
                    // This loop is dropped the moment the dial returns (the select! below),
                    // whatever it is awaiting: its write runs in a task of its own, so a
                    // transaction is never abandoned half-way.
                    let (state, id) = (state.clone(), id.clone());
                    let write = tokio::spawn(async move {
                        let mut tx = state.db.begin_write().await?;
                        advance(&mut tx, &id, status, now(), None, now()).await?;
                        tx.commit().await?;
                        notify_by_id(&state, &id).await;
                        Ok::<(), AppError>(())
                    });
                    if let Ok(Err(e)) = write.await {
                        tracing::warn!(error = %e, "could not record a call's live status");
                    }
                }
            }
        };
        let result = tokio::select! {
            result = create => result,
            () = watch => unreachable_watch(),
        };
        drop(claim);
        let failed = |e: &crate::server::livekit::LiveKitError| e.to_string();
        match result {
            Ok(info) => {
                // The participant's webhook may have arrived first and adopted the session.
                sqlx::query("UPDATE call_sessions SET sip_call_id = COALESCE(sip_call_id, $1), participant_sid = COALESCE(participant_sid, $2) WHERE id = $3")
                    .bind(&info.sip_call_id)
                    .bind(Some(info.participant_id.clone()).filter(|p| !p.is_empty()))
                    .bind(&id)
                    .execute(&state.db.pool)
                    .await?;
                if request.wait_until_answered {
                    let mut tx = state.db.begin_write().await?;
                    advance(&mut tx, &id, CallStatus::Answered, now(), None, now()).await?;
                    tx.commit().await?;
                } else {
                    // LiveKit answered as soon as it dialled; the answer comes later, and
                    // no webhook says so.
                    follow::follow(state, &id, &room, &identity, follow::Lane::Outbound);
                }
                dial_event(
                    state,
                    &id,
                    "call.created",
                    json!({ "sip_call_id": info.sip_call_id }),
                )
                .await?;
                Ok(())
            }
            Err(e) => {
                let status = e.sip_status();
                let outcome = outcome_of_dial(&e);
                let t = now();
                let mut tx = state.db.begin_write().await?;
                // The dial's error is the most precise source: it replaces what the
                // webhook's disconnect reason said (busy rather than "busy or declined").
                sqlx::query("UPDATE call_sessions SET outcome = $1, sip_status_code = COALESCE(sip_status_code, $2) WHERE id = $3")
                    .bind(outcome.as_str())
                    .bind(status.map(i64::from))
                    .bind(&id)
                    .execute(&mut *tx.tx)
                    .await?;
                advance(&mut tx, &id, CallStatus::Ended, t, Some(&failed(&e)), t).await?;
                tx.commit().await?;
                dial_event(
                    state,
                    &id,
                    "call.failed",
                    json!({ "error": failed(&e), "sip_status": status }),
                )
                .await?;
                match outcome {
                    // Not a call outcome but a failure to place it: say so.
                    Outcome::Failed => Err(e.into()),
                    // A call outcome (busy, no answer, ...): the call is the answer.
                    _ => Ok(()),
                }
            }
        }
    }
}

/// The status watcher loops until the call's creation finishes.
pub(super) fn unreachable_watch(
) -> Result<crate::server::livekit::proto::SipParticipantInfo, crate::server::livekit::LiveKitError>
{
    Err(crate::server::livekit::LiveKitError::Network(
        "the call watcher stopped".into(),
    ))
}

/// Places an outbound call: a fresh room with the assistant's prefix, the assistant's
/// agent dispatched into it (its metadata plus the call's), the number's outbound trunk
/// (created on demand), and the SIP participant. The call is recorded first (dialing).
/// With `wait` this returns once LiveKit answered (with "wait until answered": once the
/// callee answered or the call failed); without, the dialing goes on in the background
/// and the call's page follows it.
pub async fn place(
    state: &AppState,
    me: &crate::model::Me,
    actor: &audit::Actor,
    request: CallRequest,
    wait: bool,
) -> Result<crate::model::CallRow, AppError> {
    type NumberInfo = (String, Option<String>, Option<String>, Option<i64>);
    let number: Option<NumberInfo> = sqlx::query_as(
        "SELECT e164, owner_id, assistant_id, released_at FROM phone_numbers WHERE id = $1",
    )
    .bind(&request.number_id)
    .fetch_optional(&state.db.pool)
    .await?;
    let (from, owner, number_assistant, released_at) = number
        .filter(|(_, owner, ..)| me.is_admin() || owner.as_deref() == Some(me.id.as_str()))
        .ok_or_else(|| AppError::invalid("number_id", "Choose one of your numbers."))?;
    if let Some(at) = released_at {
        return Err(AppError::invalid(
            "number_id",
            format!(
                "{} was released on {}: it stays in Dial's history, but calls cannot be placed from it. Choose one of your numbers.",
                crate::phone::format_e164(&from),
                crate::model::format_time(at)
            ),
        ));
    }
    let assistant_id = request
        .assistant_id
        .clone()
        .or(number_assistant)
        .ok_or_else(|| AppError::invalid("number_id", "This number has no assistant. Assign it to an assistant first, or choose the assistant for the call."))?;
    type AssistantInfo = (String, String, String, String, String);
    let assistant: Option<AssistantInfo> = sqlx::query_as(
        "SELECT owner_id, name, agent_name, metadata, room_prefix FROM assistants WHERE id = $1",
    )
    .bind(&assistant_id)
    .fetch_optional(&state.db.pool)
    .await?;
    let (assistant_owner, assistant_name, agent, metadata, prefix) = assistant
        .filter(|(o, ..)| me.is_admin() || *o == me.id)
        .ok_or_else(|| AppError::invalid("assistant_id", "Choose one of your assistants."))?;
    if owner.as_deref().is_some_and(|o| o != assistant_owner) {
        return Err(AppError::invalid(
            "assistant_id",
            "The number and the assistant belong to different owners.",
        ));
    }
    let lk = livekit::settings::client(state)?;
    let trunk = crate::server::assignment::ensure_outbound_trunk(state, &request.number_id).await?;

    let id = new_id();
    let room = format!("{prefix}{}", &id.replace('-', "")[..12]);
    let identity = format!("sip_{}", request.to.as_str());
    let t = now();
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "INSERT INTO call_sessions (id, direction, phone_number_id, assistant_id, owner_id, from_number, to_number, \
         room_name, participant_identity, status, status_rank, created_at, updated_at) \
         VALUES ($1, 'outbound', $2, $3, $4, $5, $6, $7, $8, 'dialing', 0, $9, $9)",
    )
    .bind(&id)
    .bind(&request.number_id)
    .bind(&assistant_id)
    .bind(owner.clone().unwrap_or(assistant_owner.clone()))
    .bind(&from)
    .bind(request.to.as_str())
    .bind(&room)
    .bind(&identity)
    .bind(t)
    .execute(&mut *tx)
    .await?;
    crate::server::event_hooks::record_call_transitions(&mut tx, &[&id]).await?;
    audit::record_on(
        &mut *tx,
        actor,
        "call.place",
        Some(request.to.as_str()),
        Some(&format!("call {id} from {from}")),
    )
    .await?;
    tx.commit().await?;
    dial_event(
        state,
        &id,
        "call.requested",
        json!({
            "by": actor.username, "from": from, "to": request.to.as_str(), "assistant": assistant_name,
            "dtmf": request.dtmf, "play_dialtone": request.play_dialtone,
            "wait_until_answered": request.wait_until_answered,
            "ringing_timeout_secs": request.ringing_timeout.map(|d| d.as_secs()),
            "max_duration_secs": request.max_duration.map(|d| d.as_secs()),
        }),
    )
    .await?;

    // The agent gets the assistant's metadata and the call's.
    let mut agent_metadata: serde_json::Value =
        serde_json::from_str(&metadata).unwrap_or_else(|_| json!({}));
    if let Some(obj) = agent_metadata.as_object_mut() {
        obj.insert(
            "dial".into(),
            json!({ "call_id": id, "direction": "outbound", "to": request.to.as_str(), "from": from }),
        );
    }
    let job = DialOut {
        state: state.clone(),
        lk,
        id: id.clone(),
        trunk,
        from: from.clone(),
        room,
        identity,
        agent,
        agent_metadata: agent_metadata.to_string(),
        request,
    };
    if wait {
        job.run().await?;
    } else {
        tokio::spawn(async move {
            let id = job.id.clone();
            if let Err(e) = job.run().await {
                tracing::warn!(call = %id, error = %e, "an outbound call could not be placed");
            }
        });
    }
    get(state, me, &id).await
}

/// A campaign's dial, claimed by the campaign engine (which chose its id).
#[derive(Debug, Clone)]
pub struct CampaignDial {
    pub call_id: String,
    pub campaign_id: String,
    pub contact_id: String,
    pub number_id: String,
    pub assistant_id: String,
    pub owner_id: String,
    pub to: crate::phone::E164,
    /// `{name, phone, variables}` for the agent.
    pub contact: serde_json::Value,
    pub attempt: u32,
    pub ringing_timeout: Duration,
    pub max_duration: Option<Duration>,
}

/// Places a campaign's call: an ordinary outbound call (in Calls, followed, controllable)
/// marked with its campaign and contact, whose agent gets the assistant's metadata plus
/// `{"dial": {"campaign_id", "contact", "attempt", …}}`. It waits until the callee answers
/// or the call fails, so the outcome is the SIP answer itself (busy, declined, the
/// carrier's 503, …).
pub async fn place_for_campaign(state: &AppState, dial: CampaignDial) -> Result<(), AppError> {
    type NumberInfo = (String, Option<String>, Option<i64>);
    let (from, trunk, released) = sqlx::query_as::<_, NumberInfo>(
        "SELECT e164, outbound_trunk_id, released_at FROM phone_numbers WHERE id = $1",
    )
    .bind(&dial.number_id)
    .fetch_optional(&state.db.pool)
    .await?
    .ok_or_else(|| AppError::not_found("number"))?;
    type AssistantInfo = (String, String, String, String);
    let (assistant_name, agent, metadata, prefix) = sqlx::query_as::<_, AssistantInfo>(
        "SELECT name, agent_name, metadata, room_prefix FROM assistants WHERE id = $1",
    )
    .bind(&dial.assistant_id)
    .fetch_optional(&state.db.pool)
    .await?
    .ok_or_else(|| AppError::not_found("assistant"))?;
    let id = dial.call_id.clone();
    let room = format!("{prefix}{}", &id.replace('-', "")[..12]);
    let identity = format!("sip_{}", dial.to.as_str());
    let t = now();
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "INSERT INTO call_sessions (id, direction, phone_number_id, assistant_id, owner_id, from_number, to_number, \
         room_name, participant_identity, status, status_rank, created_at, updated_at, campaign_id, campaign_contact_id) \
         VALUES ($1, 'outbound', $2, $3, $4, $5, $6, $7, $8, 'dialing', 0, $9, $9, $10, $11)",
    )
    .bind(&id)
    .bind(&dial.number_id)
    .bind(&dial.assistant_id)
    .bind(&dial.owner_id)
    .bind(&from)
    .bind(dial.to.as_str())
    .bind(&room)
    .bind(&identity)
    .bind(t)
    .bind(&dial.campaign_id)
    .bind(&dial.contact_id)
    .execute(&mut *tx)
    .await?;
    crate::server::event_hooks::record_call_transitions(&mut tx, &[&id]).await?;
    tx.commit().await?;
    dial_event(
        state,
        &id,
        "call.requested",
        json!({
            "by": "campaign", "campaign_id": dial.campaign_id, "attempt": dial.attempt,
            "from": from, "to": dial.to.as_str(), "assistant": assistant_name,
            "wait_until_answered": true,
            "ringing_timeout_secs": dial.ringing_timeout.as_secs(),
            "max_duration_secs": dial.max_duration.map(|d| d.as_secs()),
        }),
    )
    .await?;
    let fail = |message: String| async move {
        let t = now();
        let mut tx = state.db.begin_write().await?;
        sqlx::query("UPDATE call_sessions SET outcome = 'failed' WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx.tx)
            .await?;
        advance(&mut tx, &id, CallStatus::Ended, t, Some(&message), t).await?;
        tx.commit().await?;
        Ok::<(), AppError>(())
    };
    if released.is_some() {
        let message = "the number was released".to_string();
        fail(message.clone()).await?;
        return Err(AppError::conflict(message));
    }
    let lk = match livekit::settings::client(state) {
        Ok(lk) => lk,
        Err(e) => {
            fail(e.to_string()).await?;
            return Err(e);
        }
    };
    let trunk = match trunk {
        Some(trunk) => trunk,
        None => {
            match crate::server::assignment::ensure_outbound_trunk(state, &dial.number_id).await {
                Ok(trunk) => trunk,
                Err(e) => {
                    fail(e.to_string()).await?;
                    return Err(e);
                }
            }
        }
    };
    let mut agent_metadata: serde_json::Value =
        serde_json::from_str(&metadata).unwrap_or_else(|_| json!({}));
    if let Some(obj) = agent_metadata.as_object_mut() {
        obj.insert(
            "dial".into(),
            json!({
                "call_id": dial.call_id, "direction": "outbound", "to": dial.to.as_str(), "from": from,
                "campaign_id": dial.campaign_id, "contact": dial.contact, "attempt": dial.attempt,
            }),
        );
    }
    DialOut {
        state: state.clone(),
        lk,
        id: dial.call_id.clone(),
        trunk,
        from,
        room,
        identity,
        agent,
        agent_metadata: agent_metadata.to_string(),
        request: CallRequest {
            number_id: dial.number_id.clone(),
            to: dial.to.clone(),
            assistant_id: Some(dial.assistant_id.clone()),
            dtmf: None,
            play_dialtone: false,
            wait_until_answered: true,
            ringing_timeout: Some(dial.ringing_timeout),
            max_duration: dial.max_duration,
            display_name: None,
        },
    }
    .run()
    .await
}

/// The numbers the user may call from, with the assistant that would take the call.
pub async fn callable_numbers(
    state: &AppState,
    me: &crate::model::Me,
) -> Result<Vec<crate::model::AssistantOption>, AppError> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT n.id, n.e164, a.name FROM phone_numbers n JOIN assistants a ON a.id = n.assistant_id \
         WHERE n.released_at IS NULL AND (n.owner_id = $1 OR $2 = 1) ORDER BY n.e164 LIMIT 500",
    )
    .bind(&me.id)
    .bind(i64::from(me.is_admin()))
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, e164, assistant)| crate::model::AssistantOption {
            id,
            name: format!("{} · {assistant}", crate::phone::format_e164(&e164)),
        })
        .collect())
}

/// The numbers the calls list can be filtered by: every number of the user's (an
/// admin's: every number) that has calls, released ones marked, whatever their count
/// (the filter used to offer only a first page of numbers), and the one the list is
/// filtered by now, calls or not.
pub async fn numbers_with_calls(
    state: &AppState,
    me: &crate::model::Me,
    selected: Option<&str>,
) -> Result<Vec<crate::model::AssistantOption>, AppError> {
    let rows: Vec<(String, String, Option<i64>)> = sqlx::query_as(
        "SELECT n.id, n.e164, n.released_at FROM phone_numbers n \
         WHERE (n.owner_id = $1 OR $2 = 1) \
         AND (n.id = $3 OR EXISTS (SELECT 1 FROM call_sessions c WHERE c.phone_number_id = n.id)) \
         ORDER BY n.e164",
    )
    .bind(&me.id)
    .bind(i64::from(me.is_admin()))
    .bind(selected.unwrap_or_default())
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, e164, released)| crate::model::AssistantOption {
            id,
            name: match released {
                Some(_) => format!("{} (released)", crate::phone::format_e164(&e164)),
                None => crate::phone::format_e164(&e164),
            },
        })
        .collect())
}
