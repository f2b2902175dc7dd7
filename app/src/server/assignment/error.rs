//! Why a step failed. The provider's typed error is kept until the run records the
//! failure; only then is it put into words (Twilio's through `twilio::settings::describe`,
//! which names the account and what to do).

use super::*;
use crate::server::{livekit::LiveKitError, twilio::TwilioError};

#[derive(Debug)]
pub(super) enum StepError {
    /// Twilio refused the request (or could not be reached), for this account.
    Twilio {
        account_sid: String,
        error: TwilioError,
    },
    /// LiveKit refused the request (or could not be reached).
    LiveKit(LiveKitError),
    /// Dial's own database failed.
    Database(sqlx::Error),
    /// A setting is missing or a service refused (Twilio or LiveKit not configured…).
    App(AppError),
    /// Something Dial checked itself, in words that say what to do next.
    Refused(String),
}

impl StepError {
    /// Twilio's error for the account `client` speaks for.
    pub(super) fn twilio(client: &TwilioClient, error: TwilioError) -> Self {
        StepError::Twilio {
            account_sid: client.account_sid().to_string(),
            error,
        }
    }

    /// What the run's page and the audit log show.
    pub(super) fn shown(&self, state: &AppState) -> String {
        match self {
            StepError::Twilio { account_sid, error } => {
                twilio::settings::describe(error, account_sid, &state.config.twilio_api_base)
                    .to_string()
            }
            StepError::LiveKit(error) => error.to_string(),
            StepError::Database(error) => {
                tracing::error!(%error, "database error during provisioning");
                "Dial could not write to its database (see the server log).".into()
            }
            StepError::App(error) => error.to_string(),
            StepError::Refused(message) => message.clone(),
        }
    }

    /// The same failure for a caller outside a run (placing a call needs the number's
    /// outbound trunk).
    pub(super) fn into_app(self, state: &AppState) -> AppError {
        match self {
            StepError::LiveKit(error) => AppError::from(error),
            StepError::Database(error) => AppError::from(error),
            StepError::App(error) => error,
            other => AppError::Upstream {
                provider: "LiveKit".into(),
                code: None,
                message: other.shown(state),
            },
        }
    }
}

impl From<LiveKitError> for StepError {
    fn from(error: LiveKitError) -> Self {
        StepError::LiveKit(error)
    }
}

impl From<sqlx::Error> for StepError {
    fn from(error: sqlx::Error) -> Self {
        StepError::Database(error)
    }
}

impl From<AppError> for StepError {
    fn from(error: AppError) -> Self {
        StepError::App(error)
    }
}

impl From<String> for StepError {
    fn from(message: String) -> Self {
        StepError::Refused(message)
    }
}

impl From<&str> for StepError {
    fn from(message: &str) -> Self {
        StepError::Refused(message.to_string())
    }
}

/// A step that failed, by its position in the run (its error is recorded on the step).
/// Ordered by position: of steps that failed together, the page names the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct StepFailed {
    pub(super) position: i64,
}
