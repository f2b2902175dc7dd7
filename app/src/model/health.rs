//! What the setup checklist and the drift scan report, as the pages, the API and
//! `dial doctor` see it.

use serde::{Deserialize, Serialize};

named_enum! {
    /// How an item of the checklist stands.
    Light {
        /// As it must be.
        Green => "green",
        /// Works, but something should be done (a default, nothing received yet).
        Amber => "amber",
        /// Broken or missing: calls will not work until it is fixed.
        Red => "red",
    }
}

impl Light {
    pub fn label(self) -> &'static str {
        match self {
            Light::Green => "OK",
            Light::Amber => "Check",
            Light::Red => "Fix",
        }
    }
}

/// One item of the setup checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SetupItem {
    /// Stable name, e.g. `twilio.credentials` (for machines and tests).
    pub key: String,
    pub group: String,
    pub title: String,
    pub light: Light,
    /// What is wrong (or right), in words.
    pub detail: String,
    /// Where to fix it: a page of the dashboard.
    pub fix_href: Option<String>,
    pub fix_label: Option<String>,
}

/// The setup checklist as last checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Checklist {
    pub items: Vec<SetupItem>,
    /// When the checks ran (Unix seconds); results are reused for a short time.
    pub checked_at: i64,
}

impl Checklist {
    /// The worst light of all items (green when there are none).
    pub fn worst(&self) -> Light {
        self.items
            .iter()
            .map(|i| i.light)
            .fold(Light::Green, |w, l| match (w, l) {
                (Light::Red, _) | (_, Light::Red) => Light::Red,
                (Light::Amber, _) | (_, Light::Amber) => Light::Amber,
                _ => Light::Green,
            })
    }

    pub fn count(&self, light: Light) -> usize {
        self.items.iter().filter(|i| i.light == light).count()
    }
}

named_enum! {
    /// What differs between Dial's records and a provider.
    DriftKind {
        /// A number Dial manages is no longer on the Twilio account.
        NumberGone => "number_gone",
        /// A Twilio number is not on the Elastic SIP trunk Dial attached it to.
        NumberOffTrunk => "number_off_trunk",
        /// A Twilio number's call status callback no longer points at Dial.
        CallbackChanged => "callback_changed",
        /// The number's LiveKit inbound trunk is gone.
        InboundMissing => "inbound_missing",
        /// The inbound trunk no longer takes the number's calls from the right addresses.
        InboundChanged => "inbound_changed",
        /// The number's LiveKit outbound trunk is gone.
        OutboundMissing => "outbound_missing",
        /// The outbound trunk no longer carries the number, or calls another address.
        OutboundChanged => "outbound_changed",
        /// The number's dispatch rule is gone.
        RuleMissing => "rule_missing",
        /// The dispatch rule no longer matches the assistant.
        RuleChanged => "rule_changed",
        /// A LiveKit object carrying Dial's metadata that no number records.
        Orphan => "orphan",
        /// A number on the Twilio account that Dial does not know.
        UnknownNumber => "unknown_number",
    }
}

/// How a finding is repaired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Repair {
    /// Assign the number to its assistant again (an ordinary, idempotent provisioning run).
    Reassign { number_id: String },
    /// Delete a LiveKit object no number records.
    DeleteLiveKit {
        /// `inbound_trunk`, `outbound_trunk` or `dispatch_rule`.
        object: String,
        id: String,
        name: String,
    },
    /// Point a Twilio number's call status callback at Dial again.
    RestoreCallback { number_id: String },
    /// Import a Twilio number Dial does not know.
    Adopt { twilio_sid: String, e164: String },
    /// Nothing Dial can do by itself; the words say what to do.
    Manual,
}

impl Repair {
    /// The button's words.
    pub fn label(&self) -> &'static str {
        match self {
            Repair::Reassign { .. } => "Re-run the assignment",
            Repair::DeleteLiveKit { .. } => "Delete it",
            Repair::RestoreCallback { .. } => "Point it at Dial again",
            Repair::Adopt { .. } => "Import it",
            Repair::Manual => "",
        }
    }
}

/// One difference found by a drift scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DriftFinding {
    /// Stable for the same difference across scans (kind and object), so a repair names it.
    pub id: String,
    pub kind: DriftKind,
    pub number_id: Option<String>,
    pub e164: Option<String>,
    /// The difference in plain words.
    pub words: String,
    pub repair: Repair,
}

/// The last drift scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DriftReport {
    /// When it finished (Unix seconds); `None` before the first scan.
    pub scanned_at: Option<i64>,
    pub findings: Vec<DriftFinding>,
    /// Why the scan could not look at a provider (not configured, refused): the findings
    /// then cover only what could be seen.
    pub errors: Vec<String>,
    /// Numbers compared.
    pub numbers_checked: u64,
}
