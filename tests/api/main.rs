//! API tests: each starts the real application on port 0 (with a fresh SQLite file, or a
//! fresh PostgreSQL database when DIAL_TEST_DATABASE=postgres) and drives it over HTTP
//! exactly as a browser's server-function calls and form posts would.

mod common;
mod helpers;

mod api_calls;
mod api_keys;
mod assets;
mod assignment;
mod assistants;
mod auth;
mod browser_calls;
mod call_control;
mod call_pages;
mod calls;
mod campaign_processes;
mod campaign_world;
mod campaigns;
mod carriers;
mod crash;
mod do_not_call;
mod event_hooks;
mod health;
mod instances;
mod lists;
mod metrics;
mod numbers;
mod process;
mod robustness;
mod routing;
mod sandbox;
mod security;
mod settings;
mod transfers;
mod twilio_webhooks;
mod users;
