//! A fake of Twilio's REST API (2010-04-01) and Elastic SIP Trunking API (v1), served on
//! one loopback port for both base URLs. It keeps state per account, speaks Twilio's wire
//! format (Basic auth, form bodies with PascalCase names, JSON with snake_case names,
//! Twilio's paging and error bodies) and is as strict as Twilio:
//!
//! - wrong credentials → 401, error 20003; unknown resources → 404, error 20404;
//! - what the OpenAPI specs would reject (a missing required parameter, a value outside an
//!   enum, a non-integer or non-boolean, a path SID that does not match its pattern) →
//!   400, error 20001, naming the parameter. The table [`OPERATIONS`] holds those rules;
//!   a test checks it against `shared/specs/twilio/`;
//! - buying a number that is not (or no longer) in the inventory → 400, error 21422;
//! - trunk `DomainName` must end in `pstn.twilio.com`; credential passwords need 12+
//!   characters with upper and lower case and a digit; usernames at most 32 characters.
//!
//! Unknown parameters are ignored, as Twilio ignores them. The inventory of available
//! numbers is deterministic (US, CA, GB; local, toll-free, mobile) and shared by all
//! accounts: a bought number leaves it and comes back when released.

use super::faults::{Fault, Faults, Recorded};
use axum::{
    body::Bytes,
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
    Json, Router,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};
use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::{Arc, Mutex},
};

// ---------------------------------------------------------------------------------------
// The operations the fake implements, with the spec's parameter rules.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Bool,
    Enum(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

const fn p(name: &'static str, kind: Kind, required: bool) -> Param {
    Param {
        name,
        kind,
        required,
    }
}

/// One operation: method, path template (`{Name:XX}` is a SID with prefix XX,
/// `{Name}` a free segment), and its query (GET) or form (POST) parameters.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub params: &'static [Param],
}

const PAGING: [Param; 3] = [
    p("PageSize", Kind::Int, false),
    p("Page", Kind::Int, false),
    p("PageToken", Kind::Str, false),
];
const TRANSFER_MODE: &[&str] = &["disable-all", "enable-all", "sip-only"];
const TRANSFER_CALLER_ID: &[&str] = &["from-transferee", "from-transferor"];
const HTTP_METHOD: &[&str] = &["GET", "POST"];
const SEARCH: &[Param] = &[
    p("AreaCode", Kind::Int, false),
    p("Contains", Kind::Str, false),
    p("SmsEnabled", Kind::Bool, false),
    p("MmsEnabled", Kind::Bool, false),
    p("VoiceEnabled", Kind::Bool, false),
    p("PageSize", Kind::Int, false),
];
const NUMBER_FIELDS: &[Param] = &[
    p("FriendlyName", Kind::Str, false),
    p("TrunkSid", Kind::Str, false),
    p("VoiceUrl", Kind::Str, false),
    p("VoiceMethod", Kind::Enum(HTTP_METHOD), false),
    p("StatusCallback", Kind::Str, false),
    p("StatusCallbackMethod", Kind::Enum(HTTP_METHOD), false),
    p("VoiceCallerIdLookup", Kind::Bool, false),
];
const BUY_FIELDS: &[Param] = &[
    p("PhoneNumber", Kind::Str, false),
    p("AreaCode", Kind::Str, false),
    p("FriendlyName", Kind::Str, false),
    p("TrunkSid", Kind::Str, false),
    p("VoiceUrl", Kind::Str, false),
    p("VoiceMethod", Kind::Enum(HTTP_METHOD), false),
    p("StatusCallback", Kind::Str, false),
    p("StatusCallbackMethod", Kind::Enum(HTTP_METHOD), false),
    p("VoiceCallerIdLookup", Kind::Bool, false),
];
const TRUNK_FIELDS: &[Param] = &[
    p("FriendlyName", Kind::Str, false),
    p("DomainName", Kind::Str, false),
    p("DisasterRecoveryUrl", Kind::Str, false),
    p("DisasterRecoveryMethod", Kind::Enum(HTTP_METHOD), false),
    p("TransferMode", Kind::Enum(TRANSFER_MODE), false),
    p("Secure", Kind::Bool, false),
    p("CnamLookupEnabled", Kind::Bool, false),
    p("TransferCallerId", Kind::Enum(TRANSFER_CALLER_ID), false),
];
const ORIGINATION_FIELDS: &[Param] = &[
    p("Weight", Kind::Int, true),
    p("Priority", Kind::Int, true),
    p("Enabled", Kind::Bool, true),
    p("FriendlyName", Kind::Str, true),
    p("SipUrl", Kind::Str, true),
];
const ORIGINATION_UPDATE: &[Param] = &[
    p("Weight", Kind::Int, false),
    p("Priority", Kind::Int, false),
    p("Enabled", Kind::Bool, false),
    p("FriendlyName", Kind::Str, false),
    p("SipUrl", Kind::Str, false),
];

pub const OPERATIONS: &[Operation] = &[
    Operation { method: "GET", path: "/2010-04-01/Accounts/{Sid:AC}.json", params: &[] },
    Operation { method: "GET", path: "/2010-04-01/Accounts/{AccountSid:AC}/AvailablePhoneNumbers/{CountryCode}/Local.json", params: SEARCH },
    Operation { method: "GET", path: "/2010-04-01/Accounts/{AccountSid:AC}/AvailablePhoneNumbers/{CountryCode}/TollFree.json", params: SEARCH },
    Operation { method: "GET", path: "/2010-04-01/Accounts/{AccountSid:AC}/AvailablePhoneNumbers/{CountryCode}/Mobile.json", params: SEARCH },
    Operation {
        method: "GET",
        path: "/2010-04-01/Accounts/{AccountSid:AC}/IncomingPhoneNumbers.json",
        params: &[p("PhoneNumber", Kind::Str, false), p("FriendlyName", Kind::Str, false), PAGING[0], PAGING[1], PAGING[2]],
    },
    Operation { method: "POST", path: "/2010-04-01/Accounts/{AccountSid:AC}/IncomingPhoneNumbers.json", params: BUY_FIELDS },
    Operation { method: "GET", path: "/2010-04-01/Accounts/{AccountSid:AC}/IncomingPhoneNumbers/{Sid:PN}.json", params: &[] },
    Operation { method: "POST", path: "/2010-04-01/Accounts/{AccountSid:AC}/IncomingPhoneNumbers/{Sid:PN}.json", params: NUMBER_FIELDS },
    Operation { method: "DELETE", path: "/2010-04-01/Accounts/{AccountSid:AC}/IncomingPhoneNumbers/{Sid:PN}.json", params: &[] },
    Operation { method: "GET", path: "/2010-04-01/Accounts/{AccountSid:AC}/SIP/CredentialLists.json", params: &PAGING },
    Operation { method: "POST", path: "/2010-04-01/Accounts/{AccountSid:AC}/SIP/CredentialLists.json", params: &[p("FriendlyName", Kind::Str, true)] },
    Operation { method: "GET", path: "/2010-04-01/Accounts/{AccountSid:AC}/SIP/CredentialLists/{Sid:CL}.json", params: &[] },
    Operation { method: "DELETE", path: "/2010-04-01/Accounts/{AccountSid:AC}/SIP/CredentialLists/{Sid:CL}.json", params: &[] },
    Operation {
        method: "GET",
        path: "/2010-04-01/Accounts/{AccountSid:AC}/SIP/CredentialLists/{CredentialListSid:CL}/Credentials.json",
        params: &PAGING,
    },
    Operation {
        method: "POST",
        path: "/2010-04-01/Accounts/{AccountSid:AC}/SIP/CredentialLists/{CredentialListSid:CL}/Credentials.json",
        params: &[p("Username", Kind::Str, true), p("Password", Kind::Str, true)],
    },
    Operation {
        method: "DELETE",
        path: "/2010-04-01/Accounts/{AccountSid:AC}/SIP/CredentialLists/{CredentialListSid:CL}/Credentials/{Sid:CR}.json",
        params: &[],
    },
    Operation { method: "GET", path: "/v1/Trunks", params: &PAGING },
    Operation { method: "POST", path: "/v1/Trunks", params: TRUNK_FIELDS },
    Operation { method: "GET", path: "/v1/Trunks/{Sid:TK}", params: &[] },
    Operation { method: "POST", path: "/v1/Trunks/{Sid:TK}", params: TRUNK_FIELDS },
    Operation { method: "DELETE", path: "/v1/Trunks/{Sid:TK}", params: &[] },
    Operation { method: "GET", path: "/v1/Trunks/{TrunkSid:TK}/OriginationUrls", params: &PAGING },
    Operation { method: "POST", path: "/v1/Trunks/{TrunkSid:TK}/OriginationUrls", params: ORIGINATION_FIELDS },
    Operation { method: "GET", path: "/v1/Trunks/{TrunkSid:TK}/OriginationUrls/{Sid:OU}", params: &[] },
    Operation { method: "POST", path: "/v1/Trunks/{TrunkSid:TK}/OriginationUrls/{Sid:OU}", params: ORIGINATION_UPDATE },
    Operation { method: "DELETE", path: "/v1/Trunks/{TrunkSid:TK}/OriginationUrls/{Sid:OU}", params: &[] },
    Operation { method: "GET", path: "/v1/Trunks/{TrunkSid:TK}/PhoneNumbers", params: &PAGING },
    Operation { method: "POST", path: "/v1/Trunks/{TrunkSid:TK}/PhoneNumbers", params: &[p("PhoneNumberSid", Kind::Str, true)] },
    Operation { method: "GET", path: "/v1/Trunks/{TrunkSid:TK}/PhoneNumbers/{Sid:PN}", params: &[] },
    Operation { method: "DELETE", path: "/v1/Trunks/{TrunkSid:TK}/PhoneNumbers/{Sid:PN}", params: &[] },
    Operation { method: "GET", path: "/v1/Trunks/{TrunkSid:TK}/CredentialLists", params: &PAGING },
    Operation { method: "POST", path: "/v1/Trunks/{TrunkSid:TK}/CredentialLists", params: &[p("CredentialListSid", Kind::Str, true)] },
    Operation { method: "GET", path: "/v1/Trunks/{TrunkSid:TK}/CredentialLists/{Sid:CL}", params: &[] },
    Operation { method: "DELETE", path: "/v1/Trunks/{TrunkSid:TK}/CredentialLists/{Sid:CL}", params: &[] },
];

/// Placeholder values by name, and the first (name, pattern) of a SID that does not match.
type Matched = (BTreeMap<String, String>, Option<(String, String)>);

/// Matches `path` against `template`; returns the placeholders (name → value) and the
/// first SID that does not match its pattern, if any.
fn match_template(template: &str, path: &str) -> Option<Matched> {
    let t_parts: Vec<&str> = template.split('/').collect();
    let p_parts: Vec<&str> = path.split('/').collect();
    if t_parts.len() != p_parts.len() {
        return None;
    }
    let mut values = BTreeMap::new();
    let mut bad = None;
    for (t, actual) in t_parts.iter().zip(p_parts.iter()) {
        if let Some(rest) = t.strip_prefix('{') {
            let (inner, suffix) = rest.split_once('}')?;
            let value = actual.strip_suffix(suffix)?;
            if value.is_empty() {
                return None;
            }
            let (name, prefix) = match inner.split_once(':') {
                Some((n, pfx)) => (n, Some(pfx)),
                None => (inner, None),
            };
            if let Some(prefix) = prefix {
                let ok = value.len() == 34
                    && value.starts_with(prefix)
                    && value[2..].chars().all(|c| c.is_ascii_hexdigit());
                if !ok && bad.is_none() {
                    bad = Some((name.to_string(), format!("^{prefix}[0-9a-fA-F]{{32}}$")));
                }
            }
            values.insert(name.to_string(), value.to_string());
        } else if t != actual {
            return None;
        }
    }
    Some((values, bad))
}

// ---------------------------------------------------------------------------------------
// State

#[derive(Debug, Clone)]
struct Available {
    phone_number: String,
    friendly_name: String,
    locality: &'static str,
    region: &'static str,
    country: &'static str,
    kind: &'static str,
    voice: bool,
    sms: bool,
    mms: bool,
}

#[derive(Debug, Clone)]
struct Number {
    sid: String,
    available: Available,
    friendly_name: String,
    trunk_sid: Option<String>,
    voice_url: Option<String>,
    voice_method: String,
    status_callback: Option<String>,
    status_callback_method: String,
    created: i64,
}

#[derive(Debug, Clone)]
struct OriginationUrl {
    sid: String,
    sip_url: String,
    priority: i64,
    weight: i64,
    enabled: bool,
    friendly_name: String,
}

#[derive(Debug, Clone)]
struct Trunk {
    sid: String,
    friendly_name: Option<String>,
    domain_name: Option<String>,
    transfer_mode: String,
    transfer_caller_id: String,
    secure: bool,
    cnam_lookup_enabled: bool,
    disaster_recovery_url: Option<String>,
    origination_urls: Vec<OriginationUrl>,
    credential_lists: Vec<String>,
    created: i64,
}

#[derive(Debug, Clone)]
struct CredentialList {
    sid: String,
    friendly_name: String,
    credentials: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct Account {
    sid: String,
    auth_token: String,
    friendly_name: String,
    numbers: Vec<Number>,
    trunks: Vec<Trunk>,
    credential_lists: Vec<CredentialList>,
}

#[derive(Default)]
struct World {
    accounts: HashMap<String, Account>,
    /// Phone numbers currently owned by some account (not available to buy).
    owned: HashMap<String, String>,
}

/// What a sandbox user or a test can see of an account's numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeNumber {
    pub sid: String,
    pub phone_number: String,
    pub friendly_name: String,
    pub trunk_sid: Option<String>,
    /// Where Twilio would send the number's call status callbacks.
    pub status_callback: Option<String>,
}

/// A trunk as tests and the sandbox see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeTrunk {
    pub sid: String,
    pub domain_name: Option<String>,
    pub origination_urls: Vec<String>,
    pub number_sids: Vec<String>,
    pub credential_lists: Vec<String>,
}

#[derive(Clone, Default)]
pub struct FakeTwilio {
    world: Arc<Mutex<World>>,
    pub faults: Faults,
}

fn new_sid(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

use crate::server::now;

fn rfc2822(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0)
        .map(|t| t.format("%a, %d %b %Y %H:%M:%S +0000").to_string())
        .unwrap_or_default()
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

fn invalid(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, 20001, message)
}

fn not_found(path: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        20404,
        &format!("The requested resource {path} was not found"),
    )
}

/// The deterministic inventory: fictional (555 / Ofcom drama) numbers.
fn inventory() -> Vec<Available> {
    let mut all = Vec::new();
    let mut add = |country: &'static str,
                   kind: &'static str,
                   prefix: &str,
                   national: &str,
                   locality: &'static str,
                   region: &'static str,
                   count: u32,
                   caps: (bool, bool, bool)| {
        for i in 0..count {
            let suffix = format!("{:02}", i);
            let number = format!("{prefix}{national}{suffix}");
            let friendly = if prefix == "+1" {
                format!(
                    "({}) {}-{}{}",
                    &national[0..3],
                    &national[3..6],
                    &national[6..],
                    suffix
                )
            } else {
                format!("{prefix} {national}{suffix}")
            };
            all.push(Available {
                phone_number: number,
                friendly_name: friendly,
                locality,
                region,
                country,
                kind,
                voice: caps.0,
                sms: caps.1,
                mms: caps.2,
            });
        }
    };
    for (area, locality, region) in [
        ("415", "San Francisco", "CA"),
        ("510", "Oakland", "CA"),
        ("212", "New York", "NY"),
        ("312", "Chicago", "IL"),
        ("206", "Seattle", "WA"),
        ("617", "Boston", "MA"),
    ] {
        add(
            "US",
            "Local",
            "+1",
            &format!("{area}55501"),
            locality,
            region,
            40,
            (true, true, true),
        );
    }
    for area in ["800", "833", "844", "855"] {
        add(
            "US",
            "TollFree",
            "+1",
            &format!("{area}55501"),
            "",
            "",
            20,
            (true, true, false),
        );
    }
    for (area, locality, region) in [
        ("416", "Toronto", "ON"),
        ("604", "Vancouver", "BC"),
        ("514", "Montreal", "QC"),
    ] {
        add(
            "CA",
            "Local",
            "+1",
            &format!("{area}55501"),
            locality,
            region,
            30,
            (true, true, true),
        );
    }
    add(
        "CA",
        "TollFree",
        "+1",
        "88855501",
        "",
        "",
        20,
        (true, true, false),
    );
    add(
        "GB",
        "Local",
        "+44",
        "2079460",
        "London",
        "",
        40,
        (true, false, false),
    );
    add(
        "GB",
        "Local",
        "+44",
        "1614960",
        "Manchester",
        "",
        40,
        (true, false, false),
    );
    add(
        "GB",
        "TollFree",
        "+44",
        "8081570",
        "",
        "",
        20,
        (true, false, false),
    );
    add(
        "GB",
        "Mobile",
        "+44",
        "77009001",
        "",
        "",
        40,
        (true, true, false),
    );
    all
}

/// Twilio's `Contains`: digits (and letters, mapped to keypad digits) with `*` as a
/// one-character wildcard, matched anywhere in the number.
fn contains_matches(number: &str, pattern: &str) -> bool {
    let digits: Vec<char> = number.chars().filter(|c| c.is_ascii_digit()).collect();
    let pattern: Vec<char> = pattern
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '+')
        .map(|c| match c.to_ascii_uppercase() {
            'A'..='C' => '2',
            'D'..='F' => '3',
            'G'..='I' => '4',
            'J'..='L' => '5',
            'M'..='O' => '6',
            'P'..='S' => '7',
            'T'..='V' => '8',
            'W'..='Z' => '9',
            other => other,
        })
        .collect();
    if pattern.is_empty() {
        return true;
    }
    digits
        .windows(pattern.len())
        .any(|w| w.iter().zip(&pattern).all(|(d, p)| *p == '*' || d == p))
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn strong_password(p: &str) -> bool {
    p.chars().count() >= 12
        && p.chars().any(|c| c.is_ascii_uppercase())
        && p.chars().any(|c| c.is_ascii_lowercase())
        && p.chars().any(|c| c.is_ascii_digit())
}

struct Ctx {
    base: String,
    path: String,
    params: Vec<(String, String)>,
    values: BTreeMap<String, String>,
}

impl Ctx {
    fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn id(&self, name: &str) -> String {
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
    fn page_2010(&self, key: &str, items: Vec<Value>) -> Response {
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
    fn page_v1(&self, key: &str, items: Vec<Value>) -> Response {
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

impl FakeTwilio {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_account(&self, sid: &str, auth_token: &str, friendly_name: &str) {
        if let Ok(mut w) = self.world.lock() {
            w.accounts.insert(
                sid.to_string(),
                Account {
                    sid: sid.to_string(),
                    auth_token: auth_token.to_string(),
                    friendly_name: friendly_name.to_string(),
                    numbers: Vec::new(),
                    trunks: Vec::new(),
                    credential_lists: Vec::new(),
                },
            );
        }
    }

    /// Every later request waits this long before answering (None: no delay).
    pub fn set_delay(&self, delay: Option<std::time::Duration>) {
        self.faults.set_latency(delay);
    }

    pub fn inject(&self, fault: Fault) {
        self.faults.inject(fault);
    }

    /// "METHOD /path" of every request received, oldest first.
    pub fn requests(&self) -> Vec<String> {
        self.faults.requests().iter().map(Recorded::line).collect()
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.faults.requests()
    }

    /// The numbers an account owns, as Twilio would list them.
    pub fn numbers(&self, account: &str) -> Vec<FakeNumber> {
        self.world
            .lock()
            .ok()
            .and_then(|w| w.accounts.get(account).cloned())
            .map(|a| {
                a.numbers
                    .iter()
                    .map(|n| FakeNumber {
                        sid: n.sid.clone(),
                        phone_number: n.available.phone_number.clone(),
                        friendly_name: n.friendly_name.clone(),
                        trunk_sid: n.trunk_sid.clone(),
                        status_callback: n.status_callback.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The account's trunks as the fake holds them.
    pub fn trunks(&self, account: &str) -> Vec<FakeTrunk> {
        let Ok(w) = self.world.lock() else {
            return Vec::new();
        };
        let Some(a) = w.accounts.get(account) else {
            return Vec::new();
        };
        a.trunks
            .iter()
            .map(|t| FakeTrunk {
                sid: t.sid.clone(),
                domain_name: t.domain_name.clone(),
                origination_urls: t
                    .origination_urls
                    .iter()
                    .map(|o| o.sip_url.clone())
                    .collect(),
                number_sids: a
                    .numbers
                    .iter()
                    .filter(|n| n.trunk_sid.as_deref() == Some(&t.sid))
                    .map(|n| n.sid.clone())
                    .collect(),
                credential_lists: t.credential_lists.clone(),
            })
            .collect()
    }

    /// Puts a number straight on an account (numbers bought outside Dial, for import tests).
    pub fn give_number(&self, account: &str, phone_number: &str) -> Option<String> {
        let mut w = self.world.lock().ok()?;
        if w.owned.contains_key(phone_number) {
            return None;
        }
        let available = inventory()
            .into_iter()
            .find(|a| a.phone_number == phone_number)?;
        let sid = new_sid("PN");
        let number = Number {
            sid: sid.clone(),
            friendly_name: available.friendly_name.clone(),
            available,
            trunk_sid: None,
            voice_url: None,
            voice_method: "POST".into(),
            status_callback: None,
            status_callback_method: "POST".into(),
            created: now(),
        };
        w.accounts.get_mut(account)?.numbers.push(number);
        w.owned
            .insert(phone_number.to_string(), account.to_string());
        Some(sid)
    }

    pub fn router(&self) -> Router {
        Router::new().fallback(handle).with_state(self.clone())
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

async fn handle(State(fake): State<FakeTwilio>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, 1 << 20).await {
        Ok(b) => b,
        Err(_) => return invalid("The request body is too large"),
    };
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let method = parts.method.clone();
    let mut params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if method == Method::POST {
        params.extend(url::form_urlencoded::parse(&body).into_owned());
    }
    let recorded = Recorded {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    if let Some((status, body)) = fake.faults.before(recorded).await {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, Json(body)).into_response();
    }

    // Authentication comes first, as with Twilio.
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

    // Which operation, and does the request satisfy the spec?
    let method_name = method.as_str();
    let mut matched = None;
    let mut path_known = false;
    for op in OPERATIONS {
        if let Some((values, bad)) = match_template(op.path, &path) {
            path_known = true;
            if op.method == method_name {
                matched = Some((op, values, bad));
                break;
            }
        }
    }
    let Some((op, values, bad)) = matched else {
        return if path_known {
            error(StatusCode::METHOD_NOT_ALLOWED, 20004, "Method not allowed")
        } else {
            not_found(&path)
        };
    };
    if let Some((name, pattern)) = bad {
        return invalid(&format!("Invalid {name}: must match {pattern}"));
    }
    for param in op.params {
        let value = params
            .iter()
            .find(|(k, _)| k == param.name)
            .map(|(_, v)| v.as_str());
        match value {
            None | Some("") if param.required => {
                let place = if method == Method::POST {
                    "post body"
                } else {
                    "query"
                };
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
    if let Some(account) = path_account {
        if account != &user {
            return not_found(&path);
        }
    }

    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let ctx = Ctx {
        base: format!("http://{host}"),
        path: path.clone(),
        params,
        values,
    };
    let Ok(mut world) = fake.world.lock() else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            20500,
            "Internal Server Error",
        );
    };
    dispatch(&mut world, &user, op, &ctx)
}

fn number_json(account: &str, n: &Number) -> Value {
    json!({
        "sid": n.sid,
        "account_sid": account,
        "phone_number": n.available.phone_number,
        "friendly_name": n.friendly_name,
        "trunk_sid": n.trunk_sid,
        "voice_url": n.voice_url,
        "voice_method": n.voice_method,
        "status_callback": n.status_callback,
        "status_callback_method": n.status_callback_method,
        "capabilities": { "voice": n.available.voice, "sms": n.available.sms, "mms": n.available.mms, "fax": false },
        "origin": "twilio",
        "status": "in-use",
        "api_version": "2010-04-01",
        "date_created": rfc2822(n.created),
        "date_updated": rfc2822(n.created),
        "uri": format!("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{}.json", n.sid),
    })
}

fn trunk_json(account: &str, t: &Trunk) -> Value {
    json!({
        "sid": t.sid,
        "account_sid": account,
        "friendly_name": t.friendly_name,
        "domain_name": t.domain_name,
        "transfer_mode": t.transfer_mode,
        "transfer_caller_id": t.transfer_caller_id,
        "secure": t.secure,
        "cnam_lookup_enabled": t.cnam_lookup_enabled,
        "disaster_recovery_url": t.disaster_recovery_url,
        "disaster_recovery_method": "POST",
        "recording": { "mode": "do-not-record", "trim": "do-not-trim" },
        "date_created": chrono::DateTime::from_timestamp(t.created, 0).map(|d| d.to_rfc3339()),
        "url": format!("https://trunking.twilio.com/v1/Trunks/{}", t.sid),
    })
}

fn origination_json(account: &str, trunk: &str, o: &OriginationUrl) -> Value {
    json!({
        "sid": o.sid,
        "account_sid": account,
        "trunk_sid": trunk,
        "sip_url": o.sip_url,
        "priority": o.priority,
        "weight": o.weight,
        "enabled": o.enabled,
        "friendly_name": o.friendly_name,
    })
}

fn trunk_number_json(account: &str, n: &Number) -> Value {
    json!({
        "sid": n.sid,
        "account_sid": account,
        "trunk_sid": n.trunk_sid,
        "phone_number": n.available.phone_number,
        "friendly_name": n.friendly_name,
        "capabilities": { "voice": n.available.voice, "sms": n.available.sms, "mms": n.available.mms },
    })
}

fn dispatch(world: &mut World, account_sid: &str, op: &Operation, ctx: &Ctx) -> Response {
    let World { accounts, owned } = world;
    let Some(account) = accounts.get_mut(account_sid) else {
        return error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    };
    let get = |name: &str| ctx.get(name).map(str::to_string);
    match (op.method, op.path) {
        ("GET", "/2010-04-01/Accounts/{Sid:AC}.json") => Json(json!({
            "sid": account.sid,
            "friendly_name": account.friendly_name,
            "status": "active",
            "type": "Full",
            "owner_account_sid": account.sid,
            "uri": format!("/2010-04-01/Accounts/{}.json", account.sid),
        }))
        .into_response(),

        ("GET", path) if path.contains("/AvailablePhoneNumbers/") => {
            let country = ctx.id("CountryCode").to_ascii_uppercase();
            let kind = if path.ends_with("/Local.json") {
                "Local"
            } else if path.ends_with("/TollFree.json") {
                "TollFree"
            } else {
                "Mobile"
            };
            let area = ctx.get("AreaCode").map(str::to_string);
            let contains = ctx.get("Contains").map(str::to_string);
            let want = |name: &str| ctx.get(name).and_then(parse_bool);
            let (voice, sms, mms) = (want("VoiceEnabled"), want("SmsEnabled"), want("MmsEnabled"));
            let size = ctx
                .get("PageSize")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(50)
                .clamp(1, 1000);
            let found: Vec<Value> = inventory()
                .into_iter()
                .filter(|a| {
                    a.country == country && a.kind == kind && !owned.contains_key(&a.phone_number)
                })
                .filter(|a| match &area {
                    Some(code) => a
                        .phone_number
                        .strip_prefix("+1")
                        .is_some_and(|n| n.starts_with(code.as_str())),
                    None => true,
                })
                .filter(|a| {
                    contains
                        .as_deref()
                        .is_none_or(|c| contains_matches(&a.phone_number, c))
                })
                .filter(|a| {
                    voice.is_none_or(|v| !v || a.voice)
                        && sms.is_none_or(|v| !v || a.sms)
                        && mms.is_none_or(|v| !v || a.mms)
                })
                .take(size)
                .map(|a| {
                    json!({
                        "friendly_name": a.friendly_name,
                        "phone_number": a.phone_number,
                        "locality": (!a.locality.is_empty()).then_some(a.locality),
                        "region": (!a.region.is_empty()).then_some(a.region),
                        "iso_country": a.country,
                        "address_requirements": "none",
                        "beta": false,
                        "capabilities": { "voice": a.voice, "SMS": a.sms, "MMS": a.mms },
                    })
                })
                .collect();
            Json(json!({ "available_phone_numbers": found, "uri": ctx.path })).into_response()
        }

        ("GET", "/2010-04-01/Accounts/{AccountSid:AC}/IncomingPhoneNumbers.json") => {
            let wanted = ctx
                .get("PhoneNumber")
                .map(|p| p.replace([' ', '-', '(', ')'], ""));
            let items = account
                .numbers
                .iter()
                .filter(|n| {
                    wanted
                        .as_deref()
                        .is_none_or(|w| n.available.phone_number.contains(w))
                })
                .filter(|n| ctx.get("FriendlyName").is_none_or(|f| n.friendly_name == f))
                .map(|n| number_json(account_sid, n))
                .collect();
            ctx.page_2010("incoming_phone_numbers", items)
        }

        ("POST", "/2010-04-01/Accounts/{AccountSid:AC}/IncomingPhoneNumbers.json") => {
            let pick = match (ctx.get("PhoneNumber"), ctx.get("AreaCode")) {
                (Some(number), _) => {
                    let number = number.replace([' ', '-', '(', ')'], "");
                    match inventory().into_iter().find(|a| a.phone_number == number) {
                        Some(a) if !owned.contains_key(&a.phone_number) => a,
                        _ => {
                            return error(
                                StatusCode::BAD_REQUEST,
                                21422,
                                &format!("Phone number {number} is not available. It may have been purchased by someone else."),
                            )
                        }
                    }
                }
                (None, Some(area)) => match inventory().into_iter().find(|a| {
                    a.kind == "Local"
                        && !owned.contains_key(&a.phone_number)
                        && a.phone_number
                            .strip_prefix("+1")
                            .is_some_and(|n| n.starts_with(area))
                }) {
                    Some(a) => a,
                    None => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            21452,
                            &format!("No phone numbers found in area code {area}"),
                        )
                    }
                },
                (None, None) => {
                    return invalid(
                        "Missing required parameter PhoneNumber or AreaCode in the post body",
                    )
                }
            };
            let trunk_sid = get("TrunkSid").filter(|s| !s.is_empty());
            if let Some(t) = &trunk_sid {
                if !account.trunks.iter().any(|tr| &tr.sid == t) {
                    return invalid(&format!("TrunkSid {t} is not a trunk of this account"));
                }
            }
            let number = Number {
                sid: new_sid("PN"),
                friendly_name: get("FriendlyName").unwrap_or_else(|| pick.friendly_name.clone()),
                available: pick,
                trunk_sid,
                voice_url: get("VoiceUrl"),
                voice_method: get("VoiceMethod").unwrap_or_else(|| "POST".into()),
                status_callback: get("StatusCallback"),
                status_callback_method: get("StatusCallbackMethod")
                    .unwrap_or_else(|| "POST".into()),
                created: now(),
            };
            owned.insert(
                number.available.phone_number.clone(),
                account_sid.to_string(),
            );
            let body = number_json(account_sid, &number);
            account.numbers.push(number);
            (StatusCode::CREATED, Json(body)).into_response()
        }

        (method, "/2010-04-01/Accounts/{AccountSid:AC}/IncomingPhoneNumbers/{Sid:PN}.json") => {
            let sid = ctx.id("Sid");
            let Some(index) = account.numbers.iter().position(|n| n.sid == sid) else {
                return not_found(&ctx.path);
            };
            match method {
                "GET" => Json(number_json(account_sid, &account.numbers[index])).into_response(),
                "DELETE" => {
                    let number = account.numbers.remove(index);
                    owned.remove(&number.available.phone_number);
                    StatusCode::NO_CONTENT.into_response()
                }
                _ => {
                    if let Some(t) = get("TrunkSid").filter(|s| !s.is_empty()) {
                        if !account.trunks.iter().any(|tr| tr.sid == t) {
                            return invalid(&format!(
                                "TrunkSid {t} is not a trunk of this account"
                            ));
                        }
                    }
                    let n = &mut account.numbers[index];
                    if let Some(v) = get("FriendlyName") {
                        n.friendly_name = v;
                    }
                    if let Some(v) = get("TrunkSid") {
                        n.trunk_sid = (!v.is_empty()).then_some(v);
                    }
                    if let Some(v) = get("VoiceUrl") {
                        n.voice_url = (!v.is_empty()).then_some(v);
                    }
                    if let Some(v) = get("VoiceMethod") {
                        n.voice_method = v;
                    }
                    if let Some(v) = get("StatusCallback") {
                        n.status_callback = (!v.is_empty()).then_some(v);
                    }
                    if let Some(v) = get("StatusCallbackMethod") {
                        n.status_callback_method = v;
                    }
                    Json(number_json(account_sid, n)).into_response()
                }
            }
        }

        ("GET", "/2010-04-01/Accounts/{AccountSid:AC}/SIP/CredentialLists.json") => {
            let items = account
                .credential_lists
                .iter()
                .map(|c| json!({ "sid": c.sid, "account_sid": account_sid, "friendly_name": c.friendly_name }))
                .collect();
            ctx.page_2010("credential_lists", items)
        }
        ("POST", "/2010-04-01/Accounts/{AccountSid:AC}/SIP/CredentialLists.json") => {
            let name = get("FriendlyName").unwrap_or_default();
            if name.chars().count() > 64 {
                return invalid("FriendlyName must be at most 64 characters");
            }
            let list = CredentialList {
                sid: new_sid("CL"),
                friendly_name: name,
                credentials: Vec::new(),
            };
            let body = json!({ "sid": list.sid, "account_sid": account_sid, "friendly_name": list.friendly_name });
            account.credential_lists.push(list);
            (StatusCode::CREATED, Json(body)).into_response()
        }
        (method, "/2010-04-01/Accounts/{AccountSid:AC}/SIP/CredentialLists/{Sid:CL}.json") => {
            let sid = ctx.id("Sid");
            let Some(index) = account.credential_lists.iter().position(|c| c.sid == sid) else {
                return not_found(&ctx.path);
            };
            if method == "DELETE" {
                account.credential_lists.remove(index);
                for trunk in &mut account.trunks {
                    trunk.credential_lists.retain(|c| c != &sid);
                }
                StatusCode::NO_CONTENT.into_response()
            } else {
                let c = &account.credential_lists[index];
                Json(json!({ "sid": c.sid, "account_sid": account_sid, "friendly_name": c.friendly_name })).into_response()
            }
        }
        (method, path) if path.contains("/Credentials") => {
            let list_sid = ctx.id("CredentialListSid");
            let Some(list) = account
                .credential_lists
                .iter_mut()
                .find(|c| c.sid == list_sid)
            else {
                return not_found(&ctx.path);
            };
            match method {
                "GET" => {
                    let items = list
                        .credentials
                        .iter()
                        .map(|(sid, user)| json!({ "sid": sid, "account_sid": account_sid, "credential_list_sid": list_sid, "username": user }))
                        .collect();
                    ctx.page_2010("credentials", items)
                }
                "POST" => {
                    let username = get("Username").unwrap_or_default();
                    let password = get("Password").unwrap_or_default();
                    if username.chars().count() > 32 {
                        return invalid("Username must be at most 32 characters");
                    }
                    if !strong_password(&password) {
                        return invalid("Password must be at least 12 characters long and contain at least one uppercase letter, one lowercase letter and one digit");
                    }
                    if list.credentials.iter().any(|(_, u)| u == &username) {
                        return error(
                            StatusCode::CONFLICT,
                            21450,
                            &format!(
                                "A credential with username {username} already exists in this list"
                            ),
                        );
                    }
                    let sid = new_sid("CR");
                    list.credentials.push((sid.clone(), username.clone()));
                    (
                        StatusCode::CREATED,
                        Json(json!({ "sid": sid, "account_sid": account_sid, "credential_list_sid": list_sid, "username": username })),
                    )
                        .into_response()
                }
                _ => {
                    let sid = ctx.id("Sid");
                    let before = list.credentials.len();
                    list.credentials.retain(|(s, _)| s != &sid);
                    if list.credentials.len() == before {
                        not_found(&ctx.path)
                    } else {
                        StatusCode::NO_CONTENT.into_response()
                    }
                }
            }
        }

        ("GET", "/v1/Trunks") => {
            let items = account
                .trunks
                .iter()
                .map(|t| trunk_json(account_sid, t))
                .collect();
            ctx.page_v1("trunks", items)
        }
        ("POST", "/v1/Trunks") | ("POST", "/v1/Trunks/{Sid:TK}") => {
            let creating = op.path == "/v1/Trunks";
            if let Some(domain) = get("DomainName").filter(|d| !d.is_empty()) {
                let lower = domain.to_ascii_lowercase();
                let label = lower.strip_suffix(".pstn.twilio.com").unwrap_or("");
                if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                {
                    return invalid(&format!("DomainName {domain} is invalid: it must be a name ending in pstn.twilio.com, e.g. example.pstn.twilio.com"));
                }
                let other_sid = ctx.id("Sid");
                let taken = accounts_domain_taken(account, &lower, &other_sid)
                    || owned_domain_elsewhere(&lower);
                if taken {
                    return error(
                        StatusCode::CONFLICT,
                        21248,
                        &format!("DomainName {domain} is already in use"),
                    );
                }
            }
            if creating {
                let trunk = Trunk {
                    sid: new_sid("TK"),
                    friendly_name: get("FriendlyName"),
                    domain_name: get("DomainName")
                        .filter(|d| !d.is_empty())
                        .map(|d| d.to_ascii_lowercase()),
                    transfer_mode: get("TransferMode").unwrap_or_else(|| "disable-all".into()),
                    transfer_caller_id: get("TransferCallerId")
                        .unwrap_or_else(|| "from-transferee".into()),
                    secure: get("Secure").and_then(|v| parse_bool(&v)).unwrap_or(false),
                    cnam_lookup_enabled: get("CnamLookupEnabled")
                        .and_then(|v| parse_bool(&v))
                        .unwrap_or(false),
                    disaster_recovery_url: get("DisasterRecoveryUrl"),
                    origination_urls: Vec::new(),
                    credential_lists: Vec::new(),
                    created: now(),
                };
                let body = trunk_json(account_sid, &trunk);
                account.trunks.push(trunk);
                (StatusCode::CREATED, Json(body)).into_response()
            } else {
                let sid = ctx.id("Sid");
                let Some(t) = account.trunks.iter_mut().find(|t| t.sid == sid) else {
                    return not_found(&ctx.path);
                };
                if let Some(v) = get("FriendlyName") {
                    t.friendly_name = Some(v);
                }
                if let Some(v) = get("DomainName") {
                    t.domain_name = (!v.is_empty()).then(|| v.to_ascii_lowercase());
                }
                if let Some(v) = get("TransferMode") {
                    t.transfer_mode = v;
                }
                if let Some(v) = get("TransferCallerId") {
                    t.transfer_caller_id = v;
                }
                if let Some(v) = get("Secure").and_then(|v| parse_bool(&v)) {
                    t.secure = v;
                }
                if let Some(v) = get("CnamLookupEnabled").and_then(|v| parse_bool(&v)) {
                    t.cnam_lookup_enabled = v;
                }
                Json(trunk_json(account_sid, t)).into_response()
            }
        }
        (method, "/v1/Trunks/{Sid:TK}") => {
            let sid = ctx.id("Sid");
            let Some(index) = account.trunks.iter().position(|t| t.sid == sid) else {
                return not_found(&ctx.path);
            };
            if method == "DELETE" {
                account.trunks.remove(index);
                for n in &mut account.numbers {
                    if n.trunk_sid.as_deref() == Some(&sid) {
                        n.trunk_sid = None;
                    }
                }
                StatusCode::NO_CONTENT.into_response()
            } else {
                Json(trunk_json(account_sid, &account.trunks[index])).into_response()
            }
        }
        (method, path) if path.starts_with("/v1/Trunks/{TrunkSid:TK}/") => {
            let trunk_sid = ctx.id("TrunkSid");
            let Some(t_index) = account.trunks.iter().position(|t| t.sid == trunk_sid) else {
                return not_found(&ctx.path);
            };
            trunk_children(account, account_sid, t_index, method, path, ctx)
        }
        _ => not_found(&ctx.path),
    }
}

fn accounts_domain_taken(account: &Account, domain: &str, except: &str) -> bool {
    account
        .trunks
        .iter()
        .any(|t| t.sid != except && t.domain_name.as_deref() == Some(domain))
}

/// Domains are global at Twilio; the fake checks within the account (accounts in one fake
/// rarely share domains) — a conservative approximation.
fn owned_domain_elsewhere(_domain: &str) -> bool {
    false
}

fn trunk_children(
    account: &mut Account,
    account_sid: &str,
    t_index: usize,
    method: &str,
    path: &str,
    ctx: &Ctx,
) -> Response {
    let trunk_sid = account.trunks[t_index].sid.clone();
    let get = |name: &str| ctx.get(name).map(str::to_string);
    if path.contains("/OriginationUrls") {
        let trunk = &mut account.trunks[t_index];
        return match (method, path.ends_with("{Sid:OU}")) {
            ("GET", false) => {
                let items = trunk
                    .origination_urls
                    .iter()
                    .map(|o| origination_json(account_sid, &trunk_sid, o))
                    .collect();
                ctx.page_v1("origination_urls", items)
            }
            ("POST", false) => {
                let sip_url = get("SipUrl").unwrap_or_default();
                if !(sip_url.starts_with("sip:") || sip_url.starts_with("sips:")) {
                    return invalid(&format!("SipUrl {sip_url} is invalid: it must be a SIP URI such as sip:example.sip.livekit.cloud"));
                }
                let number =
                    |name: &str| get(name).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
                let (priority, weight) = (number("Priority"), number("Weight"));
                if !(0..=65535).contains(&priority) || !(1..=65535).contains(&weight) {
                    return invalid(
                        "Priority must be between 0 and 65535 and Weight between 1 and 65535",
                    );
                }
                let o = OriginationUrl {
                    sid: new_sid("OU"),
                    sip_url,
                    priority,
                    weight,
                    enabled: get("Enabled").and_then(|v| parse_bool(&v)).unwrap_or(true),
                    friendly_name: get("FriendlyName").unwrap_or_default(),
                };
                let body = origination_json(account_sid, &trunk_sid, &o);
                trunk.origination_urls.push(o);
                (StatusCode::CREATED, Json(body)).into_response()
            }
            (method, true) => {
                let sid = ctx.id("Sid");
                let Some(index) = trunk.origination_urls.iter().position(|o| o.sid == sid) else {
                    return not_found(&ctx.path);
                };
                match method {
                    "DELETE" => {
                        trunk.origination_urls.remove(index);
                        StatusCode::NO_CONTENT.into_response()
                    }
                    "POST" => {
                        let o = &mut trunk.origination_urls[index];
                        if let Some(v) = get("SipUrl") {
                            o.sip_url = v;
                        }
                        if let Some(v) = get("Priority").and_then(|v| v.parse().ok()) {
                            o.priority = v;
                        }
                        if let Some(v) = get("Weight").and_then(|v| v.parse().ok()) {
                            o.weight = v;
                        }
                        if let Some(v) = get("Enabled").and_then(|v| parse_bool(&v)) {
                            o.enabled = v;
                        }
                        if let Some(v) = get("FriendlyName") {
                            o.friendly_name = v;
                        }
                        Json(origination_json(account_sid, &trunk_sid, o)).into_response()
                    }
                    _ => Json(origination_json(
                        account_sid,
                        &trunk_sid,
                        &trunk.origination_urls[index],
                    ))
                    .into_response(),
                }
            }
            _ => not_found(&ctx.path),
        };
    }
    if path.contains("/PhoneNumbers") {
        return match (method, path.ends_with("{Sid:PN}")) {
            ("GET", false) => {
                let items = account
                    .numbers
                    .iter()
                    .filter(|n| n.trunk_sid.as_deref() == Some(&trunk_sid))
                    .map(|n| trunk_number_json(account_sid, n))
                    .collect();
                ctx.page_v1("phone_numbers", items)
            }
            ("POST", false) => {
                let pn = get("PhoneNumberSid").unwrap_or_default();
                let Some(n) = account.numbers.iter_mut().find(|n| n.sid == pn) else {
                    return error(
                        StatusCode::NOT_FOUND,
                        20404,
                        &format!("Phone number {pn} was not found on this account"),
                    );
                };
                match &n.trunk_sid {
                    Some(t) if t == &trunk_sid => {
                        return error(
                            StatusCode::CONFLICT,
                            21224,
                            &format!("Phone number {pn} is already associated with trunk {t}"),
                        );
                    }
                    Some(t) => {
                        return error(
                            StatusCode::CONFLICT,
                            21224,
                            &format!(
                                "Phone number {pn} is already associated with another trunk {t}"
                            ),
                        );
                    }
                    None => {}
                }
                n.trunk_sid = Some(trunk_sid.clone());
                (StatusCode::CREATED, Json(trunk_number_json(account_sid, n))).into_response()
            }
            (method, true) => {
                let sid = ctx.id("Sid");
                let Some(n) = account
                    .numbers
                    .iter_mut()
                    .find(|n| n.sid == sid && n.trunk_sid.as_deref() == Some(&trunk_sid))
                else {
                    return not_found(&ctx.path);
                };
                if method == "DELETE" {
                    n.trunk_sid = None;
                    StatusCode::NO_CONTENT.into_response()
                } else {
                    Json(trunk_number_json(account_sid, n)).into_response()
                }
            }
            _ => not_found(&ctx.path),
        };
    }
    // Credential list associations.
    let list_json = |account: &Account, cl: &str| {
        let name = account
            .credential_lists
            .iter()
            .find(|c| c.sid == cl)
            .map(|c| c.friendly_name.clone());
        json!({ "sid": cl, "account_sid": account_sid, "trunk_sid": trunk_sid, "friendly_name": name })
    };
    match (method, path.ends_with("{Sid:CL}")) {
        ("GET", false) => {
            let items = account.trunks[t_index]
                .credential_lists
                .iter()
                .map(|cl| list_json(account, cl))
                .collect();
            ctx.page_v1("credential_lists", items)
        }
        ("POST", false) => {
            let cl = get("CredentialListSid").unwrap_or_default();
            if !account.credential_lists.iter().any(|c| c.sid == cl) {
                return error(
                    StatusCode::NOT_FOUND,
                    20404,
                    &format!("Credential list {cl} was not found on this account"),
                );
            }
            if account.trunks[t_index].credential_lists.contains(&cl) {
                return error(
                    StatusCode::CONFLICT,
                    21225,
                    &format!("Credential list {cl} is already associated with this trunk"),
                );
            }
            account.trunks[t_index].credential_lists.push(cl.clone());
            (StatusCode::CREATED, Json(list_json(account, &cl))).into_response()
        }
        (method, true) => {
            let cl = ctx.id("Sid");
            if !account.trunks[t_index].credential_lists.contains(&cl) {
                return not_found(&ctx.path);
            }
            if method == "DELETE" {
                account.trunks[t_index]
                    .credential_lists
                    .retain(|c| c != &cl);
                StatusCode::NO_CONTENT.into_response()
            } else {
                Json(list_json(account, &cl)).into_response()
            }
        }
        _ => not_found(&ctx.path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_and_check_sid_patterns() {
        let (values, bad) = match_template(
            "/v1/Trunks/{TrunkSid:TK}/PhoneNumbers/{Sid:PN}",
            &format!(
                "/v1/Trunks/TK{}/PhoneNumbers/PN{}",
                "a".repeat(32),
                "b".repeat(32)
            ),
        )
        .unwrap();
        assert!(bad.is_none());
        assert_eq!(values["TrunkSid"], format!("TK{}", "a".repeat(32)));
        let (_, bad) = match_template("/v1/Trunks/{Sid:TK}", "/v1/Trunks/TK123").unwrap();
        assert_eq!(bad.unwrap().0, "Sid");
        assert!(match_template("/v1/Trunks/{Sid:TK}", "/v1/Trunks").is_none());
        let (values, _) = match_template(
            "/2010-04-01/Accounts/{AccountSid:AC}/IncomingPhoneNumbers/{Sid:PN}.json",
            &format!(
                "/2010-04-01/Accounts/AC{}/IncomingPhoneNumbers/PN{}.json",
                "1".repeat(32),
                "2".repeat(32)
            ),
        )
        .unwrap();
        assert_eq!(values["Sid"], format!("PN{}", "2".repeat(32)));
    }

    #[test]
    fn contains_uses_wildcards_and_keypad_letters() {
        assert!(contains_matches("+14155550100", "555"));
        assert!(contains_matches("+14155550100", "5*5"));
        assert!(contains_matches("+14155550100", "JKL")); // 555
        assert!(!contains_matches("+14155550100", "999"));
    }

    #[test]
    fn inventory_is_deterministic_and_covers_three_countries() {
        let a = inventory();
        let b = inventory();
        assert_eq!(a.len(), b.len());
        for (country, kind) in [
            ("US", "Local"),
            ("US", "TollFree"),
            ("CA", "Local"),
            ("GB", "Local"),
            ("GB", "Mobile"),
            ("GB", "TollFree"),
        ] {
            assert!(
                a.iter().any(|n| n.country == country && n.kind == kind),
                "{country} {kind}"
            );
        }
        let mut numbers: Vec<&str> = a.iter().map(|n| n.phone_number.as_str()).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), a.len(), "numbers are unique");
    }
}
