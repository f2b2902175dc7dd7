use crate::{error::AppError, model::UserRow};
use leptos::prelude::*;

#[server(prefix = "/api", endpoint = "users/list")]
pub async fn list_users() -> Result<Vec<UserRow>, AppError> {
    use crate::server::{auth, users};
    auth::require_admin()?;
    users::list(&auth::state()?.db).await
}

#[server(prefix = "/api", endpoint = "users/create")]
pub async fn create_user(
    username: String,
    password: String,
    role: String,
) -> Result<UserRow, AppError> {
    use crate::server::{auth, users};
    let me = auth::require_admin()?;
    let state = auth::state()?;
    users::create(
        &state.db,
        &auth::actor(&me),
        &username,
        secrecy::SecretString::from(password),
        &role,
    )
    .await
}

#[server(prefix = "/api", endpoint = "users/reset-password")]
pub async fn reset_password(user_id: String, password: String) -> Result<(), AppError> {
    use crate::server::{auth, users};
    let me = auth::require_admin()?;
    let state = auth::state()?;
    users::reset_password(
        &state.db,
        &auth::actor(&me),
        &user_id,
        secrecy::SecretString::from(password),
    )
    .await
}

#[server(prefix = "/api", endpoint = "users/set-disabled")]
pub async fn set_user_disabled(user_id: String, disabled: bool) -> Result<(), AppError> {
    use crate::server::{auth, users};
    let me = auth::require_admin()?;
    let state = auth::state()?;
    users::set_disabled(&state.db, &auth::actor(&me), &user_id, disabled).await
}
