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

#[cfg(test)]
mod tests {
    /// The argument structs `#[server]` generates (and derives `Debug` on) print no secret.
    #[test]
    fn server_function_arguments_never_show_a_secret() {
        use crate::functions::{
            auth::{Login, Setup},
            carriers::CreateCarrier,
            settings::SaveTwilioSettings,
            users::{CreateUser, ResetPassword},
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
