//! Logging with `tracing`. `RUST_LOG` (or `DIAL_LOG`) sets the filter; default `info`.

use tracing_subscriber::{fmt, EnvFilter};

pub fn init() {
    let filter = std::env::var("DIAL_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    // Colours only on a terminal: a log file or journal gets plain `key=value` fields.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .try_init();
}
