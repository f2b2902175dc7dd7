//! Server-only code: configuration, storage, crypto, authentication, audit and the
//! provider clients. Compiled only with the `ssr` feature; pages reach it through the
//! server functions in `crate::functions`.

pub mod api_keys;
pub mod assignment;
pub mod assistants;
pub mod audit;
pub mod auth;
pub mod calling_window;
pub mod calls;
pub mod campaigns;
pub mod carriers;
pub mod changes;
pub mod config;
pub mod contact_csv;
pub mod crypto;
pub mod db;
pub mod do_not_call;
pub mod event_hooks;
pub mod files;
pub mod keys;
pub mod list;
pub mod livekit;
pub mod metrics;
pub mod notice;
pub mod numbers;
pub mod routing;
pub mod sandbox;
pub mod setup_check;
pub mod state;
pub mod stats;
pub mod time_zones;
pub mod twilio;
pub mod users;
pub mod validate;

/// The highest page number a list accepts: far past any real list, far below overflow.
pub const MAX_PAGE: u32 = 1_000_000;

/// The page asked for (1 when absent or 0) and the rows to skip before it. A page number
/// comes from the URL, so anything past [`MAX_PAGE`] is refused by name rather than
/// multiplied into an overflow.
pub fn page_offset(page: Option<u32>, per_page: u32) -> Result<(u32, i64), crate::error::AppError> {
    let page = page.unwrap_or(1).max(1);
    if page > MAX_PAGE {
        return Err(crate::error::AppError::invalid(
            "page",
            format!("There is no page {page}: pages go from 1 to {MAX_PAGE}."),
        ));
    }
    Ok((page, i64::from(page - 1) * i64::from(per_page)))
}

/// For a write whose failure must not stop its caller (a heartbeat, an audit row of a
/// step already taken): a failure is logged with its cause, never dropped silently.
pub fn logged<T, E: std::fmt::Display>(result: Result<T, E>, what: &str) {
    if let Err(e) = result {
        tracing::warn!(error = %e, what, "a database write failed");
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

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
