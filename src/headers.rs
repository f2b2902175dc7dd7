//! Security headers and cookie hardening for every response.
//!
//! - `Content-Security-Policy` on pages: scripts only from Dial's origin or with the page's
//!   nonce (Leptos puts the nonce it generates for each render on its hydration and
//!   streaming scripts; `leptos_axum` provides it), WebAssembly allowed, nothing framed,
//!   forms and connections to Dial's origin only. No `unsafe-inline` script.
//! - `Permissions-Policy`: no camera, geolocation, payment or USB; the microphone for Dial's
//!   own pages only (calling from the browser), never for a frame of another origin.
//! - `Cache-Control: no-store` on everything but the static site (`/pkg/`, icons): pages
//!   and server-function answers hold signed-in data.
//! - When the effective public URL is https (from the environment or the Twilio page) and a
//!   request reached Dial by that URL's host: `Strict-Transport-Security`, and the session
//!   cookie becomes `__Host-dial_session` with `Secure` (the browser then refuses it over
//!   http or from a sub-domain). The same Dial browsed on `http://127.0.0.1` while an https
//!   tunnel carries the webhooks keeps a plain cookie there, so the admin stays signed in.
//!   The request side maps the prefixed name back, so the session layer sees one name.

use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderValue, Request},
    middleware::Next,
    response::Response,
};
use dial_app::server::state::AppState;

/// The session cookie's name as the session layer knows it.
pub const SESSION_COOKIE: &str = "dial_session";
/// Its name on the wire over https.
pub const HOST_SESSION_COOKIE: &str = "__Host-dial_session";

fn is_static(path: &str) -> bool {
    path.starts_with("/pkg/")
        || path == "/favicon.ico"
        || path == "/favicon.svg"
        || path == "/robots.txt"
}

pub async fn harden(State(state): State<AppState>, mut req: Request<Body>, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let https = state
        .https_host
        .read()
        .map(|h| dial_app::server::config::is_https_host(h.as_deref(), host))
        .unwrap_or(false);
    if https {
        rename_request_cookie(&mut req);
    }
    let path = req.uri().path().to_owned();
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static(
            "camera=(), microphone=(self), geolocation=(), payment=(), usb=()",
        ),
    );
    if !is_static(&path) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
        let cookies: Vec<HeaderValue> = headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(secure_cookie)
            .collect();
        headers.remove(header::SET_COOKIE);
        for cookie in cookies {
            headers.append(header::SET_COOKIE, cookie);
        }
    }
    response
}

/// `__Host-dial_session=…` from the browser becomes `dial_session=…` for the session layer.
fn rename_request_cookie(req: &mut Request<Body>) {
    let Some(cookie) = req
        .headers()
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let renamed: Vec<String> = cookie
        .split(';')
        .map(str::trim)
        // A plain-named session cookie over https is not ours to trust: drop it.
        .filter(|c| !c.starts_with(&format!("{SESSION_COOKIE}=")))
        .map(|c| match c.strip_prefix(HOST_SESSION_COOKIE) {
            Some(rest) if rest.starts_with('=') => format!("{SESSION_COOKIE}{rest}"),
            _ => c.to_string(),
        })
        .collect();
    if let Ok(value) = HeaderValue::from_str(&renamed.join("; ")) {
        req.headers_mut().insert(header::COOKIE, value);
    }
}

/// The session cookie under its `__Host-` name, `Secure`, `Path=/`, no `Domain`.
fn secure_cookie(value: &HeaderValue) -> HeaderValue {
    let Ok(text) = value.to_str() else {
        return value.clone();
    };
    let Some(rest) = text.strip_prefix(&format!("{SESSION_COOKIE}=")) else {
        return value.clone();
    };
    let mut parts: Vec<String> = rest
        .split(';')
        .map(|p| p.trim().to_string())
        .filter(|p| {
            let lower = p.to_ascii_lowercase();
            !(lower == "secure" || lower.starts_with("domain=") || lower.starts_with("path="))
        })
        .collect();
    parts.push("Path=/".into());
    parts.push("Secure".into());
    HeaderValue::from_str(&format!("{HOST_SESSION_COOKIE}={}", parts.join("; ")))
        .unwrap_or_else(|_| value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_goes_out_as_a_host_cookie_over_https() {
        let out = secure_cookie(&HeaderValue::from_static(
            "dial_session=abc; HttpOnly; SameSite=Lax; Path=/; Max-Age=3600",
        ));
        assert_eq!(
            out.to_str().unwrap(),
            "__Host-dial_session=abc; HttpOnly; SameSite=Lax; Max-Age=3600; Path=/; Secure"
        );
        let other = HeaderValue::from_static("theme=dark");
        assert_eq!(secure_cookie(&other), other);
    }

    #[test]
    fn the_host_cookie_comes_back_under_the_session_layers_name() {
        let mut req = Request::builder()
            .header(
                header::COOKIE,
                "a=1; dial_session=planted; __Host-dial_session=real",
            )
            .body(Body::empty())
            .unwrap();
        rename_request_cookie(&mut req);
        assert_eq!(req.headers()[header::COOKIE], "a=1; dial_session=real");
    }
}
