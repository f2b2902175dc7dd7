//! One module per area of the product; each page is a component named `…Page`.

pub mod admin;
pub mod api_keys;
pub mod assignment;
pub mod assistants;
pub mod auth;
pub mod calls;
pub mod carriers;
pub mod dashboard;
pub mod numbers;
pub mod routing;
pub mod settings;
