//! The provisioning engine: giving a number to an assistant (and taking it back) across
//! Twilio and LiveKit, as a run of steps.
//!
//! Guarantees, and how they are kept:
//! - **Idempotent.** Every step first looks for what it would create — by the id recorded on
//!   the number, then in the provider by its deterministic metadata (`managed_by: dial`,
//!   the number's id) — and adopts it instead of creating a duplicate; an adopted object
//!   that differs from what the assistant needs is updated in place.
//! - **Resumable.** A step's outcome and provider id are written before the next step
//!   starts. LiveKit objects carry the id of the run that created them
//!   (`created_by_run`), and a Twilio change is preceded by a written *intent*, so a run
//!   resumed after a crash knows which objects it finds were its own. A worker renews the
//!   run's heartbeat; a run whose heartbeat is older than the lease is taken over by the
//!   resumer of any instance (a crash, `kill -9`, a restart).
//! - **Roll back** deletes, in reverse order, exactly what the run created (never an object
//!   it adopted or one another number uses) and restores what it updated.
//! - **Concurrent.** After the pre-check, the Twilio chain (trunk → attach), the LiveKit
//!   inbound chain (trunk → dispatch rule) and the outbound trunk run at the same time.
//! - **No gap on reassign.** Reassigning adopts the number's trunks and replaces its
//!   dispatch rule in one LiveKit call, so calls go to the old assistant until the moment
//!   they go to the new one.

use super::{
    audit::{self, Actor},
    crypto::Binding,
    db::is_unique_violation,
    livekit,
    livekit::{proto, InboundTrunkSpec, LiveKitClient, OutboundTrunkSpec},
    new_id, now,
    state::AppState,
    twilio,
    twilio::{IncomingNumber, NewOriginationUrl, TrunkParams, TwilioClient},
};
use crate::{
    error::AppError,
    model::{
        AssignmentStatus, AssistantOption, Me, RouteCheck, Routing, RunKind, RunStatus, RunView,
        StepAction, StepName, StepStatus, StepView,
    },
    phone::E164,
};
use dial_sip::{check_inbound_conflict, check_rule_conflict, normalize_number};
use livekit_api::services::sip::CreateSIPDispatchRuleOptions;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::{
    future::Future,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Twilio's SIP signalling gateways, one /30 per region (Twilio's "IP Addresses for
/// Elastic SIP Trunking Services", twilio.com/docs/sip-trunking/ip-addresses: North
/// America Virginia and Oregon, Ireland, Frankfurt, Tokyo, Singapore, Sydney, São Paulo),
/// allowed to send calls to a Twilio number's LiveKit inbound trunk. LiveKit matches a
/// call's signalling source address (livekit/sip `pkg/sip/inbound.go`), so Twilio's media
/// range (168.86.128.0/18, RTP only) does not belong here. `DIAL_TWILIO_SIGNALLING_ADDRESSES`
/// replaces the list when Twilio publishes another.
pub const TWILIO_SIGNALLING_ADDRESSES: &[&str] = &[
    "54.172.60.0/30",
    "54.244.51.0/30",
    "54.171.127.192/30",
    "35.156.191.128/30",
    "54.65.63.192/30",
    "54.169.127.128/30",
    "54.252.254.64/30",
    "177.71.206.192/30",
];

/// The friendly name of an Elastic SIP trunk Dial created.
pub(super) const DIAL_TRUNK_NAME: &str = "Dial (managed by Dial)";

pub(super) const ASSIGN_STEPS: &[(StepName, &str)] = &[
    (
        StepName::Precheck,
        "Check settings and LiveKit's conflict rules",
    ),
    (StepName::TwilioTrunk, "Twilio Elastic SIP trunk"),
    (
        StepName::TwilioAttach,
        "Attach the number to the Twilio trunk",
    ),
    (StepName::InboundTrunk, "LiveKit inbound trunk"),
    (StepName::OutboundTrunk, "LiveKit outbound trunk"),
    (StepName::DispatchRule, "LiveKit dispatch rule"),
    (StepName::Record, "Record the routing on the number"),
];

pub(super) const UNASSIGN_STEPS: &[(StepName, &str)] = &[
    (StepName::DispatchRule, "Delete the LiveKit dispatch rule"),
    (StepName::InboundTrunk, "Delete the LiveKit inbound trunk"),
    (StepName::OutboundTrunk, "Delete the LiveKit outbound trunk"),
    (
        StepName::TwilioAttach,
        "Detach the number from the Twilio trunk",
    ),
    (StepName::Record, "Record the number as unassigned"),
];

/// The steps of a run of `kind`, in order, with their titles.
pub(super) fn steps_of(kind: RunKind) -> &'static [(StepName, &'static str)] {
    match kind {
        RunKind::Assign => ASSIGN_STEPS,
        RunKind::Unassign => UNASSIGN_STEPS,
    }
}

pub(super) fn step_title(kind: RunKind, name: StepName) -> String {
    steps_of(kind)
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| t.to_string())
        .unwrap_or_else(|| name.to_string())
}

pub mod drift;
mod engine;
mod error;
mod route_test;
mod runs;
mod steps;
mod store;
mod transfers;
mod trunk_check;
mod trunks;
mod undo;
mod view;

use engine::*;
use error::*;
use steps::*;
use store::*;
use undo::*;

pub use route_test::*;
pub use runs::*;
pub use transfers::*;
pub use trunk_check::*;
pub use trunks::*;
pub use view::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_numbers_allow_twilios_signalling_gateways_not_its_media_range() {
        let mut config = crate::server::config::Config::for_data_dir("/tmp".into());
        let addresses = inbound_addresses_for(&config, None);
        assert_eq!(addresses.len(), 8, "one /30 per Twilio region");
        assert!(
            addresses.iter().all(|a| a.ends_with("/30")),
            "{addresses:?}"
        );
        assert!(
            !addresses.iter().any(|a| a.starts_with("168.86.")),
            "{addresses:?}"
        );
        assert!(addresses
            .iter()
            .all(|a| dial_sip::parse_address(a).is_some()));
        config.twilio_signalling_addresses = vec!["198.51.100.0/24".parse().expect("a CIDR")];
        assert_eq!(inbound_addresses_for(&config, None), ["198.51.100.0/24"]);
    }
}
