//! Server-only code: configuration, storage, crypto, authentication, audit and the
//! provider clients. Compiled only with the `ssr` feature; pages reach it through the
//! server functions in `crate::functions`.

pub mod api_keys;
pub mod assistants;
pub mod audit;
pub mod auth;
pub mod call_ingest;
pub mod call_stats;
pub mod calls;
pub mod carriers;
pub mod config;
pub mod crypto;
pub mod db;
pub mod fakes;
pub mod keys;
pub mod livekit;
pub mod livekit_settings;
pub mod livekit_webhooks;
pub mod numbers;
pub mod password;
pub mod provisioning;
pub mod routing_profiles;
pub mod sandbox;
pub mod sandbox_ui;
pub mod sessions;
pub mod sip_rules;
pub mod state;
pub mod twilio;
pub mod twilio_settings;
pub mod twilio_signature;
pub mod twilio_webhooks;
pub mod users;
pub mod validate;

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A new id that sorts by creation time (UUIDv7), for rows written at a high rate: each
/// insert lands at the end of the id's indexes instead of on a random page.
pub fn new_ordered_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
