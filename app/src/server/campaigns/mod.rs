//! Campaigns: an assistant calls a list of contacts through the numbers assigned to it.
//!
//! - [`mod@self`]: the settings (checked once, into [`Plan`]), creating and editing, the
//!   lifecycle (draft → running ⇄ paused → completed, or cancelled) and what the pages read.
//! - [`contacts`]: uploads judged before anything is stored, the import of their good
//!   rows, the contacts table and the results export.
//! - [`gate`]: what may be dialled now (the calling window and quiet hours of
//!   `server::calling_window`, in the right zones; the do-not-call list; the daily cap).
//! - [`engine`]: the dialler every instance runs: claims with leases, the shared call
//!   rate budgets, settling attempts by outcome, reconciling after a crash.

pub mod contacts;
pub mod engine;
pub mod gate;

use super::{
    audit::{self, Actor},
    calling_window::{CallingWindow, CallingWindowText, LocalTime, QuietHours, Weekdays},
    new_id,
    state::AppState,
};
use crate::{
    error::{AppError, FieldError},
    model::{
        CallerNumber, CampaignCounts, CampaignDetail, CampaignSettings, CampaignState,
        CampaignSummary, Me, Page, ProgressPoint, RetryPolicy,
    },
};

/// Campaigns per page of the list.
pub const PER_PAGE: u32 = 25;
/// The longest campaign name.
pub const NAME_MAX: usize = 100;
/// The most numbers one campaign calls from.
pub const MAX_NUMBERS: usize = 50;
/// Declines (603/608) on one caller number before it is flagged, and the share of its
/// attempts they must reach.
const FLAG_DECLINES: u64 = 5;
const FLAG_SHARE_PERCENT: u64 = 20;

/// A campaign's settings, checked: what the engine and the store use.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub name: String,
    pub assistant_id: String,
    pub owner_id: String,
    pub number_ids: Vec<String>,
    pub default_country: Option<String>,
    pub time_zone: chrono_tz::Tz,
    pub use_contact_zone: bool,
    pub window: CallingWindow,
    pub max_concurrent: u32,
    pub max_cps_milli: u32,
    pub daily_cap: u32,
    pub ringing_timeout_secs: u32,
    pub max_duration_secs: Option<u32>,
    pub retry: RetryPolicy,
}

impl Plan {
    /// Checks every field (all problems at once, each on its field) and that the
    /// assistant and numbers are the user's and go together.
    pub async fn check(state: &AppState, me: &Me, s: &CampaignSettings) -> Result<Plan, AppError> {
        let mut errors = Vec::new();
        let mut field = |name: &str, message: String| errors.push(FieldError::new(name, message));
        let name = s.name.trim().to_string();
        if name.is_empty() {
            field("name", "Give the campaign a name.".into());
        } else if name.chars().count() > NAME_MAX {
            field("name", format!("A name is at most {NAME_MAX} characters."));
        }
        let time_zone = s.time_zone.trim().parse::<chrono_tz::Tz>().ok();
        if time_zone.is_none() {
            field(
                "time_zone",
                "Choose a time zone by its IANA name, e.g. America/New_York or Europe/London."
                    .into(),
            );
        }
        let days = s
            .days
            .iter()
            .map(|d| d.trim())
            .collect::<Vec<_>>()
            .join(",");
        let window = match CallingWindow::parse(&CallingWindowText {
            days: &days,
            start: &s.window_start,
            end: &s.window_end,
            quiet_not_before: Some(&s.quiet_start),
            quiet_not_after: Some(&s.quiet_end),
        }) {
            Ok(window) => Some(window),
            Err(AppError::Invalid { errors: found }) => {
                // The form's and the API's names for the window's fields.
                for e in found {
                    let name = match e.field.as_str() {
                        "start" => "window_start",
                        "end" => "window_end",
                        "quiet_not_before" => "quiet_start",
                        "quiet_not_after" => "quiet_end",
                        other => other,
                    };
                    field(name, e.message);
                }
                None
            }
            Err(other) => return Err(other),
        };
        if !(1..=500).contains(&s.max_concurrent) {
            field(
                "max_concurrent",
                "Allow from 1 to 500 calls at the same time.".into(),
            );
        }
        if !(s.max_cps.is_finite() && (0.1..=100.0).contains(&s.max_cps)) {
            field(
                "max_cps",
                "Allow from 0.1 to 100 call attempts a second.".into(),
            );
        }
        if !(1..=20).contains(&s.daily_cap) {
            field(
                "daily_cap",
                "Allow from 1 to 20 attempts on one number a day.".into(),
            );
        }
        if !(5..=300).contains(&s.ringing_timeout_secs) {
            field(
                "ringing_timeout_secs",
                "Let a call ring from 5 to 300 seconds.".into(),
            );
        }
        if s.max_duration_secs
            .is_some_and(|d| !(10..=86_400).contains(&d))
        {
            field(
                "max_duration_secs",
                "A call may last from 10 seconds to 24 hours.".into(),
            );
        }
        for (name, rule) in [
            ("retry_busy", s.retry.busy),
            ("retry_no_answer", s.retry.no_answer),
            ("retry_failed", s.retry.failed),
            ("retry_trunk_auth_failed", s.retry.trunk_auth_failed),
        ] {
            if !(1..=10).contains(&rule.max_attempts) {
                field(name, "Allow from 1 to 10 attempts in all.".into());
            }
            if !(60..=7 * 86_400).contains(&rule.delay_secs) {
                field(
                    name,
                    "Wait from 1 minute to 7 days before trying again.".into(),
                );
            }
        }
        let default_country = s
            .default_country
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_ascii_uppercase);
        if default_country
            .as_deref()
            .is_some_and(|c| crate::phone::calling_code(c).is_none())
        {
            field(
                "default_country",
                "Choose a country by its two-letter code, e.g. US or GB.".into(),
            );
        }

        // The assistant and its numbers.
        let assistant: Option<(String,)> =
            sqlx::query_as("SELECT owner_id FROM assistants WHERE id = $1")
                .bind(s.assistant_id.trim())
                .fetch_optional(&state.db.pool)
                .await?;
        let owner_id = assistant
            .map(|(o,)| o)
            .filter(|o| me.is_admin() || *o == me.id);
        if owner_id.is_none() {
            field("assistant_id", "Choose one of your assistants.".into());
        }
        let mut number_ids: Vec<String> = Vec::new();
        for id in &s.number_ids {
            let id = id.trim().to_string();
            if !id.is_empty() && !number_ids.contains(&id) {
                number_ids.push(id);
            }
        }
        if number_ids.is_empty() {
            field(
                "number_ids",
                "Choose at least one number to call from (a number assigned to the assistant)."
                    .into(),
            );
        } else if number_ids.len() > MAX_NUMBERS {
            field(
                "number_ids",
                format!("Call from at most {MAX_NUMBERS} numbers."),
            );
        } else if owner_id.is_some() {
            for id in &number_ids {
                let row: Option<(String, Option<String>, Option<i64>)> = sqlx::query_as(
                    "SELECT e164, assistant_id, released_at FROM phone_numbers WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&state.db.pool)
                .await?;
                match row {
                    Some((e164, assistant, released)) => {
                        if released.is_some() {
                            field(
                                "number_ids",
                                format!("{} was released.", crate::phone::format_e164(&e164)),
                            );
                        } else if assistant.as_deref() != Some(s.assistant_id.trim()) {
                            field(
                                "number_ids",
                                format!(
                                    "{} is not assigned to this assistant: assign it first, or choose another number.",
                                    crate::phone::format_e164(&e164)
                                ),
                            );
                        }
                    }
                    None => field("number_ids", "Choose numbers from the list.".into()),
                }
            }
        }
        match (time_zone, window, owner_id) {
            (Some(time_zone), Some(window), Some(owner_id)) if errors.is_empty() => Ok(Plan {
                name,
                assistant_id: s.assistant_id.trim().to_string(),
                owner_id,
                number_ids,
                default_country,
                time_zone,
                use_contact_zone: s.use_contact_zone,
                window,
                max_concurrent: s.max_concurrent,
                max_cps_milli: (s.max_cps * 1000.0).round() as u32,
                daily_cap: s.daily_cap,
                ringing_timeout_secs: s.ringing_timeout_secs,
                max_duration_secs: s.max_duration_secs,
                retry: s.retry,
            }),
            _ => Err(AppError::Invalid { errors }),
        }
    }
}

/// The columns every campaign read takes, in [`CampaignRow`]'s order.
const COLUMNS: &str = "c.id, c.name, c.state, c.assistant_id, COALESCE(a.name, ''), c.owner_id, \
     c.created_at, c.started_at, c.finished_at, c.default_country, c.time_zone, c.use_contact_zone, \
     c.window_days, c.window_start_min, c.window_end_min, c.quiet_start_min, c.quiet_end_min, \
     c.max_concurrent, c.max_cps_milli, c.daily_cap, c.retry_policy, c.ringing_timeout_secs, c.max_duration_secs";

/// A campaign as stored.
#[derive(Debug, Clone)]
pub struct Campaign {
    pub id: String,
    pub name: String,
    pub state: CampaignState,
    pub assistant_id: String,
    pub assistant_name: String,
    pub owner_id: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub default_country: Option<String>,
    pub time_zone: chrono_tz::Tz,
    pub use_contact_zone: bool,
    pub window: CallingWindow,
    pub max_concurrent: u32,
    pub max_cps_milli: u32,
    pub daily_cap: u32,
    pub retry: RetryPolicy,
    pub ringing_timeout_secs: u32,
    pub max_duration_secs: Option<u32>,
}

fn clamp(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

/// The stored window (days bitmask; start, end, quiet not-before and not-after in
/// minutes). The columns were written from a checked window; a row that no longer makes
/// one (edited by hand) reads as every day, all day, with the default quiet hours.
fn window_of(days: i64, minutes: [i64; 4]) -> CallingWindow {
    let time = |m: i64| {
        u16::try_from(m)
            .ok()
            .and_then(|m| LocalTime::hm(m / 60, m % 60))
    };
    let parts = (
        u8::try_from(days).ok().and_then(Weekdays::from_bits),
        time(minutes[0]),
        time(minutes[1]),
        time(minutes[2]),
        time(minutes[3]),
    );
    match parts {
        (Some(days), Some(start), Some(end), Some(before), Some(after)) => {
            QuietHours::new(before, after)
                .and_then(|quiet| CallingWindow::new(days, start, end, quiet))
                .unwrap_or_else(|_| CallingWindow::always())
        }
        _ => CallingWindow::always(),
    }
}

/// The stored columns of a window, in [`window_of`]'s order.
fn window_columns(w: &CallingWindow) -> (i64, [i64; 4]) {
    (
        i64::from(w.days().bits()),
        [
            i64::from(w.start().minutes()),
            i64::from(w.end().minutes()),
            i64::from(w.quiet_hours().not_before().minutes()),
            i64::from(w.quiet_hours().not_after().minutes()),
        ],
    )
}

impl Campaign {
    fn from_row(row: sqlx::any::AnyRow) -> Result<Campaign, sqlx::Error> {
        use sqlx::Row;
        let state: String = row.try_get(2)?;
        let zone: String = row.try_get(10)?;
        let retry: String = row.try_get(20)?;
        Ok(Campaign {
            id: row.try_get(0)?,
            name: row.try_get(1)?,
            // The column's CHECK allows only these names.
            state: CampaignState::parse(&state).unwrap_or(CampaignState::Draft),
            assistant_id: row.try_get(3)?,
            assistant_name: row.try_get(4)?,
            owner_id: row.try_get(5)?,
            created_at: row.try_get(6)?,
            started_at: row.try_get(7)?,
            finished_at: row.try_get(8)?,
            default_country: row.try_get(9)?,
            time_zone: zone.parse().unwrap_or(chrono_tz::UTC),
            use_contact_zone: row.try_get::<i64, _>(11)? != 0,
            window: window_of(
                row.try_get(12)?,
                [
                    row.try_get(13)?,
                    row.try_get(14)?,
                    row.try_get(15)?,
                    row.try_get(16)?,
                ],
            ),
            max_concurrent: clamp(row.try_get(17)?),
            max_cps_milli: clamp(row.try_get(18)?),
            daily_cap: clamp(row.try_get(19)?),
            retry: serde_json::from_str(&retry).unwrap_or_default(),
            ringing_timeout_secs: clamp(row.try_get(21)?),
            max_duration_secs: row.try_get::<Option<i64>, _>(22)?.map(clamp),
        })
    }

    /// The settings as the form shows them.
    pub fn settings(&self, number_ids: Vec<String>) -> CampaignSettings {
        CampaignSettings {
            name: self.name.clone(),
            assistant_id: self.assistant_id.clone(),
            number_ids,
            default_country: self.default_country.clone(),
            time_zone: self.time_zone.name().to_string(),
            use_contact_zone: self.use_contact_zone,
            days: self
                .window
                .days()
                .names()
                .into_iter()
                .map(str::to_string)
                .collect(),
            window_start: self.window.start().to_string(),
            window_end: self.window.end().to_string(),
            quiet_start: self.window.quiet_hours().not_before().to_string(),
            quiet_end: self.window.quiet_hours().not_after().to_string(),
            max_concurrent: self.max_concurrent,
            max_cps: f64::from(self.max_cps_milli) / 1000.0,
            daily_cap: self.daily_cap,
            ringing_timeout_secs: self.ringing_timeout_secs,
            max_duration_secs: self.max_duration_secs,
            retry: self.retry,
        }
    }

    fn summary(&self, counts: CampaignCounts) -> CampaignSummary {
        CampaignSummary {
            id: self.id.clone(),
            name: self.name.clone(),
            state: self.state,
            assistant_id: self.assistant_id.clone(),
            assistant_name: self.assistant_name.clone(),
            owner_id: self.owner_id.clone(),
            counts,
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
        }
    }
}

/// Reads one campaign by id, with no access check (the engine).
pub async fn load(state: &AppState, id: &str) -> Result<Option<Campaign>, AppError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM campaigns c LEFT JOIN assistants a ON a.id = c.assistant_id WHERE c.id = $1"
    );
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&state.db.pool)
        .await?;
    Ok(row.map(Campaign::from_row).transpose()?)
}

/// Reads a campaign this user may see (its owner's, or any for an admin); another
/// owner's is "not found".
pub async fn visible(state: &AppState, me: &Me, id: &str) -> Result<Campaign, AppError> {
    load(state, id)
        .await?
        .filter(|c| me.is_admin() || c.owner_id == me.id)
        .ok_or_else(|| AppError::not_found("campaign"))
}

/// The contacts' counts by where they stand.
pub async fn counts(state: &AppState, id: &str) -> Result<CampaignCounts, AppError> {
    let rows: Vec<(String, i64, Option<String>, i64)> = sqlx::query_as(
        "SELECT state, CASE WHEN attempts > 0 THEN 1 ELSE 0 END, \
         CASE WHEN state = 'done' THEN result END, COUNT(*) \
         FROM campaign_contacts WHERE campaign_id = $1 \
         GROUP BY state, CASE WHEN attempts > 0 THEN 1 ELSE 0 END, CASE WHEN state = 'done' THEN result END",
    )
    .bind(id)
    .fetch_all(&state.db.pool)
    .await?;
    let mut c = CampaignCounts::default();
    for (state, tried, result, n) in rows {
        let n = n.max(0) as u64;
        c.total += n;
        match state.as_str() {
            "pending" if tried == 0 => c.fresh += n,
            "pending" => c.waiting += n,
            "dialing" => c.dialing += n,
            _ => {
                c.done += n;
                match result.as_deref() {
                    Some("completed") => c.answered += n,
                    Some(r) if gate::Skip::parse(r).is_some() => c.skipped += n,
                    _ => c.failed += n,
                }
            }
        }
    }
    Ok(c)
}

/// The numbers a campaign calls from, in order.
pub async fn number_ids(state: &AppState, id: &str) -> Result<Vec<String>, AppError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT phone_number_id FROM campaign_numbers WHERE campaign_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}

async fn write_numbers(
    tx: &mut super::db::WriteTx<'_>,
    id: &str,
    numbers: &[String],
) -> Result<(), AppError> {
    sqlx::query("DELETE FROM campaign_numbers WHERE campaign_id = $1")
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
    for (position, number) in numbers.iter().enumerate() {
        sqlx::query(
            "INSERT INTO campaign_numbers (campaign_id, phone_number_id, position) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(number)
        .bind(position as i64)
        .execute(&mut *tx.tx)
        .await?;
    }
    Ok(())
}

/// Creates a draft campaign.
pub async fn create(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    settings: &CampaignSettings,
) -> Result<CampaignDetail, AppError> {
    let plan = Plan::check(state, me, settings).await?;
    let id = new_id();
    let t = state.clock.now();
    let (days, minutes) = window_columns(&plan.window);
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "INSERT INTO campaigns (id, owner_id, assistant_id, name, state, default_country, time_zone, use_contact_zone, \
         window_days, window_start_min, window_end_min, quiet_start_min, quiet_end_min, max_concurrent, max_cps_milli, \
         daily_cap, retry_policy, ringing_timeout_secs, max_duration_secs, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'draft', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19)",
    )
    .bind(&id)
    .bind(&plan.owner_id)
    .bind(&plan.assistant_id)
    .bind(&plan.name)
    .bind(&plan.default_country)
    .bind(plan.time_zone.name())
    .bind(i64::from(plan.use_contact_zone))
    .bind(days)
    .bind(minutes[0])
    .bind(minutes[1])
    .bind(minutes[2])
    .bind(minutes[3])
    .bind(i64::from(plan.max_concurrent))
    .bind(i64::from(plan.max_cps_milli))
    .bind(i64::from(plan.daily_cap))
    .bind(serde_json::to_string(&plan.retry).unwrap_or_default())
    .bind(i64::from(plan.ringing_timeout_secs))
    .bind(plan.max_duration_secs.map(i64::from))
    .bind(t)
    .execute(&mut *tx.tx)
    .await?;
    write_numbers(&mut tx, &id, &plan.number_ids).await?;
    audit::record_on(
        &mut *tx.tx,
        actor,
        "campaign.create",
        Some(&plan.name),
        Some(&format!("campaign {id}")),
    )
    .await?;
    tx.commit().await?;
    detail(state, me, &id).await
}

/// Changes a campaign's settings. A running campaign takes new pacing (calls at once,
/// attempts a second), limits and retry rules at once; its assistant and numbers change
/// only while it is a draft or paused.
pub async fn update(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    id: &str,
    settings: &CampaignSettings,
) -> Result<CampaignDetail, AppError> {
    let current = visible(state, me, id).await?;
    let plan = Plan::check(state, me, settings).await?;
    match current.state {
        CampaignState::Completed | CampaignState::Cancelled => {
            return Err(AppError::conflict(format!(
                "The campaign is {}: its settings can no longer change.",
                current.state.label().to_lowercase()
            )))
        }
        CampaignState::Running
            if plan.assistant_id != current.assistant_id
                || plan.number_ids != number_ids(state, id).await? =>
        {
            return Err(AppError::conflict(
                "Pause the campaign to change its assistant or numbers.",
            ))
        }
        _ => {}
    }
    if plan.assistant_id != current.assistant_id && contacts::count(state, id).await? > 0 {
        return Err(AppError::invalid(
            "assistant_id",
            "The contacts were imported for this assistant's numbers: create a new campaign for another assistant.",
        ));
    }
    let (days, minutes) = window_columns(&plan.window);
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "UPDATE campaigns SET name = $1, assistant_id = $2, owner_id = $3, default_country = $4, time_zone = $5, \
         use_contact_zone = $6, window_days = $7, window_start_min = $8, window_end_min = $9, quiet_start_min = $10, \
         quiet_end_min = $11, max_concurrent = $12, max_cps_milli = $13, daily_cap = $14, retry_policy = $15, \
         ringing_timeout_secs = $16, max_duration_secs = $17, updated_at = $18 WHERE id = $19",
    )
    .bind(&plan.name)
    .bind(&plan.assistant_id)
    .bind(&plan.owner_id)
    .bind(&plan.default_country)
    .bind(plan.time_zone.name())
    .bind(i64::from(plan.use_contact_zone))
    .bind(days)
    .bind(minutes[0])
    .bind(minutes[1])
    .bind(minutes[2])
    .bind(minutes[3])
    .bind(i64::from(plan.max_concurrent))
    .bind(i64::from(plan.max_cps_milli))
    .bind(i64::from(plan.daily_cap))
    .bind(serde_json::to_string(&plan.retry).unwrap_or_default())
    .bind(i64::from(plan.ringing_timeout_secs))
    .bind(plan.max_duration_secs.map(i64::from))
    .bind(state.clock.now())
    .bind(id)
    .execute(&mut *tx.tx)
    .await?;
    if current.state != CampaignState::Running {
        write_numbers(&mut tx, id, &plan.number_ids).await?;
    }
    audit::record_on(
        &mut *tx.tx,
        actor,
        "campaign.update",
        Some(&plan.name),
        Some(&format!("campaign {id}")),
    )
    .await?;
    tx.commit().await?;
    engine::wake(state);
    detail(state, me, id).await
}

/// A lifecycle change a user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Pause,
    Resume,
    /// Cancel; with `hang_up`, live calls are ended too.
    Cancel {
        hang_up: bool,
    },
}

impl Action {
    fn audit_name(self) -> &'static str {
        match self {
            Action::Start => "campaign.start",
            Action::Pause => "campaign.pause",
            Action::Resume => "campaign.resume",
            Action::Cancel { .. } => "campaign.cancel",
        }
    }
}

/// Starts, pauses, resumes or cancels a campaign. Pausing stops new dials at once and
/// lets live calls finish; cancelling hangs up nothing unless asked.
pub async fn act(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    id: &str,
    action: Action,
) -> Result<CampaignDetail, AppError> {
    let campaign = visible(state, me, id).await?;
    use CampaignState as S;
    let (from, to): (&[S], S) = match action {
        Action::Start => (&[S::Draft], S::Running),
        Action::Pause => (&[S::Running], S::Paused),
        Action::Resume => (&[S::Paused], S::Running),
        Action::Cancel { .. } => (&[S::Draft, S::Running, S::Paused], S::Cancelled),
    };
    if !from.contains(&campaign.state) {
        return Err(AppError::conflict(match (action, campaign.state) {
            (Action::Start, S::Running | S::Paused) => {
                "The campaign has already started.".to_string()
            }
            (Action::Resume, S::Running) => "The campaign is already running.".to_string(),
            (Action::Pause, S::Paused) => "The campaign is already paused.".to_string(),
            (Action::Pause | Action::Resume, S::Draft) => {
                "The campaign has not started yet: start it first.".to_string()
            }
            (_, s) => format!("The campaign is {}.", s.label().to_lowercase()),
        }));
    }
    if action == Action::Start {
        let check = preflight(state, me, id).await?;
        if let Some(first) = check.blockers.first() {
            return Err(AppError::conflict(first.clone()));
        }
        // Every number's LiveKit outbound trunk exists before the first dial (created
        // on demand, as for a single call), so dials need not look for it.
        for number in number_ids(state, id).await? {
            crate::server::assignment::ensure_outbound_trunk(state, &number).await?;
        }
    }
    let t = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    let changed = sqlx::query(
        "UPDATE campaigns SET state = $1, updated_at = $2, \
         started_at = CASE WHEN $1 = 'running' THEN COALESCE(started_at, $2) ELSE started_at END, \
         finished_at = CASE WHEN $1 = 'cancelled' THEN $2 ELSE finished_at END \
         WHERE id = $3 AND state = $4",
    )
    .bind(to.as_str())
    .bind(t)
    .bind(id)
    .bind(campaign.state.as_str())
    .execute(&mut *tx.tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Err(AppError::conflict(
            "The campaign changed meanwhile; reload the page and try again.",
        ));
    }
    if to == S::Cancelled {
        // What was never dialled is done, as cancelled; calls in progress finish (or are
        // hung up below) and settle as usual.
        sqlx::query(
            "UPDATE campaign_contacts SET state = 'done', result = $1, waiting_for = NULL, updated_at = $2 \
             WHERE campaign_id = $3 AND state = 'pending'",
        )
        .bind(gate::Skip::Cancelled.as_str())
        .bind(t)
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
        engine::cancelled_contacts_finished(&mut tx, &campaign, t).await?;
    }
    audit::record_on(
        &mut *tx.tx,
        actor,
        action.audit_name(),
        Some(&campaign.name),
        Some(&format!("campaign {id}")),
    )
    .await?;
    engine::lifecycle_event(&mut tx, &campaign, to).await?;
    tx.commit().await?;
    crate::server::changes::campaign(state, id, Some(campaign.owner_id.clone()));
    if let Action::Cancel { hang_up: true } = action {
        engine::hang_up_live(state, me, actor, id).await;
    }
    engine::wake(state);
    detail(state, me, id).await
}

/// The campaign page's data.
pub async fn detail(state: &AppState, me: &Me, id: &str) -> Result<CampaignDetail, AppError> {
    let campaign = visible(state, me, id).await?;
    let counts = counts(state, id).await?;
    let numbers: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT n.id, n.e164, \
         (SELECT COUNT(*) FROM campaign_attempts t WHERE t.campaign_id = cn.campaign_id AND t.phone_number_id = n.id AND t.counted = 1), \
         (SELECT COUNT(*) FROM campaign_attempts t WHERE t.campaign_id = cn.campaign_id AND t.phone_number_id = n.id AND t.sip_status IN (603, 608)) \
         FROM campaign_numbers cn JOIN phone_numbers n ON n.id = cn.phone_number_id \
         WHERE cn.campaign_id = $1 ORDER BY cn.position",
    )
    .bind(id)
    .fetch_all(&state.db.pool)
    .await?;
    let number_ids = numbers.iter().map(|(n, ..)| n.clone()).collect();
    let numbers = numbers
        .into_iter()
        .map(|(id, e164, attempts, declined)| {
            let (attempts, declined) = (attempts.max(0) as u64, declined.max(0) as u64);
            CallerNumber {
                id,
                e164,
                attempts,
                declined,
                flagged: declined >= FLAG_DECLINES
                    && declined * 100 >= attempts * FLAG_SHARE_PERCENT,
            }
        })
        .collect();
    let next: Option<(i64, Option<String>)> = sqlx::query_as(
        "SELECT next_attempt_at, waiting_for FROM campaign_contacts WHERE campaign_id = $1 AND state = 'pending' \
         ORDER BY next_attempt_at LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await?;
    let next = next.filter(|(t, _)| *t > state.clock.now());
    let outcomes: Vec<(String, i64)> = sqlx::query_as(
        "SELECT COALESCE(result, ''), COUNT(*) FROM campaign_contacts WHERE campaign_id = $1 AND state = 'done' \
         GROUP BY result ORDER BY COUNT(*) DESC",
    )
    .bind(id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(CampaignDetail {
        summary: campaign.summary(counts),
        settings: campaign.settings(number_ids),
        numbers,
        outcomes: outcomes
            .into_iter()
            .map(|(r, n)| (r, n.max(0) as u64))
            .collect(),
        progress: progress(state, &campaign).await?,
        can_edit: true,
        next_attempt_at: next.as_ref().map(|(t, _)| *t),
        waiting_for: next.and_then(|(_, w)| w),
    })
}

/// Attempts and answers per interval since the start, at most 60 points.
async fn progress(state: &AppState, campaign: &Campaign) -> Result<Vec<ProgressPoint>, AppError> {
    let Some(start) = campaign.started_at else {
        return Ok(Vec::new());
    };
    let end = campaign
        .finished_at
        .unwrap_or_else(|| state.clock.now())
        .max(start + 60);
    let step = ((end - start) / 60).max(60);
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT (t.started_at - $1) / $2, COUNT(*), SUM(CASE WHEN t.outcome = 'completed' THEN 1 ELSE 0 END) \
         FROM campaign_attempts t WHERE t.campaign_id = $3 AND t.counted = 1 GROUP BY (t.started_at - $1) / $2",
    )
    .bind(start)
    .bind(step)
    .bind(&campaign.id)
    .fetch_all(&state.db.pool)
    .await?;
    let mut points: Vec<ProgressPoint> = rows
        .into_iter()
        .map(|(bucket, attempts, answered)| ProgressPoint {
            at: start + bucket * step,
            attempts: attempts.max(0) as u64,
            answered: answered.max(0) as u64,
        })
        .collect();
    points.sort_by_key(|p| p.at);
    Ok(points)
}

/// Campaigns this user may see, newest first, optionally of one state.
pub async fn list(
    state: &AppState,
    me: &Me,
    filter: Option<CampaignState>,
    page: Option<u32>,
) -> Result<Page<CampaignSummary>, AppError> {
    let (page, offset) = super::page_offset(page, PER_PAGE)?;
    let admin = i64::from(me.is_admin());
    let filter = filter.map(CampaignState::as_str).unwrap_or_default();
    let (total,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM campaigns c WHERE (c.owner_id = $1 OR $2 = 1) AND ($3 = '' OR c.state = $3)",
    )
    .bind(&me.id)
    .bind(admin)
    .bind(filter)
    .fetch_one(&state.db.pool)
    .await?;
    let sql = format!(
        "SELECT {COLUMNS} FROM campaigns c LEFT JOIN assistants a ON a.id = c.assistant_id \
         WHERE (c.owner_id = $1 OR $2 = 1) AND ($3 = '' OR c.state = $3) \
         ORDER BY c.created_at DESC, c.id LIMIT $4 OFFSET $5"
    );
    let rows = sqlx::query(&sql)
        .bind(&me.id)
        .bind(admin)
        .bind(filter)
        .bind(i64::from(PER_PAGE))
        .bind(offset)
        .fetch_all(&state.db.pool)
        .await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let campaign = Campaign::from_row(row)?;
        let counts = counts(state, &campaign.id).await?;
        items.push(campaign.summary(counts));
    }
    Ok(Page {
        items,
        page,
        per_page: PER_PAGE,
        total: total.max(0) as u64,
        ..Page::default()
    })
}

/// What starting now would do: contacts skipped and why, and whether the list can be
/// called within its windows at the chosen pace.
pub async fn preflight(
    state: &AppState,
    me: &Me,
    id: &str,
) -> Result<crate::model::Preflight, AppError> {
    let campaign = visible(state, me, id).await?;
    let (contacts, zone_unknown): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN time_zone IS NULL THEN 1 ELSE 0 END), 0) \
         FROM campaign_contacts WHERE campaign_id = $1 AND state <> 'done'",
    )
    .bind(id)
    .fetch_one(&state.db.pool)
    .await?;
    let (listed,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM campaign_contacts c WHERE c.campaign_id = $1 AND c.state <> 'done' \
         AND EXISTS (SELECT 1 FROM do_not_call d WHERE d.e164 = c.phone)",
    )
    .bind(id)
    .fetch_one(&state.db.pool)
    .await?;
    let mut skipped = Vec::new();
    if listed > 0 {
        skipped.push(("on the do-not-call list".to_string(), listed.max(0) as u64));
    }
    let mut blockers = Vec::new();
    if contacts == 0 {
        blockers
            .push("Import contacts before starting: the campaign has nobody to call.".to_string());
    } else if contacts == listed {
        blockers
            .push("Every contact is on the do-not-call list: nobody would be called.".to_string());
    }
    let numbers = number_ids(state, id).await?;
    if numbers.is_empty() {
        blockers.push("Choose a number to call from.".to_string());
    }
    let from =
        chrono::DateTime::<chrono::Utc>::from_timestamp(state.clock.now(), 0).unwrap_or_default();
    let week = campaign.window.open_seconds_between(
        from,
        from + chrono::Duration::days(7),
        campaign.time_zone,
    ) as f64
        / 3600.0;
    if week <= 0.0 {
        blockers.push(
            "The calling window and the quiet hours never overlap: no call could start."
                .to_string(),
        );
    }
    let to_call = (contacts - listed).max(0) as f64;
    let pace = f64::from(campaign.max_cps_milli) / 1000.0;
    // Each call takes about a minute of a line; the pace is the smaller of the two limits.
    let per_second = pace
        .min(f64::from(campaign.max_concurrent) / 60.0)
        .max(1e-6);
    Ok(crate::model::Preflight {
        contacts: contacts.max(0) as u64,
        skipped,
        zone_unknown: zone_unknown.max(0) as u64,
        window_hours_per_week: week,
        hours_needed: to_call / per_second / 3600.0,
        blockers,
    })
}

/// The form's choices: the user's assistants (an admin's: all) and the live numbers
/// assigned to each.
pub async fn options(state: &AppState, me: &Me) -> Result<crate::model::CampaignOptions, AppError> {
    let admin = i64::from(me.is_admin());
    let assistants: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, name FROM assistants WHERE owner_id = $1 OR $2 = 1 ORDER BY name, id",
    )
    .bind(&me.id)
    .bind(admin)
    .fetch_all(&state.db.pool)
    .await?;
    let numbers: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT n.id, n.e164, n.assistant_id FROM phone_numbers n JOIN assistants a ON a.id = n.assistant_id \
         WHERE n.released_at IS NULL AND (a.owner_id = $1 OR $2 = 1) ORDER BY n.e164",
    )
    .bind(&me.id)
    .bind(admin)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(crate::model::CampaignOptions {
        assistants: assistants
            .into_iter()
            .map(|(id, name)| crate::model::AssistantOption { id, name })
            .collect(),
        numbers: numbers
            .into_iter()
            .map(|(id, e164, assistant)| (id, crate::phone::format_e164(&e164), assistant))
            .collect(),
    })
}
