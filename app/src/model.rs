//! Plain data shared by the server and the browser: what server functions return.
//! Nothing here holds a secret; masked forms of secrets are built on the server.

use crate::phone::E164;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Administrator",
            Role::Owner => "Assistant owner",
        }
    }
}

/// The signed-in user as the pages see it (and the user an API key acts as).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Me {
    pub id: String,
    pub username: String,
    pub role: Role,
}

impl Me {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

/// Where a setting's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Unset,
    Database,
    Environment,
}

/// A plain (non-secret) setting as shown on a settings page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlainSetting {
    pub value: String,
    pub source: Source,
}

/// A secret setting: only whether it is set and its last two characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretSetting {
    pub ends_with: Option<String>,
    pub source: Source,
}

impl SecretSetting {
    pub fn is_set(&self) -> bool {
        self.source != Source::Unset
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwilioSettingsView {
    pub account_sid: PlainSetting,
    pub auth_token: SecretSetting,
    pub sip_address: PlainSetting,
    pub sip_username: PlainSetting,
    pub sip_password: SecretSetting,
    pub public_url: PlainSetting,
    pub api_base: String,
    /// The Elastic SIP trunk Dial found or created.
    pub trunk_sid: Option<String>,
    /// Dial may create the Elastic SIP trunk (and its credentials) when none is found.
    pub auto_trunk: bool,
    pub last_test: Option<ConnectionTest>,
    pub updated_at: Option<i64>,
    pub updated_by: Option<String>,
    /// Only in the answer to a save: what it changed, in words ("account SID", …); empty
    /// when the form held the settings as they were (nothing was written).
    #[serde(default)]
    pub changed: Option<Vec<String>>,
    /// Calls a second the trunk accepts, shared by every campaign.
    #[serde(default)]
    pub outbound_cps: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionTest {
    pub ok: bool,
    pub message: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveKitSettingsView {
    pub url: Option<String>,
    pub api_key: Option<String>,
    pub api_secret_set: bool,
    pub sip_uri: Option<String>,
}

impl LiveKitSettingsView {
    pub fn configured(&self) -> bool {
        self.url.is_some() && self.api_key.is_some() && self.api_secret_set
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
    pub ip: Option<String>,
    /// The provisioning run the row belongs to.
    #[serde(default)]
    pub run_id: Option<String>,
    /// For a provisioning run: the run's other rows (its start, its steps), oldest first.
    #[serde(default)]
    pub steps: Vec<AuditEntry>,
}

/// One page of a list, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The page's number, from 1; for a page reached by cursor, the number the request
    /// carried along (`page`), or 0 when it did not say.
    pub page: u32,
    pub per_page: u32,
    /// How many items match; lists paged by cursor stop counting at 10,000 and then say
    /// `total_more`.
    pub total: u64,
    /// Whether more items match than `total` counts (it stopped at 10,000).
    #[serde(default)]
    pub total_more: bool,
    /// Cursor of the page after this one (pass it as `after`); null on the last page and
    /// for lists paged by number only.
    #[serde(default)]
    pub next: Option<String>,
    /// Cursor of the page before this one (pass it as `before`); null on the first page.
    #[serde(default)]
    pub prev: Option<String>,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Page {
            items: Vec::new(),
            page: 1,
            per_page: 1,
            total: 0,
            total_more: false,
            next: None,
            prev: None,
        }
    }
}

impl<T> Page<T> {
    pub fn pages(&self) -> u32 {
        (self.total.div_ceil(u64::from(self.per_page.max(1)))).max(1) as u32
    }
}

/// Formats epoch seconds as `2026-11-22 14:03 UTC`.
pub fn format_time(epoch: i64) -> String {
    utc(epoch)
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                t.year, t.month, t.day, t.hour, t.minute
            )
        })
        .unwrap_or_else(|| "—".to_string())
}

/// A moment in UTC, broken into its calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// Epoch seconds in UTC, for years 0 to 9999 (`None` outside them). The browser bundle
/// formats times with this rather than chrono, whose formatting machinery it would carry
/// (days to a civil date after Howard Hinnant's `civil_from_days`, proleptic Gregorian).
pub fn utc(epoch: i64) -> Option<UtcTime> {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return None;
    }
    Some(UtcTime {
        year,
        month: month as u32,
        day: day as u32,
        hour: (secs / 3_600) as u32,
        minute: (secs % 3_600 / 60) as u32,
        second: (secs % 60) as u32,
    })
}

/// Facts about this installation every page may show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteInfo {
    pub sandbox: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxCallRow {
    pub call_id: String,
    pub direction: String,
    pub from: String,
    pub to: String,
    pub room: String,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxView {
    pub twilio_url: String,
    pub livekit_url: String,
    pub twilio_account_sid: String,
    pub livekit_api_key: String,
    /// answer, busy, no_answer, declined or trunk_auth_failure.
    pub default_outcome: String,
    pub outcomes: Vec<(String, String)>,
    /// The callees' outcome mix, (outcome as in `default_outcome`, percent), the shares
    /// above 0; empty when calls are not mixed.
    pub outcome_mix: Vec<(String, u8)>,
    /// How long answered calls last before the callee hangs up, (shortest, longest) in
    /// seconds; `None`: the callee never hangs up.
    pub call_length: Option<(u32, u32)>,
    pub calls: Vec<SandboxCallRow>,
}

/// The outcomes a sandbox user can choose for outbound calls, with their labels.
pub const CALL_OUTCOMES: &[(&str, &str)] = &[
    ("answer", "Answered"),
    ("busy", "Busy (SIP 486)"),
    ("no_answer", "No answer (SIP 480 after the ringing timeout)"),
    ("declined", "Declined (SIP 603)"),
    (
        "trunk_auth_failure",
        "Trunk authentication failed (SIP 407)",
    ),
];

/// A number Dial manages, as the numbers table shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", schema(as = Number))]
pub struct NumberRow {
    pub id: String,
    /// E.164, e.g. +14155550100.
    #[cfg_attr(feature = "ssr", schema(value_type = String))]
    pub e164: E164,
    pub label: String,
    pub country: String,
    pub voice: bool,
    pub sms: bool,
    /// "Twilio" or the carrier's name.
    pub carrier: String,
    pub twilio_sid: Option<String>,
    pub owner_id: Option<String>,
    pub owner: Option<String>,
    pub assistant_id: Option<String>,
    /// The assistant's name.
    pub assistant: Option<String>,
    pub routing_profile: Option<String>,
    pub assignment_status: AssignmentStatus,
    pub created_at: i64,
    /// When the number was released (it then stays in Dial's history, read-only).
    pub released_at: Option<i64>,
    /// Who released it, as the audit log names them.
    pub released_by: Option<String>,
}

impl NumberRow {
    pub fn is_released(&self) -> bool {
        self.released_at.is_some()
    }
}

/// Filters, sort and page of the numbers table (all optional, from the query string).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberQuery {
    pub q: Option<String>,
    pub owner: Option<String>,
    pub carrier: Option<String>,
    /// "assigned" or "unassigned".
    pub assigned: Option<String>,
    /// Released numbers: left out by default; "only" lists just them, "include" (or
    /// "true") lists them with the live ones.
    pub released: Option<String>,
    /// number, label, country, owner, status, created, released.
    pub sort: Option<String>,
    /// asc or desc.
    pub dir: Option<String>,
    /// Cursor of the page to show: the rows after it (a page's `next`).
    pub after: Option<String>,
    /// Cursor of the page to show: the rows before it (a page's `prev`).
    pub before: Option<String>,
    #[serde(default, with = "page_number")]
    pub page: Option<u32>,
}

/// A number Twilio offers for sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailableRow {
    pub e164: String,
    pub locality: String,
    pub region: String,
    pub country: String,
    pub voice: bool,
    pub sms: bool,
}

/// What a search of Twilio's inventory found, and when it found nothing, why in words
/// that name only what the user asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailableNumbers {
    pub numbers: Vec<AvailableRow>,
    pub none_found: Option<String>,
}

/// A number on the Twilio account that Dial does not manage yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportCandidate {
    pub sid: String,
    pub e164: String,
    pub friendly_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerOption {
    pub id: String,
    pub username: String,
}

impl OwnerOption {
    /// How an owner picker names this user: the signed-in user once, as "Me (name)".
    pub fn label(&self, me_id: &str) -> String {
        if self.id == me_id {
            format!("Me ({})", self.username)
        } else {
            self.username.clone()
        }
    }
}

/// How pickers name assistants: by name alone when they all have one owner (names are
/// unique per owner, whatever their case), and as "Reception — olivia" when the list
/// spans several owners (what an admin sees), so equal names can be told apart.
pub fn assistant_labels<'a>(
    assistants: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<String> {
    let items: Vec<(&str, &str)> = assistants.into_iter().collect();
    let several_owners = items
        .first()
        .is_some_and(|(_, first)| items.iter().any(|(_, owner)| owner != first));
    items
        .into_iter()
        .map(|(name, owner)| {
            if several_owners && !owner.is_empty() {
                format!("{name} \u{2014} {owner}")
            } else {
                name.to_string()
            }
        })
        .collect()
}

/// A routing profile: organisational metadata on numbers (it does not change routing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingProfile {
    pub id: String,
    pub name: String,
    pub plan_code: String,
    pub country: String,
    pub outbound_provider: String,
    pub outbound_trunk_ref: String,
    pub inbound_trunk_ref: String,
    /// How many live numbers are linked to it.
    pub numbers: u64,
}

/// Routing and compliance metadata of one number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberMetadata {
    pub routing_profile_id: Option<String>,
    /// Key/value pairs, in key order.
    pub compliance: Vec<(String, String)>,
}

/// A SIP carrier besides Twilio. The password is never sent back: only whether it is set
/// and how it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierView {
    pub id: String,
    pub name: String,
    /// signalwire, telnyx or sip.
    pub kind: String,
    pub sip_address: String,
    /// auto, udp, tcp or tls.
    pub transport: String,
    pub auth_username: String,
    pub auth_password: SecretSetting,
    pub destination_country: String,
    pub inbound_addresses: Vec<String>,
    pub numbers: u64,
    /// Calls a second the carrier accepts on this trunk, shared by every campaign.
    #[serde(default)]
    pub outbound_cps: u32,
}

pub const CARRIER_KINDS: &[(&str, &str)] = &[
    ("signalwire", "SignalWire"),
    ("telnyx", "Telnyx"),
    ("sip", "Other SIP trunk"),
];
pub const TRANSPORTS: &[(&str, &str)] = &[
    ("auto", "Auto"),
    ("udp", "UDP"),
    ("tcp", "TCP"),
    ("tls", "TLS"),
];

// -- Assistants ---------------------------------------------------------------------------

/// An assistant: the LiveKit agent Dial dispatches for calls to and from its numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Assistant {
    pub id: String,
    pub owner_id: String,
    pub owner: String,
    pub name: String,
    /// The LiveKit agent to dispatch (`agent_name` in the agent's worker options).
    pub agent_name: String,
    /// A JSON object, given to the agent as its job metadata.
    pub metadata: String,
    pub room_prefix: String,
    pub description: String,
    /// Live numbers assigned to this assistant.
    pub numbers: u32,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Declares a stored, serialised name set as an enum: `as_str`, `parse`, and `TryFrom<String>`
/// (so database rows are typed as they are read).
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored (and JSON) name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(text: String) -> Result<Self, String> {
                $name::parse(&text).ok_or_else(|| format!(concat!("not a ", stringify!($name), ": {:?}"), text))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum! {
    /// Where a number stands with its assistant.
    AssignmentStatus {
        /// No assistant (or the last one was removed).
        Unassigned => "unassigned",
        /// A provisioning run is giving it to (or taking it from) an assistant.
        Pending => "pending",
        /// Calls to it reach its assistant.
        Active => "active",
        /// The last run failed; the number's page says which step and offers retry or roll back.
        Failed => "failed",
        /// Given back to Twilio or the carrier; kept for the call history.
        Released => "released",
    }
}

named_enum! {
    /// One step of a provisioning run (the same names in an assign and an unassign run:
    /// each names the object the step creates or removes).
    StepName {
        Precheck => "precheck",
        TwilioTrunk => "twilio_trunk",
        TwilioAttach => "twilio_attach",
        InboundTrunk => "inbound_trunk",
        OutboundTrunk => "outbound_trunk",
        DispatchRule => "dispatch_rule",
        Record => "record",
    }
}

named_enum! {
    /// What a provisioning run does to a number.
    RunKind {
        Assign => "assign",
        Unassign => "unassign",
    }
}

named_enum! {
    /// Where a provisioning run is.
    RunStatus {
        Running => "running",
        Failed => "failed",
        Done => "done",
        RollingBack => "rolling_back",
        RolledBack => "rolled_back",
    }
}

named_enum! {
    /// Where one step of a run is.
    StepStatus {
        Waiting => "waiting",
        Running => "running",
        Done => "done",
        Failed => "failed",
        Skipped => "skipped",
        RolledBack => "rolled_back",
    }
}

named_enum! {
    /// What a step did at its provider.
    StepAction {
        Created => "created",
        Adopted => "adopted",
        Updated => "updated",
        Deleted => "deleted",
        Checked => "checked",
        /// Nothing was needed (already gone, nothing to delete).
        Nothing => "none",
    }
}

impl RunStatus {
    /// Running, rolling back, or failed and waiting for Retry or Roll back.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            RunStatus::Running | RunStatus::Failed | RunStatus::RollingBack
        )
    }

    /// A worker is on it now.
    pub fn is_moving(self) -> bool {
        matches!(self, RunStatus::Running | RunStatus::RollingBack)
    }
}

// -- Provisioning -------------------------------------------------------------------------

/// One provisioning run (assign or unassign a number), with its steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunView {
    pub id: String,
    pub number_id: String,
    pub e164: E164,
    pub kind: RunKind,
    pub assistant_id: Option<String>,
    pub assistant: Option<String>,
    pub previous_assistant: Option<String>,
    pub status: RunStatus,
    pub error: Option<String>,
    pub actor: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub wall_ms: Option<i64>,
    pub steps: Vec<StepView>,
}

impl RunView {
    pub fn is_open(&self) -> bool {
        self.status.is_open()
    }

    /// The step that failed, with its 1-based number.
    pub fn failed_step(&self) -> Option<(usize, &StepView)> {
        self.steps
            .iter()
            .enumerate()
            .find(|(_, s)| s.status == StepStatus::Failed)
            .map(|(i, s)| (i + 1, s))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepView {
    pub position: i64,
    pub name: StepName,
    /// What the step does, in words.
    pub title: String,
    pub status: StepStatus,
    pub action: Option<StepAction>,
    pub provider_id: Option<String>,
    pub detail: Option<String>,
    pub error: Option<String>,
}

/// The number's routing as the assignment page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routing {
    pub number: NumberRow,
    pub twilio_trunk_sid: Option<String>,
    pub inbound_trunk_id: Option<String>,
    pub outbound_trunk_id: Option<String>,
    pub dispatch_rule_id: Option<String>,
    /// The open or latest run.
    pub current: Option<RunView>,
    /// Earlier runs, newest first.
    pub history: Vec<RunView>,
    /// Assistants this number may be given to (the owner's; all for admins).
    pub assistants: Vec<AssistantOption>,
    /// The last "Test inbound route" result.
    pub last_route_check: Option<RouteCheck>,
    /// The number's Twilio trunk refuses transfers (as last read).
    #[serde(default)]
    pub transfer_block: Option<TransferBlock>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssistantOption {
    pub id: String,
    pub name: String,
}

/// The result of "Test inbound route".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteCheck {
    pub ok: bool,
    /// True when a call was placed through the sandbox's LiveKit; false when Dial only
    /// checked the trunk and rule in a real LiveKit project.
    pub simulated: bool,
    pub summary: String,
    pub checks: Vec<(bool, String)>,
    pub at: i64,
}

// -- Calls --------------------------------------------------------------------------------

/// Where a call is, in the only order it may move: dialing → ringing → answered → ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum CallStatus {
    Dialing,
    Ringing,
    Answered,
    Ended,
}

impl CallStatus {
    pub const ALL: [CallStatus; 4] = [
        CallStatus::Dialing,
        CallStatus::Ringing,
        CallStatus::Answered,
        CallStatus::Ended,
    ];

    /// The stored (and JSON) name.
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Dialing => "dialing",
            CallStatus::Ringing => "ringing",
            CallStatus::Answered => "answered",
            CallStatus::Ended => "ended",
        }
    }

    pub fn parse(text: &str) -> Option<CallStatus> {
        CallStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// For people.
    pub fn label(self) -> &'static str {
        match self {
            CallStatus::Dialing => "Dialing",
            CallStatus::Ringing => "Ringing",
            CallStatus::Answered => "Answered",
            CallStatus::Ended => "Ended",
        }
    }

    /// Its place in the order (stored as `status_rank`, so the state only moves forward).
    pub fn rank(self) -> i64 {
        self as i64
    }

    /// From a SIP participant's `sip.callStatus` attribute.
    pub fn from_sip(status: &str) -> Option<CallStatus> {
        match status {
            "dialing" => Some(CallStatus::Dialing),
            "ringing" => Some(CallStatus::Ringing),
            "automation" | "active" => Some(CallStatus::Answered),
            "hangup" => Some(CallStatus::Ended),
            _ => None,
        }
    }
}

named_enum! {
    /// How a call ended: one vocabulary for the pages, the API and the statistics,
    /// whichever source said it (see `server::calls::outcome`).
    Outcome {
        /// Answered, then ended (by either side).
        Completed => "completed",
        /// SIP 486 / 600.
        Busy => "busy",
        /// Nobody answered in time, or the callee was unavailable (SIP 480, 408, 487, or
        /// LiveKit's "sip request timed out").
        NoAnswer => "no_answer",
        /// SIP 603 / 403.
        Declined => "declined",
        /// LiveKit says the callee rejected the call (USER_REJECTED: busy and declined
        /// alike) and no SIP status said which.
        Rejected => "rejected",
        /// The number does not exist or cannot be reached (SIP 404, 484, 503, …).
        Unreachable => "unreachable",
        /// The carrier refused the trunk's credentials.
        TrunkAuthFailed => "trunk_auth_failed",
        /// Ended before anyone answered, with no reason given (the caller hung up while
        /// it rang).
        EndedBeforeAnswer => "ended_before_answer",
        /// Could not be placed, for another reason.
        Failed => "failed",
    }
}

/// Which way a call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }

    pub fn parse(text: &str) -> Option<Direction> {
        match text {
            "inbound" => Some(Direction::Inbound),
            "outbound" => Some(Direction::Outbound),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Direction::Inbound => "Inbound",
            Direction::Outbound => "Outbound",
        }
    }
}

/// A call as the calls table shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", schema(as = Call))]
pub struct CallRow {
    pub id: String,
    pub direction: Direction,
    /// The caller: E.164, or what the caller's SIP From header held.
    pub from: String,
    /// The callee, E.164.
    pub to: String,
    /// The Dial number the call came in on or went out from.
    pub number_id: Option<String>,
    pub assistant_id: Option<String>,
    /// The assistant's name.
    pub assistant: Option<String>,
    pub status: CallStatus,
    /// How the call ended; null while it is on.
    pub outcome: Option<Outcome>,
    /// The SIP status that ended a failed call.
    pub sip_status_code: Option<i64>,
    pub end_reason: Option<String>,
    /// LiveKit's `sip.callID`.
    pub sip_call_id: Option<String>,
    pub twilio_call_sid: Option<String>,
    /// The LiveKit room.
    pub room: Option<String>,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    /// Seconds since the Unix epoch.
    pub answered_at: Option<i64>,
    /// Seconds since the Unix epoch.
    pub ended_at: Option<i64>,
    /// A call "Test inbound route" placed (left out of the overview's figures and, unless
    /// asked for, of the calls list).
    #[serde(default)]
    pub test: bool,
    /// The person who placed the call from their browser (calling from the browser);
    /// null for calls an assistant places or takes.
    #[serde(default)]
    pub placed_by: Option<String>,
}

/// What a browser needs to join a call's LiveKit room (calling from the browser, or
/// listening in on a call): LiveKit's URL and an access token for that room alone, valid
/// for minutes, with the least grants the action needs. `Debug` leaves the token out.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BrowserJoin {
    pub call: CallRow,
    /// LiveKit's URL: the browser opens its signalling WebSocket there.
    pub url: String,
    /// A LiveKit access token for `room` alone (a JWT, valid for 10 minutes).
    pub token: String,
    pub room: String,
    /// The LiveKit identity the browser joins as (`dial:` and the Dial username).
    pub identity: String,
    /// Whether the token lets the browser publish its microphone (false: listen only).
    pub can_publish: bool,
}

/// What the browser-calling pages need to know before they offer to call.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BrowserCallSetup {
    /// The page script (`/pkg/call.<hash>.js`); none when the site was built without it.
    pub script: Option<String>,
    /// Whether LiveKit is configured (every call needs it).
    pub livekit: bool,
    /// Sandbox mode: the simulated LiveKit takes the browser's connection but carries no
    /// audio.
    pub sandbox: bool,
}

impl std::fmt::Debug for BrowserJoin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserJoin")
            .field("call", &self.call.id)
            .field("url", &self.url)
            .field("token", &"[redacted]")
            .field("room", &self.room)
            .field("identity", &self.identity)
            .field("can_publish", &self.can_publish)
            .finish()
    }
}

impl CallRow {
    pub fn is_live(&self) -> bool {
        self.status != CallStatus::Ended
    }

    /// Seconds from answer to end (or to now while on).
    pub fn duration(&self, now: i64) -> Option<i64> {
        self.answered_at
            .map(|a| (self.ended_at.unwrap_or(now) - a).max(0))
    }

    /// Who or what ended the call, in words, when that adds to the outcome: a person who
    /// hung up from Dial, the phone, the room. A provider's error text is not repeated here
    /// (the timeline's details keep it), nor a reason the outcome already says.
    pub fn ended_by(&self) -> Option<String> {
        let reason = self.end_reason.as_deref()?.trim();
        if let Some(who) = reason.strip_prefix("hung up by ") {
            return Some(format!("Hung up by {who}"));
        }
        if let Some(to) = reason.strip_prefix("transferred to ") {
            return Some(format!("Transferred to {to}"));
        }
        // A call from the browser whose browser could not join (calls::browser).
        if let Some(why) = reason.strip_prefix("not placed: ") {
            return Some(format!("Not placed: {why}"));
        }
        if reason == "the browser left the call" {
            return Some("The browser left the call".into());
        }
        if reason.starts_with("closed by reconcile") {
            return Some("Closed by Dial: LiveKit no longer had the call".into());
        }
        // A call never answered: its outcome says why (no answer, busy, …).
        self.answered_at?;
        // participant_left's disconnect_reason, lower-case (livekit/protocol
        // `livekit_models.proto`, DisconnectReason), or the event that ended it.
        let words = match reason {
            "client_initiated" => "The phone hung up",
            "participant_removed" => "Removed from the room",
            "room_deleted" | "room_closed" | "room_finished" => "The room closed",
            "server_shutdown" => "LiveKit shut down",
            "sip_trunk_failure" => "The SIP trunk failed",
            "connection_timeout" | "participant_connection_aborted" | "signal_close" => {
                "The connection was lost"
            }
            "media_failure" => "Media failed",
            "agent_error" => "The agent failed",
            "duplicate_identity" => "Replaced by a participant with the same identity",
            "migration" | "state_mismatch" | "join_failure" => "LiveKit lost the participant",
            _ => return None,
        };
        Some(words.to_string())
    }

    /// The outcome in words.
    pub fn outcome_words(&self) -> String {
        let code = self
            .sip_status_code
            .map(|c| format!(" (SIP {c})"))
            .unwrap_or_default();
        match self.outcome {
            Some(Outcome::Completed) => "Completed".to_string(),
            Some(Outcome::Busy) => format!("Busy{code}"),
            Some(Outcome::NoAnswer) => format!("No answer{code}"),
            Some(Outcome::Declined) => format!("Declined{code}"),
            Some(Outcome::Rejected) => format!("Busy or declined{code}"),
            Some(Outcome::Unreachable) => format!("Unreachable{code}"),
            Some(Outcome::TrunkAuthFailed) => format!("Trunk authentication failed{code}"),
            Some(Outcome::EndedBeforeAnswer) => "Ended before answer".to_string(),
            Some(Outcome::Failed) => format!("Failed{code}"),
            None => "—".to_string(),
        }
    }
}

/// A page number from a form or a query string: a number, or text holding one (a
/// server function's flattened input arrives as text). Anything else is no page.
mod page_number {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Number(u32),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        Ok(match Option::<Text>::deserialize(d)? {
            Some(Text::Number(n)) => Some(n),
            Some(Text::Text(t)) => t.trim().parse().ok(),
            None => None,
        })
    }

    pub fn serialize<S: Serializer>(page: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
        match page {
            Some(n) => s.serialize_some(n),
            None => s.serialize_none(),
        }
    }
}

/// Filters and page of the calls table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallQuery {
    pub assistant: Option<String>,
    pub number: Option<String>,
    /// inbound or outbound.
    pub direction: Option<String>,
    /// live (not ended), or a status.
    pub status: Option<String>,
    /// YYYY-MM-DD (UTC): calls started that day.
    pub date: Option<String>,
    /// "include": test calls ("Test inbound route") too; by default they are left out.
    pub tests: Option<String>,
    /// Cursor of the page to show: the rows after it (a page's `next`).
    pub after: Option<String>,
    /// Cursor of the page to show: the rows before it (a page's `prev`).
    pub before: Option<String>,
    #[serde(default, with = "page_number")]
    pub page: Option<u32>,
}

/// The place-a-call form as the browser sends it (checkboxes are "on" or absent);
/// the server parses it once into a call request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallForm {
    pub number_id: String,
    pub to: String,
    pub assistant_id: Option<String>,
    pub dtmf: Option<String>,
    pub play_dialtone: Option<String>,
    pub wait_until_answered: Option<String>,
    /// Seconds, as typed.
    pub ringing_timeout: Option<String>,
    /// Seconds, as typed.
    pub max_duration: Option<String>,
    pub display_name: Option<String>,
}

/// "Change password" on the settings page, as the browser sends it. Every field is a
/// [`Secret`], so the argument struct's `Debug` shows none of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordChangeForm {
    pub current_password: Secret,
    pub password: Secret,
    pub password_confirm: Secret,
}

/// The carrier form as the browser sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierForm {
    pub name: String,
    pub kind: String,
    pub sip_address: String,
    pub transport: Option<String>,
    pub auth_username: Option<String>,
    pub auth_password: Option<Secret>,
    pub destination_country: Option<String>,
    /// One address or CIDR block per line.
    pub inbound_addresses: Option<String>,
    #[serde(default)]
    pub outbound_cps: Option<String>,
}

/// The routing profile form as the browser sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingProfileForm {
    pub name: String,
    pub plan_code: Option<String>,
    pub country: Option<String>,
    pub outbound_provider: Option<String>,
    pub outbound_trunk_ref: Option<String>,
    pub inbound_trunk_ref: Option<String>,
}

/// One entry of a call's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", schema(as = CallEvent))]
pub struct CallEventView {
    /// livekit, twilio or dial.
    pub source: String,
    pub kind: String,
    /// What the source reported, as an object (a webhook's event, Dial's own facts).
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub detail: serde_json::Value,
    /// Seconds since the Unix epoch.
    pub at: i64,
}

impl CallEventView {
    /// A timeline entry from its stored detail text: an object as it is; anything else (text
    /// that is not a JSON object) under `text`, so `detail` is always an object.
    pub fn from_stored(source: String, kind: String, detail: &str, at: i64) -> Self {
        let detail = match serde_json::from_str::<serde_json::Value>(detail) {
            Ok(object @ serde_json::Value::Object(_)) => object,
            _ => serde_json::json!({ "text": detail }),
        };
        CallEventView {
            source,
            kind,
            detail,
            at,
        }
    }
}

/// A call with everything known about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CallDetail {
    pub call: CallRow,
    pub timeline: Vec<CallEventView>,
    /// Why the carrier would refuse to transfer this call, while it is on; null when
    /// nothing is known against it.
    #[serde(default)]
    pub transfer_block: Option<TransferBlock>,
}

/// The number's Twilio Elastic SIP trunk refuses transfers (its `TransferMode`): Twilio
/// answers the SIP REFER with a refusal, so Dial says so rather than trying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TransferBlock {
    /// The trunk's `TransferMode`: `disable-all` (no transfers) or `sip-only` (only to
    /// sip: addresses, not to phone numbers).
    pub transfer_mode: String,
    /// The Twilio trunk (TK…).
    pub trunk_sid: String,
    /// The Dial number whose calls go through the trunk.
    pub number_id: String,
    /// What is wrong and how to fix it, in words.
    pub message: String,
    /// The viewer may turn transfers on (administrators), from the number's page.
    pub can_enable: bool,
}

impl TransferBlock {
    /// Only phone-number (tel:) destinations are refused; sip: ones work.
    pub fn sip_only(&self) -> bool {
        self.transfer_mode == "sip-only"
    }
}

/// The result of a transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TransferResult {
    pub ok: bool,
    pub message: String,
    pub sip_status_code: Option<i64>,
}

// -- API keys

/// An API key as its owner sees it: never the key itself, only its first characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// The first characters of the key and an ellipsis ("dial_ab12cd3…").
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl ApiKeyView {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// A key just created: the only time its secret leaves the server. `Debug` leaves the
/// secret out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedKey {
    pub key: ApiKeyView,
    pub secret: String,
}

impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey")
            .field("key", &self.key)
            .field("secret", &"[redacted]")
            .finish()
    }
}

// -- Call statistics (the overview page) ---------------------------------------------------

/// Today's calls by outcome (UTC), and the calls started on each of the last seven days.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallStats {
    /// Calls started today (UTC).
    pub today: u64,
    /// Of today's calls: ended after being answered.
    pub completed: u64,
    pub no_answer: u64,
    pub busy: u64,
    pub declined: u64,
    /// Failed, unreachable, or the trunk's authentication failed.
    pub failed: u64,
    /// Calls on right now (not ended), whenever they started.
    pub live: u64,
    /// The last seven days, oldest first; the last is today.
    pub days: Vec<DayCount>,
}

/// The calls started on one day (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCount {
    /// YYYY-MM-DD.
    pub date: String,
    /// Mon, Tue, …
    pub weekday: String,
    pub calls: u64,
}

/// A secret typed into a form (a password, a token) on its way to a server function. The
/// `#[server]` macro derives `Debug` on its argument struct: this type's `Debug` prints
/// nothing of the value, so a logged request never shows it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The value, for the server code that hashes or encrypts it.
    pub fn expose(self) -> String {
        self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

// After `named_enum!`, which it uses.
mod campaign;
pub use campaign::*;
mod health;
pub use health::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "ssr")]
    #[test]
    fn times_are_formatted_as_chrono_formats_them() {
        let samples = [
            0,
            -1,
            59,
            86_399,
            86_400,
            951_782_400,   // 2000-02-29
            1_709_164_799, // 2024-02-28 23:59:59
            1_709_251_200, // 2024-03-01
            1_795_000_000,
            4_102_444_799,   // 2099-12-31 23:59:59
            -62_135_596_800, // 0001-01-01
            253_402_300_799, // 9999-12-31 23:59:59
        ];
        for epoch in samples
            .into_iter()
            .chain((0..2_000).map(|i| i * 7_919_123 - 3_000_000_000))
        {
            let t = chrono::DateTime::from_timestamp(epoch, 0).expect("in range");
            assert_eq!(
                format_time(epoch),
                t.format("%Y-%m-%d %H:%M UTC").to_string(),
                "{epoch}"
            );
        }
        assert_eq!(format_time(253_402_300_800), "—");
    }

    #[test]
    fn pickers_tell_equal_assistant_names_and_the_signed_in_owner_apart() {
        assert_eq!(
            assistant_labels([("Reception", "olivia"), ("Sales", "olivia")]),
            ["Reception", "Sales"]
        );
        assert_eq!(
            assistant_labels([("Reception", "admin"), ("Reception", "olivia")]),
            ["Reception \u{2014} admin", "Reception \u{2014} olivia"]
        );
        assert!(assistant_labels([]).is_empty());
        let me = OwnerOption {
            id: "u1".into(),
            username: "admin".into(),
        };
        assert_eq!(me.label("u1"), "Me (admin)");
        assert_eq!(me.label("u2"), "admin");
    }

    fn ended(reason: Option<&str>, outcome: Option<Outcome>, sip: Option<i64>) -> CallRow {
        CallRow {
            id: "c".into(),
            direction: Direction::Outbound,
            from: "+14155550100".into(),
            to: "+14155550101".into(),
            number_id: None,
            assistant_id: None,
            assistant: None,
            status: CallStatus::Ended,
            outcome,
            sip_status_code: sip,
            end_reason: reason.map(str::to_string),
            sip_call_id: None,
            twilio_call_sid: None,
            room: None,
            created_at: 0,
            answered_at: None,
            ended_at: Some(1),
            test: false,
            placed_by: None,
        }
    }

    #[test]
    fn an_ended_call_reads_in_words_with_its_sip_code_and_never_a_provider_code() {
        let busy = ended(
            Some("twirp error resource_exhausted: INVITE failed: 486 Busy Here"),
            Some(Outcome::Busy),
            Some(486),
        );
        assert_eq!(busy.outcome_words(), "Busy (SIP 486)");
        assert_eq!(
            busy.ended_by(),
            None,
            "the provider's text stays in the timeline"
        );
        let no_answer = ended(
            Some("participant_connection_aborted"),
            Some(Outcome::NoAnswer),
            None,
        );
        assert_eq!(no_answer.outcome_words(), "No answer");
        assert_eq!(no_answer.ended_by(), None);
        let answered = |reason: &str| CallRow {
            answered_at: Some(0),
            ..ended(Some(reason), Some(Outcome::Completed), None)
        };
        assert_eq!(
            ended(
                Some("hung up by ana (API key)"),
                Some(Outcome::Completed),
                None
            )
            .ended_by(),
            Some("Hung up by ana (API key)".into())
        );
        assert_eq!(
            answered("client_initiated").ended_by(),
            Some("The phone hung up".into())
        );
        assert_eq!(
            answered("transferred to tel:+14155550199").ended_by(),
            Some("Transferred to tel:+14155550199".into())
        );
        assert_eq!(
            answered("participant_connection_aborted").ended_by(),
            Some("The connection was lost".into())
        );
        assert_eq!(
            ended(Some("user_rejected"), Some(Outcome::Rejected), None).ended_by(),
            None
        );
    }
}

named_enum! {
    /// How a number came onto the do-not-call list.
    DoNotCallSource {
        /// Added by an admin, one number.
        Added => "added",
        /// From a CSV file.
        Imported => "imported",
        /// The callee asked not to be called again, during a call.
        OptedOut => "opted_out",
    }
}

/// A number on the do-not-call list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoNotCallEntry {
    pub e164: String,
    pub source: DoNotCallSource,
    pub note: String,
    /// Who added it (a username), when known.
    pub added_by: Option<String>,
    pub created_at: i64,
}

/// A message an action left for the page it led to (see `server::notice`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeView {
    pub message: String,
    /// It says the action failed.
    pub error: bool,
}

// -- Event webhooks -----------------------------------------------------------------------

mod event_hooks;
pub use event_hooks::*;
