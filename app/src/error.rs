//! The one error type that crosses the server/browser boundary.
//!
//! Server functions return `Result<T, AppError>`. Messages are written for the person
//! using Dial; internal causes are logged on the server and never serialised.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A problem with one input field, with a message that says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AppError {
    /// No valid session.
    Unauthorized,
    /// Signed in, but the role does not allow this.
    Forbidden,
    NotFound {
        what: String,
    },
    /// One or more fields are wrong; each names the field and the fix.
    Invalid {
        errors: Vec<FieldError>,
    },
    Conflict {
        message: String,
    },
    TooManyAttempts {
        retry_after_secs: u64,
    },
    /// A provider (Twilio, LiveKit) refused or failed; `code` is the provider's own.
    Upstream {
        provider: String,
        code: Option<String>,
        message: String,
    },
    /// Something failed inside Dial; the cause is in the server log.
    Internal,
    /// The request did not reach the server function or could not be decoded.
    Request {
        message: String,
    },
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Invalid {
            errors: vec![FieldError::new(field, message)],
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        AppError::Conflict {
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        AppError::NotFound { what: what.into() }
    }

    /// The message for one field, if this error names it.
    pub fn field(&self, name: &str) -> Option<String> {
        match self {
            AppError::Invalid { errors } => errors
                .iter()
                .find(|e| e.field == name)
                .map(|e| e.message.clone()),
            _ => None,
        }
    }

    /// The HTTP status of this kind of error, for server functions and the JSON API
    /// alike: invalid input is 422 (the request was well-formed, a field's value is not),
    /// a request that could not be decoded 400, a provider's failure 502.
    pub fn http_status(&self) -> u16 {
        match self {
            AppError::Unauthorized => 401,
            AppError::Forbidden => 403,
            AppError::NotFound { .. } => 404,
            AppError::Invalid { .. } => 422,
            AppError::Conflict { .. } => 409,
            AppError::TooManyAttempts { .. } => 429,
            AppError::Upstream { .. } => 502,
            AppError::Internal => 500,
            AppError::Request { .. } => 400,
        }
    }

    /// A stable machine-readable code for JSON clients.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthorized => "unauthorized",
            AppError::Forbidden => "forbidden",
            AppError::NotFound { .. } => "not_found",
            AppError::Invalid { .. } => "invalid",
            AppError::Conflict { .. } => "conflict",
            AppError::TooManyAttempts { .. } => "too_many_attempts",
            AppError::Upstream { .. } => "upstream",
            AppError::Internal => "internal",
            AppError::Request { .. } => "request",
        }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Unauthorized => write!(f, "Your session has ended. Please sign in again."),
            AppError::Forbidden => write!(f, "Only administrators can do this."),
            AppError::NotFound { what } => write!(f, "{what} was not found."),
            AppError::Invalid { errors } => {
                let parts: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
                write!(f, "{}", parts.join(" "))
            }
            AppError::Conflict { message } => write!(f, "{message}"),
            AppError::TooManyAttempts { retry_after_secs } => {
                write!(f, "Too many attempts. Try again in {retry_after_secs} s.")
            }
            AppError::Upstream {
                provider,
                code: Some(code),
                message,
            } => write!(f, "{provider} answered with error {code}: {message}"),
            AppError::Upstream {
                provider, message, ..
            } => write!(f, "{provider}: {message}"),
            AppError::Internal => write!(
                f,
                "Something went wrong inside Dial. The details are in the server log."
            ),
            AppError::Request { message } => write!(f, "The request failed: {message}"),
        }
    }
}

impl std::error::Error for AppError {}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Request {
            message: value.to_string(),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        // PostgreSQL refuses text holding a NUL character (SQLSTATE 22021) wherever it
        // arrives from (a query parameter, a form, a JSON body): the request's fault, and
        // its transaction changed nothing.
        if let sqlx::Error::Database(db) = &err {
            if db.code().as_deref() == Some("22021") {
                tracing::info!(error = %err, "refused text the database cannot hold");
                return AppError::Request {
                    message: "Text may not contain the NUL character (\\0).".into(),
                };
            }
        }
        tracing::error!(error = %err, "database error");
        AppError::Internal
    }
}

#[cfg(feature = "ssr")]
impl From<sqlx::migrate::MigrateError> for AppError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        tracing::error!(error = %err, "migration error");
        AppError::Internal
    }
}
