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
    password: crate::model::Secret,
    role: String,
) -> Result<UserRow, AppError> {
    use crate::server::{auth, users};
    let me = auth::require_admin()?;
    let state = auth::state()?;
    users::create(
        &state.db,
        &auth::actor(&me),
        &username,
        secrecy::SecretString::from(password.expose()),
        &role,
    )
    .await
}

#[server(prefix = "/api", endpoint = "users/reset-password")]
pub async fn reset_password(
    user_id: String,
    password: crate::model::Secret,
) -> Result<(), AppError> {
    use crate::server::{auth, users};
    let me = auth::require_admin()?;
    let state = auth::state()?;
    users::reset_password(
        &state.db,
        &auth::actor(&me),
        &user_id,
        secrecy::SecretString::from(password.expose()),
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

/// Makes a user an administrator or an assistant owner (never the last administrator an
/// owner). Answers whether the signed-in user's own role changed: an administrator who
/// makes themselves an owner is taken to the settings overview, since the users page is
/// no longer theirs.
#[server(prefix = "/api", endpoint = "users/set-role")]
pub async fn set_user_role(user_id: String, role: String) -> Result<bool, AppError> {
    use crate::server::{auth, users};
    let me = auth::require_admin()?;
    let state = auth::state()?;
    users::set_role(&state.db, &auth::actor(&me), &user_id, &role).await?;
    let stepped_down = user_id == me.id && role != crate::model::Role::Admin.as_str();
    if stepped_down {
        leptos_axum::redirect(SETTINGS_PAGE);
    }
    Ok(stepped_down)
}

/// The settings overview, where one's own account is.
pub const SETTINGS_PAGE: &str = "/dashboard/settings";

/// The session entry that tells the settings page's next render (no-JavaScript form
/// posts only) that the password was just changed.
#[cfg(feature = "ssr")]
const PASSWORD_CHANGED: &str = "password_changed_at";

/// Changes the signed-in user's own password and signs them out everywhere else; this
/// session gets a new id and stays signed in. Returns how many other sessions ended.
#[server(prefix = "/api", endpoint = "account/password")]
pub async fn change_password(
    #[server(flatten)] form: crate::model::PasswordChangeForm,
) -> Result<u64, AppError> {
    use crate::server::{auth, now, users};
    use secrecy::SecretString;
    let me = auth::require_user()?;
    let state = auth::state()?;
    let session = auth::session()?;
    let change = users::PasswordChange {
        current: SecretString::from(form.current_password.expose()),
        new: SecretString::from(form.password.expose()),
        confirm: SecretString::from(form.password_confirm.expose()),
    };
    let ended = users::change_password(
        &state.db,
        &me,
        &auth::actor(&me),
        session.id().as_ref(),
        change,
    )
    .await?;
    let internal = |e: tower_sessions::session::Error| {
        tracing::error!(error = %e, "session store error");
        AppError::Internal
    };
    // Whoever else held this session's id is signed out too.
    session.cycle_id().await.map_err(internal)?;
    if super::plain_form_post() {
        session
            .insert(PASSWORD_CHANGED, now())
            .await
            .map_err(internal)?;
        leptos_axum::redirect(SETTINGS_PAGE);
    }
    Ok(ended)
}

/// Whether this session's last no-JavaScript form post changed its password (once: the
/// note is removed as it is read, and ignored after five minutes).
#[server(prefix = "/api", endpoint = "account/password-changed")]
pub async fn take_password_changed() -> Result<bool, AppError> {
    use crate::server::{auth, now};
    auth::require_user()?;
    let session = auth::session()?;
    // This runs on every render of the settings page: `take` writes the session only
    // when the note is there.
    let at = match crate::server::auth::sessions::take::<i64>(&session, PASSWORD_CHANGED).await {
        Ok(Some(at)) => at,
        Ok(None) => return Ok(false),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the password-changed note");
            return Ok(false);
        }
    };
    Ok(now() - at <= 300)
}

#[cfg(test)]
mod tests {
    /// The argument structs `#[server]` generates (and derives `Debug` on) print no secret.
    #[test]
    fn server_function_arguments_never_show_a_secret() {
        use crate::functions::{
            auth::{Login, Setup},
            carriers::CreateCarrier,
            settings::SaveTwilioSettings,
            users::{ChangePassword, CreateUser, ResetPassword},
        };
        let secret = || crate::model::Secret::from("hunter2-super-secret".to_string());
        let shown = [
            format!(
                "{:?}",
                Login {
                    username: "a".into(),
                    password: secret(),
                    next: None
                }
            ),
            format!(
                "{:?}",
                Setup {
                    username: "a".into(),
                    password: secret(),
                    password_confirm: secret(),
                    setup_code: None,
                }
            ),
            format!(
                "{:?}",
                CreateUser {
                    username: "a".into(),
                    password: secret(),
                    role: "owner".into()
                }
            ),
            format!(
                "{:?}",
                ResetPassword {
                    user_id: "u".into(),
                    password: secret()
                }
            ),
            format!(
                "{:?}",
                ChangePassword {
                    form: crate::model::PasswordChangeForm {
                        current_password: secret(),
                        password: secret(),
                        password_confirm: secret(),
                    },
                }
            ),
            format!(
                "{:?}",
                SaveTwilioSettings {
                    account_sid: None,
                    auth_token: Some(secret()),
                    sip_address: None,
                    sip_username: None,
                    sip_password: Some(secret()),
                    public_url: None,
                    auto_trunk: None,
                }
            ),
            format!(
                "{:?}",
                CreateCarrier {
                    form: crate::model::CarrierForm {
                        name: "c".into(),
                        kind: "sip".into(),
                        sip_address: "h".into(),
                        auth_password: Some(secret()),
                        ..Default::default()
                    },
                }
            ),
        ];
        for text in shown {
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("[redacted]"), "{text}");
        }
    }
}
