//! Provider tests: the Twilio and LiveKit clients against the fakes over real HTTP on
//! loopback, every rule of the fakes (WIRE.md), the signature vectors, and the contract
//! checks that also run against the real services when credentials are given.

mod callees;
mod carrier;
mod contract;
mod livekit;
mod signatures;
mod twilio;
