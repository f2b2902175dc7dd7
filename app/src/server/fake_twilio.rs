//! A fake of Twilio's REST API served over HTTP on loopback, for tests and sandbox mode.
//! It speaks Twilio's wire format (Basic auth, JSON bodies with snake_case names,
//! Twilio's error body) and is strict where Twilio is: wrong credentials get 401 with
//! error 20003, an unknown account 20404.
//!
//! This first cut covers the account endpoint; the provider issue grows it into the full
//! numbers and trunking fake.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::json;
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

#[derive(Debug, Clone)]
pub struct FakeAccount {
    pub sid: String,
    pub auth_token: String,
    pub friendly_name: String,
}

#[derive(Default)]
struct Inner {
    accounts: HashMap<String, FakeAccount>,
    /// Added latency for every request (fault injection).
    delay: Option<Duration>,
    requests: Vec<String>,
}

#[derive(Clone, Default)]
pub struct FakeTwilio {
    inner: Arc<Mutex<Inner>>,
}

fn error(status: StatusCode, code: i64, message: &str) -> Response {
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

impl FakeTwilio {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_account(&self, sid: &str, auth_token: &str, friendly_name: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.accounts.insert(
                sid.to_string(),
                FakeAccount {
                    sid: sid.to_string(),
                    auth_token: auth_token.to_string(),
                    friendly_name: friendly_name.to_string(),
                },
            );
        }
    }

    /// Every later request waits this long before answering (None: no delay).
    pub fn set_delay(&self, delay: Option<Duration>) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.delay = delay;
        }
    }

    /// "METHOD path" of every request received, oldest first.
    pub fn requests(&self) -> Vec<String> {
        self.inner
            .lock()
            .map(|i| i.requests.clone())
            .unwrap_or_default()
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/2010-04-01/Accounts/{file}", get(fetch_account))
            .with_state(self.clone())
    }

    /// Serves the fake on `addr` (port 0 picks a free port); returns the bound address.
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let router = self.router();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "fake Twilio stopped");
            }
        });
        Ok(bound)
    }

    /// Checks Basic auth against the account in the path, as Twilio does.
    fn authenticate(&self, headers: &HeaderMap, sid: &str) -> Result<FakeAccount, Box<Response>> {
        let unauthorized = || Box::new(error(StatusCode::UNAUTHORIZED, 20003, "Authenticate"));
        let header = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .ok_or_else(unauthorized)?;
        let decoded = STANDARD.decode(header).map_err(|_| unauthorized())?;
        let decoded = String::from_utf8(decoded).map_err(|_| unauthorized())?;
        let (user, token) = decoded.split_once(':').ok_or_else(unauthorized)?;
        let inner = self.inner.lock().map_err(|_| unauthorized())?;
        let account = inner.accounts.get(user).ok_or_else(unauthorized)?;
        if account.auth_token != token {
            return Err(unauthorized());
        }
        if user != sid {
            return Err(Box::new(error(
                StatusCode::NOT_FOUND,
                20404,
                &format!("The requested resource /2010-04-01/Accounts/{sid}.json was not found"),
            )));
        }
        Ok(account.clone())
    }

    async fn before(&self, line: String) {
        let delay = match self.inner.lock() {
            Ok(mut inner) => {
                inner.requests.push(line);
                inner.delay
            }
            Err(_) => None,
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
    }
}

async fn fetch_account(
    State(fake): State<FakeTwilio>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    fake.before(format!("GET /2010-04-01/Accounts/{file}"))
        .await;
    let Some(sid) = file.strip_suffix(".json") else {
        return error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        );
    };
    let account = match fake.authenticate(&headers, sid) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    Json(json!({
        "sid": account.sid,
        "friendly_name": account.friendly_name,
        "status": "active",
        "type": "Full",
        "owner_account_sid": account.sid,
        "date_created": "Tue, 01 Sep 2026 12:00:00 +0000",
        "date_updated": "Tue, 01 Sep 2026 12:00:00 +0000",
        "uri": format!("/2010-04-01/Accounts/{}.json", account.sid),
    }))
    .into_response()
}
