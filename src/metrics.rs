//! `GET /metrics` in Prometheus' text format: the `metrics` crate's recorder from
//! `metrics-exporter-prometheus`, without a listener of its own, rendered here.
//!
//! Off unless configured: `DIAL_METRICS_TOKEN` serves it on the main listener to
//! `Authorization: Bearer <token>` (anything else is 401; the token is compared in
//! constant time and never logged); `DIAL_METRICS_LISTEN` serves it, without a token, on
//! an address of its own (for a private network or loopback). What is counted, and the
//! names, are in `dial_app::server::metrics`; this module adds the HTTP layer (requests
//! by matched route, never the raw path) and what is read at each scrape (the database
//! pool, calls by direction and outcome).

use axum::{
    body::Body,
    extract::{MatchedPath, State},
    http::{header, HeaderMap, Request, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use dial_app::server::{metrics as names, state::AppState};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use secrecy::ExposeSecret;
use std::{sync::OnceLock, time::Instant};
use subtle::ConstantTimeEq;

/// Latency buckets (seconds) for every histogram: from a cached page to a slow provider.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process's recorder, installed once (the first application built with metrics on;
/// a process has one global recorder).
pub fn install() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = match PrometheusBuilder::new().set_buckets(BUCKETS) {
                Ok(builder) => builder.build_recorder(),
                Err(e) => {
                    tracing::error!(error = %e, "could not set up the metrics recorder");
                    return None;
                }
            };
            let handle = recorder.handle();
            if let Err(e) = metrics::set_global_recorder(recorder) {
                tracing::error!(error = %e, "another metrics recorder is installed");
                return None;
            }
            describe();
            Some(handle)
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        names::HTTP_REQUESTS,
        "HTTP requests by matched route, method and status"
    );
    describe_histogram!(
        names::HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency to the start of the answer"
    );
    describe_counter!(
        names::WEBHOOKS,
        "Provider webhooks by provider and result (recorded, duplicate, refused, failed)"
    );
    describe_counter!(
        names::PROVIDER_REQUESTS,
        "Requests to Twilio and LiveKit by provider, operation and result"
    );
    describe_histogram!(
        names::PROVIDER_DURATION,
        Unit::Seconds,
        "Provider request latency"
    );
    describe_counter!(
        names::PROVISIONING_RUNS,
        "Provisioning runs that ended, by kind and outcome"
    );
    describe_histogram!(
        names::PROVISIONING_STEP_DURATION,
        Unit::Seconds,
        "Provisioning step latency by step and outcome"
    );
    describe_counter!(names::CAMPAIGN_DIALS, "Campaign dials by result");
    describe_counter!(
        names::CAMPAIGN_ATTEMPTS,
        "Campaign attempts settled, by outcome"
    );
    describe_gauge!(
        names::CALLS,
        "Calls in the database by direction and outcome (open: not ended)"
    );
    describe_gauge!(names::DB_CONNECTIONS, "Database pool: connections open");
    describe_gauge!(names::DB_IDLE, "Database pool: idle connections");
    describe_gauge!(names::DB_MAX, "Database pool: most connections");
    describe_counter!(
        names::PEER_CHANGES,
        "Change notifications sent to and received from other instances"
    );
}

/// Counts and times every request by its matched route (`/api/v1/calls/{id}`, never the
/// path with the id), method and status. Requests no route matched (static files, 404s)
/// share the route `unmatched`.
pub async fn track(request: Request<Body>, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    // Clients may send any method: the standard ones are labels, the rest one `other`.
    let method: &'static str = match request.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let took = started.elapsed().as_secs_f64();
    metrics::counter!(names::HTTP_REQUESTS, "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!(names::HTTP_DURATION, "route" => route, "method" => method).record(took);
    response
}

/// `GET /metrics` on the main listener: only with the bearer token.
pub async fn guarded(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = state.config.metrics_token.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let expected = token.expose_secret().as_bytes();
    if !bool::from(given.as_bytes().ct_eq(expected)) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "The metrics need the token set in DIAL_METRICS_TOKEN.",
        )
            .into_response();
    }
    render(&state).await
}

/// `GET /metrics` on `DIAL_METRICS_LISTEN`: no token (the address is the protection).
async fn open(State(state): State<AppState>) -> Response {
    render(&state).await
}

async fn render(state: &AppState) -> Response {
    let Some(handle) = install() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    names::scrape(state).await;
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// The router of `DIAL_METRICS_LISTEN`: `/metrics` and nothing else.
pub fn separate_router(state: AppState) -> Router {
    Router::new().route("/metrics", get(open)).with_state(state)
}
