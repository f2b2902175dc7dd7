//! The browser bundle under `/pkg/`: files `scripts/build` compressed ahead of time, served
//! as they are on disk.
//!
//! - `dial.<hash>.css`, `call.<hash>.js` and everything in the bundle's directory
//!   `<hash>/` (`dial.js`, `dial.wasm`, `__wasm_split.js` and the lazy routes' chunks;
//!   content-hashed names, listed in the site's `hash.txt`) go out with
//!   `Cache-Control: public, max-age=31536000, immutable`: a new build has new names, so a
//!   browser never needs to ask again.
//! - Each file has a brotli (`.br`) and a gzip (`.gz`) twin written by the build; tower-http's
//!   `ServeDir` picks one by `Accept-Encoding` and sets `Content-Encoding`; every answer says
//!   `Vary: Accept-Encoding`. Nothing is compressed per request.
//! - Anything else under `/pkg/` (a site built before hashing) is revalidated on every use
//!   (`no-cache`). Pages themselves are `no-store` (`headers::harden`).

use axum::{
    body::Body,
    http::{header, HeaderValue, Request, StatusCode},
    middleware::{self, Next},
    response::Response,
    Router,
};
use std::path::{Path, PathBuf};
use tower_http::services::ServeDir;

/// The cache header of a content-hashed asset.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The router for `/pkg`, serving `<site root>/pkg`.
pub fn routes(site_root: &Path) -> Router {
    let dir = ServeDir::new(site_root.join("pkg"))
        .precompressed_br()
        .precompressed_gzip();
    Router::new()
        .fallback_service(dir)
        .layer(middleware::from_fn(cache_headers))
}

async fn cache_headers(request: Request<Body>, next: Next) -> Response {
    let hashed = is_hashed_path(request.uri().path());
    let mut response = next.run(request).await;
    let status = response.status();
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    let cache = if hashed && (status.is_success() || status == StatusCode::NOT_MODIFIED) {
        IMMUTABLE
    } else {
        "no-cache"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// A file of a build: `dial.<16 hex digits>.js|wasm|css` (as `scripts/build` names single
/// files), or a `.js` or `.wasm` file in a `<16 hex digits>/` directory (the split bundle).
fn is_hashed_path(path: &str) -> bool {
    let mut segments = path.rsplit('/');
    let (Some(name), dir) = (segments.next(), segments.next()) else {
        return false;
    };
    if is_hashed_name(name) {
        return true;
    }
    let in_bundle = dir.is_some_and(is_hash);
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    in_bundle
        && !stem.is_empty()
        && !stem.contains('.')
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && matches!(ext, "js" | "wasm")
}

/// `<stem>.<16 hex digits>.js|wasm|css`.
fn is_hashed_name(name: &str) -> bool {
    let mut parts = name.split('.');
    let (Some(stem), Some(hash), Some(ext), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !stem.is_empty() && is_hash(hash) && matches!(ext, "js" | "wasm" | "css")
}

fn is_hash(text: &str) -> bool {
    text.len() == 16 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The file naming the hashed assets (`js: <hash>` lines), next to `pkg/`.
pub fn hash_file(site_root: &Path) -> PathBuf {
    absolute(site_root).join("hash.txt")
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_builds_hashed_names_are_immutable() {
        assert!(is_hashed_name("dial.0123456789abcdef.wasm"));
        assert!(is_hashed_name("dial.0123456789abcdef.css"));
        assert!(!is_hashed_name("dial.wasm"));
        assert!(!is_hashed_name("dial.0123456789abcdef.wasm.br"));
        assert!(!is_hashed_name("dial.0123456789abcdeg.js"));
        assert!(!is_hashed_name("dial.0123.js"));
    }

    #[test]
    fn the_split_bundles_files_are_immutable_in_their_hashed_directory() {
        assert!(is_hashed_path("/0123456789abcdef/dial.wasm"));
        assert!(is_hashed_path("/pkg/0123456789abcdef/__wasm_split.js"));
        assert!(is_hashed_path("/0123456789abcdef/split_calls_page_12.wasm"));
        assert!(is_hashed_path("/dial.0123456789abcdef.css"));
        assert!(!is_hashed_path("/0123456789abcdef/dial.wasm.br"));
        assert!(!is_hashed_path("/0123456789abcdef/hash.txt"));
        assert!(!is_hashed_path("/0123456789abcdeX/dial.wasm"));
        assert!(!is_hashed_path("/bundle/dial.wasm"));
        assert!(!is_hashed_path("/dial.wasm"));
        assert!(!is_hashed_path(""));
    }
}
