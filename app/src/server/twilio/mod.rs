//! The Twilio REST client. Every request Dial makes to Twilio goes through this type:
//! base URLs from settings (so tests and sandbox mode point it at the fake), HTTP Basic
//! auth, form-encoded bodies with Twilio's parameter names, typed responses, pagination
//! followed, time-outs, retries with backoff where a retry is safe, and Twilio's error
//! body parsed into [`TwilioError::Api`].

pub mod settings;
pub mod signature;
pub mod webhooks;

use backon::{BackoffBuilder, ExponentialBuilder};
use secrecy::{ExposeSecret, SecretString};
use serde::{de::DeserializeOwned, Deserialize};
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

impl TwilioError {
    /// Twilio's own error code, when Twilio answered with one.
    pub fn code(&self) -> Option<i64> {
        match self {
            TwilioError::Api(e) => e.code,
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            TwilioError::Api(e) => Some(e.status),
            _ => None,
        }
    }
}

/// How often and how patiently to retry requests that are safe to repeat.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay: Duration,
    /// Upper bound for a server-requested `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Typed resources (the fields Dial uses; Twilio sends more).

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Account {
    pub sid: String,
    pub friendly_name: String,
    pub status: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub struct Capabilities {
    #[serde(default)]
    pub voice: bool,
    #[serde(default, alias = "SMS")]
    pub sms: bool,
    #[serde(default, alias = "MMS")]
    pub mms: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberType {
    Local,
    TollFree,
    Mobile,
}

impl NumberType {
    pub fn path(self) -> &'static str {
        match self {
            NumberType::Local => "Local",
            NumberType::TollFree => "TollFree",
            NumberType::Mobile => "Mobile",
        }
    }
}

/// `GET .../AvailablePhoneNumbers/{Country}/{Type}.json` filters.
#[derive(Debug, Clone, Default)]
pub struct NumberSearch {
    pub area_code: Option<u32>,
    pub contains: Option<String>,
    pub voice_enabled: Option<bool>,
    pub sms_enabled: Option<bool>,
    pub page_size: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct AvailableNumber {
    pub phone_number: String,
    pub friendly_name: String,
    pub locality: Option<String>,
    pub region: Option<String>,
    pub iso_country: String,
    #[serde(default)]
    pub capabilities: Capabilities,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct IncomingNumber {
    pub sid: String,
    pub account_sid: String,
    pub phone_number: String,
    pub friendly_name: String,
    pub trunk_sid: Option<String>,
    pub voice_url: Option<String>,
    #[serde(default)]
    pub voice_application_sid: Option<String>,
    pub status_callback: Option<String>,
    #[serde(default)]
    pub capabilities: Capabilities,
}

/// `POST .../IncomingPhoneNumbers.json`: one of `phone_number` or `area_code`.
#[derive(Debug, Clone, Default)]
pub struct BuyNumber {
    pub phone_number: Option<String>,
    pub area_code: Option<String>,
    pub friendly_name: Option<String>,
    pub trunk_sid: Option<String>,
    pub voice_url: Option<String>,
    pub status_callback: Option<String>,
}

/// `POST .../IncomingPhoneNumbers/{PN}.json`. `trunk_sid: Some("")` detaches the trunk.
#[derive(Debug, Clone, Default)]
pub struct UpdateNumber {
    pub friendly_name: Option<String>,
    pub trunk_sid: Option<String>,
    pub voice_url: Option<String>,
    pub voice_application_sid: Option<String>,
    pub status_callback: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Trunk {
    pub sid: String,
    pub friendly_name: Option<String>,
    pub domain_name: Option<String>,
    pub transfer_mode: Option<String>,
    pub transfer_caller_id: Option<String>,
    #[serde(default)]
    pub secure: bool,
}

#[derive(Debug, Clone, Default)]
pub struct TrunkParams {
    pub friendly_name: Option<String>,
    pub domain_name: Option<String>,
    /// `disable-all`, `enable-all` or `sip-only`.
    pub transfer_mode: Option<String>,
    /// `from-transferee` or `from-transferor`.
    pub transfer_caller_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct OriginationUrl {
    pub sid: String,
    pub trunk_sid: String,
    pub sip_url: String,
    pub priority: i64,
    pub weight: i64,
    pub enabled: bool,
    pub friendly_name: String,
}

#[derive(Debug, Clone)]
pub struct NewOriginationUrl {
    pub sip_url: String,
    pub priority: u32,
    pub weight: u32,
    pub enabled: bool,
    pub friendly_name: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct TrunkPhoneNumber {
    pub sid: String,
    pub trunk_sid: Option<String>,
    pub phone_number: String,
    pub friendly_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct CredentialList {
    pub sid: String,
    pub friendly_name: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Credential {
    pub sid: String,
    pub credential_list_sid: String,
    pub username: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct TrunkCredentialList {
    pub sid: String,
    pub trunk_sid: String,
    pub friendly_name: Option<String>,
}

// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Method {
    Get,
    Post,
    Delete,
}

pub struct TwilioClient {
    http: reqwest::Client,
    api_base: String,
    trunking_base: String,
    account_sid: AccountSid,
    auth_token: SecretString,
    timeout: Duration,
    retry: RetryPolicy,
}

fn page_of<T: DeserializeOwned>(
    body: &serde_json::Value,
    key: &str,
) -> Result<Vec<T>, TwilioError> {
    let items = body
        .get(key)
        .cloned()
        .unwrap_or(serde_json::Value::Array(Vec::new()));
    serde_json::from_value(items).map_err(|e| TwilioError::Decode(e.to_string()))
}

fn form(pairs: &[(&str, Option<String>)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), v.clone())))
        .collect()
}

/// A Twilio Account SID: `AC` and 32 hexadecimal digits. Parsed once where the text
/// comes in (a form, the environment, the database); it goes into every REST path, so
/// nothing else may stand in for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountSid(String);

impl AccountSid {
    pub fn parse(text: &str) -> Option<AccountSid> {
        let sid = text.trim();
        let ok = sid.len() == 34
            && sid.starts_with("AC")
            && sid[2..].chars().all(|c| c.is_ascii_hexdigit());
        ok.then(|| AccountSid(sid.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AccountSid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A request's operation for metrics and logs: its method and path, with every SID and
/// number in the path put as `{sid}` and `{n}` (the path of an account's numbers is one
/// operation, whichever account or number), and no query.
/// `GET /2010-04-01/Accounts/{sid}/IncomingPhoneNumbers/{sid}.json`.
fn operation_name(method: Method, url: &str) -> String {
    let path = url::Url::parse(url)
        .map(|u| u.path().to_string())
        .unwrap_or_default();
    let segments: Vec<String> = path
        .split('/')
        .map(|segment| {
            let (stem, ext) = match segment.split_once('.') {
                Some((stem, ext)) => (stem, format!(".{ext}")),
                None => (segment, String::new()),
            };
            let sid = stem.len() >= 34
                && stem.bytes().take(2).all(|b| b.is_ascii_uppercase())
                && stem.bytes().all(|b| b.is_ascii_alphanumeric());
            let number = !stem.is_empty()
                && stem
                    .trim_start_matches('+')
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                && stem.trim_start_matches('+').len() > 4;
            if sid {
                format!("{{sid}}{ext}")
            } else if number {
                format!("{{n}}{ext}")
            } else {
                segment.to_string()
            }
        })
        .collect();
    let verb = match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Delete => "DELETE",
    };
    format!("{verb} {}", segments.join("/"))
}

impl TwilioClient {
    pub fn new(
        http: reqwest::Client,
        api_base: &str,
        account_sid: AccountSid,
        auth_token: SecretString,
        timeout: Duration,
    ) -> Self {
        TwilioClient {
            http,
            api_base: api_base.trim_end_matches('/').to_string(),
            trunking_base: "https://trunking.twilio.com".to_string(),
            account_sid,
            auth_token,
            timeout,
            retry: RetryPolicy::default(),
        }
    }

    pub fn with_trunking_base(mut self, base: &str) -> Self {
        self.trunking_base = base.trim_end_matches('/').to_string();
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn api_base(&self) -> &str {
        &self.api_base
    }

    pub fn account_sid(&self) -> &str {
        self.account_sid.as_str()
    }

    fn account_url(&self, rest: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}{}",
            self.api_base, self.account_sid, rest
        )
    }

    fn trunking_url(&self, rest: &str) -> String {
        format!("{}/v1{}", self.trunking_base, rest)
    }

    fn transport(&self, e: reqwest::Error) -> TwilioError {
        if e.is_timeout() {
            return TwilioError::Timeout(self.timeout);
        }
        // The innermost cause says what went wrong (refused, DNS, TLS); callers name the URL.
        let mut cause: &dyn std::error::Error = &e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        TwilioError::Network(cause.to_string())
    }

    /// Sends one request, retrying when that is safe: GET and DELETE on 429, 5xx, time-outs
    /// and connection failures; POST only on 429 (Twilio did not act on it).
    async fn send(
        &self,
        method: Method,
        url: &str,
        body: &[(String, String)],
    ) -> Result<Option<serde_json::Value>, TwilioError> {
        let idempotent = method != Method::Post;
        // Exponential backoff from `base_delay`, doubling, capped at `max_delay`, with
        // jitter so that instances retrying the same outage do not retry in step.
        let mut delays = ExponentialBuilder::new()
            .with_min_delay(self.retry.base_delay)
            .with_max_delay(self.retry.max_delay)
            .with_max_times(self.retry.max_retries as usize)
            .with_jitter()
            .build();
        let mut attempt = 0;
        let operation = operation_name(method, url);
        loop {
            let started = std::time::Instant::now();
            let builder = match method {
                Method::Get => self.http.get(url),
                Method::Post => self.http.post(url).form(body),
                Method::Delete => self.http.delete(url),
            };
            let outcome = builder
                .basic_auth(
                    self.account_sid.as_str(),
                    Some(self.auth_token.expose_secret()),
                )
                .header("accept", "application/json")
                .timeout(self.timeout)
                .send()
                .await;
            let (retryable, retry_after, result) = match outcome {
                Err(e) => (idempotent, None, Err(self.transport(e))),
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let bytes = response.bytes().await.map_err(|e| self.transport(e));
                    match bytes {
                        Err(e) => (idempotent, None, Err(e)),
                        Ok(bytes) if status.is_success() => {
                            if bytes.is_empty() || status == reqwest::StatusCode::NO_CONTENT {
                                (false, None, Ok(None))
                            } else {
                                let parsed = serde_json::from_slice(&bytes)
                                    .map(Some)
                                    .map_err(|e| TwilioError::Decode(e.to_string()));
                                (false, None, parsed)
                            }
                        }
                        Ok(bytes) => {
                            let code = status.as_u16();
                            let retryable = code == 429 || (idempotent && code >= 500);
                            (
                                retryable,
                                retry_after,
                                Err(TwilioError::Api(parse_error(code, &bytes))),
                            )
                        }
                    }
                }
            };
            let took = started.elapsed();
            crate::server::metrics::provider_request(
                "twilio",
                operation.clone(),
                result.is_ok(),
                took,
            );
            crate::server::metrics::log_provider_request("twilio", &operation, &result, took);
            let backoff = match delays.next() {
                Some(backoff) if retryable => backoff,
                _ => return result,
            };
            // Twilio's `Retry-After` wins over the backoff, within `max_delay`.
            let delay = retry_after.map_or(backoff, |asked| asked.min(self.retry.max_delay));
            tracing::debug!(?method, attempt, ?delay, "retrying a Twilio request");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, TwilioError> {
        let value = self.send(Method::Get, url, &[]).await?.unwrap_or_default();
        serde_json::from_value(value).map_err(|e| TwilioError::Decode(e.to_string()))
    }

    async fn post_json<T: DeserializeOwned>(
        &self,
        url: &str,
        body: &[(String, String)],
    ) -> Result<T, TwilioError> {
        let value = self
            .send(Method::Post, url, body)
            .await?
            .unwrap_or_default();
        serde_json::from_value(value).map_err(|e| TwilioError::Decode(e.to_string()))
    }

    async fn delete(&self, url: &str) -> Result<(), TwilioError> {
        self.send(Method::Delete, url, &[]).await.map(|_| ())
    }

    /// Follows `next_page_uri` (REST 2010-04-01, relative to the API base) or
    /// `meta.next_page_url` (Trunking v1, absolute; only its path is used, on our base).
    async fn list_all<T: DeserializeOwned>(
        &self,
        first: String,
        key: &str,
        base: &str,
    ) -> Result<Vec<T>, TwilioError> {
        let mut items = Vec::new();
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(url) = next.take() {
            let body: serde_json::Value = self.get_json(&url).await?;
            items.extend(page_of::<T>(&body, key)?);
            let following = body
                .get("next_page_uri")
                .and_then(|v| v.as_str())
                .map(|p| format!("{}{}", self.api_base, p))
                .or_else(|| {
                    body.get("meta")
                        .and_then(|m| m.get("next_page_url"))
                        .and_then(|v| v.as_str())
                        .and_then(|u| url::Url::parse(u).ok())
                        .map(|u| format!("{}{}", base, &u[url::Position::BeforePath..]))
                });
            pages += 1;
            // A guard against a server that never stops paging.
            if pages < 1000 {
                next = following;
            }
        }
        Ok(items)
    }

    // -- Account --------------------------------------------------------------------------

    /// `GET /2010-04-01/Accounts/{AccountSid}.json`.
    pub async fn fetch_account(&self) -> Result<Account, TwilioError> {
        self.get_json(&self.account_url(".json")).await
    }

    // -- Numbers --------------------------------------------------------------------------

    pub async fn search_available(
        &self,
        country: &str,
        kind: NumberType,
        search: &NumberSearch,
    ) -> Result<Vec<AvailableNumber>, TwilioError> {
        let mut url = url::Url::parse(&self.account_url(&format!(
            "/AvailablePhoneNumbers/{}/{}.json",
            country.to_ascii_uppercase(),
            kind.path()
        )))
        .map_err(|e| TwilioError::Decode(e.to_string()))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(a) = search.area_code {
                q.append_pair("AreaCode", &a.to_string());
            }
            if let Some(c) = &search.contains {
                q.append_pair("Contains", c);
            }
            if let Some(v) = search.voice_enabled {
                q.append_pair("VoiceEnabled", if v { "true" } else { "false" });
            }
            if let Some(s) = search.sms_enabled {
                q.append_pair("SmsEnabled", if s { "true" } else { "false" });
            }
            if let Some(p) = search.page_size {
                q.append_pair("PageSize", &p.to_string());
            }
        }
        let body: serde_json::Value = self.get_json(url.as_str()).await?;
        page_of(&body, "available_phone_numbers")
    }

    pub async fn list_incoming_numbers(&self) -> Result<Vec<IncomingNumber>, TwilioError> {
        let first = self.account_url("/IncomingPhoneNumbers.json?PageSize=100");
        self.list_all(first, "incoming_phone_numbers", &self.api_base.clone())
            .await
    }

    /// The account's number with exactly this E.164 value, if it has it.
    pub async fn find_incoming_number(
        &self,
        e164: &str,
    ) -> Result<Option<IncomingNumber>, TwilioError> {
        let mut url = url::Url::parse(&self.account_url("/IncomingPhoneNumbers.json"))
            .map_err(|e| TwilioError::Decode(e.to_string()))?;
        url.query_pairs_mut().append_pair("PhoneNumber", e164);
        let numbers: Vec<IncomingNumber> = self
            .list_all(
                url.to_string(),
                "incoming_phone_numbers",
                &self.api_base.clone(),
            )
            .await?;
        Ok(numbers.into_iter().find(|n| n.phone_number == e164))
    }

    pub async fn buy_number(&self, buy: &BuyNumber) -> Result<IncomingNumber, TwilioError> {
        let body = form(&[
            ("PhoneNumber", buy.phone_number.clone()),
            ("AreaCode", buy.area_code.clone()),
            ("FriendlyName", buy.friendly_name.clone()),
            ("TrunkSid", buy.trunk_sid.clone()),
            ("VoiceUrl", buy.voice_url.clone()),
            ("StatusCallback", buy.status_callback.clone()),
        ]);
        self.post_json(&self.account_url("/IncomingPhoneNumbers.json"), &body)
            .await
    }

    pub async fn update_number(
        &self,
        sid: &str,
        update: &UpdateNumber,
    ) -> Result<IncomingNumber, TwilioError> {
        let body = form(&[
            ("FriendlyName", update.friendly_name.clone()),
            ("TrunkSid", update.trunk_sid.clone()),
            ("VoiceUrl", update.voice_url.clone()),
            ("VoiceApplicationSid", update.voice_application_sid.clone()),
            ("StatusCallback", update.status_callback.clone()),
        ]);
        self.post_json(
            &self.account_url(&format!("/IncomingPhoneNumbers/{sid}.json")),
            &body,
        )
        .await
    }

    pub async fn release_number(&self, sid: &str) -> Result<(), TwilioError> {
        self.delete(&self.account_url(&format!("/IncomingPhoneNumbers/{sid}.json")))
            .await
    }

    // -- Elastic SIP trunks ---------------------------------------------------------------

    fn trunk_form(params: &TrunkParams) -> Vec<(String, String)> {
        form(&[
            ("FriendlyName", params.friendly_name.clone()),
            ("DomainName", params.domain_name.clone()),
            ("TransferMode", params.transfer_mode.clone()),
            ("TransferCallerId", params.transfer_caller_id.clone()),
        ])
    }

    pub async fn create_trunk(&self, params: &TrunkParams) -> Result<Trunk, TwilioError> {
        self.post_json(&self.trunking_url("/Trunks"), &Self::trunk_form(params))
            .await
    }

    pub async fn fetch_trunk(&self, sid: &str) -> Result<Trunk, TwilioError> {
        self.get_json(&self.trunking_url(&format!("/Trunks/{sid}")))
            .await
    }

    pub async fn list_trunks(&self) -> Result<Vec<Trunk>, TwilioError> {
        self.list_all(
            self.trunking_url("/Trunks?PageSize=50"),
            "trunks",
            &self.trunking_base.clone(),
        )
        .await
    }

    pub async fn update_trunk(
        &self,
        sid: &str,
        params: &TrunkParams,
    ) -> Result<Trunk, TwilioError> {
        self.post_json(
            &self.trunking_url(&format!("/Trunks/{sid}")),
            &Self::trunk_form(params),
        )
        .await
    }

    pub async fn delete_trunk(&self, sid: &str) -> Result<(), TwilioError> {
        self.delete(&self.trunking_url(&format!("/Trunks/{sid}")))
            .await
    }

    pub async fn create_origination_url(
        &self,
        trunk: &str,
        new: &NewOriginationUrl,
    ) -> Result<OriginationUrl, TwilioError> {
        let body = form(&[
            ("SipUrl", Some(new.sip_url.clone())),
            ("Priority", Some(new.priority.to_string())),
            ("Weight", Some(new.weight.to_string())),
            ("Enabled", Some(new.enabled.to_string())),
            ("FriendlyName", Some(new.friendly_name.clone())),
        ]);
        self.post_json(
            &self.trunking_url(&format!("/Trunks/{trunk}/OriginationUrls")),
            &body,
        )
        .await
    }

    pub async fn list_origination_urls(
        &self,
        trunk: &str,
    ) -> Result<Vec<OriginationUrl>, TwilioError> {
        self.list_all(
            self.trunking_url(&format!("/Trunks/{trunk}/OriginationUrls?PageSize=50")),
            "origination_urls",
            &self.trunking_base.clone(),
        )
        .await
    }

    pub async fn delete_origination_url(&self, trunk: &str, sid: &str) -> Result<(), TwilioError> {
        self.delete(&self.trunking_url(&format!("/Trunks/{trunk}/OriginationUrls/{sid}")))
            .await
    }

    pub async fn attach_number(
        &self,
        trunk: &str,
        number_sid: &str,
    ) -> Result<TrunkPhoneNumber, TwilioError> {
        let body = form(&[("PhoneNumberSid", Some(number_sid.to_string()))]);
        self.post_json(
            &self.trunking_url(&format!("/Trunks/{trunk}/PhoneNumbers")),
            &body,
        )
        .await
    }

    pub async fn detach_number(&self, trunk: &str, number_sid: &str) -> Result<(), TwilioError> {
        self.delete(&self.trunking_url(&format!("/Trunks/{trunk}/PhoneNumbers/{number_sid}")))
            .await
    }

    pub async fn list_trunk_numbers(
        &self,
        trunk: &str,
    ) -> Result<Vec<TrunkPhoneNumber>, TwilioError> {
        self.list_all(
            self.trunking_url(&format!("/Trunks/{trunk}/PhoneNumbers?PageSize=50")),
            "phone_numbers",
            &self.trunking_base.clone(),
        )
        .await
    }

    // -- Credential lists -----------------------------------------------------------------

    pub async fn create_credential_list(
        &self,
        friendly_name: &str,
    ) -> Result<CredentialList, TwilioError> {
        let body = form(&[("FriendlyName", Some(friendly_name.to_string()))]);
        self.post_json(&self.account_url("/SIP/CredentialLists.json"), &body)
            .await
    }

    pub async fn list_credential_lists(&self) -> Result<Vec<CredentialList>, TwilioError> {
        self.list_all(
            self.account_url("/SIP/CredentialLists.json?PageSize=50"),
            "credential_lists",
            &self.api_base.clone(),
        )
        .await
    }

    pub async fn delete_credential_list(&self, sid: &str) -> Result<(), TwilioError> {
        self.delete(&self.account_url(&format!("/SIP/CredentialLists/{sid}.json")))
            .await
    }

    pub async fn create_credential(
        &self,
        list: &str,
        username: &str,
        password: &SecretString,
    ) -> Result<Credential, TwilioError> {
        let body = form(&[
            ("Username", Some(username.to_string())),
            ("Password", Some(password.expose_secret().to_string())),
        ]);
        self.post_json(
            &self.account_url(&format!("/SIP/CredentialLists/{list}/Credentials.json")),
            &body,
        )
        .await
    }

    pub async fn list_credentials(&self, list: &str) -> Result<Vec<Credential>, TwilioError> {
        self.list_all(
            self.account_url(&format!(
                "/SIP/CredentialLists/{list}/Credentials.json?PageSize=50"
            )),
            "credentials",
            &self.api_base.clone(),
        )
        .await
    }

    pub async fn associate_credential_list(
        &self,
        trunk: &str,
        list: &str,
    ) -> Result<TrunkCredentialList, TwilioError> {
        let body = form(&[("CredentialListSid", Some(list.to_string()))]);
        self.post_json(
            &self.trunking_url(&format!("/Trunks/{trunk}/CredentialLists")),
            &body,
        )
        .await
    }

    pub async fn list_trunk_credential_lists(
        &self,
        trunk: &str,
    ) -> Result<Vec<TrunkCredentialList>, TwilioError> {
        self.list_all(
            self.trunking_url(&format!("/Trunks/{trunk}/CredentialLists?PageSize=50")),
            "credential_lists",
            &self.trunking_base.clone(),
        )
        .await
    }

    pub async fn dissociate_credential_list(
        &self,
        trunk: &str,
        list: &str,
    ) -> Result<(), TwilioError> {
        self.delete(&self.trunking_url(&format!("/Trunks/{trunk}/CredentialLists/{list}")))
            .await
    }
}

/// Twilio's error body; the HTTP status is the one the response carried.
fn parse_error(status: u16, body: &[u8]) -> TwilioApiError {
    serde_json::from_slice::<TwilioApiError>(body)
        .map(|e| TwilioApiError { status, ..e })
        .unwrap_or_else(|_| TwilioApiError {
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
    fn operations_name_no_sid_or_number() {
        let sid = "AC0123456789abcdef0123456789abcdef";
        let pn = "PN0123456789abcdef0123456789abcdef";
        assert_eq!(
            operation_name(
                Method::Post,
                &format!("https://api.twilio.com/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers/{pn}.json")
            ),
            "POST /2010-04-01/Accounts/{sid}/IncomingPhoneNumbers/{sid}.json"
        );
        assert_eq!(
            operation_name(
                Method::Get,
                &format!("http://127.0.0.1:4010/2010-04-01/Accounts/{sid}/AvailablePhoneNumbers/US/Local.json?AreaCode=415")
            ),
            "GET /2010-04-01/Accounts/{sid}/AvailablePhoneNumbers/US/Local.json"
        );
        assert_eq!(
            operation_name(
                Method::Delete,
                "https://trunking.twilio.com/v1/Trunks/TK0123456789abcdef0123456789abcdef/PhoneNumbers/PN0123456789abcdef0123456789abcdef"
            ),
            "DELETE /v1/Trunks/{sid}/PhoneNumbers/{sid}"
        );
    }

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

    #[test]
    fn capabilities_accept_both_spellings() {
        let available: Capabilities =
            serde_json::from_str(r#"{"voice": true, "SMS": true, "MMS": false}"#).unwrap();
        let incoming: Capabilities =
            serde_json::from_str(r#"{"voice": true, "sms": false, "mms": true, "fax": false}"#)
                .unwrap();
        assert!(available.voice && available.sms && !available.mms);
        assert!(incoming.voice && !incoming.sms && incoming.mms);
    }
}
