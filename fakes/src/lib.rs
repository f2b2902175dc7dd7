//! Faithful, stateful fakes of Twilio and LiveKit, served over HTTP on loopback. They are
//! product code: the tests and sandbox mode (`dial sandbox`, `dial serve --sandbox`) use
//! them, and Dial talks to them exactly as it talks to the real services.

pub mod faults;
pub mod livekit;
mod store;
pub mod twilio;

pub use store::StateError;

/// Seconds since the Unix epoch (the fakes' clock for creation times and room ages).
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
