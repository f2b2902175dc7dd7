//! Calling from the browser: a person joins a call's LiveKit room with their microphone,
//! to place a call themselves or to listen in on (and take over) an assistant's call.
//!
//! Placing a call is three steps, so that the phone never rings before the person can
//! hear it:
//! 1. [`start`] records the call (dialing, placed by the person), creates its room and gives
//!    the browser a token for that room alone;
//! 2. the browser joins with its microphone (`browser/src/call.js`);
//! 3. [`joined`] checks that LiveKit lists the browser in the room and only then creates
//!    the SIP participant through the number's outbound trunk, without an agent.
//!
//! A browser that cannot join (microphone refused, no microphone, LiveKit unreachable)
//! calls [`abandon`]: the room goes and the call ends saying why. Hanging up a call placed
//! from the browser deletes its room, so the phone and the browser both leave.
//!
//! Tokens are minted here only, for a call the person may see (owners: their numbers'
//! calls; admins: all), with the least grants the action needs
//! ([`crate::server::livekit::JoinGrants`]), the identity `dial:<username>` and a
//! lifetime of [`TOKEN_TTL`]. Every join and take-over is audited and on the timeline.

use super::*;
use crate::{
    model::{BrowserJoin, CallRow, Me},
    server::livekit::JoinGrants,
};

/// How long a browser's LiveKit token is valid: enough to join (LiveKit refreshes the
/// token of a participant that stays connected).
pub const TOKEN_TTL: Duration = Duration::from_secs(600);

/// The LiveKit identity of a person's browser.
pub fn identity_of(me: &Me) -> String {
    format!("dial:{}", me.username)
}

/// Why a browser could not join the room it was given (what the page reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbandonReason {
    MicrophoneDenied,
    NoMicrophone,
    LiveKitUnreachable,
    LeftBeforeDialling,
}

impl AbandonReason {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "microphone_denied" => Self::MicrophoneDenied,
            "no_microphone" => Self::NoMicrophone,
            "livekit_unreachable" => Self::LiveKitUnreachable,
            "left" => Self::LeftBeforeDialling,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MicrophoneDenied => "microphone_denied",
            Self::NoMicrophone => "no_microphone",
            Self::LiveKitUnreachable => "livekit_unreachable",
            Self::LeftBeforeDialling => "left",
        }
    }

    /// The call's end reason, in words.
    pub fn words(self) -> &'static str {
        match self {
            Self::MicrophoneDenied => {
                "not placed: the browser was not allowed to use the microphone"
            }
            Self::NoMicrophone => "not placed: the browser has no microphone",
            Self::LiveKitUnreachable => "not placed: the browser could not reach LiveKit",
            Self::LeftBeforeDialling => {
                "not placed: the page was closed before the call was dialled"
            }
        }
    }
}

/// A browser call's own facts: who placed it, the identity their browser joins as, and
/// whether it has joined.
struct BrowserFacts {
    placed_by_user_id: Option<String>,
    browser_identity: Option<String>,
    browser_joined_at: Option<i64>,
}

async fn facts(state: &AppState, id: &str) -> Result<BrowserFacts, AppError> {
    let (placed_by_user_id, browser_identity, browser_joined_at): (
        Option<String>,
        Option<String>,
        Option<i64>,
    ) = sqlx::query_as(
        "SELECT placed_by_user_id, browser_identity, browser_joined_at FROM call_sessions WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&state.db.pool)
    .await?;
    Ok(BrowserFacts {
        placed_by_user_id,
        browser_identity,
        browser_joined_at,
    })
}

/// Whether the call was placed from a browser (its hang-up deletes the room).
pub(super) async fn is_browser_call(state: &AppState, id: &str) -> Result<bool, AppError> {
    Ok(facts(state, id).await?.browser_identity.is_some())
}

/// Step 1 of placing a call from the browser: the call (dialing, placed by `me`), its
/// room, and a token for the browser to join it speaking.
pub async fn start(
    state: &AppState,
    me: &Me,
    actor: &audit::Actor,
    number_id: &str,
    to: &str,
) -> Result<BrowserJoin, AppError> {
    let mut errors = Vec::new();
    let to = match crate::phone::E164::parse(to.trim(), None) {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(crate::error::FieldError::new(
                "to",
                "Enter the number to call in international format, e.g. +14155550100.",
            ));
            None
        }
    };
    if number_id.trim().is_empty() {
        errors.push(crate::error::FieldError::new(
            "number_id",
            "Choose the number to call from.",
        ));
    }
    let Some(to) = to.filter(|_| errors.is_empty()) else {
        return Err(AppError::Invalid { errors });
    };
    let number_id = number_id.trim();
    let number: Option<(String, Option<String>, Option<i64>)> =
        sqlx::query_as("SELECT e164, owner_id, released_at FROM phone_numbers WHERE id = $1")
            .bind(number_id)
            .fetch_optional(&state.db.pool)
            .await?;
    let (from, owner, released_at) = number
        .filter(|(_, owner, _)| me.is_admin() || owner.as_deref() == Some(me.id.as_str()))
        .ok_or_else(|| AppError::invalid("number_id", "Choose one of your numbers."))?;
    if released_at.is_some() {
        return Err(AppError::invalid(
            "number_id",
            "That number was released: calls cannot be placed from it. Choose one of your numbers.",
        ));
    }
    let lk = livekit::settings::client(state)?;
    // The number's outbound trunk, created now if it is missing: a number that cannot
    // call out is refused before anything is recorded or the browser asks for the mic.
    crate::server::assignment::ensure_outbound_trunk(state, number_id).await?;

    let id = new_id();
    let room = format!("dial-browser-{}", &id.replace('-', "")[..12]);
    let identity = identity_of(me);
    let t = now();
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "INSERT INTO call_sessions (id, direction, phone_number_id, owner_id, from_number, to_number, \
         room_name, participant_identity, status, status_rank, created_at, updated_at, \
         placed_by, placed_by_user_id, browser_identity) \
         VALUES ($1, 'outbound', $2, $3, $4, $5, $6, $7, 'dialing', 0, $8, $8, $9, $10, $11)",
    )
    .bind(&id)
    .bind(number_id)
    .bind(owner.unwrap_or_else(|| me.id.clone()))
    .bind(&from)
    .bind(to.as_str())
    .bind(&room)
    .bind(format!("sip_{}", to.as_str()))
    .bind(t)
    .bind(&me.username)
    .bind(&me.id)
    .bind(&identity)
    .execute(&mut *tx)
    .await?;
    crate::server::event_hooks::record_call_transitions(&mut tx, &[&id]).await?;
    audit::record_on(
        &mut *tx,
        actor,
        "call.place_browser",
        Some(to.as_str()),
        Some(&format!("call {id} from {from}, from the browser")),
    )
    .await?;
    tx.commit().await?;
    dial_event(
        state,
        &id,
        "call.requested",
        json!({ "by": actor.username, "from": from, "to": to.as_str(), "from_browser": true }),
    )
    .await?;
    // The room is made now so the browser has somewhere to join.
    if let Err(e) = lk.create_room(&room, "").await {
        end(
            state,
            &id,
            "not placed: LiveKit could not create the call's room",
        )
        .await?;
        return Err(e.into());
    }
    let token = lk.join_token(&room, &identity, &me.username, JoinGrants::Speak, TOKEN_TTL)?;
    Ok(BrowserJoin {
        call: get(state, me, &id).await?,
        url: lk.url().to_string(),
        token,
        room,
        identity,
        can_publish: true,
    })
}

/// Ends a browser call that never dialled, saying why.
async fn end(state: &AppState, id: &str, reason: &str) -> Result<(), AppError> {
    let t = now();
    let mut tx = state.db.begin_write().await?;
    sqlx::query("UPDATE call_sessions SET outcome = 'failed' WHERE id = $1 AND status_rank < 3")
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
    advance(&mut tx, id, CallStatus::Ended, t, Some(reason), t).await?;
    // The room's own end (`room_finished` once it is deleted) may have closed the call
    // first, with a vaguer reason; why the browser never dialled says more.
    sqlx::query("UPDATE call_sessions SET end_reason = $1 WHERE id = $2")
        .bind(reason)
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
    tx.commit().await?;
    notify_by_id(state, id).await;
    Ok(())
}

/// A call `me` placed from the browser. A call `me` may not see is "not found"; one they
/// may see but did not place from their browser is a conflict saying so (the token and
/// the microphone were the placer's: not even an admin joins or abandons it for them).
async fn own_browser_call(
    state: &AppState,
    me: &Me,
    id: &str,
) -> Result<(CallRow, BrowserFacts), AppError> {
    let call = get(state, me, id).await?;
    let facts = facts(state, id).await?;
    if facts.placed_by_user_id.as_deref() != Some(me.id.as_str()) {
        return Err(AppError::conflict(
            "This call was not placed from your browser: only its browser joins or abandons it.",
        ));
    }
    Ok((call, facts))
}

/// Step 3 of placing a call from the browser: once LiveKit lists the browser in the room,
/// the SIP participant is created into it (once, whoever asks twice). Before, a conflict.
pub async fn joined(
    state: &AppState,
    me: &Me,
    actor: &audit::Actor,
    id: &str,
) -> Result<CallRow, AppError> {
    let (call, facts) = own_browser_call(state, me, id).await?;
    if !call.is_live() {
        return Err(AppError::conflict("The call has ended."));
    }
    if facts.browser_joined_at.is_some() {
        return Err(AppError::conflict("The call is already being dialled."));
    }
    let (Some(room), Some(identity)) = (call.room.clone(), facts.browser_identity) else {
        return Err(AppError::conflict("The call has no room."));
    };
    let lk = livekit::settings::client(state)?;
    let present = lk
        .list_participants(&room)
        .await?
        .iter()
        .any(|p| p.identity == identity);
    if !present {
        return Err(AppError::conflict(
            "Your browser has not joined the call's room yet: LiveKit does not list it there.",
        ));
    }
    let t = now();
    let marked = sqlx::query(
        "UPDATE call_sessions SET browser_joined_at = $1, updated_at = $1 \
         WHERE id = $2 AND browser_joined_at IS NULL AND status_rank < 3",
    )
    .bind(t)
    .bind(id)
    .execute(&state.db.pool)
    .await?;
    if marked.rows_affected() != 1 {
        return Err(AppError::conflict("The call is already being dialled."));
    }
    dial_event(
        state,
        id,
        "browser.joined",
        json!({ "by": actor.username, "identity": identity, "speaking": true }),
    )
    .await?;
    let number_id = call.number_id.clone().unwrap_or_default();
    let trunk = crate::server::assignment::ensure_outbound_trunk(state, &number_id).await?;
    let to = crate::phone::E164::parse(&call.to, None)
        .map_err(|_| AppError::conflict("The call's number is not in E.164."))?;
    let job = DialOut {
        state: state.clone(),
        lk,
        id: id.to_string(),
        trunk,
        from: call.from.clone(),
        room,
        identity: format!("sip_{}", to.as_str()),
        // No agent: the person in the browser is the one who talks.
        agent: String::new(),
        agent_metadata: String::new(),
        request: CallRequest {
            number_id,
            to,
            assistant_id: None,
            dtmf: None,
            // The person hears the dial tone while LiveKit dials.
            play_dialtone: true,
            wait_until_answered: false,
            ringing_timeout: None,
            max_duration: None,
            display_name: None,
        },
    };
    let call_id = id.to_string();
    tokio::spawn(async move {
        if let Err(e) = job.run().await {
            tracing::warn!(call = %call_id, error = %e, "a call from the browser could not be placed");
        }
    });
    get(state, me, id).await
}

/// The browser could not join (or left before the call was dialled): the room goes and
/// the call ends, saying why. A call already dialled is hung up instead.
pub async fn abandon(
    state: &AppState,
    me: &Me,
    actor: &audit::Actor,
    id: &str,
    reason: AbandonReason,
) -> Result<CallRow, AppError> {
    let (call, facts) = own_browser_call(state, me, id).await?;
    if !call.is_live() {
        return Ok(call);
    }
    if facts.browser_joined_at.is_some() {
        return hang_up(state, me, actor, id).await;
    }
    // Ended first, so the room's deletion (and its room_finished) finds the call over.
    end(state, id, reason.words()).await?;
    if let Some(room) = &call.room {
        let lk = livekit::settings::client(state)?;
        match lk.delete_room(room).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    dial_event(
        state,
        id,
        "browser.failed",
        json!({ "by": actor.username, "reason": reason.as_str() }),
    )
    .await?;
    get(state, me, id).await
}

/// The browser of a call placed from it left the room (LiveKit's `participant_left`): the
/// call ends for the phone too (its room is deleted), said on the timeline. Anything else
/// leaving, or a call already over, changes nothing.
pub async fn browser_left(state: &AppState, room: &str, identity: &str) -> Result<(), AppError> {
    let call: Option<(String, Option<i64>)> = sqlx::query_as(
        "SELECT id, browser_joined_at FROM call_sessions \
         WHERE room_name = $1 AND browser_identity = $2 AND status_rank < 3",
    )
    .bind(room)
    .bind(identity)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some((id, joined)) = call else {
        return Ok(());
    };
    let lk = livekit::settings::client(state)?;
    match lk.delete_room(room).await {
        Ok(()) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.into()),
    }
    let reason = match joined {
        Some(_) => "the browser left the call",
        None => AbandonReason::LeftBeforeDialling.words(),
    };
    let t = now();
    let mut tx = state.db.begin_write().await?;
    if joined.is_none() {
        sqlx::query(
            "UPDATE call_sessions SET outcome = 'failed' WHERE id = $1 AND status_rank < 3",
        )
        .bind(&id)
        .execute(&mut *tx.tx)
        .await?;
    }
    advance(&mut tx, &id, CallStatus::Ended, t, Some(reason), t).await?;
    tx.commit().await?;
    dial_event(state, &id, "browser.left", json!({ "identity": identity })).await?;
    Ok(())
}

/// A token for `me` to join a live call's room: listening (subscribe only) or speaking.
/// Audited, and on the call's timeline.
pub async fn listen(
    state: &AppState,
    me: &Me,
    actor: &audit::Actor,
    id: &str,
    grants: JoinGrants,
) -> Result<BrowserJoin, AppError> {
    let (call, room, _) = live_call(state, me, id).await?;
    let lk = livekit::settings::client(state)?;
    let identity = identity_of(me);
    let token = lk.join_token(&room, &identity, &me.username, grants, TOKEN_TTL)?;
    let speaking = grants == JoinGrants::Speak;
    let action = if speaking { "call.join" } else { "call.listen" };
    audit::record(
        &state.db,
        actor,
        action,
        Some(&call.to),
        Some(&format!(
            "call {id}: {}",
            if speaking {
                "joined speaking"
            } else {
                "listening in"
            }
        )),
    )
    .await?;
    dial_event(
        state,
        id,
        "browser.listen",
        json!({ "by": actor.username, "identity": identity, "speaking": speaking }),
    )
    .await?;
    Ok(BrowserJoin {
        call,
        url: lk.url().to_string(),
        token,
        room,
        identity,
        can_publish: speaking,
    })
}

/// Takes a call over from its assistant: the agent participants leave the room, so the
/// person (who must be in the room speaking) carries on alone with the caller.
pub async fn take_over(
    state: &AppState,
    me: &Me,
    actor: &audit::Actor,
    id: &str,
) -> Result<CallRow, AppError> {
    let (call, room, _) = live_call(state, me, id).await?;
    let lk = livekit::settings::client(state)?;
    let participants = lk.list_participants(&room).await?;
    let identity = identity_of(me);
    let speaking = participants.iter().any(|p| {
        p.identity == identity && p.permission.as_ref().is_some_and(|perm| perm.can_publish)
    });
    if !speaking {
        return Err(AppError::conflict(
            "Join the call speaking first: after a take-over you are the only one talking to the caller.",
        ));
    }
    let agents: Vec<String> = participants
        .iter()
        .filter(|p| p.kind == proto::participant_info::Kind::Agent as i32)
        .map(|p| p.identity.clone())
        .collect();
    if agents.is_empty() {
        return Err(AppError::conflict("No agent is in the call."));
    }
    for agent in &agents {
        match lk.remove_participant(&room, agent).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    audit::record(
        &state.db,
        actor,
        "call.take_over",
        Some(&call.to),
        Some(&format!("call {id}: removed {}", agents.join(", "))),
    )
    .await?;
    dial_event(
        state,
        id,
        "browser.take_over",
        json!({ "by": actor.username, "agents": agents }),
    )
    .await?;
    get(state, me, id).await
}

/// The numbers `me` may call from in the browser: every live number of theirs (an
/// admin's: every live number), assistant or not.
pub async fn numbers(
    state: &AppState,
    me: &Me,
) -> Result<Vec<crate::model::AssistantOption>, AppError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, e164 FROM phone_numbers WHERE released_at IS NULL AND (owner_id = $1 OR $2 = 1) \
         ORDER BY e164 LIMIT 500",
    )
    .bind(&me.id)
    .bind(i64::from(me.is_admin()))
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, e164)| crate::model::AssistantOption {
            id,
            name: crate::phone::format_e164(&e164),
        })
        .collect())
}

/// The page script's address (`/pkg/call.<16 hex>.js`, as `scripts/build` names it) and
/// what else the pages need. The site is read each time: a rebuilt site is used at once.
pub fn setup(state: &AppState) -> crate::model::BrowserCallSetup {
    let script = std::fs::read_dir(state.config.site_root.join("pkg"))
        .ok()
        .and_then(|dir| {
            dir.filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .find(|name| is_call_script(name))
        })
        .map(|name| format!("/pkg/{name}"));
    crate::model::BrowserCallSetup {
        script,
        livekit: livekit::settings::client(state).is_ok(),
        sandbox: state.sandbox().is_some(),
    }
}

/// `call.<16 hex digits>.js`.
fn is_call_script(name: &str) -> bool {
    name.strip_prefix("call.")
        .and_then(|rest| rest.strip_suffix(".js"))
        .is_some_and(|hash| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abandon_reasons_read_back_and_refuse_anything_else() {
        for r in [
            AbandonReason::MicrophoneDenied,
            AbandonReason::NoMicrophone,
            AbandonReason::LiveKitUnreachable,
            AbandonReason::LeftBeforeDialling,
        ] {
            assert_eq!(AbandonReason::parse(r.as_str()), Some(r));
            assert!(r.words().starts_with("not placed: "));
        }
        assert_eq!(AbandonReason::parse(""), None);
        assert_eq!(AbandonReason::parse("Microphone_denied"), None);
    }

    #[test]
    fn only_the_builds_hashed_call_script_is_found() {
        assert!(is_call_script("call.0123456789abcdef.js"));
        assert!(!is_call_script("call.0123456789abcdef.js.br"));
        assert!(!is_call_script("call.js"));
        assert!(!is_call_script("dial.0123456789abcdef.js"));
        assert!(!is_call_script("call.0123456789abcdeg.js"));
    }
}
