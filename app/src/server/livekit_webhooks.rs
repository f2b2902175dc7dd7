//! LiveKit's webhooks: verified, recorded once, folded into call sessions.

use super::state::AppState;
use axum::Router;

/// The route `/webhooks/livekit`.
pub fn routes() -> Router<AppState> {
    Router::new()
}
