//! Call tracking: one call session per SIP participant, keyed by LiveKit's `sip.callID`,
//! built from LiveKit's webhooks and Dial's own actions, and kept true by a reconcile
//! against LiveKit's rooms.
//!
//! Webhooks arrive twice, late, out of order, or never (WIRE.md). So:
//! - every event is recorded once (its id is the primary key of `call_events`), in the same
//!   transaction as its effect on the session; a duplicate changes nothing;
//! - a session's state only moves forward (dialing → ringing → answered → ended, by
//!   `status_rank`); a late `participant_joined` fills in what it knows but never reopens an
//!   ended call; each timestamp is set once;
//! - [`reconcile`] compares open sessions with LiveKit's participants and closes what is
//!   gone ("closed by reconcile").

use super::{audit, db::WriteTx, livekit_settings, new_id, now, state::AppState};
use crate::{error::AppError, phone::TransferTarget};
use livekit_protocol as proto;
use serde_json::json;
use std::{collections::BTreeMap, time::Duration};

pub use crate::model::{CallStatus, Direction};

/// Tells the pages following calls that this one changed.
fn notify(state: &AppState, call_id: &str, owner_id: Option<String>) {
    // No receiver (nobody watching) is not an error.
    let _ = state.call_changes.send(super::state::CallChange {
        call_id: call_id.to_string(),
        owner_id,
    });
}

async fn notify_by_id(state: &AppState, call_id: &str) {
    if state.call_changes.receiver_count() == 0 {
        return;
    }
    let owner: Option<Option<String>> =
        sqlx::query_scalar("SELECT owner_id FROM call_sessions WHERE id = $1")
            .bind(call_id)
            .fetch_optional(&state.db.pool)
            .await
            .ok()
            .flatten();
    if let Some(owner) = owner {
        notify(state, call_id, owner);
    }
}

/// The SIP facts of a participant, from its attributes.
#[derive(Debug, Clone)]
pub(super) struct SipFacts {
    pub call_id: String,
    pub status: Option<CallStatus>,
    pub phone_number: String,
    pub trunk_phone_number: String,
    pub inbound: bool,
    pub twilio_call_sid: Option<String>,
}

pub(super) fn sip_facts(p: &proto::ParticipantInfo) -> Option<SipFacts> {
    if p.kind != proto::participant_info::Kind::Sip as i32 {
        return None;
    }
    let attr = |k: &str| p.attributes.get(k).cloned().filter(|v| !v.is_empty());
    Some(SipFacts {
        call_id: attr("sip.callID")?,
        status: attr("sip.callStatus").and_then(|s| CallStatus::from_sip(&s)),
        phone_number: attr("sip.phoneNumber").unwrap_or_default(),
        trunk_phone_number: attr("sip.trunkPhoneNumber").unwrap_or_default(),
        // Calls routed by a dispatch rule came in; calls Dial (or anyone) placed went out.
        inbound: attr("sip.ruleID").is_some(),
        twilio_call_sid: attr("sip.twilio.callSid"),
    })
}

pub(super) fn disconnect_reason(p: &proto::ParticipantInfo) -> String {
    proto::DisconnectReason::try_from(p.disconnect_reason)
        .map(|r| r.as_str_name().to_ascii_lowercase())
        .unwrap_or_else(|_| "unknown".into())
}

/// Moves a session to `status` if that is forward, setting the status's timestamp once.
async fn advance(
    tx: &mut WriteTx<'_>,
    id: &str,
    status: CallStatus,
    at: i64,
    end_reason: Option<&str>,
    now: i64,
) -> Result<(), AppError> {
    let column = match status {
        CallStatus::Dialing => None,
        CallStatus::Ringing => Some("ringing_at"),
        CallStatus::Answered => Some("answered_at"),
        CallStatus::Ended => Some("ended_at"),
    };
    let stamp = column
        .map(|c| format!(", {c} = COALESCE({c}, $4)"))
        .unwrap_or_default();
    let sql = format!(
        "UPDATE call_sessions SET \
         status = CASE WHEN $1 > status_rank THEN $2 ELSE status END, \
         status_rank = CASE WHEN $1 > status_rank THEN $1 ELSE status_rank END, \
         end_reason = COALESCE(end_reason, $3), updated_at = $5{stamp} WHERE id = $6"
    );
    sqlx::query(&sql)
        .bind(status.rank())
        .bind(status.as_str())
        .bind(end_reason.map(str::to_string))
        .bind(at)
        .bind(now)
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reconcile

/// What a reconcile pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    pub checked: usize,
    pub closed: usize,
    pub updated: usize,
}

/// Sessions younger than this are left alone (their webhooks may still be on the way).
const RECONCILE_GRACE_SECS: i64 = 5;

/// Compares open sessions with LiveKit's participants: a participant that is gone closes
/// its session ("closed by reconcile"); one that is there moves it forward to its
/// `sip.callStatus`.
pub async fn reconcile(state: &AppState) -> Result<Reconciled, AppError> {
    reconcile_older_than(state, RECONCILE_GRACE_SECS).await
}

/// [`reconcile`] with another grace period (tests use 0).
pub async fn reconcile_older_than(
    state: &AppState,
    grace_secs: i64,
) -> Result<Reconciled, AppError> {
    let lk = livekit_settings::client(state)?;
    let open: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT id, room_name, participant_identity FROM call_sessions \
         WHERE status_rank < 3 AND updated_at <= $1",
    )
    .bind(now() - grace_secs)
    .fetch_all(&state.db.pool)
    .await?;
    let mut rooms: BTreeMap<String, Vec<(String, Option<String>)>> = BTreeMap::new();
    let mut report = Reconciled {
        checked: open.len(),
        ..Default::default()
    };
    for (id, room, identity) in open {
        match room {
            Some(room) if !room.is_empty() => rooms.entry(room).or_default().push((id, identity)),
            // Never reached a room (an outbound call whose creation failed): nothing to wait for.
            _ => {
                close(state, &id, "closed by reconcile: no room").await?;
                report.closed += 1;
            }
        }
    }
    for (room, sessions) in rooms {
        let participants = match lk.list_participants(&room).await {
            Ok(list) => list,
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => {
                tracing::warn!(%room, error = %e, "reconcile could not list a room's participants");
                continue;
            }
        };
        for (id, identity) in sessions {
            let present = participants
                .iter()
                .find(|p| Some(p.identity.as_str()) == identity.as_deref());
            match present {
                None => {
                    close(state, &id, "closed by reconcile").await?;
                    report.closed += 1;
                }
                Some(p) => {
                    if let Some(status) = sip_facts(p).and_then(|f| f.status) {
                        let mut tx = state.db.begin_write().await?;
                        advance(&mut tx, &id, status, now(), None, now()).await?;
                        tx.commit().await?;
                        report.updated += 1;
                    }
                }
            }
        }
    }
    if report.closed > 0 {
        tracing::info!(
            closed = report.closed,
            "reconcile closed calls LiveKit no longer has"
        );
    }
    Ok(report)
}

async fn close(state: &AppState, id: &str, reason: &str) -> Result<(), AppError> {
    let t = now();
    let mut tx = state.db.begin_write().await?;
    advance(&mut tx, id, CallStatus::Ended, t, Some(reason), t).await?;
    sqlx::query(
        "INSERT INTO call_events (id, call_id, source, kind, detail, occurred_at, received_at) \
         VALUES ($1, $2, 'dial', 'reconcile.closed', $3, $4, $4)",
    )
    .bind(format!("reconcile:{id}"))
    .bind(id)
    .bind(json!({ "reason": reason }).to_string())
    .bind(t)
    .execute(&mut *tx.tx)
    .await?;
    tx.commit().await?;
    notify_by_id(state, id).await;
    Ok(())
}

/// Reconciles every minute while LiveKit is configured.
pub fn spawn_reconciler(state: AppState) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        every.tick().await;
        loop {
            every.tick().await;
            if livekit_settings::client(&state).is_err() {
                continue;
            }
            if let Err(e) = reconcile(&state).await {
                tracing::warn!(error = %e, "call reconcile failed");
            }
        }
    });
}

/// Records "reconcile now" from a person in the audit log and runs it.
pub async fn reconcile_now(state: &AppState, actor: &audit::Actor) -> Result<Reconciled, AppError> {
    let report = reconcile(state).await?;
    audit::record(
        &state.db,
        actor,
        "calls.reconcile",
        None,
        Some(&format!(
            "checked {}, closed {}",
            report.checked, report.closed
        )),
    )
    .await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn transfer_targets_are_normalised_once() {
        for typed in [
            "+1 (415) 555-0142",
            "tel:+14155550142",
            " tel:+1 415 555 0142 ",
        ] {
            assert_eq!(
                parse_transfer_target(typed).unwrap().as_str(),
                "tel:+14155550142",
                "{typed}"
            );
        }
        assert_eq!(
            parse_transfer_target("sip:desk@pbx.example.com")
                .unwrap()
                .as_str(),
            "sip:desk@pbx.example.com"
        );
        for bad in [
            "sip:a b@host",
            "sip:<x>@host",
            "sip:@host",
            "tel:12",
            "",
            "sip:x@host\r\nX: y",
        ] {
            assert!(parse_transfer_target(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        /// Fuzz target: any text is a transfer target in one of the two sent forms, or
        /// refused; never a panic.
        #[test]
        fn transfer_target_parsing_is_total(text in any::<String>()) {
            if let Ok(target) = parse_transfer_target(&text) {
                let target = target.as_str();
                prop_assert!(target.starts_with("tel:+") || target.starts_with("sip:"));
                prop_assert!(target.bytes().all(|b| b.is_ascii_graphic()));
            }
        }
    }

    #[test]
    fn only_well_formed_call_sids_reach_a_like_pattern() {
        assert!(is_call_sid("CA0123456789abcdef0123456789abcdef"));
        for bad in [
            "CA%",
            "CA0123456789abcdef0123456789abcde_",
            "",
            "CA0123456789abcdef0123456789abcdeé",
        ] {
            assert!(!is_call_sid(bad), "{bad}");
        }
    }

    #[test]
    fn days_are_real_calendar_days() {
        assert_eq!(parse_day("1970-01-02"), Some(86_400));
        assert_eq!(parse_day("2024-02-29"), Some(1_709_164_800));
        assert_eq!(parse_day("2024-02-31"), None);
        assert_eq!(parse_day("2023-02-29"), None);
        assert_eq!(parse_day("9223372036854775807-03-01"), None);
        assert_eq!(parse_day("2024-13-01"), None);
        assert_eq!(parse_day("2024-01-01x"), None);
        assert_eq!(parse_day(""), None);
    }

    proptest! {
        /// Fuzz target: the `date` filter comes from the URL; no text makes it panic, and
        /// what it accepts is midnight UTC of a day.
        #[test]
        fn day_parsing_is_total(text in any::<String>()) {
            if let Some(t) = parse_day(&text) {
                prop_assert_eq!(t.rem_euclid(86_400), 0);
            }
        }

        #[test]
        fn day_parsing_of_near_dates_is_total(y in any::<i64>(), m in any::<i64>(), d in any::<i64>()) {
            let _ = parse_day(&format!("{y}-{m}-{d}"));
        }
    }

    #[test]
    fn sip_call_status_maps_forward_ranks() {
        assert_eq!(CallStatus::from_sip("dialing"), Some(CallStatus::Dialing));
        assert_eq!(CallStatus::from_sip("ringing"), Some(CallStatus::Ringing));
        assert_eq!(
            CallStatus::from_sip("automation"),
            Some(CallStatus::Answered)
        );
        assert_eq!(CallStatus::from_sip("active"), Some(CallStatus::Answered));
        assert_eq!(CallStatus::from_sip("hangup"), Some(CallStatus::Ended));
        assert_eq!(CallStatus::from_sip("weird"), None);
        assert!(CallStatus::Dialing < CallStatus::Ringing);
        assert!(CallStatus::Answered < CallStatus::Ended);
        assert_eq!(CallStatus::Ended.rank(), 3);
    }
}

// ---------------------------------------------------------------------------------------
// Placing and controlling calls

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

fn seconds(
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
            if d.len() > 64
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
            1..=300,
            &mut errors,
        );
        let max = seconds(
            "max_duration",
            input.max_duration_secs.as_deref(),
            1..=86_400,
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
            .is_some_and(|d| d.chars().count() > 128)
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

/// The outcome of a failed call, from its SIP status.
pub fn outcome_of_sip(status: u16) -> &'static str {
    match status {
        486 | 600 => "busy",
        408 | 480 | 487 => "no_answer",
        603 | 403 => "declined",
        401 | 407 => "trunk_auth_failed",
        404 | 410 | 484 | 485 | 488 | 502 | 503 | 604 => "unreachable",
        _ => "failed",
    }
}

const CALL_COLUMNS: &str =
    "c.id, c.direction, c.from_number, c.to_number, c.phone_number_id, c.assistant_id, \
     a.name AS assistant, c.status, c.outcome, c.sip_status_code, c.end_reason, c.sip_call_id, \
     c.twilio_call_sid, c.room_name, c.created_at, c.answered_at, c.ended_at, c.owner_id";

#[derive(sqlx::FromRow)]
struct CallDbRow {
    id: String,
    direction: String,
    from_number: String,
    to_number: String,
    phone_number_id: Option<String>,
    assistant_id: Option<String>,
    assistant: Option<String>,
    status: String,
    outcome: Option<String>,
    sip_status_code: Option<i64>,
    end_reason: Option<String>,
    sip_call_id: Option<String>,
    twilio_call_sid: Option<String>,
    room_name: Option<String>,
    created_at: i64,
    answered_at: Option<i64>,
    ended_at: Option<i64>,
    owner_id: Option<String>,
}

impl From<CallDbRow> for crate::model::CallRow {
    fn from(r: CallDbRow) -> Self {
        // The columns are CHECK-constrained to these names; anything else is a bug, logged.
        let direction = Direction::parse(&r.direction).unwrap_or_else(|| {
            tracing::error!(call = %r.id, direction = %r.direction, "a call with an unknown direction");
            Direction::Inbound
        });
        let status = CallStatus::parse(&r.status).unwrap_or_else(|| {
            tracing::error!(call = %r.id, status = %r.status, "a call with an unknown status");
            CallStatus::Ended
        });
        crate::model::CallRow {
            id: r.id,
            direction,
            from: r.from_number,
            to: r.to_number,
            number_id: r.phone_number_id,
            assistant_id: r.assistant_id,
            assistant: r.assistant,
            status,
            outcome: r.outcome,
            sip_status_code: r.sip_status_code,
            end_reason: r.end_reason,
            sip_call_id: r.sip_call_id,
            twilio_call_sid: r.twilio_call_sid,
            room: r.room_name,
            created_at: r.created_at,
            answered_at: r.answered_at,
            ended_at: r.ended_at,
        }
    }
}

/// One call the user may see (others' are "not found").
pub async fn get(
    state: &AppState,
    me: &crate::model::Me,
    id: &str,
) -> Result<crate::model::CallRow, AppError> {
    let found: Option<CallDbRow> = sqlx::query_as(&format!(
        "SELECT {CALL_COLUMNS} FROM call_sessions c LEFT JOIN assistants a ON a.id = c.assistant_id WHERE c.id = $1"
    ))
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await?;
    match found {
        Some(row) if me.is_admin() || row.owner_id.as_deref() == Some(me.id.as_str()) => {
            Ok(row.into())
        }
        _ => Err(AppError::not_found("That call")),
    }
}

pub const PER_PAGE: u32 = 50;

/// The calls table: filtered and paged in the database; owners see their calls only.
pub async fn list(
    state: &AppState,
    me: &crate::model::Me,
    query: &crate::model::CallQuery,
) -> Result<crate::model::Page<crate::model::CallRow>, AppError> {
    let mut conditions: Vec<String> = vec!["1 = 1".into()];
    let mut binds: Vec<String> = Vec::new();
    let mut bind = |v: String, conditions: &mut Vec<String>, sql: &str| {
        binds.push(v);
        conditions.push(sql.replace('?', &format!("${}", binds.len())));
    };
    if !me.is_admin() {
        bind(me.id.clone(), &mut conditions, "c.owner_id = ?");
    }
    if let Some(a) = query.assistant.clone().filter(|v| !v.is_empty()) {
        bind(a, &mut conditions, "c.assistant_id = ?");
    }
    if let Some(n) = query.number.clone().filter(|v| !v.is_empty()) {
        bind(n, &mut conditions, "c.phone_number_id = ?");
    }
    if let Some(d) = query
        .direction
        .clone()
        .filter(|v| v == "inbound" || v == "outbound")
    {
        bind(d, &mut conditions, "c.direction = ?");
    }
    match query.status.as_deref() {
        Some("live") => conditions.push("c.status_rank < 3".into()),
        Some(s @ ("dialing" | "ringing" | "answered" | "ended")) => {
            bind(s.to_string(), &mut conditions, "c.status = ?")
        }
        _ => {}
    }
    let mut day_range = None;
    if let Some(date) = query.date.as_deref().filter(|d| !d.is_empty()) {
        let start = parse_day(date)
            .ok_or_else(|| AppError::invalid("date", "Enter a date as YYYY-MM-DD."))?;
        day_range = Some((start, start + 86_400));
    }
    let filter = conditions.join(" AND ");
    let filter = match day_range {
        Some((a, b)) => format!("{filter} AND c.created_at >= {a} AND c.created_at < {b}"),
        None => filter,
    };
    let count_sql = format!("SELECT COUNT(*) FROM call_sessions c WHERE {filter}");
    let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
    for b in &binds {
        count = count.bind(b.clone());
    }
    let total = count.fetch_one(&state.db.pool).await?;
    let (page, offset) = super::page_offset(query.page, PER_PAGE)?;
    let sql = format!(
        "SELECT {CALL_COLUMNS} FROM call_sessions c LEFT JOIN assistants a ON a.id = c.assistant_id \
         WHERE {filter} ORDER BY c.created_at DESC, c.id LIMIT {PER_PAGE} OFFSET {offset}"
    );
    let mut rows = sqlx::query_as::<_, CallDbRow>(&sql);
    for b in &binds {
        rows = rows.bind(b.clone());
    }
    let items = rows
        .fetch_all(&state.db.pool)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(crate::model::Page {
        items,
        page,
        per_page: PER_PAGE,
        total: total.max(0) as u64,
    })
}

/// `CA` and 32 hex digits: the form of every Twilio CallSid.
fn is_call_sid(text: &str) -> bool {
    text.len() == 34
        && text.starts_with("CA")
        && text.bytes().skip(2).all(|b| b.is_ascii_hexdigit())
}

/// Seconds since the epoch at 00:00 UTC of `YYYY-MM-DD`; `None` for anything that is not
/// a real calendar day (2024-02-31, a year past chrono's range, trailing text).
fn parse_day(text: &str) -> Option<i64> {
    let day = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
}

/// The call and its timeline: Dial's actions, LiveKit's events, Twilio's callbacks.
pub async fn detail(
    state: &AppState,
    me: &crate::model::Me,
    id: &str,
) -> Result<crate::model::CallDetail, AppError> {
    let call = get(state, me, id).await?;
    let mut events: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT source, kind, detail, occurred_at FROM call_events WHERE call_id = $1 ORDER BY occurred_at, received_at",
    )
    .bind(id)
    .fetch_all(&state.db.pool)
    .await?;
    // Twilio callbacks that arrived before the call was known, by CallSid.
    // The CallSid came from a SIP header (`sip.twilio.callSid`): it goes into the LIKE
    // pattern only when it is a well-formed CallSid (CA + 32 hex digits), which holds no
    // wildcard (`%`, `_`) or quote.
    if let Some(sid) = call.twilio_call_sid.as_ref().filter(|s| is_call_sid(s)) {
        let early: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT source, kind, detail, occurred_at FROM call_events WHERE call_id IS NULL AND source = 'twilio' AND detail LIKE $1",
        )
        .bind(format!("%\"CallSid\":\"{sid}\"%"))
        .fetch_all(&state.db.pool)
        .await?;
        events.extend(early);
        events.sort_by_key(|e| e.3);
    }
    Ok(crate::model::CallDetail {
        call,
        timeline: events
            .into_iter()
            .map(|(source, kind, detail, at)| crate::model::CallEventView {
                source,
                kind,
                detail,
                at,
            })
            .collect(),
    })
}

async fn dial_event(
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
struct DialOut {
    state: AppState,
    lk: super::livekit::LiveKitClient,
    id: String,
    trunk: String,
    room: String,
    identity: String,
    agent: String,
    agent_metadata: String,
    request: CallRequest,
}

impl DialOut {
    async fn run(self) -> Result<(), AppError> {
        let DialOut {
            state,
            lk,
            id,
            trunk,
            room,
            identity,
            agent,
            agent_metadata,
            request,
        } = self;
        let state = &state;
        let create = async {
            lk.create_room(&room, "").await?;
            lk.dispatch_agent(&room, &agent, &agent_metadata).await?;
            lk.create_sip_participant(
                &trunk,
                request.to.as_str(),
                &room,
                super::livekit::CallOptions {
                    participant_identity: identity.clone(),
                    participant_name: Some(format!("Phone {}", request.to.as_str())),
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
        // follow the participant's sip.callStatus so the pages show "ringing".
        let watch = async {
            loop {
                tokio::time::sleep(Duration::from_millis(400)).await;
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
        let failed = |e: &super::livekit::LiveKitError| e.to_string();
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
                let outcome = status.map(outcome_of_sip).unwrap_or("failed");
                let t = now();
                let mut tx = state.db.begin_write().await?;
                sqlx::query("UPDATE call_sessions SET outcome = COALESCE(outcome, $1), sip_status_code = COALESCE(sip_status_code, $2) WHERE id = $3")
                    .bind(outcome)
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
                match status {
                    // A call outcome (busy, no answer, ...): the call is the answer.
                    Some(_) => Ok(()),
                    // Not a call outcome but a failure to place it: say so.
                    None => Err(e.into()),
                }
            }
        }
    }
}

/// The status watcher loops until the call's creation finishes.
fn unreachable_watch(
) -> Result<super::livekit::proto::SipParticipantInfo, super::livekit::LiveKitError> {
    Err(super::livekit::LiveKitError::Network(
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
    type NumberInfo = (String, Option<String>, Option<String>);
    let number: Option<NumberInfo> = sqlx::query_as(
        "SELECT e164, owner_id, assistant_id FROM phone_numbers WHERE id = $1 AND released_at IS NULL",
    )
    .bind(&request.number_id)
    .fetch_optional(&state.db.pool)
    .await?;
    let (from, owner, number_assistant) = number
        .filter(|(_, owner, _)| me.is_admin() || owner.as_deref() == Some(me.id.as_str()))
        .ok_or_else(|| AppError::invalid("number_id", "Choose one of your numbers."))?;
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
    let lk = livekit_settings::client(state)?;
    let trunk = super::provisioning::ensure_outbound_trunk(state, &request.number_id).await?;

    let id = new_id();
    let room = format!("{prefix}{}", &id.replace('-', "")[..12]);
    let identity = format!("sip_{}", request.to.as_str());
    let t = now();
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
    .execute(&state.db.pool)
    .await?;
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
    audit::record(
        &state.db,
        actor,
        "call.place",
        Some(request.to.as_str()),
        Some(&format!("call {id} from {from}")),
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

async fn live_call(
    state: &AppState,
    me: &crate::model::Me,
    id: &str,
) -> Result<(crate::model::CallRow, String, String), AppError> {
    let call = get(state, me, id).await?;
    if !call.is_live() {
        return Err(AppError::conflict("The call has ended."));
    }
    let identity: Option<String> =
        sqlx::query_scalar("SELECT participant_identity FROM call_sessions WHERE id = $1")
            .bind(id)
            .fetch_one(&state.db.pool)
            .await?;
    match (call.room.clone(), identity) {
        (Some(room), Some(identity)) => Ok((call, room, identity)),
        _ => Err(AppError::conflict("The call has not reached LiveKit yet.")),
    }
}

/// Hangs the call up (removes its SIP participant).
pub async fn hang_up(
    state: &AppState,
    me: &crate::model::Me,
    actor: &audit::Actor,
    id: &str,
) -> Result<crate::model::CallRow, AppError> {
    let (call, room, identity) = live_call(state, me, id).await?;
    let lk = livekit_settings::client(state)?;
    match lk.remove_participant(&room, &identity).await {
        Ok(()) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.into()),
    }
    let t = now();
    let reason = format!(
        "hung up by {}",
        actor.username.clone().unwrap_or_else(|| "Dial".into())
    );
    let mut tx = state.db.begin_write().await?;
    advance(&mut tx, id, CallStatus::Ended, t, Some(&reason), t).await?;
    tx.commit().await?;
    dial_event(state, id, "call.hangup", json!({ "by": actor.username })).await?;
    audit::record(
        &state.db,
        actor,
        "call.hangup",
        Some(&call.to),
        Some(&format!("call {id}")),
    )
    .await?;
    get(state, me, id).await
}

/// Parses a transfer target (see [`TransferTarget`]), naming the field when it is wrong.
pub fn parse_transfer_target(text: &str) -> Result<TransferTarget, AppError> {
    TransferTarget::parse(text).map_err(|message| AppError::invalid("transfer_to", message))
}

/// Transfers the call (SIP REFER). Succeeded or failed, with LiveKit's reason and SIP status.
pub async fn transfer(
    state: &AppState,
    me: &crate::model::Me,
    actor: &audit::Actor,
    id: &str,
    target: &str,
) -> Result<crate::model::TransferResult, AppError> {
    let target = parse_transfer_target(target)?;
    let target = target.as_str();
    let (call, room, identity) = live_call(state, me, id).await?;
    let lk = livekit_settings::client(state)?;
    dial_event(
        state,
        id,
        "transfer.started",
        json!({ "to": target, "by": actor.username }),
    )
    .await?;
    audit::record(
        &state.db,
        actor,
        "call.transfer",
        Some(&call.to),
        Some(&format!("call {id} to {target}")),
    )
    .await?;
    let result = match lk
        .transfer_sip_participant(&room, &identity, target, false, None)
        .await
    {
        Ok(()) => {
            dial_event(state, id, "transfer.succeeded", json!({ "to": target })).await?;
            crate::model::TransferResult {
                ok: true,
                message: format!(
                    "Transferred to {target}. The call was handed over: the caller is connected there now, and Dial's part of the call has ended."
                ),
                sip_status_code: None,
            }
        }
        Err(e) => {
            let status = e.sip_status().map(i64::from);
            dial_event(
                state,
                id,
                "transfer.failed",
                json!({ "to": target, "error": e.to_string(), "sip_status": status }),
            )
            .await?;
            crate::model::TransferResult {
                ok: false,
                message: format!("The transfer to {target} failed: {e}"),
                sip_status_code: status,
            }
        }
    };
    Ok(result)
}

/// Asks LiveKit for the call's participant and moves the session to its `sip.callStatus`.
pub async fn refresh(
    state: &AppState,
    me: &crate::model::Me,
    id: &str,
) -> Result<crate::model::CallRow, AppError> {
    let call = get(state, me, id).await?;
    if !call.is_live() {
        return Ok(call);
    }
    let Ok((_, room, identity)) = live_call(state, me, id).await else {
        return Ok(call);
    };
    let lk = livekit_settings::client(state)?;
    let status = match lk.get_participant(&room, &identity).await {
        Ok(p) => sip_facts(&p).and_then(|f| f.status),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(status) = status {
        let mut tx = state.db.begin_write().await?;
        advance(&mut tx, id, status, now(), None, now()).await?;
        tx.commit().await?;
    }
    get(state, me, id).await
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
