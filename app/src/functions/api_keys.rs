//! API keys for the JSON API: the signed-in user's own keys (admins' too are personal).

use crate::{
    error::AppError,
    model::{ApiKeyView, CreatedKey},
};
use leptos::prelude::*;

/// The settings page that lists the keys.
pub const API_KEYS_PAGE: &str = "/dashboard/settings/api-keys";

#[server(prefix = "/api", endpoint = "api-keys/list")]
pub async fn list_api_keys() -> Result<Vec<ApiKeyView>, AppError> {
    use crate::server::{api_keys, auth};
    let me = auth::require_user()?;
    api_keys::list(&auth::state()?, &me).await
}

/// Creates a key. The secret is in this answer only; without JavaScript the page cannot
/// read this answer, so the key is kept (encrypted) in the session for the page's next
/// render instead, and the redirect's body carries no secret.
#[server(prefix = "/api", endpoint = "api-keys/create")]
pub async fn create_api_key(name: String) -> Result<CreatedKey, AppError> {
    use crate::server::{api_keys, auth};
    let me = auth::require_user()?;
    let state = auth::state()?;
    let created = api_keys::create(&state, &me, &auth::actor(&me), &name).await?;
    if super::plain_form_post() {
        api_keys::stash_for_next_page(&state, &auth::session()?, &me, &created).await?;
        leptos_axum::redirect(API_KEYS_PAGE);
        return Ok(CreatedKey {
            key: created.key,
            secret: String::new(),
        });
    }
    Ok(created)
}

/// The key created by this session's last no-JavaScript form post, once.
#[server(prefix = "/api", endpoint = "api-keys/created")]
pub async fn take_created_api_key() -> Result<Option<CreatedKey>, AppError> {
    use crate::server::{api_keys, auth};
    let me = auth::require_user()?;
    api_keys::take_stashed(&auth::state()?, &auth::session()?, &me).await
}

#[server(prefix = "/api", endpoint = "api-keys/revoke")]
pub async fn revoke_api_key(id: String) -> Result<ApiKeyView, AppError> {
    use crate::server::{api_keys, auth};
    let me = auth::require_user()?;
    api_keys::revoke(&auth::state()?, &me, &auth::actor(&me), &id).await
}
