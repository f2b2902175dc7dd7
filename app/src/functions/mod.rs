//! Server functions: the only way pages reach the server. Each one is thin: it takes the
//! state and the signed-in user from context, checks the role, and calls a plain function
//! in `crate::server` (which is what the tests exercise). Every endpoint is explicit so
//! URLs are stable across builds and readable in logs.

pub mod api_keys;
pub mod assignment;
pub mod assistants;
pub mod audit;
pub mod auth;
pub mod calls;
pub mod campaigns;
pub mod carriers;
pub mod do_not_call;
pub mod event_hooks;
pub mod health;
pub mod numbers;
pub mod routing;
pub mod sandbox;
pub mod settings;
pub mod site;
pub mod stats;
pub mod users;

/// Whether this request is a browser's plain form post (no JavaScript): leptos_axum then
/// redirects back to the page, and the answer's body is never read.
#[cfg(feature = "ssr")]
fn plain_form_post() -> bool {
    leptos::prelude::use_context::<http::request::Parts>().is_some_and(|parts| {
        parts
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
    })
}
