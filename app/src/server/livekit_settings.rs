//! LiveKit is configured from the environment only; this is what the settings page shows.

use super::state::AppState;
use crate::model::LiveKitSettingsView;

pub fn view(state: &AppState) -> LiveKitSettingsView {
    let lk = &state.config.livekit;
    LiveKitSettingsView {
        url: lk.url.clone().filter(|v| !v.is_empty()),
        api_key: lk.api_key.clone().filter(|v| !v.is_empty()),
        api_secret_set: lk.api_secret.is_some(),
        sip_uri: lk.sip_uri.clone().filter(|v| !v.is_empty()),
    }
}
