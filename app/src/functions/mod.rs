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
pub mod carriers;
pub mod numbers;
pub mod routing;
pub mod sandbox;
pub mod settings;
pub mod site;
pub mod stats;
pub mod users;
