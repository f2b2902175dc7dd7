//! Dial's Leptos application: pages, components and server functions, plus (with the
//! `ssr` feature) the server-only services under [`server`]. The same crate compiles to
//! WASM with the `hydrate` feature; server-only dependencies are optional and switched on
//! by `ssr`.

pub mod app;
pub mod components;
pub mod error;
pub mod escape;
pub mod functions;
pub mod lazy_pages;
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
    // Hydration waits for the shown page's chunk (its lazy route); only then is the page
    // marked as hydrated, which the end-to-end tests check before they use a form, so a
    // broken WASM build or a chunk that never loads fails loudly.
    // (`hydrate_from_async` starts Leptos' executor on wasm-bindgen-futures.)
    wasm_bindgen_futures::spawn_local(async {
        let Some(body) = leptos::prelude::document().body() else {
            return;
        };
        let mounted = leptos::mount::hydrate_from_async(body.clone(), app::App).await;
        mounted.forget();
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
