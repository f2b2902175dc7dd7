//! Server-sent events for the pages that follow calls live: `GET /events/calls` sends an
//! `event: call` (data: the call's id) whenever a call the signed-in user may see changes,
//! `event: run` and `event: campaign` likewise for provisioning runs and campaigns (on
//! this instance or, on PostgreSQL, any other: `dial_app::server::changes`), and a
//! keep-alive comment every 15 s. A viewer that falls behind gets `data: *` ("refetch
//! everything").

use axum::{
    extract::State,
    http::StatusCode,
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
    Extension,
};
use dial_app::server::{
    auth::sessions::DbSessionStore,
    auth::CurrentUser,
    changes::{Change, Kind},
    state::AppState,
    users,
};
use std::{convert::Infallible, time::Duration};
use tokio::sync::broadcast::error::RecvError;
use tower_sessions::{Session, SessionStore};

/// How often an open stream checks that its session and user are still valid.
const RECHECK: Duration = Duration::from_secs(30);

/// What a stream hears: call changes of this instance, and run and campaign changes and
/// other instances' changes (`dial_app::server::changes`).
struct Changes {
    calls: tokio::sync::broadcast::Receiver<dial_app::server::state::CallChange>,
    others: tokio::sync::broadcast::Receiver<Change>,
}

pub async fn calls(
    State(state): State<AppState>,
    session: Session,
    user: Option<Extension<CurrentUser>>,
) -> Response {
    let Some(Extension(CurrentUser(me))) = user else {
        return (StatusCode::UNAUTHORIZED, "Sign in to follow calls.").into_response();
    };
    let changes = Changes {
        calls: state.call_changes.subscribe(),
        others: state.changes.subscribe(),
    };
    let session_id = session.id();
    let checker = state.clone();
    let me_id = me.id.clone();
    // Signing out, the session's expiry, or an admin disabling the user ends the stream
    // within RECHECK (and before the next event is sent).
    let still_allowed = move || {
        let state = checker.clone();
        let user_id = me_id.clone();
        async move {
            let session_live = match session_id {
                Some(id) => matches!(
                    DbSessionStore::new(state.db.clone()).load(&id).await,
                    Ok(Some(_))
                ),
                None => false,
            };
            session_live && matches!(users::find_active(&state.db, &user_id).await, Ok(Some(_)))
        }
    };
    let stream = futures::stream::unfold(changes, move |mut changes| {
        let me = me.clone();
        let still_allowed = still_allowed.clone();
        async move {
            loop {
                let received = tokio::select! {
                    received = changes.calls.recv() => Some(received.map(|c| Change {
                        kind: Kind::Call,
                        id: c.call_id,
                        owner_id: c.owner_id,
                        remote: false,
                    })),
                    received = changes.others.recv() => Some(received),
                    () = tokio::time::sleep(RECHECK) => None,
                };
                if !still_allowed().await {
                    return None;
                }
                let (kind, data) = match received {
                    None => continue,
                    Some(Ok(change)) if change.is_everything() => (change.kind, "*".to_string()),
                    Some(Ok(change))
                        if me.is_admin() || change.owner_id.as_deref() == Some(me.id.as_str()) =>
                    {
                        (change.kind, change.id)
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(RecvError::Lagged(_))) => (Kind::Call, "*".to_string()),
                    Some(Err(RecvError::Closed)) => return None,
                };
                let event = Event::default().event(kind.as_str()).data(data);
                return Some((Ok::<Event, Infallible>(event), changes));
            }
        }
    });
    // Ends with the process: an open stream must not hold up shutdown.
    let until_shutdown = {
        let state = state.clone();
        async move { state.shutting_down().await }
    };
    let stream = futures::StreamExt::take_until(stream, until_shutdown);
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
