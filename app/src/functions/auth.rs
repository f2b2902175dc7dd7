use crate::{error::AppError, model::Me};
use leptos::prelude::*;

/// The signed-in user, or `None`.
#[server(prefix = "/api", endpoint = "me")]
pub async fn get_me() -> Result<Option<Me>, AppError> {
    crate::server::auth::current_user()
}

#[cfg(feature = "ssr")]
async fn start_session(me: &Me) -> Result<(), AppError> {
    use crate::server::{
        auth, now,
        sessions::{AUTH_AT, USER_ID},
    };
    let session = auth::session()?;
    let internal = |e: tower_sessions::session::Error| {
        tracing::error!(error = %e, "session store error");
        AppError::Internal
    };
    // A fresh session id at every login (no fixation).
    session.cycle_id().await.map_err(internal)?;
    session.insert(USER_ID, &me.id).await.map_err(internal)?;
    session.insert(AUTH_AT, now()).await.map_err(internal)?;
    Ok(())
}

/// Only same-site paths are followed after login.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => {
            n.to_string()
        }
        _ => "/dashboard".to_string(),
    }
}

/// First run: creates the first admin and signs them in. Refused once any user exists.
#[server(prefix = "/api", endpoint = "setup")]
pub async fn setup(
    username: String,
    password: String,
    password_confirm: String,
) -> Result<(), AppError> {
    use crate::server::{audit::Actor, auth, users};
    let state = auth::state()?;
    let actor = Actor {
        ip: auth::client_ip_of_request(),
        ..Actor::default()
    };
    let me = users::create_first_admin(
        &state.db,
        &actor,
        &username,
        secrecy::SecretString::from(password),
        &password_confirm,
    )
    .await?;
    state
        .has_users
        .store(true, std::sync::atomic::Ordering::Relaxed);
    start_session(&me).await?;
    leptos_axum::redirect("/dashboard");
    Ok(())
}

#[server(prefix = "/api", endpoint = "login")]
pub async fn login(
    username: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    use crate::server::{auth, users};
    let state = auth::state()?;
    let me = users::login(
        &state.db,
        auth::client_ip_of_request(),
        &username,
        secrecy::SecretString::from(password),
    )
    .await?;
    start_session(&me).await?;
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

#[server(prefix = "/api", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use crate::server::{audit, auth};
    let state = auth::state()?;
    if let Some(me) = auth::current_user()? {
        audit::record(
            &state.db,
            &auth::actor(&me),
            "logout",
            Some(&me.username),
            None,
        )
        .await?;
    }
    auth::session()?.flush().await.map_err(|e| {
        tracing::error!(error = %e, "could not end the session");
        AppError::Internal
    })?;
    leptos_axum::redirect("/login");
    Ok(())
}
