//! Logging with `tracing`. `RUST_LOG` (or `DIAL_LOG`) sets the filter; default `info`.
//! `DIAL_LOG_FORMAT=json` writes one JSON object a line (`timestamp`, `level`, `fields`
//! with `message`, `span` the innermost span and `spans` all of them, the first being the
//! request's: its `id`, method and path), for log collectors; the default is plain text.

use tracing_subscriber::{fmt, EnvFilter};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    /// `DIAL_LOG_FORMAT`: `json`, or `text` (the default). Anything else is an error that
    /// names the choices.
    pub fn from_env() -> Result<Format, String> {
        match std::env::var("DIAL_LOG_FORMAT") {
            Err(_) => Ok(Format::Text),
            Ok(value) => match value.trim().to_ascii_lowercase().as_str() {
                "" | "text" => Ok(Format::Text),
                "json" => Ok(Format::Json),
                other => Err(format!(
                    "DIAL_LOG_FORMAT is {other:?}; it may be \"text\" (the default) or \"json\""
                )),
            },
        }
    }
}

pub fn init() -> Result<(), String> {
    let format = Format::from_env()?;
    let filter = std::env::var("DIAL_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    let _ = match format {
        Format::Json => fmt()
            .with_env_filter(filter)
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_target(false)
            .try_init(),
        Format::Text => {
            // Colours only on a terminal: a log file or journal gets plain `key=value` fields.
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            fmt()
                .with_env_filter(filter)
                .with_target(false)
                .with_ansi(ansi)
                .try_init()
        }
    };
    Ok(())
}
