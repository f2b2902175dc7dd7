//! Twilio's wire: Basic auth, query and form parameters with PascalCase names, JSON
//! answers with snake_case names, Twilio's error bodies and its two paging styles
//! (2010-04-01 and v1). A request goes through [`authenticate`] (the request log, injected
//! faults, credentials), is routed by axum to its [`Operation`], and is checked against the
//! operation's spec rules in [`operation`] before the operation's handler runs.

use super::{spec::Kind, FakeTwilio, Operation};
use crate::faults::Recorded;
use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode, Uri},
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The largest request body the fake reads (Twilio's own limit is far larger than any
/// form Dial sends).
const MAX_BODY: usize = 1 << 20;

/// A refusal on its way out of a lookup helper (boxed: a response is large).
pub(crate) type Refused = Box<Response>;

pub(crate) fn error(status: StatusCode, code: i64, message: &str) -> Response {
    (
        status,
        Json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        })),
    )
        .into_response()
}

pub(crate) fn invalid(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, 20001, message)
}

pub(crate) fn not_found(path: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        20404,
        &format!("The requested resource {path} was not found"),
    )
}

pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// The path as the client sent it (the router sees it without `.json`).
#[derive(Clone)]
pub(crate) struct OriginalPath(pub String);

/// The authenticated account and the request's parameters (query, then form body).
#[derive(Clone)]
pub(crate) struct Authenticated {
    account: String,
    params: Vec<(String, String)>,
}

/// Everything an operation's handler reads of its request.
pub(crate) struct Ctx {
    base: String,
    pub path: String,
    params: Vec<(String, String)>,
    values: BTreeMap<String, String>,
}

impl Ctx {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter as an owned string (what most handlers store).
    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }

    /// A path placeholder by its name in the operation's template.
    pub fn id(&self, name: &str) -> String {
        self.values.get(name).cloned().unwrap_or_default()
    }

    fn page(&self) -> (usize, usize) {
        let size = self
            .get("PageSize")
            .and_then(|v| v.parse().ok())
            .unwrap_or(50)
            .clamp(1, 1000);
        let page = self.get("Page").and_then(|v| v.parse().ok()).unwrap_or(0);
        (page, size)
    }

    /// A 2010-04-01 list page.
    pub fn page_2010(&self, key: &str, items: Vec<Value>) -> Response {
        let (page, size) = self.page();
        let total = items.len();
        let slice: Vec<Value> = items.into_iter().skip(page * size).take(size).collect();
        let mut extra = String::new();
        for (k, v) in &self.params {
            if k != "Page" && k != "PageSize" && k != "PageToken" {
                extra.push_str(&format!(
                    "&{}={}",
                    k,
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                ));
            }
        }
        let uri = |n: usize| format!("{}?PageSize={size}&Page={n}{extra}", self.path);
        let next = ((page + 1) * size < total).then(|| uri(page + 1));
        Json(json!({
            key: slice,
            "page": page,
            "page_size": size,
            "start": page * size,
            "end": (page * size + size).min(total).saturating_sub(1),
            "uri": uri(page),
            "first_page_uri": uri(0),
            "next_page_uri": next,
            "previous_page_uri": (page > 0).then(|| uri(page - 1)),
        }))
        .into_response()
    }

    /// A v1 list page.
    pub fn page_v1(&self, key: &str, items: Vec<Value>) -> Response {
        let (page, size) = self.page();
        let total = items.len();
        let slice: Vec<Value> = items.into_iter().skip(page * size).take(size).collect();
        let url = |n: usize| format!("{}{}?PageSize={size}&Page={n}", self.base, self.path);
        Json(json!({
            key: slice,
            "meta": {
                "page": page,
                "page_size": size,
                "first_page_url": url(0),
                "previous_page_url": (page > 0).then(|| url(page - 1)),
                "url": url(page),
                "next_page_url": ((page + 1) * size < total).then(|| url(page + 1)),
                "key": key,
            }
        }))
        .into_response()
    }
}

/// The route axum matches for an operation's template: `.json` dropped (see
/// [`strip_json`]) and each placeholder named by its position, since axum needs one name
/// per position across all routes (`/v1/Trunks/{Sid}` and `/v1/Trunks/{TrunkSid}/…`
/// would clash).
pub(crate) fn route_of(template: &str) -> String {
    let template = template.strip_suffix(".json").unwrap_or(template);
    template
        .split('/')
        .enumerate()
        .map(|(i, part)| {
            if part.starts_with('{') {
                format!("{{s{i}}}")
            } else {
                part.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The 2010-04-01 API names its resources with a `.json` suffix; the router matches them
/// without it (a path segment cannot be a placeholder plus a suffix). A 2010-04-01 path
/// without the suffix asks for XML, which the fake does not speak: it becomes a path no
/// route matches, so it is a 404 as it was before routing.
pub(crate) fn strip_json(mut request: Request) -> Request {
    let path = request.uri().path().to_string();
    request.extensions_mut().insert(OriginalPath(path.clone()));
    let Some(rest) = path.strip_prefix("/2010-04-01/") else {
        return request;
    };
    let routed = match rest.strip_suffix(".json") {
        Some(resource) => format!("/2010-04-01/{resource}"),
        None => format!("/not-json{path}"),
    };
    let query = request
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    if let Ok(uri) = format!("{routed}{query}").parse::<Uri>() {
        *request.uri_mut() = uri;
    }
    request
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let header = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(header.trim()).ok()?).ok()?;
    let (user, token) = decoded.split_once(':')?;
    Some((user.to_string(), token.to_string()))
}

fn original_path(request: &Request) -> String {
    request
        .extensions()
        .get::<OriginalPath>()
        .map(|p| p.0.clone())
        .unwrap_or_else(|| request.uri().path().to_string())
}

/// Runs before routing decides anything: records the request, applies an injected fault,
/// then checks the credentials. Authentication comes first, as with Twilio: a wrong
/// password is a 401 whatever the path.
pub(crate) async fn authenticate(
    State(fake): State<FakeTwilio>,
    request: Request,
    next: Next,
) -> Response {
    let path = original_path(&request);
    let (mut parts, body) = request.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return invalid("The request body is too large"),
    };
    let query = parts.uri.query().unwrap_or("").to_string();
    let mut params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if parts.method == Method::POST {
        params.extend(url::form_urlencoded::parse(&body).into_owned());
    }
    let recorded = Recorded {
        method: parts.method.to_string(),
        path,
        query,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    if let Some((status, body)) = fake.faults.before(recorded).await {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, Json(body)).into_response();
    }

    let Some((user, token)) = basic_auth(&parts.headers) else {
        return error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    };
    let authenticated = fake
        .world
        .lock()
        .ok()
        .and_then(|w| w.accounts.get(&user).map(|a| a.auth_token == token))
        .unwrap_or(false);
    if !authenticated {
        return error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    parts.extensions.insert(Authenticated {
        account: user,
        params,
    });
    next.run(Request::from_parts(parts, Body::empty())).await
}

/// A path no operation has.
pub(crate) async fn unknown_path(request: Request) -> Response {
    not_found(&original_path(&request))
}

/// A known path asked with a method it does not have.
pub(crate) async fn method_not_allowed() -> Response {
    error(StatusCode::METHOD_NOT_ALLOWED, 20004, "Method not allowed")
}

/// One routed request: the spec's rules for this operation (SID patterns in the path,
/// required parameters, integers, booleans, enums), the account in the path, then the
/// operation's handler over the fake's state.
pub(crate) async fn operation(
    op: &'static Operation,
    fake: FakeTwilio,
    request: Request,
) -> Response {
    let path = original_path(&request);
    let Some(auth) = request.extensions().get::<Authenticated>().cloned() else {
        return error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    };

    // Placeholders by their template names; the first SID not matching its pattern.
    let segments: Vec<&str> = path.split('/').collect();
    let mut values = BTreeMap::new();
    for (i, part) in op.path.split('/').enumerate() {
        let Some(inner) = part.strip_prefix('{') else {
            continue;
        };
        let Some((inner, suffix)) = inner.split_once('}') else {
            continue;
        };
        let actual = segments.get(i).copied().unwrap_or("");
        let value = actual.strip_suffix(suffix).unwrap_or(actual);
        let (name, prefix) = inner.split_once(':').unwrap_or((inner, ""));
        if !prefix.is_empty() {
            let ok = value.len() == 34
                && value.starts_with(prefix)
                && value[2..].chars().all(|c| c.is_ascii_hexdigit());
            if !ok {
                return invalid(&format!(
                    "Invalid {name}: must match ^{prefix}[0-9a-fA-F]{{32}}$"
                ));
            }
        }
        values.insert(name.to_string(), value.to_string());
    }

    let post = op.method == "POST";
    for param in op.params {
        let value = auth
            .params
            .iter()
            .find(|(k, _)| k == param.name)
            .map(|(_, v)| v.as_str());
        match value {
            None | Some("") if param.required => {
                let place = if post { "post body" } else { "query" };
                return invalid(&format!(
                    "Missing required parameter {} in the {place}",
                    param.name
                ));
            }
            Some(v) if !v.is_empty() => {
                let ok = match param.kind {
                    Kind::Str => true,
                    Kind::Int => v.parse::<i64>().is_ok(),
                    Kind::Bool => parse_bool(v).is_some(),
                    Kind::Enum(values) => values.contains(&v),
                };
                if !ok {
                    let expected = match param.kind {
                        Kind::Int => "an integer".to_string(),
                        Kind::Bool => "true or false".to_string(),
                        Kind::Enum(values) => format!("one of {}", values.join(", ")),
                        Kind::Str => String::new(),
                    };
                    return invalid(&format!(
                        "Invalid value {v:?} for parameter {}: expected {expected}",
                        param.name
                    ));
                }
            }
            _ => {}
        }
    }

    // The account in the path must be the authenticated one.
    let path_account = values.get("AccountSid").or_else(|| {
        values
            .get("Sid")
            .filter(|_| op.path.ends_with("{Sid:AC}.json"))
    });
    if path_account.is_some_and(|account| account != &auth.account) {
        return not_found(&path);
    }

    let host = request
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let ctx = Ctx {
        base: format!("http://{host}"),
        path,
        params: auth.params,
        values,
    };
    let Ok(mut world) = fake.world.lock() else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            20500,
            "Internal Server Error",
        );
    };
    let super::World {
        accounts, owned, ..
    } = &mut *world;
    let Some(account) = accounts.get_mut(&auth.account) else {
        return error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    };
    (op.handler)(account, owned, &ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_name_placeholders_by_position_and_drop_json() {
        assert_eq!(
            route_of("/2010-04-01/Accounts/{AccountSid:AC}/IncomingPhoneNumbers/{Sid:PN}.json"),
            "/2010-04-01/Accounts/{s3}/IncomingPhoneNumbers/{s5}"
        );
        assert_eq!(route_of("/v1/Trunks/{Sid:TK}"), "/v1/Trunks/{s3}");
        assert_eq!(
            route_of("/v1/Trunks/{TrunkSid:TK}/PhoneNumbers"),
            "/v1/Trunks/{s3}/PhoneNumbers"
        );
    }

    #[test]
    fn json_paths_are_routed_without_the_suffix() {
        let routed = |uri: &str| {
            let request = Request::builder()
                .uri(uri)
                .body(Body::empty())
                .expect("a test request");
            strip_json(request).uri().to_string()
        };
        assert_eq!(
            routed("/2010-04-01/Accounts/AC1.json?Page=2"),
            "/2010-04-01/Accounts/AC1?Page=2"
        );
        assert_eq!(
            routed("/2010-04-01/Accounts/AC1"),
            "/not-json/2010-04-01/Accounts/AC1"
        );
        assert_eq!(routed("/v1/Trunks"), "/v1/Trunks");
    }
}
