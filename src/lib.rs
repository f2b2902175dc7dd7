//! The `dial` server binary's library: command line, start-up and the HTTP router.
//! Tests start the real application on port 0 through [`startup::Application`].

pub mod api_v1;
pub mod assets;
pub mod cli;
pub mod doctor;
pub mod events;
pub mod headers;
pub mod metrics;
pub mod router;
pub mod startup;
pub mod telemetry;
