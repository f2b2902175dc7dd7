//! Request guards: who is signing in (session → user), where the request comes from,
//! which pages need which state, and the cross-site check on every state-changing POST.
//! Server functions call [`require_user`] / [`require_admin`]; hiding links is never
//! the only check.

pub mod password;
pub mod sessions;

use super::{
    audit::Actor,
    auth::sessions::{AUTH_AT, SEEN_AT, USER_ID},
    now,
    state::AppState,
    users,
};
use crate::{error::AppError, model::Me};
use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use leptos::prelude::use_context;
use std::net::SocketAddr;
use tower_sessions::Session;

/// The signed-in user, put in the request's extensions by [`load_user`].
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Me);

/// The client's address: the peer, or behind trusted proxies the right-most
/// X-Forwarded-For address no trusted proxy wrote ([`Config::client_address`]).
///
/// [`Config::client_address`]: super::config::Config::client_address
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

pub async fn client_ip(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Some(peer) = peer {
        let ip = state.config.client_address(peer, forwarded.as_deref());
        req.extensions_mut().insert(ClientIp(ip.to_string()));
    }
    next.run(req).await
}

/// Loads the session's user; ends sessions that are past their absolute lifetime or
/// whose user is gone or disabled.
pub async fn load_user(
    State(state): State<AppState>,
    session: Session,
    mut req: Request,
    next: Next,
) -> Response {
    match session.get::<String>(USER_ID).await {
        Ok(Some(user_id)) => {
            let auth_at = session
                .get::<i64>(AUTH_AT)
                .await
                .ok()
                .flatten()
                .unwrap_or(0);
            let expired = now() - auth_at > state.config.session_absolute.as_secs() as i64;
            let user = if expired {
                None
            } else {
                match users::find_active(&state.db, &user_id).await {
                    Ok(user) => user,
                    Err(e) => {
                        tracing::error!(error = %e, "could not load the session's user");
                        return (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "The database is unavailable.",
                        )
                            .into_response();
                    }
                }
            };
            match user {
                Some(me) => {
                    // tower-sessions saves (and so moves the idle expiry) only when the
                    // session changes: touch it now and then, so activity keeps it alive
                    // without a database write on every request.
                    let idle = state.config.session_idle.as_secs() as i64;
                    let every = (idle / 4).clamp(1, 300);
                    let seen = session
                        .get::<i64>(SEEN_AT)
                        .await
                        .ok()
                        .flatten()
                        .unwrap_or(0);
                    if now() - seen >= every {
                        if let Err(e) = session.insert(SEEN_AT, now()).await {
                            tracing::warn!(error = %e, "could not refresh the session");
                        }
                    }
                    req.extensions_mut().insert(CurrentUser(me));
                }
                None => {
                    if let Err(e) = session.flush().await {
                        tracing::warn!(error = %e, "could not end a stale session");
                    }
                }
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "could not read the session"),
    }
    next.run(req).await
}

fn is_page_path(path: &str) -> bool {
    !(path.starts_with("/pkg/")
        || path.starts_with("/api/")
        || path.starts_with("/webhooks/")
        || path == "/healthz"
        || path.starts_with("/assets/")
        || path == "/favicon.svg"
        || path == "/favicon.ico"
        || path == "/robots.txt")
}

/// Page-level routing by state: no users yet → the first-run page; signed out →
/// the login page; signed in → away from the login and first-run pages.
pub async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    if !is_page_path(&path) {
        return next.run(req).await;
    }
    let has_users = match state.has_users().await {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "could not count users");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is unavailable.",
            )
                .into_response();
        }
    };
    let signed_in = req.extensions().get::<CurrentUser>().is_some();
    if !has_users {
        return if path == "/setup" {
            next.run(req).await
        } else {
            Redirect::to("/setup").into_response()
        };
    }
    match path.as_str() {
        "/setup" | "/login" if signed_in => Redirect::to("/dashboard").into_response(),
        "/setup" => Redirect::to("/login").into_response(),
        "/" => Redirect::to(if signed_in { "/dashboard" } else { "/login" }).into_response(),
        p if (p == "/dashboard" || p.starts_with("/dashboard/")) && !signed_in => {
            let target = req
                .uri()
                .path_and_query()
                .map(|pq| pq.as_str().to_string())
                .unwrap_or_else(|| path.clone());
            let next_param: String =
                url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
            Redirect::to(&format!("/login?next={next_param}")).into_response()
        }
        _ => next.run(req).await,
    }
}

fn same_origin(headers: &HeaderMap, public_url: Option<&str>) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" && site != "none" {
            return false;
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let public_origin = public_url
        .and_then(|u| url::Url::parse(u).ok())
        .map(|u| u.origin().ascii_serialization());
    if public_origin.as_deref() == Some(origin) {
        return true;
    }
    let Ok(parsed) = url::Url::parse(origin) else {
        return false;
    };
    let origin_host = match (parsed.host_str(), parsed.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => return false,
    };
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|host| host.eq_ignore_ascii_case(&origin_host))
}

/// Answers only requests that name an allowed host ([`Config::host_allowed`]); anything
/// else is 400 before it reaches a handler. This is what stops DNS rebinding: a page on
/// another site whose name points at Dial's address carries that name in `Host`, and
/// could otherwise pass the same-origin check with a matching `Origin`.
///
/// [`Config::host_allowed`]: super::config::Config::host_allowed
pub async fn refuse_unknown_host(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    match host {
        Some(host) if state.config.host_allowed(&host) => next.run(req).await,
        host => {
            tracing::warn!(
                host = host.as_deref().unwrap_or(""),
                "refused a request for an unknown host"
            );
            (
                StatusCode::BAD_REQUEST,
                "Unknown host: Dial answers only to its public URL's host, localhost and IP \
                 addresses. Add this name to DIAL_ALLOWED_HOSTS to serve it.",
            )
                .into_response()
        }
    }
}

/// Refuses state-changing requests that a browser marks as cross-site. Webhooks and the
/// API-key JSON API authenticate differently and are not covered here.
pub async fn refuse_cross_site(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let path = req.uri().path();
    let exempt = path.starts_with("/webhooks/") || path.starts_with("/api/v1/");
    if !safe && !exempt && !same_origin(req.headers(), state.config.public_url.as_deref()) {
        tracing::warn!(path, "refused a cross-site request");
        return (
            StatusCode::FORBIDDEN,
            "Cross-site request refused: this action must be submitted from Dial's own pages.",
        )
            .into_response();
    }
    next.run(req).await
}

/// The request being handled by a server function or a page render.
fn parts() -> Result<http::request::Parts, AppError> {
    use_context::<http::request::Parts>().ok_or_else(|| {
        tracing::error!("no request in context");
        AppError::Internal
    })
}

pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| {
        tracing::error!("no AppState in context");
        AppError::Internal
    })
}

pub fn current_user() -> Result<Option<Me>, AppError> {
    Ok(parts()?
        .extensions
        .get::<CurrentUser>()
        .map(|c| c.0.clone()))
}

pub fn require_user() -> Result<Me, AppError> {
    current_user()?.ok_or(AppError::Unauthorized)
}

pub fn require_admin() -> Result<Me, AppError> {
    let me = require_user()?;
    if me.is_admin() {
        Ok(me)
    } else {
        Err(AppError::Forbidden)
    }
}

pub fn client_ip_of_request() -> Option<String> {
    parts()
        .ok()?
        .extensions
        .get::<ClientIp>()
        .map(|c| c.0.clone())
}

pub fn session() -> Result<Session, AppError> {
    parts()?
        .extensions
        .get::<Session>()
        .cloned()
        .ok_or_else(|| {
            tracing::error!("no session layer");
            AppError::Internal
        })
}

/// The audit actor for the signed-in user of this request.
pub fn actor(me: &Me) -> Actor {
    Actor {
        user_id: Some(me.id.clone()),
        username: Some(me.username.clone()),
        ip: client_ip_of_request(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cross_site_detection() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:3000")]), None));
        assert!(same_origin(
            &headers(&[
                ("host", "127.0.0.1:3000"),
                ("origin", "http://127.0.0.1:3000")
            ]),
            None
        ));
        assert!(!same_origin(
            &headers(&[
                ("host", "127.0.0.1:3000"),
                ("origin", "https://evil.example")
            ]),
            None
        ));
        assert!(!same_origin(
            &headers(&[("host", "127.0.0.1:3000"), ("origin", "null")]),
            None
        ));
        assert!(!same_origin(
            &headers(&[("host", "127.0.0.1:3000"), ("sec-fetch-site", "cross-site")]),
            None
        ));
        assert!(!same_origin(
            &headers(&[("host", "127.0.0.1:3000"), ("sec-fetch-site", "same-site")]),
            None
        ));
        assert!(same_origin(
            &headers(&[
                ("host", "internal:8080"),
                ("origin", "https://dial.example.com")
            ]),
            Some("https://dial.example.com")
        ));
    }
}
