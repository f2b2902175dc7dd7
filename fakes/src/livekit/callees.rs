//! How the simulated callees of outbound calls behave: the outcome each call gets, and
//! how long an answered call lasts before the callee hangs up.
//!
//! The outcome of a call to a number is, in order: the number's own outcome
//! ([`FakeLiveKit::set_outcome`]); else the callees' mix, by proportion
//! ([`FakeLiveKit::set_outcome_mix`]); else the default outcome; else answered. The mix
//! draws each call's outcome from a hash of its seed and the call's SIP call id
//! ([`OutcomeMix::outcome_for`]): the same call always gets the same outcome, and over
//! many calls the shares come out as set (the tests check 1,000 calls against them).
//!
//! An answered call lasts until the callee hangs up after the call length
//! ([`FakeLiveKit::set_call_length`]: a fixed time or a range, drawn per call the same
//! way), or until the request's `max_call_duration`, whichever comes first; with
//! neither, until someone else ends it. The callee hanging up is a BYE from the far
//! end: livekit/sip `pkg/sip/client.go`, `onBye`, closes the call as `CallHangup`
//! (`sip.callStatus` becomes `hangup`) with `CLIENT_INITIATED`, and leaves the room with
//! `CallHangup.DisconnectReason()` = `CLIENT_INITIATED` (`pkg/sip/participant.go`), so
//! LiveKit sends `participant_left` with that reason ([`FakeLiveKit::hang_up_from_phone`],
//! the same path), then `room_finished` after the room's departure timeout.
//!
//! Both are saved with the fake's state; a state file written before they existed loads
//! without them.

use super::*;

/// Callees' outcomes by proportion: each outcome's share in percent, adding up to 100.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(try_from = "MixSaved", into = "MixSaved")]
pub struct OutcomeMix {
    /// Outcomes with a share above 0, in the order given.
    shares: Vec<(CallOutcome, u8)>,
    seed: u64,
}

#[derive(Serialize, serde::Deserialize)]
struct MixSaved {
    shares: Vec<(CallOutcome, u8)>,
    seed: u64,
}

impl TryFrom<MixSaved> for OutcomeMix {
    type Error = MixError;
    fn try_from(saved: MixSaved) -> Result<Self, MixError> {
        OutcomeMix::new(&saved.shares, saved.seed)
    }
}

impl From<OutcomeMix> for MixSaved {
    fn from(mix: OutcomeMix) -> Self {
        MixSaved {
            shares: mix.shares,
            seed: mix.seed,
        }
    }
}

/// Why a mix was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MixError {
    #[error("the shares add up to {0} %; they must add up to 100 %")]
    NotAHundred(u32),
    #[error("{0:?} is given twice")]
    Repeated(CallOutcome),
}

impl OutcomeMix {
    /// A mix of `shares` (outcome, percent), which must add up to 100; `seed` varies the
    /// draw (the same seed and call id always give the same outcome).
    pub fn new(shares: &[(CallOutcome, u8)], seed: u64) -> Result<OutcomeMix, MixError> {
        let total: u32 = shares.iter().map(|(_, share)| u32::from(*share)).sum();
        if total != 100 {
            return Err(MixError::NotAHundred(total));
        }
        let mut kept: Vec<(CallOutcome, u8)> = Vec::new();
        for (outcome, share) in shares {
            if kept.iter().any(|(o, _)| o == outcome) {
                return Err(MixError::Repeated(*outcome));
            }
            kept.push((*outcome, *share));
        }
        kept.retain(|(_, share)| *share > 0);
        Ok(OutcomeMix { shares: kept, seed })
    }

    /// The outcomes with their shares (those above 0).
    pub fn shares(&self) -> &[(CallOutcome, u8)] {
        &self.shares
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The outcome of the call with SIP call id `sip_call_id` (`SCL_…`).
    pub fn outcome_for(&self, sip_call_id: &str) -> CallOutcome {
        let draw = draw(self.seed, "outcome", sip_call_id) % 100;
        let mut upto = 0u64;
        for (outcome, share) in &self.shares {
            upto += u64::from(*share);
            if draw < upto {
                return *outcome;
            }
        }
        // The shares add up to 100, so the loop returned; answered otherwise.
        CallOutcome::Answer
    }
}

/// How long an answered call lasts before the callee hangs up: `shortest` to `longest`
/// (the same for a fixed length), drawn per call to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(try_from = "LengthSaved", into = "LengthSaved")]
pub struct CallLength {
    shortest: Duration,
    longest: Duration,
}

#[derive(Serialize, serde::Deserialize)]
struct LengthSaved {
    shortest_ms: u64,
    longest_ms: u64,
}

impl TryFrom<LengthSaved> for CallLength {
    type Error = CallLengthError;
    fn try_from(saved: LengthSaved) -> Result<Self, CallLengthError> {
        CallLength::between(
            Duration::from_millis(saved.shortest_ms),
            Duration::from_millis(saved.longest_ms),
        )
    }
}

impl From<CallLength> for LengthSaved {
    fn from(length: CallLength) -> Self {
        LengthSaved {
            shortest_ms: length.shortest.as_millis() as u64,
            longest_ms: length.longest.as_millis() as u64,
        }
    }
}

/// Why a call length was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallLengthError {
    #[error("a call lasts more than no time at all")]
    Zero,
    #[error("the longest call is shorter than the shortest")]
    Reversed,
    #[error("a call lasts at most a day")]
    TooLong,
}

/// The longest call length the fake takes.
pub const LONGEST_CALL: Duration = Duration::from_secs(24 * 60 * 60);

impl CallLength {
    /// Every answered call lasts `length`.
    pub fn fixed(length: Duration) -> Result<CallLength, CallLengthError> {
        Self::between(length, length)
    }

    /// Each answered call lasts from `shortest` to `longest`.
    pub fn between(shortest: Duration, longest: Duration) -> Result<CallLength, CallLengthError> {
        if shortest.is_zero() {
            return Err(CallLengthError::Zero);
        }
        if longest < shortest {
            return Err(CallLengthError::Reversed);
        }
        if longest > LONGEST_CALL {
            return Err(CallLengthError::TooLong);
        }
        Ok(CallLength { shortest, longest })
    }

    pub fn shortest(&self) -> Duration {
        self.shortest
    }

    pub fn longest(&self) -> Duration {
        self.longest
    }

    /// How long the call with SIP call id `sip_call_id` lasts once answered.
    pub fn for_call(&self, sip_call_id: &str) -> Duration {
        let spread = (self.longest - self.shortest).as_millis() as u64;
        let extra = draw(0, "length", sip_call_id) % (spread + 1);
        self.shortest + Duration::from_millis(extra)
    }
}

/// A number from the seed, what it is drawn for, and the call id: the first 8 bytes of
/// their SHA-256.
fn draw(seed: u64, what: &str, sip_call_id: &str) -> u64 {
    let mut hash = Sha256::new();
    hash.update(seed.to_be_bytes());
    hash.update(what.as_bytes());
    hash.update([0]);
    hash.update(sip_call_id.as_bytes());
    let digest = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

impl FakeLiveKit {
    /// Callees without an outcome of their own answer by this mix (`None`: by the
    /// default outcome).
    pub fn set_outcome_mix(&self, mix: Option<OutcomeMix>) {
        if let Ok(mut w) = self.world.lock() {
            w.outcome_mix = mix;
        }
        self.save();
    }

    pub fn outcome_mix(&self) -> Option<OutcomeMix> {
        self.world.lock().ok().and_then(|w| w.outcome_mix.clone())
    }

    /// Answered calls end when the callee hangs up after this long (`None`: the callee
    /// never hangs up).
    pub fn set_call_length(&self, length: Option<CallLength>) {
        if let Ok(mut w) = self.world.lock() {
            w.call_length = length;
        }
        self.save();
    }

    pub fn call_length(&self) -> Option<CallLength> {
        self.world.lock().ok().and_then(|w| w.call_length)
    }
}

impl World {
    /// How the callee of call `call_id` to `to` (normalised) answers.
    pub(super) fn callee_outcome(&self, to: &str, call_id: &str) -> CallOutcome {
        self.outcomes
            .get(to)
            .copied()
            .or_else(|| self.outcome_mix.as_ref().map(|m| m.outcome_for(call_id)))
            .or(self.default_outcome)
            .unwrap_or(CallOutcome::Answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign_mix(seed: u64) -> OutcomeMix {
        OutcomeMix::new(
            &[
                (CallOutcome::Answer, 60),
                (CallOutcome::Busy, 15),
                (CallOutcome::NoAnswer, 20),
                (CallOutcome::Declined, 5),
                (CallOutcome::TrunkAuthFailure, 0),
            ],
            seed,
        )
        .expect("adds up to 100")
    }

    #[test]
    fn a_thousand_calls_come_out_in_the_mixs_proportions() {
        for seed in [0, 1, 14, u64::MAX] {
            let mix = campaign_mix(seed);
            let mut counts: HashMap<CallOutcome, u32> = HashMap::new();
            for _ in 0..1000 {
                *counts.entry(mix.outcome_for(&id("SCL_"))).or_default() += 1;
            }
            for (outcome, percent) in [
                (CallOutcome::Answer, 60),
                (CallOutcome::Busy, 15),
                (CallOutcome::NoAnswer, 20),
                (CallOutcome::Declined, 5),
            ] {
                let got = counts.get(&outcome).copied().unwrap_or(0);
                // 1,000 draws: a share's standard deviation is at most 1.6 points.
                assert!(
                    got.abs_diff(percent * 10) <= 50,
                    "seed {seed}: {outcome:?} came {got} times in 1000, not about {}",
                    percent * 10
                );
            }
            assert_eq!(counts.get(&CallOutcome::TrunkAuthFailure), None);
        }
    }

    #[test]
    fn the_same_call_always_gets_the_same_outcome_and_length() {
        let mix = campaign_mix(7);
        let length = CallLength::between(Duration::from_secs(5), Duration::from_secs(50)).unwrap();
        let mut outcomes = std::collections::HashSet::new();
        for n in 0..200 {
            let call = format!("SCL_{n:012}");
            assert_eq!(mix.outcome_for(&call), mix.outcome_for(&call));
            assert_eq!(length.for_call(&call), length.for_call(&call));
            let l = length.for_call(&call);
            assert!(
                l >= Duration::from_secs(5) && l <= Duration::from_secs(50),
                "{l:?}"
            );
            outcomes.insert(mix.outcome_for(&call));
        }
        assert_eq!(outcomes.len(), 4, "every outcome with a share comes up");
        // Another seed draws differently.
        let other = campaign_mix(8);
        assert!((0..200).any(|n| {
            let call = format!("SCL_{n:012}");
            mix.outcome_for(&call) != other.outcome_for(&call)
        }));
    }

    #[test]
    fn a_mix_must_add_up_to_a_hundred() {
        assert_eq!(
            OutcomeMix::new(&[(CallOutcome::Answer, 60), (CallOutcome::Busy, 35)], 0),
            Err(MixError::NotAHundred(95))
        );
        assert_eq!(
            OutcomeMix::new(&[(CallOutcome::Answer, 50), (CallOutcome::Answer, 50)], 0),
            Err(MixError::Repeated(CallOutcome::Answer))
        );
        let all = OutcomeMix::new(&[(CallOutcome::Busy, 100)], 3).unwrap();
        assert!((0..50).all(|n| all.outcome_for(&format!("SCL_{n}")) == CallOutcome::Busy));
        // A saved mix that does not add up is refused on load.
        assert!(
            serde_json::from_str::<OutcomeMix>(r#"{"shares":[["answer",99]],"seed":1}"#).is_err()
        );
        let json = serde_json::to_string(&campaign_mix(5)).unwrap();
        assert_eq!(
            serde_json::from_str::<OutcomeMix>(&json).unwrap(),
            campaign_mix(5)
        );
    }

    #[test]
    fn a_call_length_is_a_positive_range_of_at_most_a_day() {
        assert_eq!(
            CallLength::fixed(Duration::ZERO),
            Err(CallLengthError::Zero)
        );
        assert_eq!(
            CallLength::between(Duration::from_secs(9), Duration::from_secs(3)),
            Err(CallLengthError::Reversed)
        );
        assert_eq!(
            CallLength::fixed(LONGEST_CALL + Duration::from_secs(1)),
            Err(CallLengthError::TooLong)
        );
        let fixed = CallLength::fixed(Duration::from_secs(30)).unwrap();
        assert_eq!(fixed.for_call("SCL_x"), Duration::from_secs(30));
        let json = serde_json::to_string(&fixed).unwrap();
        assert_eq!(json, r#"{"shortest_ms":30000,"longest_ms":30000}"#);
        assert_eq!(serde_json::from_str::<CallLength>(&json).unwrap(), fixed);
    }
}
