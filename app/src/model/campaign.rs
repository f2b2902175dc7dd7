//! Campaigns as the pages and the API see them: settings, counts, contacts, previews.

use serde::{Deserialize, Serialize};

named_enum! {
    /// draft → running ⇄ paused → completed, or cancelled from any but completed.
    CampaignState {
        Draft => "draft",
        Running => "running",
        Paused => "paused",
        Completed => "completed",
        Cancelled => "cancelled",
    }
}

impl CampaignState {
    /// In words, for the pages.
    pub fn label(self) -> &'static str {
        match self {
            CampaignState::Draft => "Draft",
            CampaignState::Running => "Running",
            CampaignState::Paused => "Paused",
            CampaignState::Completed => "Completed",
            CampaignState::Cancelled => "Cancelled",
        }
    }
}

named_enum! {
    /// Where a contact stands.
    ContactState {
        /// Waiting for its first or next attempt.
        Pending => "pending",
        /// An attempt is in progress.
        Dialing => "dialing",
        /// Finished: answered, given up on, or skipped.
        Done => "done",
    }
}

/// One outcome's retry rule: retried or not, after how long, up to how many attempts in
/// all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RetryRule {
    pub retry: bool,
    pub delay_secs: u32,
    pub max_attempts: u32,
}

/// What happens after each outcome that may be worth another try. Declined (603/607/608),
/// unreachable and invalid numbers (404/484) are never retried; an answered call is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RetryPolicy {
    pub busy: RetryRule,
    pub no_answer: RetryRule,
    pub failed: RetryRule,
    pub trunk_auth_failed: RetryRule,
}

impl Default for RetryPolicy {
    /// Busy: again in 10 minutes; no answer: in an hour; failed: in 5 minutes; the
    /// carrier refused the trunk's credentials: in 15 minutes (time to fix them) — each up
    /// to 3 attempts in all, which the default daily cap of 3 lets through in one day.
    fn default() -> Self {
        let rule = |delay_secs| RetryRule {
            retry: true,
            delay_secs,
            max_attempts: 3,
        };
        RetryPolicy {
            busy: rule(600),
            no_answer: rule(3600),
            failed: rule(300),
            trunk_auth_failed: rule(900),
        }
    }
}

/// Everything a campaign is set to, as shown and as edited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CampaignSettings {
    pub name: String,
    pub assistant_id: String,
    /// The numbers it calls from (assigned to the assistant).
    pub number_ids: Vec<String>,
    /// National numbers in uploads are read in this country (ISO code).
    pub default_country: Option<String>,
    /// The campaign's IANA time zone, e.g. `America/New_York`.
    pub time_zone: String,
    /// Hold each contact to its own time zone when its number says it for sure.
    pub use_contact_zone: bool,
    /// The calling window's weekdays, `mon` … `sun`.
    pub days: Vec<String>,
    /// The calling window, local `HH:MM`, start inclusive, end exclusive.
    pub window_start: String,
    pub window_end: String,
    /// Quiet hours in the callee's local time: no call before `quiet_start` or from
    /// `quiet_end` on.
    pub quiet_start: String,
    pub quiet_end: String,
    pub max_concurrent: u32,
    /// Call attempts per second (0.1 to 100).
    pub max_cps: f64,
    /// The most attempts on one number a day, across all campaigns.
    pub daily_cap: u32,
    pub ringing_timeout_secs: u32,
    pub max_duration_secs: Option<u32>,
    pub retry: RetryPolicy,
}

impl Default for CampaignSettings {
    fn default() -> Self {
        CampaignSettings {
            name: String::new(),
            assistant_id: String::new(),
            number_ids: Vec::new(),
            default_country: Some("US".into()),
            time_zone: "America/New_York".into(),
            use_contact_zone: true,
            days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            window_start: "09:00".into(),
            window_end: "17:00".into(),
            quiet_start: "08:00".into(),
            quiet_end: "21:00".into(),
            max_concurrent: 5,
            max_cps: 1.0,
            daily_cap: 3,
            ringing_timeout_secs: 30,
            max_duration_secs: Some(900),
            retry: RetryPolicy::default(),
        }
    }
}

/// How far a campaign has got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CampaignCounts {
    pub total: u64,
    /// Not tried yet.
    pub fresh: u64,
    /// Tried, waiting for another attempt.
    pub waiting: u64,
    pub dialing: u64,
    pub done: u64,
    /// Done, answered.
    pub answered: u64,
    /// Done, not answered after its attempts (or never retried).
    pub failed: u64,
    /// Done without a call (do-not-call list, cancelled).
    pub skipped: u64,
}

impl CampaignCounts {
    pub fn remaining(&self) -> u64 {
        self.fresh + self.waiting + self.dialing
    }

    /// Percent of contacts done, for a progress bar.
    pub fn percent_done(&self) -> u64 {
        (self.done * 100).checked_div(self.total).unwrap_or(0)
    }
}

/// A campaign in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CampaignSummary {
    pub id: String,
    pub name: String,
    pub state: CampaignState,
    pub assistant_id: String,
    pub assistant_name: String,
    pub owner_id: String,
    pub counts: CampaignCounts,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// A number a campaign calls from, and how its callees answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CallerNumber {
    pub id: String,
    pub e164: String,
    pub attempts: u64,
    /// Answers of 603 Decline or 608 Rejected (the callee's network or the callee
    /// refusing the caller ID).
    pub declined: u64,
    /// Many such answers: the number is likely flagged as spam.
    pub flagged: bool,
}

/// One point of the progress chart: contacts done by then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ProgressPoint {
    pub at: i64,
    pub attempts: u64,
    pub answered: u64,
}

/// A campaign with everything its page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CampaignDetail {
    pub summary: CampaignSummary,
    pub settings: CampaignSettings,
    pub numbers: Vec<CallerNumber>,
    /// Done contacts by their result (`completed`, `busy`, `do_not_call`, …).
    pub outcomes: Vec<(String, u64)>,
    /// Attempts and answers per interval since the start.
    pub progress: Vec<ProgressPoint>,
    /// Whether this user may change it (its owner, or an admin).
    pub can_edit: bool,
    /// When the next waiting contact is due, and why it waits (calling hours, the daily
    /// limit), while nothing is being dialled.
    pub next_attempt_at: Option<i64>,
    pub waiting_for: Option<String>,
}

/// A contact in a campaign's table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CampaignContact {
    pub id: String,
    pub line: u64,
    pub phone: String,
    pub name: Option<String>,
    pub state: ContactState,
    pub attempts: u32,
    pub last_outcome: Option<String>,
    pub last_sip_status: Option<u16>,
    pub result: Option<String>,
    pub next_attempt_at: Option<i64>,
    pub waiting_for: Option<String>,
    pub time_zone: Option<String>,
    pub call_id: Option<String>,
}

/// One bad row of an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UploadProblem {
    pub line: u64,
    pub value: String,
    pub problem: String,
}

/// An uploaded file judged, before anything of it is stored as contacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UploadPreview {
    pub upload_id: String,
    pub campaign_id: String,
    pub file_name: String,
    pub columns: Vec<String>,
    pub phone_column: String,
    pub name_column: Option<String>,
    pub good_rows: u64,
    pub bad_rows: u64,
    /// The first bad rows, each with its line and problem.
    pub problems: Vec<UploadProblem>,
    /// Good rows whose time zone the number does not say for sure (held to the
    /// campaign's zone).
    pub zone_unknown: u64,
    /// The first good rows, as they will be stored: (line, phone, name).
    pub sample: Vec<(u64, String, Option<String>)>,
}

/// What starting the campaign now would do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Preflight {
    pub contacts: u64,
    /// Contacts that will be skipped, by reason in words.
    pub skipped: Vec<(String, u64)>,
    /// Contacts whose time zone is unknown, held to the campaign's.
    pub zone_unknown: u64,
    /// Hours of calling window in the next 7 days (campaign zone).
    pub window_hours_per_week: f64,
    /// Hours of calling at the chosen pace (first attempts only).
    pub hours_needed: f64,
    /// Problems that stop the start (no contacts, no numbers, …).
    pub blockers: Vec<String>,
}

/// The campaign form as posted (text fields; checkboxes present when ticked).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CampaignForm {
    /// Empty for a new campaign.
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    pub assistant_id: String,
    #[serde(default)]
    pub number_ids: Option<Vec<String>>,
    #[serde(default)]
    pub default_country: Option<String>,
    pub time_zone: String,
    #[serde(default)]
    pub use_contact_zone: Option<String>,
    #[serde(default)]
    pub days: Option<Vec<String>>,
    pub window_start: String,
    pub window_end: String,
    pub quiet_start: String,
    pub quiet_end: String,
    pub max_concurrent: String,
    pub max_cps: String,
    pub daily_cap: String,
    pub ringing_timeout_secs: String,
    #[serde(default)]
    pub max_duration_secs: Option<String>,
    #[serde(default)]
    pub retry_busy: Option<String>,
    pub retry_busy_minutes: String,
    pub retry_busy_attempts: String,
    #[serde(default)]
    pub retry_no_answer: Option<String>,
    pub retry_no_answer_minutes: String,
    pub retry_no_answer_attempts: String,
    #[serde(default)]
    pub retry_failed: Option<String>,
    pub retry_failed_minutes: String,
    pub retry_failed_attempts: String,
    #[serde(default)]
    pub retry_trunk_auth_failed: Option<String>,
    pub retry_trunk_auth_failed_minutes: String,
    pub retry_trunk_auth_failed_attempts: String,
}

impl CampaignForm {
    /// The settings the form says, or each field that is not a number.
    pub fn settings(&self) -> Result<CampaignSettings, Vec<crate::error::FieldError>> {
        let mut errors = Vec::new();
        let on = |v: &Option<String>| matches!(v.as_deref(), Some("on" | "true" | "1"));
        let mut number = |field: &str, text: &str| -> u32 {
            match text.trim().parse::<u32>() {
                Ok(n) => n,
                Err(_) => {
                    errors.push(crate::error::FieldError::new(
                        field,
                        "Enter a whole number.",
                    ));
                    0
                }
            }
        };
        let mut rule =
            |name: &str, retry: &Option<String>, minutes: &str, attempts: &str| RetryRule {
                retry: on(retry),
                delay_secs: number(name, minutes).saturating_mul(60),
                max_attempts: number(name, attempts),
            };
        let retry = RetryPolicy {
            busy: rule(
                "retry_busy",
                &self.retry_busy,
                &self.retry_busy_minutes,
                &self.retry_busy_attempts,
            ),
            no_answer: rule(
                "retry_no_answer",
                &self.retry_no_answer,
                &self.retry_no_answer_minutes,
                &self.retry_no_answer_attempts,
            ),
            failed: rule(
                "retry_failed",
                &self.retry_failed,
                &self.retry_failed_minutes,
                &self.retry_failed_attempts,
            ),
            trunk_auth_failed: rule(
                "retry_trunk_auth_failed",
                &self.retry_trunk_auth_failed,
                &self.retry_trunk_auth_failed_minutes,
                &self.retry_trunk_auth_failed_attempts,
            ),
        };
        let max_concurrent = number("max_concurrent", &self.max_concurrent);
        let daily_cap = number("daily_cap", &self.daily_cap);
        let ringing_timeout_secs = number("ringing_timeout_secs", &self.ringing_timeout_secs);
        let max_duration_secs = match self.max_duration_secs.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(number("max_duration_secs", text)),
        };
        let max_cps = match self.max_cps.trim().replace(',', ".").parse::<f64>() {
            Ok(v) => v,
            Err(_) => {
                errors.push(crate::error::FieldError::new(
                    "max_cps",
                    "Enter a number, e.g. 1 or 0.5.",
                ));
                0.0
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(CampaignSettings {
            name: self.name.clone(),
            assistant_id: self.assistant_id.clone(),
            number_ids: self.number_ids.clone().unwrap_or_default(),
            default_country: self.default_country.clone(),
            time_zone: self.time_zone.clone(),
            use_contact_zone: on(&self.use_contact_zone),
            days: self.days.clone().unwrap_or_default(),
            window_start: self.window_start.clone(),
            window_end: self.window_end.clone(),
            quiet_start: self.quiet_start.clone(),
            quiet_end: self.quiet_end.clone(),
            max_concurrent,
            max_cps,
            daily_cap,
            ringing_timeout_secs,
            max_duration_secs,
            retry,
        })
    }
}

/// What the campaign form offers: the user's assistants and the numbers assigned to each.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CampaignOptions {
    pub assistants: Vec<super::AssistantOption>,
    /// (number id, formatted number, assistant id)
    pub numbers: Vec<(String, String, String)>,
}
