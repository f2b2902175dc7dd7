//! Twilio's webhooks: status callbacks and the voice answer for numbers not on the trunk.

use super::state::AppState;
use axum::Router;

/// The routes under `/webhooks/twilio/`.
pub fn routes() -> Router<AppState> {
    Router::new()
}
