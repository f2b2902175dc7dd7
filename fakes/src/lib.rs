//! Faithful, stateful fakes of Twilio and LiveKit, served over HTTP on loopback. They are
//! product code: the tests and sandbox mode (`dial sandbox`, `dial serve --sandbox`) use
//! them, and Dial talks to them exactly as it talks to the real services.

pub mod faults;
pub mod livekit;
mod store;
pub mod twilio;

pub use store::StateError;

/// Links the two fakes as the real chain is linked: an outbound call the LiveKit bridge
/// sends to a Twilio trunk's termination domain is admitted or refused by the Twilio fake,
/// by that trunk's calls-per-second limit (`twilio/cps.rs`; a refusal fails the call as
/// LiveKit reports a carrier's 503, `livekit/carrier.rs`); a REFER the bridge sends for a
/// call through a Twilio trunk is answered by the Twilio fake, by that trunk's
/// `TransferMode` (`twilio/refer.rs`); a refusal fails TransferSIPParticipant as it would
/// at LiveKit (`livekit/transfer.rs`). Calls through other carriers are not Twilio's and
/// keep the LiveKit fake's own answer.
pub fn link(twilio: &twilio::FakeTwilio, livekit: &livekit::FakeLiveKit) {
    let carrier = twilio.clone();
    livekit.set_dial_peer(Some(std::sync::Arc::new(
        move |call: &livekit::DialledCall| {
            carrier.admit_call(&call.trunk_address).map(|admitted| {
                admitted.map_err(|refusal| livekit::InviteRefused {
                    status: refusal.status,
                    reason: refusal.reason,
                })
            })
        },
    )));
    let twilio = twilio.clone();
    livekit.set_refer_peer(Some(std::sync::Arc::new(
        move |call: &livekit::ReferredCall| {
            let address = (call.direction == "outbound")
                .then_some(call.trunk_address.as_deref())
                .flatten();
            twilio
                .answer_refer(address, &call.called_number, &call.refer_to)
                .map(|answer| match answer {
                    Ok(()) => livekit::TransferOutcome::Succeed,
                    Err(status) => livekit::TransferOutcome::Fail(status),
                })
        },
    )));
}

/// Seconds since the Unix epoch (the fakes' clock for creation times and room ages).
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
