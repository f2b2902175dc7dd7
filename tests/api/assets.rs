//! The browser bundle: content-hashed files under `/pkg/`, served precompressed (brotli or
//! gzip, by `Accept-Encoding`) and cached forever; pages name them and are never cached.

use crate::helpers::*;
use reqwest::{header, StatusCode};

const HASH: &str = "0123456789abcdef";

/// A site as `scripts/build` leaves it: the stylesheet's hashed file and the split bundle's
/// hashed directory (the main script and WASM, the chunk loader, a lazy route's chunk),
/// each file with its `.br` and `.gz` twins, and `hash.txt`.
fn write_site(root: &std::path::Path) {
    let pkg = root.join("pkg");
    let bundle = pkg.join(HASH);
    std::fs::create_dir_all(&bundle).unwrap();
    for (dir, name, what) in [
        (&pkg, format!("dial.{HASH}.css"), "css"),
        (&bundle, "dial.js".to_string(), "js"),
        (&bundle, "dial.wasm".to_string(), "wasm"),
        (&bundle, "__wasm_split.js".to_string(), "loader"),
        (
            &bundle,
            "split_calls_route_view_7.wasm".to_string(),
            "chunk",
        ),
    ] {
        std::fs::write(dir.join(&name), format!("identity {what}")).unwrap();
        std::fs::write(dir.join(format!("{name}.br")), format!("brotli {what}")).unwrap();
        std::fs::write(dir.join(format!("{name}.gz")), format!("gzip {what}")).unwrap();
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
    for (path, accept, encoding, body) in [
        (
            format!("/pkg/{HASH}/dial.wasm"),
            "br",
            Some("br"),
            "brotli wasm",
        ),
        (
            format!("/pkg/{HASH}/dial.wasm"),
            "gzip, deflate, br",
            Some("br"),
            "brotli wasm",
        ),
        (
            format!("/pkg/{HASH}/dial.wasm"),
            "gzip",
            Some("gzip"),
            "gzip wasm",
        ),
        (
            format!("/pkg/{HASH}/dial.wasm"),
            "identity",
            None,
            "identity wasm",
        ),
        (
            format!("/pkg/{HASH}/split_calls_route_view_7.wasm"),
            "br",
            Some("br"),
            "brotli chunk",
        ),
    ] {
        let response = app
            .client
            .get(app.url(&path))
            .header(header::ACCEPT_ENCODING, accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path} {accept}");
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

    // The chunk loader is a script, cached forever as well.
    let loader = app
        .client
        .get(app.url(&format!("/pkg/{HASH}/__wasm_split.js")))
        .header(header::ACCEPT_ENCODING, "br")
        .send()
        .await
        .unwrap();
    assert_eq!(loader.status(), StatusCode::OK);
    assert!(loader.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .contains("javascript"));
    assert_eq!(
        loader.headers()[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(loader.text().await.unwrap(), "brotli loader");

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
        for file in [
            format!("/pkg/{HASH}/dial.js"),
            format!("/pkg/{HASH}/dial.wasm"),
            format!("/pkg/dial.{HASH}.css"),
        ] {
            assert!(html.contains(&file), "{path} names {file}: {html}");
        }
        assert!(!html.contains("/pkg/dial.css"), "{path}");
    }
}
