//! Server-sent events for the pages that follow calls live: `GET /events/calls` sends an
//! `event: call` (data: the call's id) whenever a call the signed-in user may see changes,
//! and a keep-alive comment every 15 s. A viewer that falls behind gets `data: *`
//! ("refetch everything").

use axum::{
    extract::State,
    http::StatusCode,
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
    Extension,
};
use dial_app::server::{auth::CurrentUser, state::AppState};
use std::{convert::Infallible, time::Duration};
use tokio::sync::broadcast::error::RecvError;

pub async fn calls(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
) -> Response {
    let Some(Extension(CurrentUser(me))) = user else {
        return (StatusCode::UNAUTHORIZED, "Sign in to follow calls.").into_response();
    };
    let changes = state.call_changes.subscribe();
    let stream = futures::stream::unfold(changes, move |mut changes| {
        let me = me.clone();
        async move {
            loop {
                let data = match changes.recv().await {
                    Ok(change)
                        if me.is_admin() || change.owner_id.as_deref() == Some(me.id.as_str()) =>
                    {
                        change.call_id
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => "*".to_string(),
                    Err(RecvError::Closed) => return None,
                };
                let event = Event::default().event("call").data(data);
                return Some((Ok::<Event, Infallible>(event), changes));
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
