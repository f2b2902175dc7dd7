//! The browser bundle: content-hashed files under `/pkg/`, served precompressed (brotli or
//! gzip, by `Accept-Encoding`) and cached forever; pages name them and are never cached.

use crate::helpers::*;
use reqwest::{header, StatusCode};

const HASH: &str = "0123456789abcdef";

/// A site as `scripts/build` leaves it: hashed files, their `.br` and `.gz` twins, `hash.txt`.
fn write_site(root: &std::path::Path) {
    let pkg = root.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    for ext in ["js", "wasm", "css"] {
        let name = format!("dial.{HASH}.{ext}");
        std::fs::write(pkg.join(&name), format!("identity {ext}")).unwrap();
        std::fs::write(pkg.join(format!("{name}.br")), format!("brotli {ext}")).unwrap();
        std::fs::write(pkg.join(format!("{name}.gz")), format!("gzip {ext}")).unwrap();
    }
    std::fs::write(
        root.join("hash.txt"),
        format!("js: {HASH}\nwasm: {HASH}\ncss: {HASH}\n"),
    )
    .unwrap();
}

#[tokio::test]
async fn hashed_assets_are_served_precompressed_and_cached_forever() {
    let mut spawn = Spawn::new().await;
    let site = spawn.dir.path().join("site");
    write_site(&site);
    spawn.config.site_root = site;
    let app = spawn.start().await;
    let wasm = app.url(&format!("/pkg/dial.{HASH}.wasm"));

    for (accept, encoding, body) in [
        ("br", Some("br"), "brotli wasm"),
        ("gzip, deflate, br", Some("br"), "brotli wasm"),
        ("gzip", Some("gzip"), "gzip wasm"),
        ("identity", None, "identity wasm"),
    ] {
        let response = app
            .client
            .get(&wasm)
            .header(header::ACCEPT_ENCODING, accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{accept}");
        let headers = response.headers().clone();
        assert_eq!(
            headers
                .get(header::CONTENT_ENCODING)
                .and_then(|v| v.to_str().ok()),
            encoding,
            "{accept}"
        );
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "application/wasm",
            "{accept}"
        );
        assert_eq!(
            headers[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert!(
            headers[header::VARY]
                .to_str()
                .unwrap()
                .to_ascii_lowercase()
                .contains("accept-encoding"),
            "{accept}"
        );
        assert_eq!(response.text().await.unwrap(), body, "{accept}");
    }

    // Without Accept-Encoding, the file as it is.
    let plain = app
        .client
        .get(app.url(&format!("/pkg/dial.{HASH}.css")))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::OK);
    assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
    assert_eq!(plain.text().await.unwrap(), "identity css");

    // A name that is not the build's is not cached.
    let missing = app
        .client
        .get(app.url("/pkg/dial.wasm"))
        .header(header::ACCEPT_ENCODING, "br")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_ne!(
        missing.headers()[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
}

#[tokio::test]
async fn pages_name_the_hashed_assets_and_are_not_cached() {
    let mut spawn = Spawn::new().await;
    let site = spawn.dir.path().join("site");
    write_site(&site);
    spawn.config.site_root = site;
    let app = spawn.start().await;
    app.setup_admin().await;

    for path in ["/login", "/dashboard"] {
        let client = if path == "/login" {
            new_client()
        } else {
            app.client.clone()
        };
        let response = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "no-store",
            "{path}"
        );
        let html = response.text().await.unwrap();
        for ext in ["js", "wasm", "css"] {
            assert!(
                html.contains(&format!("/pkg/dial.{HASH}.{ext}")),
                "{path} names dial.{HASH}.{ext}: {html}"
            );
        }
        assert!(!html.contains("/pkg/dial.css"), "{path}");
    }
}
