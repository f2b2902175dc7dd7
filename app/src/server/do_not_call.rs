//! The do-not-call list: numbers no campaign may ever dial. Admins add numbers one at a
//! time or from a CSV file (read by [`contact_csv`]: the good rows are added, each bad
//! row is reported with its line), and remove them with a confirmation; every change is
//! audited. Campaign imports leave listed numbers out, and the dialler asks
//! [`is_listed`] again right before each dial.

use super::{
    audit::{self, Actor},
    contact_csv,
    list::{paginate, Filter, ListQuery, Value},
    now,
    state::AppState,
};
use crate::{
    error::AppError,
    model::{DoNotCallEntry, DoNotCallSource, Me, Page},
    phone::E164,
};

/// Entries per page.
pub const PER_PAGE: u32 = 50;
/// The longest note kept with a number.
pub const NOTE_MAX: usize = 200;
/// Numbers added by one statement of an import (two parameters each, well under either
/// database's limit).
const INSERT_ROWS: usize = 500;
/// How many of an import's bad rows its report names (the rest are counted).
const REPORTED_PROBLEMS: usize = 5;

type Row = (String, String, String, Option<String>, i64);

fn entry((e164, source, note, added_by, created_at): Row) -> DoNotCallEntry {
    DoNotCallEntry {
        e164,
        // The column's CHECK allows only the three names.
        source: DoNotCallSource::parse(&source).unwrap_or(DoNotCallSource::Added),
        note,
        added_by,
        created_at,
    }
}

fn require_admin(me: &Me) -> Result<(), AppError> {
    if me.is_admin() {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// One page of the list, newest first; `q` finds numbers containing its digits.
pub async fn list(
    state: &AppState,
    me: &Me,
    q: Option<&str>,
    page: Option<u32>,
) -> Result<Page<DoNotCallEntry>, AppError> {
    require_admin(me)?;
    let mut filter = Filter::new();
    let digits: String = q
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    if !digits.is_empty() {
        filter.with("d.e164 LIKE ?", vec![Value::Text(format!("%{digits}%"))]);
    }
    let list = ListQuery {
        select: "SELECT d.e164, d.source, d.note, u.username, d.created_at FROM do_not_call d LEFT JOIN users u ON u.id = d.added_by",
        count: "SELECT COUNT(*) FROM do_not_call d",
        order: "d.created_at DESC, d.e164",
        per_page: PER_PAGE,
    };
    let page: Page<Row> = paginate(&state.db.pool, &list, &filter, page).await?;
    Ok(Page {
        items: page.items.into_iter().map(entry).collect(),
        page: page.page,
        per_page: page.per_page,
        total: page.total,
        ..Page::default()
    })
}

/// Whether `e164` may not be dialled by a campaign.
pub async fn is_listed(state: &AppState, e164: &E164) -> Result<bool, AppError> {
    let found: Option<String> = sqlx::query_scalar("SELECT e164 FROM do_not_call WHERE e164 = $1")
        .bind(e164.as_str())
        .fetch_optional(&state.db.pool)
        .await?;
    Ok(found.is_some())
}

fn note_of(note: &str) -> Result<String, AppError> {
    let note = note.trim();
    if note.chars().count() > NOTE_MAX {
        return Err(AppError::invalid(
            "note",
            format!("Keep the note to {NOTE_MAX} characters."),
        ));
    }
    Ok(note.to_string())
}

/// Adds one number (national numbers in `country`). Adding a number already listed
/// changes nothing and says so.
pub async fn add(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    number: &str,
    country: Option<&str>,
    note: &str,
) -> Result<String, AppError> {
    require_admin(me)?;
    let e164 = E164::parse(number, country).map_err(|why| AppError::invalid("number", why))?;
    let note = note_of(note)?;
    let mut tx = state.db.begin_write().await?;
    let added = sqlx::query(
        "INSERT INTO do_not_call (e164, source, note, added_by, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (e164) DO NOTHING",
    )
    .bind(e164.as_str())
    .bind(DoNotCallSource::Added.as_str())
    .bind(&note)
    .bind(&me.id)
    .bind(now())
    .execute(&mut *tx.tx)
    .await?
    .rows_affected();
    if added == 0 {
        return Ok(format!(
            "{} is already on the do-not-call list.",
            e164.formatted()
        ));
    }
    audit::record_on(
        &mut *tx.tx,
        actor,
        "do_not_call.add",
        Some(e164.as_str()),
        (!note.is_empty()).then_some(note.as_str()),
    )
    .await?;
    tx.commit().await?;
    Ok(format!(
        "Added {} to the do-not-call list: no campaign will call it.",
        e164.formatted()
    ))
}

/// The attribute an agent sets on its own participant when the callee asks not to be
/// called again (`"true"`); Dial reads it from the agent's `participant_left` webhook
/// (LiveKit sends none when attributes change).
pub const OPT_OUT_ATTRIBUTE: &str = "dial.opt_out";

/// What an opt-out did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OptedOut {
    /// The number now on the do-not-call list, E.164.
    pub e164: String,
    /// False when it was on the list already.
    pub added: bool,
}

/// The other party of call `call_id` (the callee of an outbound call, the caller of an
/// inbound one) asked not to be called again: their number goes on the do-not-call list
/// at once (source `opted_out`), and no campaign dials it from then on.
pub async fn opt_out(state: &AppState, actor: &Actor, call_id: &str) -> Result<OptedOut, AppError> {
    let call: Option<(String, String, String)> =
        sqlx::query_as("SELECT direction, from_number, to_number FROM call_sessions WHERE id = $1")
            .bind(call_id)
            .fetch_optional(&state.db.pool)
            .await?;
    let (direction, from, to) = call.ok_or_else(|| AppError::not_found("call"))?;
    let other = if direction == "inbound" { from } else { to };
    let e164 = E164::parse(&other, None).map_err(|_| {
        AppError::conflict("The caller's number is not a phone number (withheld or a SIP address): there is nothing to list.")
    })?;
    let mut tx = state.db.begin_write().await?;
    let added = sqlx::query(
        "INSERT INTO do_not_call (e164, source, note, added_by, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (e164) DO NOTHING",
    )
    .bind(e164.as_str())
    .bind(DoNotCallSource::OptedOut.as_str())
    .bind(format!("asked during call {call_id}"))
    .bind(actor.user_id.clone())
    .bind(now())
    .execute(&mut *tx.tx)
    .await?
    .rows_affected()
        > 0;
    if added {
        audit::record_on(
            &mut *tx.tx,
            actor,
            "do_not_call.opt_out",
            Some(e164.as_str()),
            Some(&format!("call {call_id}")),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(OptedOut {
        e164: e164.as_str().to_string(),
        added,
    })
}

/// [`opt_out`] for the call in `room` whose agent left with [`OPT_OUT_ATTRIBUTE`] set.
pub async fn opt_out_in_room(state: &AppState, room: &str) -> Result<Option<OptedOut>, AppError> {
    let call: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM call_sessions WHERE room_name = $1 ORDER BY created_at DESC LIMIT 1",
    )
    .bind(room)
    .fetch_optional(&state.db.pool)
    .await?;
    match call {
        Some((id,)) => opt_out(state, &Actor::system("agent"), &id).await.map(Some),
        None => Ok(None),
    }
}

/// Takes a number off the list.
pub async fn remove(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    e164: &str,
) -> Result<String, AppError> {
    require_admin(me)?;
    let e164 = E164::parse(e164, None).map_err(|why| AppError::invalid("e164", why))?;
    let mut tx = state.db.begin_write().await?;
    let removed = sqlx::query("DELETE FROM do_not_call WHERE e164 = $1")
        .bind(e164.as_str())
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
    if removed == 0 {
        return Err(AppError::not_found(format!(
            "{} on the do-not-call list",
            e164.formatted()
        )));
    }
    audit::record_on(
        &mut *tx.tx,
        actor,
        "do_not_call.remove",
        Some(e164.as_str()),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(format!(
        "Removed {} from the do-not-call list: campaigns may call it again.",
        e164.formatted()
    ))
}

/// What an import did, in words for the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub added: usize,
    pub already: usize,
    pub bad_rows: usize,
    /// The first bad rows, each "line N (“value”): problem".
    pub problems: Vec<String>,
}

impl ImportReport {
    /// One message: what was added, and which rows were not.
    pub fn message(&self) -> String {
        let plural = |n: usize, one: &str, many: &str| {
            if n == 1 {
                format!("1 {one}")
            } else {
                format!("{n} {many}")
            }
        };
        let mut text = format!(
            "Added {} to the do-not-call list.",
            plural(self.added, "number", "numbers")
        );
        if self.already > 0 {
            text.push_str(&format!(
                " {} already on it.",
                if self.already == 1 {
                    "1 was".to_string()
                } else {
                    format!("{} were", self.already)
                }
            ));
        }
        if self.bad_rows > 0 {
            text.push_str(&format!(
                " {} not added: {}",
                if self.bad_rows == 1 {
                    "1 row was".to_string()
                } else {
                    format!("{} rows were", self.bad_rows)
                },
                self.problems.join("; ")
            ));
            let unnamed = self.bad_rows.saturating_sub(self.problems.len());
            if unnamed > 0 {
                text.push_str(&format!("; and {unnamed} more"));
            }
            if !text.ends_with('.') {
                text.push('.');
            }
        }
        text
    }
}

/// Adds every good number of a CSV file (national numbers in `country`); bad rows are
/// reported, not added. A file refused as a whole adds nothing.
pub async fn import(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    file: &[u8],
    country: Option<&str>,
) -> Result<ImportReport, AppError> {
    require_admin(me)?;
    let parsed = contact_csv::parse(file, country, |_| None)
        .map_err(|refusal| AppError::invalid("file", refusal.to_string()))?;
    let t = now();
    let mut added = 0usize;
    // One transaction for the whole file: all of it is added, or (on an error) none. Rows
    // go in a few hundred per statement: 100,000 single-row inserts would be 100,000
    // round trips on PostgreSQL, longer than a request may take.
    let mut tx = state.db.begin_write().await?;
    for chunk in parsed.contacts.chunks(INSERT_ROWS) {
        let values = (0..chunk.len())
            .map(|i| {
                let p = i * 2;
                format!("(${}, $1, ${}, $2, $3)", p + 4, p + 5)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO do_not_call (e164, source, note, added_by, created_at) VALUES {values} ON CONFLICT (e164) DO NOTHING"
        );
        let mut query = sqlx::query(&sql)
            .bind(DoNotCallSource::Imported.as_str())
            .bind(&me.id)
            .bind(t);
        for contact in chunk {
            query = query
                .bind(contact.phone.as_str())
                .bind(contact.name.clone().unwrap_or_default());
        }
        added += query.execute(&mut *tx.tx).await?.rows_affected() as usize;
    }
    let report = ImportReport {
        added,
        already: parsed.contacts.len() - added,
        bad_rows: parsed.bad_rows,
        problems: parsed
            .problems
            .iter()
            .take(REPORTED_PROBLEMS)
            .map(|p| {
                if p.value.is_empty() {
                    format!("line {}: {}", p.line, p.problem)
                } else {
                    format!(
                        "line {} (\u{201c}{}\u{201d}): {}",
                        p.line, p.value, p.problem
                    )
                }
            })
            .collect(),
    };
    audit::record_on(
        &mut *tx.tx,
        actor,
        "do_not_call.import",
        None,
        Some(&format!(
            "{} added, {} already listed, {} rows not added",
            report.added, report.already, report.bad_rows
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

/// The largest import request: the file and the form's other fields.
pub const MAX_UPLOAD: usize = contact_csv::MAX_BYTES + 64 * 1024;

/// `POST /api/do-not-call/import` (multipart: `file`, `country`): imports the file and
/// goes back to the page, which says what happened (a session notice). A plain form
/// post with or without JavaScript; the route's body limit is [`MAX_UPLOAD`].
pub async fn upload(
    axum::extract::State(state): axum::extract::State<AppState>,
    session: tower_sessions::Session,
    user: Option<axum::Extension<super::auth::CurrentUser>>,
    client: Option<axum::Extension<super::auth::ClientIp>>,
    mut form: axum::extract::Multipart,
) -> axum::response::Response {
    use axum::response::{IntoResponse, Redirect};
    let page = crate::functions::do_not_call::DO_NOT_CALL_PAGE;
    let Some(axum::Extension(super::auth::CurrentUser(me))) = user else {
        return Redirect::to("/login").into_response();
    };
    if !me.is_admin() {
        return (
            axum::http::StatusCode::FORBIDDEN,
            "Only admins manage the do-not-call list.",
        )
            .into_response();
    }
    let actor = Actor {
        user_id: Some(me.id.clone()),
        username: Some(me.username.clone()),
        ip: client.map(|axum::Extension(ip)| ip.0),
    };
    let (mut file, mut country) = (None::<Vec<u8>>, None::<String>);
    let mut refused = None;
    loop {
        match form.next_field().await {
            Ok(Some(field)) => match field.name() {
                Some("file") => match field.bytes().await {
                    Ok(bytes) => file = Some(bytes.to_vec()),
                    Err(e) => {
                        refused = Some(upload_refusal(&e));
                        break;
                    }
                },
                Some("country") => {
                    country = field.text().await.ok().map(|c| c.trim().to_string());
                }
                _ => {}
            },
            Ok(None) => break,
            Err(e) => {
                refused = Some(upload_refusal(&e));
                break;
            }
        }
    }
    let outcome = match (refused, file) {
        (Some(why), _) => Err(why),
        (None, None) => Err("Choose a CSV file to import.".to_string()),
        (None, Some(file)) if file.is_empty() => {
            Err("Choose a CSV file to import: the one chosen is empty.".to_string())
        }
        (None, Some(file)) => {
            let country = country.filter(|c| !c.is_empty());
            import(&state, &me, &actor, &file, country.as_deref())
                .await
                .map(|report| report.message())
                .map_err(|e| e.to_string())
        }
    };
    let left = match &outcome {
        Ok(message) => super::notice::leave(&session, message).await,
        Err(message) => super::notice::leave_error(&session, message).await,
    };
    if left.is_err() {
        return (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "The import's result could not be kept for the page; see the audit log.",
        )
            .into_response();
    }
    Redirect::to(page).into_response()
}

/// A multipart body that could not be read, in words (too large, or cut short).
pub fn upload_refusal(e: &axum::extract::multipart::MultipartError) -> String {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        format!(
            "The file is larger than {} MB. Split it and upload the parts.",
            contact_csv::MAX_BYTES / (1024 * 1024)
        )
    } else {
        "The upload was cut short; try again.".to_string()
    }
}
