//! The Twilio REST client. Every request Dial makes to Twilio goes through this type:
//! base URL from settings (so tests and sandbox mode point it at the fake), HTTP Basic
//! auth, form-encoded bodies with Twilio's parameter names, and Twilio's error body
//! parsed into [`TwilioError`].

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;

/// Twilio's error body: `{"code": 20404, "message": "...", "more_info": "...", "status": 404}`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct TwilioApiError {
    pub code: Option<i64>,
    pub message: String,
    pub more_info: Option<String>,
    pub status: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum TwilioError {
    #[error("Twilio error {code:?} (HTTP {status}): {message}", code = .0.code, status = .0.status, message = .0.message)]
    Api(TwilioApiError),
    #[error("Twilio did not answer within {0:?}")]
    Timeout(Duration),
    #[error("could not reach Twilio: {0}")]
    Network(String),
    #[error("Twilio sent a response Dial could not read: {0}")]
    Decode(String),
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Account {
    pub sid: String,
    pub friendly_name: String,
    pub status: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

pub struct TwilioClient {
    http: reqwest::Client,
    api_base: String,
    account_sid: String,
    auth_token: SecretString,
    timeout: Duration,
}

impl TwilioClient {
    pub fn new(
        http: reqwest::Client,
        api_base: &str,
        account_sid: &str,
        auth_token: SecretString,
        timeout: Duration,
    ) -> Self {
        TwilioClient {
            http,
            api_base: api_base.trim_end_matches('/').to_string(),
            account_sid: account_sid.to_string(),
            auth_token,
            timeout,
        }
    }

    pub fn api_base(&self) -> &str {
        &self.api_base
    }

    async fn get<T: for<'de> Deserialize<'de>>(&self, url: String) -> Result<T, TwilioError> {
        let request = self
            .http
            .get(&url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .timeout(self.timeout);
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| self.transport(e))?;
        if status.is_success() {
            serde_json::from_slice(&body).map_err(|e| TwilioError::Decode(e.to_string()))
        } else {
            Err(TwilioError::Api(parse_error(status.as_u16(), &body)))
        }
    }

    fn transport(&self, e: reqwest::Error) -> TwilioError {
        if e.is_timeout() {
            TwilioError::Timeout(self.timeout)
        } else {
            // The innermost cause says what went wrong (refused, DNS, TLS); the URL is left
            // out of the message, which names the base URL itself.
            let mut cause: &dyn std::error::Error = &e;
            while let Some(next) = cause.source() {
                cause = next;
            }
            TwilioError::Network(cause.to_string())
        }
    }

    /// `GET /2010-04-01/Accounts/{AccountSid}.json`.
    pub async fn fetch_account(&self) -> Result<Account, TwilioError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}.json",
            self.api_base, self.account_sid
        );
        self.get(url).await
    }
}

fn parse_error(status: u16, body: &[u8]) -> TwilioApiError {
    serde_json::from_slice::<TwilioApiError>(body).unwrap_or_else(|_| TwilioApiError {
        code: None,
        message: format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ),
        more_info: None,
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_error_bodies_parse() {
        let body = br#"{"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}"#;
        let e = parse_error(401, body);
        assert_eq!(e.code, Some(20003));
        assert_eq!(e.message, "Authenticate");
        let odd = parse_error(502, b"<html>bad gateway</html>");
        assert_eq!(odd.code, None);
        assert!(odd.message.contains("502"));
    }
}
