//! A fake of Twilio's REST API (2010-04-01) and Elastic SIP Trunking API (v1), served on
//! one loopback port for both base URLs. It keeps state per account, speaks Twilio's wire
//! format (Basic auth, form bodies with PascalCase names, JSON with snake_case names,
//! Twilio's paging and error bodies) and is as strict as Twilio:
//!
//! - wrong credentials → 401, error 20003; unknown resources → 404, error 20404;
//! - what the OpenAPI specs would reject (a missing required parameter, a value outside an
//!   enum, a non-integer or non-boolean, a path SID that does not match its pattern) →
//!   400, error 20001, naming the parameter. The table [`OPERATIONS`] holds those rules
//!   and each operation's handler, and the axum router is built from it; a test checks
//!   it against the vendored specs in `tests/fixtures/twilio/`;
//! - buying a number that is not (or no longer) in the inventory → 400, error 21422;
//! - trunk `DomainName` must end in `pstn.twilio.com`; credential passwords need 12+
//!   characters with upper and lower case and a digit; usernames at most 32 characters.
//!
//! Unknown parameters are ignored, as Twilio ignores them. The inventory of available
//! numbers is deterministic (US, CA, GB; local, toll-free, mobile) and shared by all
//! accounts: a bought number leaves it and comes back when released.

//!
//! Layout: [`spec`] (the operations table), `wire` (auth, parameters, errors, paging),
//! and one module per resource: `numbers`, `credentials`, `trunks`.

mod cps;
mod credentials;
mod numbers;
mod refer;
pub mod spec;
mod trunks;
mod wire;

pub use cps::{CarrierRefusal, TrunkCpsError, CPS_REFUSAL_REASON, DEFAULT_TRUNK_CPS};
pub use numbers::inventory_kinds;
pub use refer::REFER_REFUSED;
pub use spec::{Kind, Operation, Param, OPERATIONS};

use crate::{
    faults::{Fault, Faults, Recorded},
    now,
    store::{StateError, StateFile},
};
use axum::{
    middleware::{from_fn_with_state, map_request},
    routing::{on, MethodFilter, MethodRouter},
    Router,
};
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
};
use tower::Layer;

// ---------------------------------------------------------------------------------------
// State

#[derive(Debug, Clone)]
pub(crate) struct Available {
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Number {
    sid: String,
    /// Saved as its phone number: the inventory holds the rest.
    #[serde(with = "by_phone_number")]
    available: Available,
    friendly_name: String,
    trunk_sid: Option<String>,
    voice_url: Option<String>,
    voice_application_sid: Option<String>,
    voice_method: String,
    status_callback: Option<String>,
    status_callback_method: String,
    created: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OriginationUrl {
    sid: String,
    sip_url: String,
    priority: i64,
    weight: i64,
    enabled: bool,
    friendly_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Trunk {
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
    /// Calls a second the trunk's termination accepts (see `cps.rs`); a state file
    /// written before the limit existed gets the default.
    #[serde(default = "cps::default_trunk_cps")]
    cps: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CredentialList {
    sid: String,
    friendly_name: String,
    credentials: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Account {
    sid: String,
    auth_token: String,
    friendly_name: String,
    numbers: Vec<Number>,
    trunks: Vec<Trunk>,
    credential_lists: Vec<CredentialList>,
}

/// Phone numbers owned by some account (number → account SID): not available to buy.
pub(crate) type Owned = HashMap<String, String>;

#[derive(Default)]
pub(crate) struct World {
    accounts: HashMap<String, Account>,
    owned: Owned,
    /// Each trunk's calls admitted in the last second, and its refusals (`cps.rs`): the
    /// carrier's running state, not saved.
    calls_per_second: cps::Admissions,
}

/// What a state file holds: the accounts, in SID order (which account owns a number
/// follows from them).
#[derive(Serialize, Deserialize)]
struct Saved {
    accounts: Vec<Account>,
}

impl World {
    fn saved(&self) -> Saved {
        let mut accounts: Vec<Account> = self.accounts.values().cloned().collect();
        accounts.sort_by(|a, b| a.sid.cmp(&b.sid));
        Saved { accounts }
    }

    fn restore(saved: Saved) -> World {
        let mut world = World::default();
        for account in saved.accounts {
            for number in &account.numbers {
                world
                    .owned
                    .insert(number.available.phone_number.clone(), account.sid.clone());
            }
            world.accounts.insert(account.sid.clone(), account);
        }
        world
    }
}

/// A number's inventory entry, saved as its phone number.
mod by_phone_number {
    use super::{numbers, Available};
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(available: &Available, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&available.phone_number)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Available, D::Error> {
        let phone_number = String::deserialize(d)?;
        numbers::inventory()
            .into_iter()
            .find(|a| a.phone_number == phone_number)
            .ok_or_else(|| D::Error::custom(format!("{phone_number} is not in the inventory")))
    }
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
    pub voice_url: Option<String>,
    /// The TwiML application that answers the number's calls (not while on a trunk).
    pub voice_application_sid: Option<String>,
}

/// A trunk as tests and the sandbox see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeTrunk {
    pub sid: String,
    pub domain_name: Option<String>,
    /// `disable-all`, `enable-all` or `sip-only`.
    pub transfer_mode: String,
    pub origination_urls: Vec<String>,
    pub number_sids: Vec<String>,
    pub credential_lists: Vec<String>,
    /// Calls a second its termination accepts.
    pub cps: u32,
}

#[derive(Clone, Default)]
pub struct FakeTwilio {
    world: Arc<Mutex<World>>,
    /// Where the world is saved after every change (sandbox mode), if anywhere.
    store: Option<Arc<StateFile>>,
    pub faults: Faults,
}

pub(crate) fn new_sid(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

pub(crate) fn rfc2822(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0)
        .map(|t| t.format("%a, %d %b %Y %H:%M:%S +0000").to_string())
        .unwrap_or_default()
}

impl FakeTwilio {
    pub fn new() -> Self {
        Self::default()
    }

    /// A fake that keeps its accounts in the JSON file at `path`: read now if it exists,
    /// written after every change.
    pub fn with_state_file(path: &Path) -> Result<Self, StateError> {
        let (file, saved) = StateFile::open::<Saved>(path)?;
        Ok(FakeTwilio {
            world: Arc::new(Mutex::new(saved.map(World::restore).unwrap_or_default())),
            store: Some(Arc::new(file)),
            faults: Faults::default(),
        })
    }

    /// Writes the world to the state file, if the fake has one and something changed.
    fn save(&self) {
        let Some(store) = &self.store else {
            return;
        };
        // The world is read inside `save`, so the last write is the newest world.
        store.save(|| self.world.lock().ok().map(|w| w.saved()));
    }

    /// Opens an account; one the fake already has (restored from its state file) keeps
    /// its numbers, trunks and credential lists.
    pub fn add_account(&self, sid: &str, auth_token: &str, friendly_name: &str) {
        if let Ok(mut w) = self.world.lock() {
            let account = w
                .accounts
                .entry(sid.to_string())
                .or_insert_with(|| Account {
                    sid: sid.to_string(),
                    auth_token: String::new(),
                    friendly_name: String::new(),
                    numbers: Vec::new(),
                    trunks: Vec::new(),
                    credential_lists: Vec::new(),
                });
            account.auth_token = auth_token.to_string();
            account.friendly_name = friendly_name.to_string();
        }
        self.save();
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
                        voice_url: n.voice_url.clone(),
                        voice_application_sid: n.voice_application_sid.clone(),
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
                transfer_mode: t.transfer_mode.clone(),
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
                cps: t.cps,
            })
            .collect()
    }

    /// Gives a number a TwiML application (as someone would in the Twilio console).
    pub fn set_voice_application(&self, account: &str, phone_number: &str, sid: &str) {
        if let Ok(mut w) = self.world.lock() {
            if let Some(n) = w.accounts.get_mut(account).and_then(|a| {
                a.numbers
                    .iter_mut()
                    .find(|n| n.available.phone_number == phone_number)
            }) {
                n.voice_application_sid = Some(sid.to_string());
            }
        }
        self.save();
    }

    /// Points a number's calls at a webhook, as a number bought for TwiML has them.
    pub fn set_voice_url(&self, account: &str, phone_number: &str, url: &str) {
        if let Ok(mut w) = self.world.lock() {
            if let Some(n) = w.accounts.get_mut(account).and_then(|a| {
                a.numbers
                    .iter_mut()
                    .find(|n| n.available.phone_number == phone_number)
            }) {
                n.voice_url = Some(url.to_string());
            }
        }
        self.save();
    }

    /// Puts a number straight on an account (numbers bought outside Dial, for import tests).
    pub fn give_number(&self, account: &str, phone_number: &str) -> Option<String> {
        let sid = self.put_number(account, phone_number)?;
        self.save();
        Some(sid)
    }

    fn put_number(&self, account: &str, phone_number: &str) -> Option<String> {
        let mut w = self.world.lock().ok()?;
        if w.owned.contains_key(phone_number) {
            return None;
        }
        let available = numbers::inventory()
            .into_iter()
            .find(|a| a.phone_number == phone_number)?;
        let sid = new_sid("PN");
        let number = Number {
            sid: sid.clone(),
            friendly_name: available.friendly_name.clone(),
            available,
            trunk_sid: None,
            voice_url: None,
            voice_application_sid: None,
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

    /// The fake's routes: one per path of [`OPERATIONS`], each method its operation;
    /// credentials are checked before routing answers anything.
    pub fn router(&self) -> Router {
        let mut paths: BTreeMap<String, MethodRouter<FakeTwilio>> = BTreeMap::new();
        for op in OPERATIONS {
            let filter = match op.method {
                "POST" => MethodFilter::POST,
                "DELETE" => MethodFilter::DELETE,
                _ => MethodFilter::GET,
            };
            let handler = on(
                filter,
                move |axum::extract::State(fake): axum::extract::State<FakeTwilio>,
                      request: axum::extract::Request| {
                    wire::operation(op, fake, request)
                },
            );
            let route = wire::route_of(op.path);
            let merged = match paths.remove(&route) {
                Some(existing) => existing.merge(handler),
                None => handler,
            };
            paths.insert(route, merged);
        }
        let routed = paths
            .into_iter()
            .fold(Router::new(), |router, (path, methods)| {
                router.route(&path, methods.fallback(wire::method_not_allowed))
            })
            .fallback(wire::unknown_path)
            .layer(from_fn_with_state(self.clone(), wire::authenticate))
            .layer(from_fn_with_state(self.clone(), save_after_change))
            .with_state(self.clone());
        Router::new().fallback_service(map_request(strip_json).layer(routed))
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

/// After a request that may have changed the world, writes it to the state file.
async fn save_after_change(
    axum::extract::State(fake): axum::extract::State<FakeTwilio>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let changes = request.method() != axum::http::Method::GET;
    let response = next.run(request).await;
    if changes {
        fake.save();
    }
    response
}

/// `map_request` wants an async function.
async fn strip_json(request: axum::extract::Request) -> axum::extract::Request {
    wire::strip_json(request)
}
