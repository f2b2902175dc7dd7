//! Calls per second on Elastic SIP Trunking termination: how many calls a trunk accepts
//! from the customer's SIP infrastructure (here, LiveKit's bridge) in one second.
//!
//! Twilio's "Calls per Second (CPS) — Trunking Termination"
//! (twilio.com/docs/sip-trunking/cps-trunk-termination) and "SIP Trunking Scale and
//! Limits" (twilio.com/docs/sip-trunking/scale-and-limits): 1 CPS per trunk per region by
//! default, raisable by the account owner (to 5 in the console, more through sales). A
//! call over the limit is not queued: it is refused, and the debugger logs error 32001
//! "SIP: Trunk CPS limit exceeded". The refusal LiveKit's bridge receives is a SIP 503
//! whose reason reads "Trunk CPS limit exceeded. Region: us1" (livekit/sip
//! `pkg/sip/errors_test.go`, the cases for `classifyInviteError`'s rate-limit match in
//! `pkg/sip/errors.go`); the fake answers exactly that.
//!
//! The fake counts a trunk's calls over a sliding second: a call is admitted when fewer
//! than the trunk's limit were admitted in the second before it. Refused calls do not
//! count towards the limit (they never became calls), and are counted apart, per trunk,
//! so a test can assert that none was refused. The limit is kept on the trunk (and in the
//! state file); the window and the counts are the carrier's running state and start
//! afresh with the process. The trunk is the one whose termination domain the call was
//! sent to; Twilio's regions are not modelled (every call is in us1).

use super::FakeTwilio;
use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

/// A trunk's calls per second until someone raises it (Twilio's default).
pub const DEFAULT_TRUNK_CPS: u32 = 1;

pub(crate) fn default_trunk_cps() -> u32 {
    DEFAULT_TRUNK_CPS
}

/// The SIP reason of a call refused for the trunk's CPS limit.
pub const CPS_REFUSAL_REASON: &str = "Trunk CPS limit exceeded. Region: us1";

/// The SIP status of a call refused for the trunk's CPS limit.
const CPS_REFUSAL_STATUS: u16 = 503;

/// How the carrier refused a call: the SIP final response LiveKit's bridge receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarrierRefusal {
    pub status: u16,
    pub reason: String,
}

/// Why a trunk's limit could not be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrunkCpsError {
    #[error("no trunk {0} in this fake")]
    NoSuchTrunk(String),
    #[error("a trunk accepts at least 1 call per second")]
    Zero,
}

/// Per trunk: when its admitted calls of the last second arrived, and how many calls it
/// refused.
#[derive(Default)]
pub(crate) struct Admissions {
    recent: HashMap<String, VecDeque<Instant>>,
    refused: HashMap<String, u64>,
}

impl FakeTwilio {
    /// Sets how many calls a second the trunk `trunk_sid` (of any account) accepts, as
    /// its owner would in the console or through Twilio's sales.
    pub fn set_trunk_cps(&self, trunk_sid: &str, cps: u32) -> Result<(), TrunkCpsError> {
        if cps == 0 {
            return Err(TrunkCpsError::Zero);
        }
        {
            let mut w = self
                .world
                .lock()
                .map_err(|_| TrunkCpsError::NoSuchTrunk(trunk_sid.to_string()))?;
            let trunk = w
                .accounts
                .values_mut()
                .flat_map(|a| a.trunks.iter_mut())
                .find(|t| t.sid == trunk_sid)
                .ok_or_else(|| TrunkCpsError::NoSuchTrunk(trunk_sid.to_string()))?;
            trunk.cps = cps;
        }
        self.save();
        Ok(())
    }

    /// A call sent to termination at `address` (the outbound trunk's address at LiveKit:
    /// the trunk's termination domain, maybe with a port or parameters). `None`: no trunk
    /// of this fake has that domain (another carrier's call); `Some(Err)`: refused over
    /// the trunk's CPS limit.
    pub fn admit_call(&self, address: &str) -> Option<Result<(), CarrierRefusal>> {
        let host = super::refer::host_of(address);
        let mut w = self.world.lock().ok()?;
        let (sid, cps) = w
            .accounts
            .values()
            .flat_map(|a| a.trunks.iter())
            .find(|t| t.domain_name.as_deref() == Some(host.as_str()))
            .map(|t| (t.sid.clone(), t.cps))?;
        let now = Instant::now();
        let admissions = &mut w.calls_per_second;
        let recent = admissions.recent.entry(sid.clone()).or_default();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            recent.pop_front();
        }
        if recent.len() < cps as usize {
            recent.push_back(now);
            return Some(Ok(()));
        }
        *admissions.refused.entry(sid).or_default() += 1;
        Some(Err(CarrierRefusal {
            status: CPS_REFUSAL_STATUS,
            reason: CPS_REFUSAL_REASON.into(),
        }))
    }

    /// How many calls all trunks refused for their CPS limit since the fake started.
    pub fn cps_refusals(&self) -> u64 {
        self.world
            .lock()
            .map(|w| w.calls_per_second.refused.values().sum())
            .unwrap_or(0)
    }

    /// How many calls the trunk `trunk_sid` refused for its CPS limit.
    pub fn cps_refusals_on(&self, trunk_sid: &str) -> u64 {
        self.world
            .lock()
            .ok()
            .and_then(|w| w.calls_per_second.refused.get(trunk_sid).copied())
            .unwrap_or(0)
    }
}
