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
        auth,
        auth::sessions::{AUTH_AT, SEEN_AT, USER_ID},
        now,
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
    // Seen now: the session is saved with this request, so the next ones need not save
    // it again to keep it alive (`auth::load_user`).
    session.insert(SEEN_AT, now()).await.map_err(internal)?;
    Ok(())
}

/// Where to go after login: a page of Dial's dashboard, given as a same-origin path of
/// printable ASCII (no control characters, spaces or backslashes, which browsers strip or
/// turn into slashes: `/\t/evil.example` would leave the site). Anything else goes to
/// /dashboard.
pub fn safe_next(next: Option<&str>) -> String {
    const HOME: &str = "/dashboard";
    let Some(next) = next else {
        return HOME.to_string();
    };
    let in_dashboard = next
        .strip_prefix(HOME)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']));
    let printable = next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    if in_dashboard && printable && !next.contains("//") && next.len() <= 2048 {
        next.to_string()
    } else {
        HOME.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;
    use proptest::prelude::*;

    #[test]
    fn only_dashboard_paths_are_followed() {
        for (next, to) in [
            (Some("/dashboard/calls?page=2"), "/dashboard/calls?page=2"),
            (Some("/dashboard"), "/dashboard"),
            (Some("/\t/evil.example"), "/dashboard"),
            (Some("/\u{9}/evil.example"), "/dashboard"),
            (Some("//evil.example"), "/dashboard"),
            (Some("/\\evil.example"), "/dashboard"),
            (Some("/dashboard//evil.example"), "/dashboard"),
            (Some("/dashboardx"), "/dashboard"),
            (Some("https://evil.example/dashboard"), "/dashboard"),
            (Some("/dashboard/\r\nSet-Cookie: x=1"), "/dashboard"),
            (None, "/dashboard"),
        ] {
            assert_eq!(safe_next(next), to, "{next:?}");
        }
    }

    proptest! {
        /// Fuzz target: whatever `next` says, the redirect stays on a dashboard path that
        /// is a valid header value.
        #[test]
        fn any_next_stays_in_the_dashboard(next in any::<String>()) {
            let to = safe_next(Some(&next));
            prop_assert!(to.starts_with("/dashboard"));
            prop_assert!(!to.contains("//"));
            prop_assert!(to.bytes().all(|b| b.is_ascii_graphic()));
        }
    }
}

/// Whether the first-run form must ask for the setup code from the server's log.
#[server(prefix = "/api", endpoint = "setup/requirements")]
pub async fn setup_needs_code() -> Result<bool, AppError> {
    Ok(crate::server::auth::state()?.setup_code().is_some())
}

/// First run: creates the first admin and signs them in. Refused once any user exists.
#[server(prefix = "/api", endpoint = "setup")]
pub async fn setup(
    username: String,
    password: crate::model::Secret,
    password_confirm: crate::model::Secret,
    #[server(default)] setup_code: Option<String>,
) -> Result<(), AppError> {
    use crate::server::{audit::Actor, auth, users};
    let state = auth::state()?;
    if let Some(expected) = state.setup_code() {
        let given = setup_code.unwrap_or_default();
        if !users::setup_code_matches(expected, &given) {
            tracing::warn!(
                ip = auth::client_ip_of_request().unwrap_or_default(),
                "first-run setup refused: wrong setup code"
            );
            let message = if given.trim().is_empty() {
                "Enter the setup code printed in Dial's log when it started (search the log for \u{201c}setup code\u{201d})."
            } else {
                "That is not the setup code in Dial's log. Copy it from the log line that says \u{201c}setup code\u{201d} (it changes at every start)."
            };
            return Err(AppError::invalid("setup_code", message));
        }
    }
    let actor = Actor {
        ip: auth::client_ip_of_request(),
        ..Actor::default()
    };
    let me = users::create_first_admin(
        &state.db,
        &actor,
        &username,
        secrecy::SecretString::from(password.expose()),
        &password_confirm.expose(),
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
    password: crate::model::Secret,
    next: Option<String>,
) -> Result<(), AppError> {
    use crate::server::{auth, users};
    let state = auth::state()?;
    let me = users::login(
        &state.db,
        auth::client_ip_of_request(),
        &username,
        secrecy::SecretString::from(password.expose()),
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
    // The session is gone, so the sign-in page confirms it from a fixed query parameter.
    leptos_axum::redirect("/login?signed_out=1");
    Ok(())
}
