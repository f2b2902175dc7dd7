//! Dial's Leptos application: pages, components and server functions, plus (with the
//! `ssr` feature) the server-only services under [`server`]. The same crate compiles to
//! WASM with the `hydrate` feature; server-only dependencies are optional and switched on
//! by `ssr`.

pub mod app;
pub mod components;
pub mod error;
pub mod escape;
pub mod functions;
pub mod model;
pub mod pages;
pub mod phone;

#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // Panic messages in the browser console while developing; the release bundle leaves
    // out the hook and the formatting it carries.
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
