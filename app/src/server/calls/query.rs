//! Reading calls: one call, the filtered list, and a call's timeline.

use super::*;

pub(super) const CALL_COLUMNS: &str =
    "c.id, c.direction, c.from_number, c.to_number, c.phone_number_id, c.assistant_id, \
     a.name AS assistant, c.status, c.outcome, c.sip_status_code, c.end_reason, c.sip_call_id, \
     c.twilio_call_sid, c.room_name, c.created_at, c.answered_at, c.ended_at, c.owner_id, c.is_test, c.placed_by";

#[derive(sqlx::FromRow)]
pub(super) struct CallDbRow {
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
    is_test: i64,
    placed_by: Option<String>,
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
        let outcome = match r.outcome.as_deref().map(Outcome::parse) {
            Some(Some(stored)) => Some(stored),
            Some(None) => {
                tracing::error!(call = %r.id, "a call with an unknown outcome");
                Some(Outcome::Failed)
            }
            None if status == CallStatus::Ended => Some(outcome_of_ended(r.answered_at.is_some())),
            None => None,
        };
        crate::model::CallRow {
            id: r.id,
            direction,
            from: r.from_number,
            to: r.to_number,
            number_id: r.phone_number_id,
            assistant_id: r.assistant_id,
            assistant: r.assistant,
            outcome,
            status,
            sip_status_code: r.sip_status_code,
            end_reason: r.end_reason,
            sip_call_id: r.sip_call_id,
            twilio_call_sid: r.twilio_call_sid,
            room: r.room_name,
            created_at: r.created_at,
            answered_at: r.answered_at,
            ended_at: r.ended_at,
            test: r.is_test != 0,
            placed_by: r.placed_by,
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
    use crate::server::list::{keyset, Filter, KeyKind, KeysetQuery, Position, Sort, Value};
    let mut filter = Filter::new();
    if !me.is_admin() {
        filter.eq("c.owner_id", me.id.clone());
    }
    if let Some(a) = query.assistant.as_deref().filter(|v| !v.is_empty()) {
        filter.eq("c.assistant_id", a);
    }
    if let Some(n) = query.number.as_deref().filter(|v| !v.is_empty()) {
        filter.eq("c.phone_number_id", n);
    }
    if let Some(d) = query
        .direction
        .as_deref()
        .filter(|v| *v == "inbound" || *v == "outbound")
    {
        filter.eq("c.direction", d);
    }
    match query.status.as_deref() {
        Some("live") => {
            filter.sql("c.status_rank < 3");
        }
        Some(s @ ("dialing" | "ringing" | "answered" | "ended")) => {
            filter.eq("c.status", s);
        }
        _ => {}
    }
    if query.tests.as_deref() != Some("include") {
        filter.sql("c.is_test = 0");
    }
    if let Some(date) = query.date.as_deref().filter(|d| !d.is_empty()) {
        let start = parse_day(date)
            .ok_or_else(|| AppError::invalid("date", "Enter a date as YYYY-MM-DD."))?;
        filter.with(
            "c.created_at >= ? AND c.created_at < ?",
            vec![Value::Int(start), Value::Int(start + 86_400)],
        );
    }
    let select = format!(
        "SELECT {CALL_COLUMNS} FROM call_sessions c LEFT JOIN assistants a ON a.id = c.assistant_id"
    );
    // Newest first, the id breaking ties in the same direction: a cursor is one row-value
    // comparison that the `(created_at, id)` indexes of migration 0015 serve at any depth.
    let list = KeysetQuery {
        select: &select,
        from: "FROM call_sessions c",
        sort: Sort {
            name: "created.desc",
            key: "c.created_at",
            key_kind: KeyKind::Int,
            id: "c.id",
            id_kind: KeyKind::Text,
            descending: true,
        },
        per_page: PER_PAGE,
    };
    let position = Position::from_query(
        &list.sort,
        query.after.as_deref(),
        query.before.as_deref(),
        query.page,
    )?;
    let page: crate::model::Page<CallDbRow> =
        keyset(&state.db.pool, &list, &filter, &position, query.page).await?;
    Ok(crate::model::Page {
        items: page.items.into_iter().map(Into::into).collect(),
        page: page.page,
        per_page: page.per_page,
        total: page.total,
        total_more: page.total_more,
        next: page.next,
        prev: page.prev,
    })
}

/// `CA` and 32 hex digits: the form of every Twilio CallSid.
pub(super) fn is_call_sid(text: &str) -> bool {
    text.len() == 34
        && text.starts_with("CA")
        && text.bytes().skip(2).all(|b| b.is_ascii_hexdigit())
}

/// Seconds since the epoch at 00:00 UTC of `YYYY-MM-DD`; `None` for anything that is not
/// a real calendar day (2024-02-31, a year past chrono's range, trailing text).
pub(super) fn parse_day(text: &str) -> Option<i64> {
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
    let transfer_block = match call.number_id.as_deref().filter(|_| call.is_live()) {
        Some(number) => {
            crate::server::assignment::block_for_number(state, number, me.is_admin()).await?
        }
        None => None,
    };
    Ok(crate::model::CallDetail {
        transfer_block,
        call,
        timeline: events
            .into_iter()
            .map(|(source, kind, detail, at)| {
                crate::model::CallEventView::from_stored(source, kind, &detail, at)
            })
            .collect(),
    })
}
