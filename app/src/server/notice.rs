//! Confirmations that outlive a redirect ("Released +1 415 555 0101. It stays in Dial's
//! history."). An action that sends the user to another page leaves its message in the
//! session ([`leave`]); the page it lands on takes it, once ([`take`], through the
//! `take_notice` server function and the `Notice` component). It works the same without
//! JavaScript (the form post answers with a redirect, then the page renders on the
//! server) and hydrated (the client follows the redirect and the page asks for the
//! message). The message is Dial's own text, never read from the URL, so a link cannot
//! make a page claim something happened.
//!
//! Signing out ends the session, so the sign-in page says "You are signed out." from its
//! own query parameter (`/login?signed_out=1`), a fixed text.

use crate::error::AppError;
use tower_sessions::Session;

/// The session key.
const KEY: &str = "notice";
/// The session key of a message saying an action failed.
const ERROR_KEY: &str = "notice_error";

fn failed(err: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %err, "could not keep a confirmation in the session");
    AppError::Internal
}

/// Leaves `message` for the next page this session shows.
pub async fn leave(session: &Session, message: &str) -> Result<(), AppError> {
    session.insert(KEY, message).await.map_err(failed)
}

/// Leaves `message`, saying what went wrong, for the next page this session shows.
pub async fn leave_error(session: &Session, message: &str) -> Result<(), AppError> {
    session.insert(ERROR_KEY, message).await.map_err(failed)
}

/// What a page render took from the session, kept for the same request's second render:
/// the render guard (`src/router.rs`) starts a stalled render again, and the message the
/// first one removed must still be shown. Put in the request's extensions by the guard.
#[derive(Clone, Default)]
pub struct Taken(std::sync::Arc<std::sync::Mutex<Option<Option<crate::model::NoticeView>>>>);

impl Taken {
    /// The message for this request: the one an earlier render of it took, else [`take`]n
    /// now (and kept).
    pub async fn take(
        &self,
        session: &Session,
    ) -> Result<Option<crate::model::NoticeView>, AppError> {
        if let Some(kept) = self.0.lock().ok().and_then(|k| k.clone()) {
            return Ok(kept);
        }
        let taken = take(session).await?;
        if let Ok(mut k) = self.0.lock() {
            *k = Some(taken.clone());
        }
        Ok(taken)
    }
}

/// The message left for this page, removed so it is shown once.
pub async fn take(session: &Session) -> Result<Option<crate::model::NoticeView>, AppError> {
    use crate::server::auth::sessions;
    if let Some(message) = sessions::take::<String>(session, ERROR_KEY)
        .await
        .map_err(failed)?
    {
        return Ok(Some(crate::model::NoticeView {
            message,
            error: true,
        }));
    }
    Ok(sessions::take::<String>(session, KEY)
        .await
        .map_err(failed)?
        .map(|message| crate::model::NoticeView {
            message,
            error: false,
        }))
}
