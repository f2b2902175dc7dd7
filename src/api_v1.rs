//! The JSON API under `/api/v1`, authenticated with API keys.

use axum::Router;
use dial_app::server::state::AppState;

/// The routes under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
}
