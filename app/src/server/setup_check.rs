//! The setup checklist (`/dashboard/setup`, `dial doctor`): everything that must be true
//! for calls to work, checked live against the database, Twilio and LiveKit, each item
//! green, amber or red with what is wrong and where to fix it. Read-only; results are
//! reused for [`CACHE_FOR`] unless the user asks to check again.
//!
//! Also keeps when Dial last heard from each provider's webhooks ([`heard`]): the webhook
//! handlers note it in memory and write it to `provider_contacts` at most every
//! [`WRITE_EVERY`] seconds, off the request's path.

use crate::{
    error::AppError,
    model::{Checklist, Light, RouteCheck, SetupItem},
    server::{assignment, livekit, state::AppState, twilio},
};
use std::sync::{
    atomic::{AtomicI64, Ordering},
    Arc, Mutex,
};

/// How long a checklist is reused before its checks run again.
pub const CACHE_FOR: i64 = 30;
/// A provider's last webhook is written at most this often (seconds) per process.
const WRITE_EVERY: i64 = 10;

/// Which provider's webhook arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    LiveKit,
    Twilio,
}

impl Provider {
    fn as_str(self) -> &'static str {
        match self {
            Provider::LiveKit => "livekit",
            Provider::Twilio => "twilio",
        }
    }
}

/// This process's memory of the checklist and of the providers' last webhooks.
#[derive(Clone, Default)]
struct Memory {
    cached: Arc<Mutex<Option<Checklist>>>,
    /// Last written to the database, per provider (Unix seconds).
    written: Arc<[AtomicI64; 2]>,
}

fn memory(state: &AppState) -> Memory {
    state.handle(Memory::default)
}

/// A verified webhook from `provider` arrived now. Cheap: one atomic read on the hot
/// path; the database is written in the background at most every [`WRITE_EVERY`] s.
pub fn heard(state: &AppState, provider: Provider) {
    let t = state.clock.now();
    let mem = memory(state);
    let slot = &mem.written[provider as usize];
    let last = slot.load(Ordering::Relaxed);
    if t - last < WRITE_EVERY
        || slot
            .compare_exchange(last, t, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        let written = async {
            let mut tx = state.db.begin_write().await?;
            sqlx::query(
                "INSERT INTO provider_contacts (source, last_at) VALUES ($1, $2) \
                 ON CONFLICT (source) DO UPDATE SET last_at = excluded.last_at",
            )
            .bind(provider.as_str())
            .bind(t)
            .execute(&mut *tx.tx)
            .await?;
            tx.commit().await?;
            Ok::<(), AppError>(())
        }
        .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "could not note the last webhook's time");
        }
    });
}

/// When Dial (any instance) last heard from `provider`'s webhooks.
pub async fn last_heard(state: &AppState, provider: Provider) -> Result<Option<i64>, AppError> {
    let stored: Option<i64> =
        sqlx::query_scalar("SELECT last_at FROM provider_contacts WHERE source = $1")
            .bind(provider.as_str())
            .fetch_optional(&state.db.pool)
            .await?;
    let here = memory(state).written[provider as usize].load(Ordering::Relaxed);
    Ok(match (stored, here) {
        (s, 0) => s,
        (Some(s), h) => Some(s.max(h)),
        (None, h) => Some(h),
    })
}

/// The checklist: the cached one when younger than [`CACHE_FOR`] and `fresh` is false.
pub async fn checklist(state: &AppState, fresh: bool) -> Result<Checklist, AppError> {
    let mem = memory(state);
    let now = state.clock.now();
    if !fresh {
        let cached = mem.cached.lock().ok().and_then(|c| c.clone());
        if let Some(c) = cached.filter(|c| now - c.checked_at < CACHE_FOR) {
            return Ok(c);
        }
    }
    let list = run(state).await?;
    if let Ok(mut c) = mem.cached.lock() {
        *c = Some(list.clone());
    }
    Ok(list)
}

struct Items(Vec<SetupItem>);

impl Items {
    fn push(
        &mut self,
        group: &str,
        key: &str,
        title: &str,
        light: Light,
        detail: String,
    ) -> &mut SetupItem {
        self.0.push(SetupItem {
            key: key.to_string(),
            group: group.to_string(),
            title: title.to_string(),
            light,
            detail,
            fix_href: None,
            fix_label: None,
        });
        let last = self.0.len() - 1;
        &mut self.0[last]
    }
}

trait Fix {
    /// Where to fix the item (shown unless it is green).
    fn fix(&mut self, href: &str, label: &str);
}

impl Fix for SetupItem {
    fn fix(&mut self, href: &str, label: &str) {
        self.fix_href = Some(href.to_string());
        self.fix_label = Some(label.to_string());
    }
}

const TWILIO_PAGE: &str = "/dashboard/settings/admin/telephony/twilio";
const LIVEKIT_PAGE: &str = "/dashboard/settings/admin/telephony/livekit";

async fn count(state: &AppState, sql: &str) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&state.db.pool)
        .await?)
}

/// "3 minutes ago" for a past moment.
fn ago(now: i64, at: i64) -> String {
    let s = (now - at).max(0);
    match s {
        0..=59 => "less than a minute ago".to_string(),
        60..=3599 => plural(s / 60, "minute"),
        3600..=86_399 => plural(s / 3600, "hour"),
        _ => plural(s / 86_400, "day"),
    }
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit} ago")
    } else {
        format!("{n} {unit}s ago")
    }
}

async fn run(state: &AppState) -> Result<Checklist, AppError> {
    let now = state.clock.now();
    let mut items = Items(Vec::new());
    let settings = twilio::settings::load(state).await?;
    let twilio_numbers = count(
        state,
        "SELECT COUNT(*) FROM phone_numbers WHERE released_at IS NULL AND carrier_id IS NULL",
    )
    .await?;
    let carrier_numbers = count(
        state,
        "SELECT COUNT(*) FROM phone_numbers WHERE released_at IS NULL AND carrier_id IS NOT NULL",
    )
    .await?;
    let public_url = settings.public_url.as_ref().map(|(u, _)| u.clone());

    // -- Twilio ---------------------------------------------------------------------------
    let twilio_saved = settings.account_sid.is_some() && settings.auth_token.is_some();
    let twilio_unused = !twilio_saved && twilio_numbers == 0 && carrier_numbers > 0;
    if twilio_unused {
        items.push(
            "Twilio",
            "twilio.credentials",
            "Twilio account",
            Light::Green,
            "Not used: every number comes from a SIP carrier.".to_string(),
        );
    } else {
        let mut credentials_ok = false;
        let item = if !twilio_saved {
            items.push(
                "Twilio",
                "twilio.credentials",
                "Twilio account",
                Light::Red,
                "No Account SID and Auth Token are saved.".to_string(),
            )
        } else {
            match twilio::settings::client(state).await {
                Err(e) => items.push(
                    "Twilio",
                    "twilio.credentials",
                    "Twilio account",
                    Light::Red,
                    e.to_string(),
                ),
                Ok(client) => match client.fetch_account().await {
                    Ok(account) => {
                        credentials_ok = true;
                        items.push(
                            "Twilio",
                            "twilio.credentials",
                            "Twilio account",
                            Light::Green,
                            format!(
                                "Connected to “{}” ({}).",
                                account.friendly_name, account.status
                            ),
                        )
                    }
                    Err(e) => items.push(
                        "Twilio",
                        "twilio.credentials",
                        "Twilio account",
                        Light::Red,
                        twilio::settings::describe(&e, client.account_sid(), client.api_base())
                            .to_string(),
                    ),
                },
            }
        };
        item.fix(TWILIO_PAGE, "Twilio settings");

        let complete = settings.sip_address.is_some()
            && settings.sip_username.is_some()
            && settings.sip_password.is_some();
        let (light, detail) = match (settings.auto_trunk, complete) {
            (true, _) => (
                Light::Green,
                "“Create the Elastic SIP trunk for me” is on: Dial makes the trunk and its credential.".to_string(),
            ),
            (false, true) => (
                Light::Green,
                format!(
                    "Termination address {} and its SIP credential are set.",
                    settings.sip_address.as_ref().map(|(a, _)| a.as_str()).unwrap_or("")
                ),
            ),
            (false, false) => (
                Light::Red,
                "Enter the trunk's termination address (…pstn.twilio.com), SIP user name and password, or turn on “Create the Elastic SIP trunk for me”.".to_string(),
            ),
        };
        items
            .push(
                "Twilio",
                "twilio.trunk_settings",
                "SIP trunk settings",
                light,
                detail,
            )
            .fix(TWILIO_PAGE, "Twilio settings");

        let trunk = if credentials_ok {
            assignment::twilio_trunk_check(state).await
        } else {
            assignment::TrunkCheck {
                light: Light::Red,
                detail: "Not checked: Twilio's credentials must work first.".to_string(),
            }
        };
        items
            .push(
                "Twilio",
                "twilio.trunk",
                "Elastic SIP trunk",
                trunk.light,
                trunk.detail,
            )
            .fix(TWILIO_PAGE, "Twilio settings");
    }

    // -- LiveKit --------------------------------------------------------------------------
    let lk = &state.config.livekit;
    let mut missing = Vec::new();
    let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
    if !set(&lk.url) {
        missing.push("DIAL_LIVEKIT_URL");
    }
    if !set(&lk.api_key) {
        missing.push("DIAL_LIVEKIT_API_KEY");
    }
    if lk.api_secret.is_none() {
        missing.push("DIAL_LIVEKIT_API_SECRET");
    }
    if !set(&lk.sip_uri) {
        missing.push("DIAL_LIVEKIT_SIP_URI");
    }
    let (light, detail) = if missing.is_empty() {
        (
            Light::Green,
            format!(
                "URL {}, key {}, secret and SIP URI {} are set.",
                lk.url.as_deref().unwrap_or(""),
                lk.api_key.as_deref().unwrap_or(""),
                lk.sip_uri.as_deref().unwrap_or("")
            ),
        )
    } else {
        (
            Light::Red,
            format!("Set {} and restart Dial.", missing.join(", ")),
        )
    };
    items
        .push(
            "LiveKit",
            "livekit.config",
            "LiveKit settings",
            light,
            detail,
        )
        .fix(LIVEKIT_PAGE, "LiveKit settings");
    let (light, detail) = match livekit::settings::client(state) {
        Err(e) => (Light::Red, e.to_string()),
        Ok(client) => match client.list_inbound_trunks().await {
            Ok(list) => (
                Light::Green,
                format!(
                    "LiveKit's API answers with these credentials ({} inbound trunk{}).",
                    list.len(),
                    if list.len() == 1 { "" } else { "s" }
                ),
            ),
            Err(e) => (
                Light::Red,
                format!("LiveKit's API refused or failed: {}", AppError::from(e)),
            ),
        },
    };
    items
        .push("LiveKit", "livekit.api", "LiveKit API", light, detail)
        .fix(LIVEKIT_PAGE, "LiveKit settings");

    // -- This server ------------------------------------------------------------------------
    let (light, detail) = if state.config.encryption_key.is_some() {
        (
            Light::Green,
            "DIAL_ENCRYPTION_KEY is set in the environment.".to_string(),
        )
    } else {
        (
            Light::Amber,
            format!(
                "The key that encrypts stored secrets was generated into {}: set DIAL_ENCRYPTION_KEY (and keep it safe) so that losing the data directory does not lose it.",
                state.config.data_dir.join("encryption.key").display()
            ),
        )
    };
    items.push(
        "This server",
        "server.encryption_key",
        "Encryption key",
        light,
        detail,
    );
    let (light, detail) = match &public_url {
        Some(u) if u.starts_with("https://") => (Light::Green, u.clone()),
        Some(u) => (
            Light::Amber,
            format!("{u} is not https: Twilio's and LiveKit's webhooks should reach Dial over https in production."),
        ),
        None => (
            if twilio_numbers > 0 { Light::Red } else { Light::Amber },
            "No public URL: Twilio and LiveKit need the address at which they reach Dial (DIAL_PUBLIC_URL, or the Twilio page).".to_string(),
        ),
    };
    items
        .push(
            "This server",
            "server.public_url",
            "Public URL",
            light,
            detail,
        )
        .fix(TWILIO_PAGE, "Set the public URL");

    // -- Webhooks -------------------------------------------------------------------------
    let base = public_url
        .clone()
        .unwrap_or_else(|| "https://<your Dial>".to_string());
    let (light, detail) = match last_heard(state, Provider::LiveKit).await? {
        Some(at) => (Light::Green, format!("Last received {}.", ago(now, at))),
        None => (
            Light::Amber,
            format!("Never received. In the LiveKit project's settings, add the webhook URL {base}/webhooks/livekit (signed with this API key)."),
        ),
    };
    items
        .push(
            "Webhooks",
            "webhooks.livekit",
            "LiveKit webhooks",
            light,
            detail,
        )
        .fix(LIVEKIT_PAGE, "LiveKit settings");
    if !twilio_unused {
        let (light, detail) = match last_heard(state, Provider::Twilio).await? {
            Some(at) => (Light::Green, format!("Last received {}.", ago(now, at))),
            None => (
                Light::Amber,
                format!("Never received. Dial points each number's status callback at {base}/webhooks/twilio/status when it imports the number; a call to a number sends the first."),
            ),
        };
        items
            .push(
                "Webhooks",
                "webhooks.twilio",
                "Twilio callbacks",
                light,
                detail,
            )
            .fix(TWILIO_PAGE, "Twilio settings");
    }

    // -- Numbers, assistants, calls --------------------------------------------------------
    let numbers = twilio_numbers + carrier_numbers;
    let assistants = count(state, "SELECT COUNT(*) FROM assistants").await?;
    let assigned: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT id, e164, last_route_check FROM phone_numbers \
         WHERE released_at IS NULL AND assignment_status = 'active' ORDER BY e164",
    )
    .fetch_all(&state.db.pool)
    .await?;
    let (light, detail) = if numbers > 0 {
        (
            Light::Green,
            format!("{numbers} number{}.", if numbers == 1 { "" } else { "s" }),
        )
    } else {
        (
            Light::Red,
            "No phone number yet: buy or import one.".to_string(),
        )
    };
    items
        .push("Calls", "calls.numbers", "A phone number", light, detail)
        .fix("/dashboard/phone-numbers/buy", "Buy a number");
    let (light, detail) = if assistants > 0 {
        (
            Light::Green,
            format!(
                "{assistants} assistant{}.",
                if assistants == 1 { "" } else { "s" }
            ),
        )
    } else {
        (
            Light::Red,
            "No assistant yet: create one with its agent's name.".to_string(),
        )
    };
    items
        .push("Calls", "calls.assistants", "An assistant", light, detail)
        .fix("/dashboard/assistants", "Create an assistant");
    let (light, detail) = if assigned.is_empty() {
        (
            Light::Red,
            "No number is assigned to an assistant, so no call reaches an agent.".to_string(),
        )
    } else {
        (
            Light::Green,
            format!(
                "{} number{} assigned.",
                assigned.len(),
                if assigned.len() == 1 { "" } else { "s" }
            ),
        )
    };
    items
        .push(
            "Calls",
            "calls.assignment",
            "A number assigned",
            light,
            detail,
        )
        .fix("/dashboard/phone-numbers", "Assign a number");
    let mut failed = Vec::new();
    let mut untested = Vec::new();
    // The page of the first number to look at: one whose test failed, else an untested one.
    let mut first: Option<(String, String)> = None;
    for (id, e164, check) in &assigned {
        let shown = crate::phone::format_e164(e164);
        match check
            .as_deref()
            .and_then(|c| serde_json::from_str::<RouteCheck>(c).ok())
        {
            Some(c) if c.ok => {}
            Some(_) => {
                if failed.is_empty() {
                    first = Some((id.clone(), shown.clone()));
                }
                failed.push(shown);
            }
            None => {
                if failed.is_empty() && first.is_none() {
                    first = Some((id.clone(), shown.clone()));
                }
                untested.push(shown);
            }
        }
    }
    let (light, detail) = if assigned.is_empty() {
        (Light::Amber, "No assigned number to test yet.".to_string())
    } else if !failed.is_empty() {
        (
            Light::Red,
            format!(
                "The last “Test inbound route” failed for {}.",
                failed.join(", ")
            ),
        )
    } else if !untested.is_empty() {
        (
            Light::Amber,
            format!(
                "Not tested since assigned: {}. Use “Test inbound route” on the number's page.",
                untested.join(", ")
            ),
        )
    } else {
        (
            Light::Green,
            "The last “Test inbound route” passed for every assigned number.".to_string(),
        )
    };
    let item = items.push(
        "Calls",
        "calls.route_tests",
        "Inbound routes tested",
        light,
        detail,
    );
    match &first {
        Some((id, shown)) => item.fix(
            &format!("/dashboard/phone-numbers/{id}"),
            &format!("Open {shown}"),
        ),
        None => item.fix("/dashboard/phone-numbers", "Numbers"),
    }
    let outbound = count(
        state,
        "SELECT COUNT(*) FROM (SELECT 1 FROM call_sessions WHERE direction = 'outbound' LIMIT 1) AS one",
    )
    .await?;
    let (light, detail) = if outbound > 0 {
        (
            Light::Green,
            "An outbound call has been placed.".to_string(),
        )
    } else {
        (
            Light::Amber,
            "No outbound call yet: place a test call from a number's page.".to_string(),
        )
    };
    items
        .push(
            "Calls",
            "calls.outbound_test",
            "A test call out",
            light,
            detail,
        )
        .fix("/dashboard/phone-numbers", "Numbers");

    Ok(Checklist {
        items: items.0,
        checked_at: now,
    })
}
