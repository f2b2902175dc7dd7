//! One module per area of the product; each page is a component named `…Page`.

pub mod api_keys;
pub mod assignment;
pub mod assistants;
pub mod audit;
pub mod auth;
pub mod calls;
pub mod campaigns;
pub mod carriers;
pub mod dashboard;
pub mod do_not_call;
pub mod event_hooks;
pub mod health;
pub mod livekit_settings;
pub mod numbers;
pub mod routing;
pub mod sandbox;
pub mod settings;
pub mod twilio_settings;
pub mod users;
