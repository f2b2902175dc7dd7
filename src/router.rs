//! The HTTP router: Leptos pages and server functions, health, static files, and the
//! middleware stack (sessions, current user, page gating, cross-site refusal).

use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderValue, Method, Request, StatusCode},
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use dial_app::{
    app::{shell, App},
    server::{auth, auth::sessions::DbSessionStore, livekit, state::AppState, twilio},
};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, handle_server_fns_with_context, LeptosRoutes};
use std::time::Duration;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    timeout::TimeoutLayer,
};
use tower_sessions::{cookie::SameSite, Expiry, SessionManagerLayer};
use tracing::Instrument;

pub fn build(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();

    let session_layer = SessionManagerLayer::new(DbSessionStore::new(state.db.clone()))
        .with_name(crate::headers::SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        // `Secure` (and the `__Host-` name) is added per request by `headers::harden`, for
        // requests that reached Dial by its https public URL.
        .with_secure(false)
        .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
            state.config.session_idle.as_secs() as i64,
        )));

    let context_state = state.clone();
    let page_state = state.clone();
    let metrics_on = state.config.metrics_enabled();
    let router = Router::new()
        .route("/healthz", get(healthz))
        .nest("/api/v1", crate::api_v1::routes())
        .merge(twilio::webhooks::routes())
        .route(
            dial_app::functions::do_not_call::IMPORT_PATH,
            post(dial_app::server::do_not_call::upload).layer(
                axum::extract::DefaultBodyLimit::max(dial_app::server::do_not_call::MAX_UPLOAD),
            ),
        )
        .route(
            "/api/campaigns/{id}/upload",
            post(dial_app::server::campaigns::contacts::upload_route).layer(
                axum::extract::DefaultBodyLimit::max(
                    dial_app::server::campaigns::contacts::MAX_UPLOAD,
                ),
            ),
        )
        .route(
            "/api/campaigns/{id}/results.csv",
            get(dial_app::server::campaigns::contacts::export_route),
        )
        .route("/api/{*fn_name}", post(server_fn_handler))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(page_state.clone()),
            {
                let options = options.clone();
                move || shell(options.clone())
            },
        )
        .layer(middleware::from_fn(render_guard))
        .layer(middleware::from_fn(server_fn_errors))
        // A stream that never ends: added after the render guard, which buffers pages.
        .route("/events/calls", get(crate::events::calls))
        .nest_service("/pkg", crate::assets::routes(&state.config.site_root))
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(
            move || provide_context(context_state.clone()), shell
        ))
        .layer(middleware::from_fn_with_state(state.clone(), auth::gate))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::load_user,
        ))
        .layer(session_layer)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::refuse_cross_site,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::client_ip,
        ))
        // LiveKit's webhooks carry no cookie and come in thousands a second: they skip the
        // session and user layers above (they are verified by their own signature).
        .merge(livekit::webhooks::routes())
        // Bearer-protected (or not served: 404); no session, like the webhooks.
        .route("/metrics", get(crate::metrics::guarded))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::headers::harden,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::refuse_unknown_host,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), detach))
        // A request that has no answer after a minute gets 408; its handler still runs to
        // its end in its own task (`detach`), so nothing is left half-done.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_DEADLINE,
        ));
    let router = if metrics_on {
        router.layer(middleware::from_fn(crate::metrics::track))
    } else {
        router
    };
    // Every request has an id: the client's `x-request-id` or a new one, returned in the
    // response and on every log line the request causes (its span).
    router
        .layer(middleware::from_fn(request_span))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        .with_state(state)
}

static REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// Runs the request inside a span carrying its id, method and path, so every log line it
/// causes (provider requests included) names the request. A client's id is kept to 64
/// visible characters.
async fn request_span(request: Request<Body>, next: middleware::Next) -> Response {
    let id: String = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect();
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let started = std::time::Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::debug!(
            status = response.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "answered"
        )
    });
    response
}

/// Runs each request in a task of its own, which the connection does not own.
///
/// When a client hangs up, hyper drops the future that answers it. Dropped at an await,
/// a handler would stop half-way: between two writes that belong together, or holding a
/// transaction whose rollback sqlx only queues (see `db::release_clean`). Spawned, the
/// handler always runs to its end (commit or rollback), whoever is still listening; only
/// the response is lost. A handler that panics becomes a 500 here instead of a dropped
/// connection.
async fn detach(
    State(state): State<AppState>,
    request: Request<Body>,
    next: middleware::Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let in_flight = InFlight::enter(&state);
    let handled = tokio::spawn(
        async move {
            let response = next.run(request).await;
            drop(in_flight);
            response
        }
        // The request's span (its id) goes with it into its task.
        .in_current_span(),
    );
    match handled.await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(%path, error = %e, "a request handler panicked");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong inside Dial. The details are in the server log.",
            )
                .into_response()
        }
    }
}

/// Counts a request as in flight until it is dropped (the shutdown log names the requests a
/// deadline cut short).
struct InFlight(AppState);

impl InFlight {
    fn enter(state: &AppState) -> InFlight {
        state
            .in_flight
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        InFlight(state.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How long any request may take to start its answer.
const REQUEST_DEADLINE: Duration = Duration::from_secs(60);

/// How long a page render may take before it is started again.
const RENDER_DEADLINE: Duration = Duration::from_secs(4);

/// Guards page renders against a rare Leptos 0.8 server-rendering stall: under heavy CPU
/// contention a `<Suspense>` can miss the wake-up of its last resource and never finish
/// (leptos-rs/leptos #4851, #4866, #4578). A render that has not finished after
/// [`RENDER_DEADLINE`] is abandoned and started once more (a page GET has no side
/// effects); a second stall answers 503 rather than leaving the browser waiting forever.
async fn render_guard(mut request: Request<Body>, next: middleware::Next) -> Response {
    if request.method() != Method::GET {
        return next.run(request).await;
    }
    // Both renders share what the first took from the session (the page's notice).
    request
        .extensions_mut()
        .insert(dial_app::server::notice::Taken::default());
    let (parts, body) = request.into_parts();
    let retry = Request::from_parts(parts.clone(), Body::empty());
    let first = Request::from_parts(parts, body);
    let render = |request: Request<Body>, next: middleware::Next| async move {
        let response = next.run(request).await;
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await;
        (parts, bytes)
    };
    for (attempt, request) in [first, retry].into_iter().enumerate() {
        let path = request.uri().path().to_string();
        match tokio::time::timeout(RENDER_DEADLINE, render(request, next.clone())).await {
            Ok((parts, Ok(bytes))) => return Response::from_parts(parts, Body::from(bytes)),
            Ok((_, Err(e))) => {
                tracing::error!(%path, error = %e, "a page render failed");
                break;
            }
            Err(_) => {
                tracing::warn!(%path, attempt, "a page render stalled; starting it again");
            }
        }
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        "The page took too long to render. Please reload.",
    )
        .into_response()
}

async fn server_fn_handler(
    State(state): State<AppState>,
    request: Request<Body>,
) -> impl IntoResponse {
    handle_server_fns_with_context(move || provide_context(state.clone()), request).await
}

/// Server functions are routed by Leptos (one route each) and by the catch-all above:
/// both go through this layer, which gives their errors their statuses.
async fn server_fn_errors(request: Request<Body>, next: middleware::Next) -> Response {
    let server_fn = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    if server_fn {
        with_error_status(response).await
    } else {
        response
    }
}

/// The largest error body read back to find its status (an `AppError` is a few hundred
/// bytes; a list of field errors a few kilobytes).
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Server functions answer every `AppError` with 500; this gives each kind its own status
/// ([`AppError::http_status`]: 401, 403, 404, 409, 422, 429, 502, …), so clients, proxies
/// and logs can tell a refusal from a failure. The body is unchanged.
async fn with_error_status(response: Response) -> Response {
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, ERROR_BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!(error = %e, "could not read a server function's error");
            return (StatusCode::INTERNAL_SERVER_ERROR, "").into_response();
        }
    };
    if let Ok(error) = serde_json::from_slice::<dial_app::error::AppError>(&bytes) {
        parts.status =
            StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// For load balancers: 200 when the database answers.
async fn healthz(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}
