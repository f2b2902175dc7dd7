//! A campaign's contacts: uploads judged before anything is stored, the import of their
//! good rows, the contacts table (filtered and paged in the database) and the results
//! export (streamed).
//!
//! An upload is kept as a file (a row of `campaign_uploads`) until its good rows are
//! imported or an hour passes; the preview is the file read by [`contact_csv`], with the
//! do-not-call list and the campaign's own contacts excluded. Importing reads it again,
//! so a number listed meanwhile is still left out.

use super::{visible, Campaign};
use crate::{
    error::AppError,
    model::{CampaignContact, CampaignState, ContactState, Me, Page, UploadPreview, UploadProblem},
    phone::E164,
    server::{
        audit::{self, Actor},
        contact_csv, new_id,
        state::AppState,
    },
};
use std::collections::HashSet;

/// Contacts per page of the table.
pub const PER_PAGE: u32 = 50;
/// An upload not imported is forgotten after this long.
const UPLOAD_TTL_SECS: i64 = 3600;
/// Rows inserted by one statement (10 parameters each).
const INSERT_ROWS: usize = 400;
/// Bad rows the preview lists; good rows it shows.
const PREVIEW_PROBLEMS: usize = 200;
const PREVIEW_SAMPLE: usize = 10;
/// The longest file name kept.
const FILE_NAME_MAX: usize = 200;

/// The contact's IANA zone when its number says it for sure.
pub fn zone_of(phone: &E164) -> Option<String> {
    crate::server::time_zones::zone_of(phone).map(|z| z.name().to_string())
}

/// How many contacts a campaign has.
pub async fn count(state: &AppState, campaign_id: &str) -> Result<u64, AppError> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM campaign_contacts WHERE campaign_id = $1")
            .bind(campaign_id)
            .fetch_one(&state.db.pool)
            .await?;
    Ok(n.max(0) as u64)
}

fn open_for_contacts(campaign: &Campaign) -> Result<(), AppError> {
    match campaign.state {
        CampaignState::Completed | CampaignState::Cancelled => Err(AppError::conflict(format!(
            "The campaign is {}: it takes no more contacts.",
            campaign.state.label().to_lowercase()
        ))),
        _ => Ok(()),
    }
}

/// Reads `bytes` as the campaign's contacts, leaving out numbers on the do-not-call list
/// and numbers the campaign already has.
async fn judge(
    state: &AppState,
    campaign: &Campaign,
    bytes: &[u8],
    country: Option<&str>,
) -> Result<contact_csv::Parsed, AppError> {
    // Both sets are read once; the do-not-call list is shared by all campaigns and the
    // campaign's own numbers are what the file is compared with.
    let listed: HashSet<String> = sqlx::query_as::<_, (String,)>("SELECT e164 FROM do_not_call")
        .fetch_all(&state.db.pool)
        .await?
        .into_iter()
        .map(|(n,)| n)
        .collect();
    let already: HashSet<String> = sqlx::query_as::<_, (String,)>(
        "SELECT phone FROM campaign_contacts WHERE campaign_id = $1",
    )
    .bind(&campaign.id)
    .fetch_all(&state.db.pool)
    .await?
    .into_iter()
    .map(|(n,)| n)
    .collect();
    let country = country.or(campaign.default_country.as_deref());
    contact_csv::parse(bytes, country, |phone| {
        if listed.contains(phone.as_str()) {
            Some("on the do-not-call list".to_string())
        } else if already.contains(phone.as_str()) {
            Some("already in this campaign".to_string())
        } else {
            None
        }
    })
    .map_err(|refusal| AppError::invalid("file", refusal.to_string()))
}

fn preview_of(
    upload_id: &str,
    campaign_id: &str,
    file_name: &str,
    parsed: &contact_csv::Parsed,
) -> UploadPreview {
    UploadPreview {
        upload_id: upload_id.to_string(),
        campaign_id: campaign_id.to_string(),
        file_name: file_name.to_string(),
        columns: parsed.columns.clone(),
        phone_column: parsed.phone_column.clone(),
        name_column: parsed.name_column.clone(),
        good_rows: parsed.good_rows() as u64,
        bad_rows: parsed.bad_rows as u64,
        problems: parsed
            .problems
            .iter()
            .take(PREVIEW_PROBLEMS)
            .map(|p| UploadProblem {
                line: p.line,
                value: p.value.clone(),
                problem: p.problem.to_string(),
            })
            .collect(),
        zone_unknown: parsed
            .contacts
            .iter()
            .filter(|c| zone_of(&c.phone).is_none())
            .count() as u64,
        sample: parsed
            .contacts
            .iter()
            .take(PREVIEW_SAMPLE)
            .map(|c| (c.line, c.phone.as_str().to_string(), c.name.clone()))
            .collect(),
    }
}

/// Judges an uploaded file and keeps it for the import; nothing becomes a contact yet.
pub async fn upload(
    state: &AppState,
    me: &Me,
    campaign_id: &str,
    file_name: &str,
    bytes: &[u8],
    country: Option<&str>,
) -> Result<UploadPreview, AppError> {
    let campaign = visible(state, me, campaign_id).await?;
    open_for_contacts(&campaign)?;
    if bytes.is_empty() {
        return Err(AppError::invalid(
            "file",
            "Choose a CSV file: the one chosen is empty.",
        ));
    }
    let country = country
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_ascii_uppercase);
    if country
        .as_deref()
        .is_some_and(|c| crate::phone::calling_code(c).is_none())
    {
        return Err(AppError::invalid(
            "country",
            "Choose a country by its two-letter code, e.g. US or GB.",
        ));
    }
    let parsed = judge(state, &campaign, bytes, country.as_deref()).await?;
    let file_name: String = file_name
        .chars()
        .filter(|c| !c.is_control())
        .take(FILE_NAME_MAX)
        .collect();
    let id = new_id();
    let t = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    sqlx::query("DELETE FROM campaign_uploads WHERE created_at < $1")
        .bind(t - UPLOAD_TTL_SECS)
        .execute(&mut *tx.tx)
        .await?;
    sqlx::query(
        "INSERT INTO campaign_uploads (id, campaign_id, file_name, country, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(campaign_id)
    .bind(&file_name)
    .bind(&country)
    .bind(bytes.to_vec())
    .bind(t)
    .execute(&mut *tx.tx)
    .await?;
    tx.commit().await?;
    Ok(preview_of(&id, campaign_id, &file_name, &parsed))
}

async fn load_upload(
    state: &AppState,
    campaign_id: &str,
    upload_id: &str,
) -> Result<(String, Option<String>, Vec<u8>), AppError> {
    let row: Option<(String, Option<String>, Vec<u8>, i64)> = sqlx::query_as(
        "SELECT file_name, country, body, created_at FROM campaign_uploads WHERE id = $1 AND campaign_id = $2",
    )
    .bind(upload_id)
    .bind(campaign_id)
    .fetch_optional(&state.db.pool)
    .await?;
    match row {
        Some((name, country, body, created)) if created >= state.clock.now() - UPLOAD_TTL_SECS => {
            Ok((name, country, body))
        }
        _ => Err(AppError::not_found(
            "upload (uploads are kept for an hour: upload the file again)",
        )),
    }
}

/// The preview of an upload kept for the import (the page after the upload).
pub async fn preview(
    state: &AppState,
    me: &Me,
    campaign_id: &str,
    upload_id: &str,
) -> Result<UploadPreview, AppError> {
    let campaign = visible(state, me, campaign_id).await?;
    let (name, country, body) = load_upload(state, campaign_id, upload_id).await?;
    let parsed = judge(state, &campaign, &body, country.as_deref()).await?;
    Ok(preview_of(upload_id, campaign_id, &name, &parsed))
}

/// What an import added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Imported {
    pub added: u64,
    pub left_out: u64,
}

/// Adds an upload's good rows as contacts (its bad rows are left out) and forgets the
/// file. Each contact is given one of the campaign's numbers, in turn, for all its
/// attempts.
pub async fn import(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    campaign_id: &str,
    upload_id: &str,
) -> Result<Imported, AppError> {
    let campaign = visible(state, me, campaign_id).await?;
    open_for_contacts(&campaign)?;
    let (name, country, body) = load_upload(state, campaign_id, upload_id).await?;
    let parsed = judge(state, &campaign, &body, country.as_deref()).await?;
    drop(body);
    let added = insert(state, &campaign, &parsed.contacts, Some(upload_id)).await?;
    audit::record(
        &state.db,
        actor,
        "campaign.contacts_import",
        Some(&campaign.name),
        Some(&format!(
            "campaign {campaign_id}: {added} contacts added from {name}, {} rows left out",
            parsed.bad_rows
        )),
    )
    .await?;
    super::engine::wake(state);
    Ok(Imported {
        added,
        left_out: parsed.bad_rows as u64 + (parsed.good_rows() as u64 - added),
    })
}

/// Adds contacts given as JSON (the API), judged like a file's rows.
pub async fn add_list(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    campaign_id: &str,
    list: &[crate::server::campaigns::contacts::ContactInput],
) -> Result<(Imported, Vec<UploadProblem>), AppError> {
    let campaign = visible(state, me, campaign_id).await?;
    open_for_contacts(&campaign)?;
    if list.len() > contact_csv::MAX_ROWS {
        return Err(AppError::invalid(
            "contacts",
            format!("Send at most {} contacts at once.", contact_csv::MAX_ROWS),
        ));
    }
    // The same reader judges them: the list is written as a file first.
    let mut columns: Vec<String> = vec!["phone".into(), "name".into()];
    for c in list {
        for key in c.variables.keys() {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    let write = |w: &mut csv::Writer<Vec<u8>>, row: Vec<String>| {
        w.write_record(row)
            .map_err(|_| AppError::invalid("contacts", "A contact could not be read."))
    };
    write(&mut writer, columns.clone())?;
    for c in list {
        let mut row = vec![c.phone.clone(), c.name.clone().unwrap_or_default()];
        row.extend(
            columns[2..]
                .iter()
                .map(|k| c.variables.get(k).cloned().unwrap_or_default()),
        );
        write(&mut writer, row)?;
    }
    let bytes = writer.into_inner().map_err(|_| AppError::Internal)?;
    let parsed = judge(state, &campaign, &bytes, None).await?;
    let added = insert(state, &campaign, &parsed.contacts, None).await?;
    audit::record(
        &state.db,
        actor,
        "campaign.contacts_import",
        Some(&campaign.name),
        Some(&format!(
            "campaign {campaign_id}: {added} contacts added by the API, {} left out",
            parsed.bad_rows
        )),
    )
    .await?;
    super::engine::wake(state);
    let problems = parsed
        .problems
        .iter()
        .map(|p| UploadProblem {
            // Line 1 is the header: the list's first contact is number 1.
            line: p.line.saturating_sub(1),
            value: p.value.clone(),
            problem: p.problem.to_string(),
        })
        .collect();
    Ok((
        Imported {
            added,
            left_out: parsed.bad_rows as u64,
        },
        problems,
    ))
}

/// A contact sent as JSON.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ContactInput {
    /// E.164, or national in the campaign's default country.
    pub phone: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Passed to the agent with the call.
    #[serde(default)]
    pub variables: std::collections::BTreeMap<String, String>,
}

async fn insert(
    state: &AppState,
    campaign: &Campaign,
    contacts: &[contact_csv::Contact],
    upload_id: Option<&str>,
) -> Result<u64, AppError> {
    let numbers = super::number_ids(state, &campaign.id).await?;
    if numbers.is_empty() {
        return Err(AppError::conflict(
            "Choose a number to call from before adding contacts.",
        ));
    }
    let (existing,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM campaign_contacts WHERE campaign_id = $1")
            .bind(&campaign.id)
            .fetch_one(&state.db.pool)
            .await?;
    let t = state.clock.now();
    let mut added = 0u64;
    // One transaction: the whole list, or (on an error) none of it.
    let mut tx = state.db.begin_write().await?;
    for (chunk_at, chunk) in contacts.chunks(INSERT_ROWS).enumerate() {
        let values = (0..chunk.len())
            .map(|i| {
                let p = 3 + i * 7;
                format!(
                    "(${}, $1, ${}, ${}, ${}, ${}, ${}, ${}, 'pending', $2, $3)",
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5,
                    p + 6,
                    p + 7
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO campaign_contacts (id, campaign_id, line, phone, name, variables, time_zone, phone_number_id, state, next_attempt_at, updated_at) \
             VALUES {values} ON CONFLICT (campaign_id, phone) DO NOTHING"
        );
        let mut query = sqlx::query(&sql).bind(&campaign.id).bind(0i64).bind(t);
        for (i, c) in chunk.iter().enumerate() {
            let position = existing as usize + chunk_at * INSERT_ROWS + i;
            query = query
                .bind(crate::server::new_ordered_id())
                .bind(c.line as i64 + existing)
                .bind(c.phone.as_str().to_string())
                .bind(c.name.clone())
                .bind(serde_json::to_string(&c.variables).unwrap_or_else(|_| "{}".into()))
                .bind(zone_of(&c.phone))
                .bind(numbers[position % numbers.len()].clone());
        }
        added += query.execute(&mut *tx.tx).await?.rows_affected();
    }
    if let Some(upload) = upload_id {
        sqlx::query("DELETE FROM campaign_uploads WHERE id = $1")
            .bind(upload)
            .execute(&mut *tx.tx)
            .await?;
    }
    sqlx::query("UPDATE campaigns SET updated_at = $1 WHERE id = $2")
        .bind(t)
        .bind(&campaign.id)
        .execute(&mut *tx.tx)
        .await?;
    tx.commit().await?;
    Ok(added)
}

/// Which contacts the table shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContactFilter {
    /// `fresh`, `waiting`, `dialing` or `done`.
    pub state: Option<String>,
    /// A result (`completed`, `busy`, `do_not_call`, …) or last outcome.
    pub outcome: Option<String>,
    pub page: Option<u32>,
    /// Cursors (a page's `next` and `prev`), as in the other lists.
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub before: Option<String>,
}

const CONTACT_COLUMNS: &str =
    "id, line, phone, name, state, attempts, last_outcome, last_sip_status, result, \
     next_attempt_at, waiting_for, time_zone, call_id";

fn contact_at(row: &sqlx::any::AnyRow) -> Result<CampaignContact, sqlx::Error> {
    use sqlx::Row;
    let state: String = row.try_get(4)?;
    let state = ContactState::parse(&state).unwrap_or(ContactState::Pending);
    let next: i64 = row.try_get(9)?;
    Ok(CampaignContact {
        id: row.try_get(0)?,
        line: row.try_get::<i64, _>(1)?.max(0) as u64,
        phone: row.try_get(2)?,
        name: row.try_get(3)?,
        state,
        attempts: row.try_get::<i64, _>(5)?.clamp(0, i64::from(u32::MAX)) as u32,
        last_outcome: row.try_get(6)?,
        last_sip_status: row
            .try_get::<Option<i64>, _>(7)?
            .and_then(|s| u16::try_from(s).ok()),
        result: row.try_get(8)?,
        next_attempt_at: (state == ContactState::Pending && next > 0).then_some(next),
        waiting_for: row.try_get(10)?,
        time_zone: row.try_get(11)?,
        call_id: row.try_get(12)?,
    })
}

/// A page of a campaign's contacts, in file order, filtered in the database.
pub async fn list(
    state: &AppState,
    me: &Me,
    campaign_id: &str,
    filter: &ContactFilter,
) -> Result<Page<CampaignContact>, AppError> {
    visible(state, me, campaign_id).await?;
    use crate::server::list::{keyset, Filter, KeyKind, KeysetQuery, Position, Sort, Value};
    let (state_sql, attempts_sql) = match filter.state.as_deref() {
        Some("fresh") => ("pending", Some("attempts = 0")),
        Some("waiting") => ("pending", Some("attempts > 0")),
        Some("dialing") => ("dialing", None),
        Some("done") => ("done", None),
        Some("") | None => ("", None),
        Some(_) => {
            return Err(AppError::invalid(
                "state",
                "Filter by fresh, waiting, dialing or done.",
            ))
        }
    };
    let outcome = filter.outcome.as_deref().map(str::trim).unwrap_or_default();
    let mut conditions = Filter::new();
    conditions.eq("campaign_id", campaign_id);
    if !state_sql.is_empty() {
        conditions.eq("state", state_sql);
    }
    if let Some(attempts) = attempts_sql {
        conditions.sql(attempts);
    }
    if !outcome.is_empty() {
        conditions.with(
            "(result = ? OR (result IS NULL AND last_outcome = ?))",
            vec![Value::Text(outcome.into()), Value::Text(outcome.into())],
        );
    }
    // File order: the line, the id breaking ties; `campaign_contacts_line_id` (0015)
    // serves it from any cursor.
    let list = KeysetQuery {
        select: &format!("SELECT {CONTACT_COLUMNS} FROM campaign_contacts"),
        from: "FROM campaign_contacts",
        sort: Sort {
            name: "line.asc",
            key: "line",
            key_kind: KeyKind::Int,
            id: "id",
            id_kind: KeyKind::Text,
            descending: false,
        },
        per_page: PER_PAGE,
    };
    let position = Position::from_query(
        &list.sort,
        filter.after.as_deref(),
        filter.before.as_deref(),
        filter.page,
    )?;
    let page: Page<ContactRow> =
        keyset(&state.db.pool, &list, &conditions, &position, filter.page).await?;
    Ok(Page {
        items: page.items.into_iter().map(|r| r.0).collect(),
        page: page.page,
        per_page: page.per_page,
        total: page.total,
        total_more: page.total_more,
        next: page.next,
        prev: page.prev,
    })
}

/// A contact as a list reads it (by position, [`contact`]).
struct ContactRow(CampaignContact);

impl<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> for ContactRow {
    fn from_row(row: &'r sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        contact_at(row).map(ContactRow)
    }
}

/// Rows the export reads at a time.
const EXPORT_BATCH: i64 = 1000;

/// The results as CSV, read from the database a batch at a time (a campaign's size does
/// not change the memory it takes).
pub async fn export(
    state: &AppState,
    me: &Me,
    campaign_id: &str,
) -> Result<
    (
        String,
        impl futures::Stream<Item = Result<Vec<u8>, AppError>>,
    ),
    AppError,
> {
    let campaign = visible(state, me, campaign_id).await?;
    let state = state.clone();
    let campaign_id = campaign_id.to_string();
    let file_name = format!(
        "{}-results.csv",
        campaign
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            })
            .collect::<String>()
            .trim_matches('-')
    );
    let header = {
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record([
            "line",
            "phone",
            "name",
            "state",
            "attempts",
            "result",
            "last_outcome",
            "last_sip_status",
            "call_id",
            "variables",
        ]);
        w.into_inner().unwrap_or_default()
    };
    let stream = futures::stream::try_unfold(
        (Some(header), Some(-1i64)),
        move |(header, after)| {
            let (state, campaign_id) = (state.clone(), campaign_id.clone());
            async move {
                if let Some(header) = header {
                    return Ok(Some((header, (None, after))));
                }
                let Some(after) = after else { return Ok(None) };
                type Row = (
                    i64,
                    String,
                    Option<String>,
                    String,
                    i64,
                    Option<String>,
                    Option<String>,
                    Option<i64>,
                    Option<String>,
                    String,
                );
                let rows: Vec<Row> = sqlx::query_as(
                    "SELECT line, phone, name, state, attempts, result, last_outcome, last_sip_status, call_id, variables \
                     FROM campaign_contacts WHERE campaign_id = $1 AND line > $2 ORDER BY line LIMIT $3",
                )
                .bind(&campaign_id)
                .bind(after)
                .bind(EXPORT_BATCH)
                .fetch_all(&state.db.pool)
                .await?;
                if rows.is_empty() {
                    return Ok(None);
                }
                let last = rows.last().map(|r| r.0);
                let full = rows.len() as i64 == EXPORT_BATCH;
                let mut w = csv::Writer::from_writer(Vec::new());
                for (line, phone, name, st, attempts, result, last_outcome, sip, call, variables) in
                    rows
                {
                    let _ = w.write_record([
                        line.to_string(),
                        phone,
                        crate::escape::csv_cell(&name.unwrap_or_default()),
                        st,
                        attempts.to_string(),
                        result.unwrap_or_default(),
                        last_outcome.unwrap_or_default(),
                        sip.map(|s| s.to_string()).unwrap_or_default(),
                        call.unwrap_or_default(),
                        crate::escape::csv_cell(&variables),
                    ]);
                }
                let bytes = w.into_inner().map_err(|_| AppError::Internal)?;
                Ok(Some((bytes, (None, if full { last } else { None }))))
            }
        },
    );
    Ok((file_name, stream))
}

/// The largest upload request: the file and the form's other fields.
pub const MAX_UPLOAD: usize = contact_csv::MAX_BYTES + 64 * 1024;

/// `POST /api/campaigns/{id}/upload` (multipart: `file`, `country`): judges the file and
/// goes to its preview; a refused file goes back to the campaign's page, which says why.
/// A plain form post with or without JavaScript; the route's body limit is
/// [`MAX_UPLOAD`].
pub async fn upload_route(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    session: tower_sessions::Session,
    user: Option<axum::Extension<crate::server::auth::CurrentUser>>,
    mut form: axum::extract::Multipart,
) -> axum::response::Response {
    use axum::response::{IntoResponse, Redirect};
    let Some(axum::Extension(crate::server::auth::CurrentUser(me))) = user else {
        return Redirect::to("/login").into_response();
    };
    let page = crate::functions::campaigns::campaign_page(&id);
    let (mut file, mut file_name, mut country) = (None::<Vec<u8>>, String::new(), None::<String>);
    let mut refused = None;
    loop {
        match form.next_field().await {
            Ok(Some(field)) => match field.name() {
                Some("file") => {
                    file_name = field.file_name().unwrap_or_default().to_string();
                    match field.bytes().await {
                        Ok(bytes) => file = Some(bytes.to_vec()),
                        Err(e) => {
                            refused = Some(crate::server::do_not_call::upload_refusal(&e));
                            break;
                        }
                    }
                }
                Some("country") => country = field.text().await.ok(),
                _ => {}
            },
            Ok(None) => break,
            Err(e) => {
                refused = Some(crate::server::do_not_call::upload_refusal(&e));
                break;
            }
        }
    }
    let outcome = match (refused, file) {
        (Some(why), _) => Err(AppError::invalid("file", why)),
        (None, None) => Err(AppError::invalid("file", "Choose a CSV file to upload.")),
        (None, Some(file)) => upload(&state, &me, &id, &file_name, &file, country.as_deref()).await,
    };
    match outcome {
        Ok(preview) => {
            Redirect::to(&format!("{page}/uploads/{}", preview.upload_id)).into_response()
        }
        Err(AppError::NotFound { .. }) => {
            (axum::http::StatusCode::NOT_FOUND, "No such campaign.").into_response()
        }
        Err(e) => {
            if crate::server::notice::leave_error(&session, &e.to_string())
                .await
                .is_err()
            {
                return (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "The upload could not be judged; try again.",
                )
                    .into_response();
            }
            Redirect::to(&format!("{page}#contacts")).into_response()
        }
    }
}

/// `GET /api/campaigns/{id}/results.csv`: the results, streamed.
pub async fn export_route(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    user: Option<axum::Extension<crate::server::auth::CurrentUser>>,
) -> axum::response::Response {
    use axum::response::{IntoResponse, Redirect};
    let Some(axum::Extension(crate::server::auth::CurrentUser(me))) = user else {
        return Redirect::to("/login").into_response();
    };
    results_response(&state, &me, &id).await
}

/// The results export as an HTTP answer (the page's link and the JSON API's route).
pub async fn results_response(state: &AppState, me: &Me, id: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    use futures::TryStreamExt;
    match export(state, me, id).await {
        Ok((file_name, stream)) => (
            [
                (
                    axum::http::header::CONTENT_TYPE,
                    "text/csv; charset=utf-8".to_string(),
                ),
                (
                    axum::http::header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{file_name}\""),
                ),
                (axum::http::header::CACHE_CONTROL, "no-store".to_string()),
            ],
            axum::body::Body::from_stream(stream.map_err(|e| std::io::Error::other(e.to_string()))),
        )
            .into_response(),
        Err(AppError::NotFound { .. }) => {
            (axum::http::StatusCode::NOT_FOUND, "No such campaign.").into_response()
        }
        Err(e) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
