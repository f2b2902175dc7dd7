//! Faithful, stateful fakes of Twilio and LiveKit, served over HTTP on loopback. They are
//! product code: the tests and sandbox mode (`dial sandbox`, `dial serve --sandbox`) use
//! them, and Dial talks to them exactly as it talks to the real services.

pub mod faults;
pub mod livekit;
pub mod twilio;
