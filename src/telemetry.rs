//! Logging with `tracing`. `RUST_LOG` (or `DIAL_LOG`) sets the filter; default `info`.

use tracing_subscriber::{fmt, EnvFilter};

pub fn init() {
    let filter = std::env::var("DIAL_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    let _ = fmt().with_env_filter(filter).with_target(false).try_init();
}
