//! Twilio settings: stored in `twilio_config` (secrets encrypted), each value
//! overridable by a `DIAL_TWILIO_*` / `DIAL_PUBLIC_URL` environment variable, in which case
//! the page shows it as read-only. Secrets never leave the server: the view carries only
//! whether a secret is set and its last two characters.

use crate::server::{
    audit::{self, Actor},
    crypto::Binding,
    now,
    state::AppState,
    twilio::{AccountSid, TwilioClient, TwilioError},
    validate,
};
use crate::{
    error::{AppError, FieldError},
    model::{ConnectionTest, PlainSetting, SecretSetting, Source, TwilioSettingsView},
};
use secrecy::{ExposeSecret, SecretString};

const ROW: &str = "default";

fn binding(column: &'static str) -> Binding<'static> {
    Binding {
        table: "twilio_config",
        column,
        row: ROW,
    }
}

/// The values in force, with where each comes from.
pub struct TwilioSettings {
    pub account_sid: Option<(AccountSid, Source)>,
    pub auth_token: Option<(SecretString, Source)>,
    pub sip_address: Option<(String, Source)>,
    pub sip_username: Option<(String, Source)>,
    pub sip_password: Option<(SecretString, Source)>,
    pub public_url: Option<(String, Source)>,
    /// The Elastic SIP trunk Dial found or created (`TK…`).
    pub trunk_sid: Option<String>,
    /// The administrator lets Dial create the Elastic SIP trunk when none is found.
    pub auto_trunk: bool,
}

type StoredRow = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    i64,
    Option<String>,
    Option<String>,
    i64,
);

async fn stored(state: &AppState) -> Result<Option<StoredRow>, AppError> {
    Ok(sqlx::query_as(
        "SELECT account_sid, auth_token, sip_address, sip_username, sip_password, public_url, \
         last_test_ok, last_test_message, last_test_at, updated_at, updated_by, trunk_sid, auto_trunk \
         FROM twilio_config WHERE id = $1",
    )
    .bind(ROW)
    .fetch_optional(&state.db.pool)
    .await?)
}

fn pick(env: Option<&String>, db: Option<String>) -> Option<(String, Source)> {
    match (env, db) {
        (Some(v), _) if !v.is_empty() => Some((v.clone(), Source::Environment)),
        (_, Some(v)) if !v.is_empty() => Some((v, Source::Database)),
        _ => None,
    }
}

fn decrypt(
    state: &AppState,
    column: &'static str,
    stored: Option<String>,
) -> Result<Option<SecretString>, AppError> {
    match stored {
        None => Ok(None),
        Some(text) => state
            .keyring
            .decrypt(&text, binding(column))
            .map(Some)
            .map_err(|e| {
                tracing::error!(column, error = %e, "could not decrypt a stored Twilio secret");
                AppError::Internal
            }),
    }
}

fn pick_secret(
    env: Option<&SecretString>,
    db: Option<SecretString>,
) -> Option<(SecretString, Source)> {
    match (env, db) {
        (Some(v), _) if !v.expose_secret().is_empty() => Some((v.clone(), Source::Environment)),
        (_, Some(v)) => Some((v, Source::Database)),
        _ => None,
    }
}

/// Re-reads the effective public URL (environment, else the Twilio page): when it is https,
/// requests that reach Dial by its host get `Secure` (`__Host-`) cookies and HSTS.
pub async fn refresh_https(state: &AppState) -> Result<Option<String>, AppError> {
    let host = load(state)
        .await?
        .public_url
        .and_then(|(url, _)| crate::server::config::https_host(&url));
    if let Ok(mut current) = state.https_host.write() {
        current.clone_from(&host);
    }
    Ok(host)
}

pub async fn load(state: &AppState) -> Result<TwilioSettings, AppError> {
    let row = stored(state).await?;
    let env = &state.config.twilio;
    let (sid, token, address, username, password, url, trunk_sid, auto_trunk) = match row {
        Some((a, b, c, d, e, f, _, _, _, _, _, trunk, auto)) => {
            (a, b, c, d, e, f, trunk, auto != 0)
        }
        None => (None, None, None, None, None, None, None, false),
    };
    Ok(TwilioSettings {
        // Checked when saved (and at start-up for the environment); a value that does not
        // parse is not an account Dial can use, so it counts as unset.
        account_sid: pick(env.account_sid.as_ref(), sid).and_then(|(text, source)| {
            let parsed = AccountSid::parse(&text);
            if parsed.is_none() {
                tracing::warn!(
                    ?source,
                    "the Twilio Account SID is not AC and 32 hexadecimal digits"
                );
            }
            parsed.map(|sid| (sid, source))
        }),
        auth_token: pick_secret(
            env.auth_token.as_ref(),
            decrypt(state, "auth_token", token)?,
        ),
        sip_address: pick(env.sip_address.as_ref(), address),
        sip_username: pick(env.sip_username.as_ref(), username),
        sip_password: pick_secret(
            env.sip_password.as_ref(),
            decrypt(state, "sip_password", password)?,
        ),
        public_url: pick(state.config.public_url.as_ref(), url),
        trunk_sid,
        auto_trunk,
    })
}

fn plain(v: &Option<(String, Source)>) -> PlainSetting {
    match v {
        Some((value, source)) => PlainSetting {
            value: value.clone(),
            source: *source,
        },
        None => PlainSetting {
            value: String::new(),
            source: Source::Unset,
        },
    }
}

/// "set · ends in ••34": only the last two characters, and only of secrets long enough
/// that two characters reveal little.
fn masked(v: &Option<(SecretString, Source)>) -> SecretSetting {
    match v {
        Some((secret, source)) => {
            let chars: Vec<char> = secret.expose_secret().chars().collect();
            let ends_with = (chars.len() >= 8).then(|| chars[chars.len() - 2..].iter().collect());
            SecretSetting {
                ends_with,
                source: *source,
            }
        }
        None => SecretSetting {
            ends_with: None,
            source: Source::Unset,
        },
    }
}

pub async fn view(state: &AppState) -> Result<TwilioSettingsView, AppError> {
    let settings = load(state).await?;
    let row = stored(state).await?;
    let (last_test, updated_at, updated_by) = match row {
        Some((_, _, _, _, _, _, ok, message, at, updated_at, updated_by, ..)) => (
            match (ok, message, at) {
                (Some(ok), Some(message), Some(at)) => Some(ConnectionTest {
                    ok: ok != 0,
                    message,
                    at,
                }),
                _ => None,
            },
            Some(updated_at),
            updated_by,
        ),
        None => (None, None, None),
    };
    Ok(TwilioSettingsView {
        account_sid: plain(
            &settings
                .account_sid
                .as_ref()
                .map(|(sid, source)| (sid.to_string(), *source)),
        ),
        auth_token: masked(&settings.auth_token),
        sip_address: plain(&settings.sip_address),
        sip_username: plain(&settings.sip_username),
        sip_password: masked(&settings.sip_password),
        public_url: plain(&settings.public_url),
        api_base: state.config.twilio_api_base.clone(),
        trunk_sid: settings.trunk_sid.clone(),
        auto_trunk: settings.auto_trunk,
        last_test,
        updated_at,
        updated_by,
        changed: None,
        outbound_cps: outbound_cps(state).await?,
    })
}

/// What the form sends. Empty secret fields keep the stored secret; empty plain fields
/// clear the stored value. Fields set in the environment are ignored.
#[derive(Default)]
pub struct TwilioSettingsInput {
    pub account_sid: String,
    pub auth_token: SecretString,
    pub sip_address: String,
    pub sip_username: String,
    pub sip_password: SecretString,
    pub public_url: String,
    pub auto_trunk: bool,
}

pub async fn save(
    state: &AppState,
    actor: &Actor,
    input: TwilioSettingsInput,
) -> Result<TwilioSettingsView, AppError> {
    let env = &state.config.twilio;
    let mut errors: Vec<FieldError> = Vec::new();
    let mut changed: Vec<&str> = Vec::new();

    fn check(
        errors: &mut Vec<FieldError>,
        overridden: bool,
        value: &str,
        parse: impl Fn(&str, &str) -> Result<String, FieldError>,
        field: &str,
    ) -> Option<String> {
        if overridden || value.trim().is_empty() {
            return None;
        }
        parse(field, value).map_err(|e| errors.push(e)).ok()
    }

    let sid = check(
        &mut errors,
        env.account_sid.is_some(),
        &input.account_sid,
        |field, text| validate::account_sid(field, text).map(|sid| sid.to_string()),
        "account_sid",
    );
    let token = check(
        &mut errors,
        env.auth_token.is_some(),
        input.auth_token.expose_secret(),
        validate::auth_token,
        "auth_token",
    );
    let address = check(
        &mut errors,
        env.sip_address.is_some(),
        &input.sip_address,
        |field, text| validate::sip_host(field, text).map(|host| host.to_string()),
        "sip_address",
    );
    let username = check(
        &mut errors,
        env.sip_username.is_some(),
        &input.sip_username,
        validate::sip_username,
        "sip_username",
    );
    let password = check(
        &mut errors,
        env.sip_password.is_some(),
        input.sip_password.expose_secret(),
        validate::sip_password,
        "sip_password",
    );
    let url = check(
        &mut errors,
        state.config.public_url.is_some(),
        &input.public_url,
        validate::public_url,
        "public_url",
    );
    if !errors.is_empty() {
        return Err(AppError::Invalid { errors });
    }

    let previous = stored(state).await?;
    let (p_sid, p_token, p_address, p_username, p_password, p_url, p_auto) = match previous {
        Some((a, b, c, d, e, f, .., auto)) => (a, b, c, d, e, f, auto != 0),
        None => (None, None, None, None, None, None, false),
    };
    if p_auto != input.auto_trunk {
        changed.push(if input.auto_trunk {
            "create the SIP trunk: on"
        } else {
            "create the SIP trunk: off"
        });
    }
    // Plain fields: the submitted value (None clears), unless the environment owns them.
    let keep_or = |overridden: bool,
                   new: Option<String>,
                   old: Option<String>,
                   name: &'static str,
                   changed: &mut Vec<&str>| {
        if overridden {
            return old;
        }
        if new != old {
            changed.push(name);
        }
        new
    };
    let new_sid = keep_or(
        env.account_sid.is_some(),
        sid,
        p_sid,
        "account SID",
        &mut changed,
    );
    let new_address = keep_or(
        env.sip_address.is_some(),
        address,
        p_address,
        "SIP trunk address",
        &mut changed,
    );
    let new_username = keep_or(
        env.sip_username.is_some(),
        username,
        p_username,
        "SIP username",
        &mut changed,
    );
    let new_url = keep_or(
        state.config.public_url.is_some(),
        url,
        p_url,
        "webhook base URL",
        &mut changed,
    );
    // Secrets: a new value replaces; nothing submitted (or the stored value typed again)
    // keeps the stored one.
    let same_secret = |column: &'static str, typed: &str, stored: &Option<String>| {
        decrypt(state, column, stored.clone())
            .map(|old| old.is_some_and(|old| old.expose_secret() == typed))
    };
    let new_token = match token {
        Some(t) if !same_secret("auth_token", &t, &p_token)? => {
            changed.push("auth token");
            Some(state.keyring.encrypt(&t, binding("auth_token")))
        }
        _ => p_token,
    };
    let new_password = match password {
        Some(p) if !same_secret("sip_password", &p, &p_password)? => {
            changed.push("SIP password");
            Some(state.keyring.encrypt(&p, binding("sip_password")))
        }
        _ => p_password,
    };
    if changed.is_empty() {
        // Nothing to write, and nothing for the audit log: the page says so.
        let mut unchanged = view(state).await?;
        unchanged.changed = Some(Vec::new());
        return Ok(unchanged);
    }

    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "INSERT INTO twilio_config (id, account_sid, auth_token, sip_address, sip_username, sip_password, \
         public_url, updated_at, updated_by, auto_trunk) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (id) DO UPDATE SET account_sid = excluded.account_sid, auth_token = excluded.auth_token, \
         sip_address = excluded.sip_address, sip_username = excluded.sip_username, \
         sip_password = excluded.sip_password, public_url = excluded.public_url, \
         updated_at = excluded.updated_at, updated_by = excluded.updated_by, auto_trunk = excluded.auto_trunk",
    )
    .bind(ROW)
    .bind(new_sid)
    .bind(new_token)
    .bind(new_address)
    .bind(new_username)
    .bind(new_password)
    .bind(new_url)
    .bind(now())
    .bind(actor.username.clone())
    .bind(i64::from(input.auto_trunk))
    .execute(&mut *tx)
    .await?;

    let detail = format!("changed: {}", changed.join(", "));
    audit::record_on(
        &mut *tx,
        actor,
        "twilio.settings_saved",
        None,
        Some(&detail),
    )
    .await?;
    tx.commit().await?;
    let mut saved = view(state).await?;
    saved.changed = Some(changed.into_iter().map(str::to_string).collect());
    Ok(saved)
}

/// Asks Twilio's account endpoint whether the credentials work, records the outcome
/// (shown on the page) and returns it. A failure is both recorded and returned as an error.
pub async fn test_connection(state: &AppState, actor: &Actor) -> Result<ConnectionTest, AppError> {
    let settings = load(state).await?;
    let (Some((sid, _)), Some((token, _))) = (settings.account_sid, settings.auth_token) else {
        return Err(AppError::Invalid {
            errors: vec![FieldError::new(
                "account_sid",
                "Save an Account SID and an Auth Token before testing the connection.",
            )],
        });
    };
    let client = TwilioClient::new(
        state.http.clone(),
        &state.config.twilio_api_base,
        sid.clone(),
        token,
        state.config.twilio_timeout,
    )
    .with_trunking_base(&state.config.twilio_trunking_base);
    let outcome = client.fetch_account().await;
    let (result, error) = match outcome {
        Ok(account) => (
            ConnectionTest {
                ok: true,
                message: format!(
                    "Connected to the Twilio account \u{201c}{}\u{201d} ({}).",
                    account.friendly_name, account.status
                ),
                at: now(),
            },
            None,
        ),
        Err(e) => {
            let error = describe(&e, sid.as_str(), client.api_base());
            let message = error.to_string();
            (
                ConnectionTest {
                    ok: false,
                    message,
                    at: now(),
                },
                Some(error),
            )
        }
    };
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "INSERT INTO twilio_config (id, last_test_ok, last_test_message, last_test_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO UPDATE SET last_test_ok = excluded.last_test_ok, \
         last_test_message = excluded.last_test_message, last_test_at = excluded.last_test_at",
    )
    .bind(ROW)
    .bind(i64::from(result.ok))
    .bind(&result.message)
    .bind(result.at)
    .execute(&mut *tx)
    .await?;
    audit::record_on(
        &mut *tx,
        actor,
        "twilio.connection_tested",
        Some(sid.as_str()),
        Some(if result.ok {
            "success"
        } else {
            &result.message
        }),
    )
    .await?;
    tx.commit().await?;
    match error {
        None => Ok(result),
        Some(e) => Err(e),
    }
}

/// A client for the configured account, or a message saying what to configure.
pub async fn client(state: &AppState) -> Result<TwilioClient, AppError> {
    let settings = load(state).await?;
    let (Some((sid, _)), Some((token, _))) = (settings.account_sid, settings.auth_token) else {
        return Err(AppError::conflict(
            "Twilio is not connected yet: an administrator must add the Account SID and Auth Token in Settings → Twilio.",
        ));
    };
    Ok(TwilioClient::new(
        state.http.clone(),
        &state.config.twilio_api_base,
        sid,
        token,
        state.config.twilio_timeout,
    )
    .with_trunking_base(&state.config.twilio_trunking_base))
}

/// Twilio's failure in plain words, keeping Twilio's own code and message.
pub fn describe(err: &TwilioError, sid: &str, base: &str) -> AppError {
    let upstream = |code: Option<String>, message: String| AppError::Upstream {
        provider: "Twilio".into(),
        code,
        message,
    };
    match err {
        TwilioError::Api(api) => {
            let hint = match api.code {
                Some(20003) => " — the Account SID and Auth Token do not match. Check both in the Twilio console.",
                Some(20404) => " — Twilio has no such account. Check the Account SID.",
                Some(20429) | None if api.status == 429 => " — too many requests; try again in a minute.",
                _ => "",
            };
            upstream(
                api.code.map(|c| c.to_string()),
                format!("{}{hint}", api.message),
            )
        }
        TwilioError::Timeout(d) => upstream(
            None,
            format!(
                "no answer from {base} within {} s (time-out). Check that this server can reach Twilio.",
                d.as_secs()
            ),
        ),
        TwilioError::Network(e) => upstream(None, format!("could not reach {base}: {e}")),
        TwilioError::Decode(e) => {
            tracing::warn!(sid, error = %e, "unreadable Twilio response");
            upstream(None, format!("the response from {base} was not Twilio's account format"))
        }
    }
}

/// Sandbox mode: fills in the fake account's credentials and a trunk the first time, so
/// "Test connection" works at once; the values stay editable (a wrong token shows
/// Twilio's error, as with a real account).
pub async fn seed_sandbox(
    state: &AppState,
    credentials: &crate::server::sandbox::SandboxCredentials,
    port: u16,
) -> Result<(), AppError> {
    if stored(state).await?.is_some() {
        return Ok(());
    }
    let input = TwilioSettingsInput {
        account_sid: credentials.twilio_account_sid.clone(),
        auth_token: SecretString::from(credentials.twilio_auth_token.clone()),
        sip_address: "dial-sandbox.pstn.twilio.com".into(),
        sip_username: "dial".into(),
        sip_password: SecretString::from("DialSandbox2026".to_string()),
        public_url: format!("http://localhost:{port}"),
        auto_trunk: true,
    };
    save(state, &Actor::system("sandbox"), input)
        .await
        .map(|_| ())
}

/// The calls a second the Elastic SIP trunk accepts (Twilio: 1 per region unless the
/// account owner raised it, up to 5), shared by every campaign and instance.
pub async fn outbound_cps(state: &AppState) -> Result<u32, AppError> {
    let cps: Option<i64> =
        sqlx::query_scalar("SELECT outbound_cps FROM twilio_config WHERE id = $1")
            .bind(ROW)
            .fetch_optional(&state.db.pool)
            .await?;
    Ok(cps.map_or(1, |c| c.clamp(1, 1000) as u32))
}

/// Sets [`outbound_cps`] from the form's text (1 to 1000).
pub async fn set_outbound_cps(
    state: &AppState,
    actor: &Actor,
    text: &str,
) -> Result<u32, AppError> {
    let cps = match text.trim().parse::<u32>() {
        Ok(n) if (1..=1000).contains(&n) => n,
        _ => {
            return Err(AppError::invalid(
                "outbound_cps",
                "Enter the calls a second your Twilio trunk accepts: 1 unless Twilio raised it for your account (whole numbers, 1 to 1000).",
            ))
        }
    };
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "INSERT INTO twilio_config (id, updated_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
    )
    .bind(ROW)
    .bind(now())
    .execute(&mut *tx.tx)
    .await?;
    sqlx::query("UPDATE twilio_config SET outbound_cps = $1 WHERE id = $2")
        .bind(i64::from(cps))
        .bind(ROW)
        .execute(&mut *tx.tx)
        .await?;
    crate::server::audit::record_on(
        &mut *tx.tx,
        actor,
        "twilio.outbound_cps",
        None,
        Some(&format!("{cps} calls a second")),
    )
    .await?;
    tx.commit().await?;
    Ok(cps)
}

/// Records the Elastic SIP trunk Dial uses. When Dial created the trunk it also records
/// the termination address and credentials it chose (the password encrypted).
pub async fn set_trunk(
    state: &AppState,
    trunk_sid: Option<&str>,
    termination: Option<(&str, &str, &SecretString)>,
) -> Result<(), AppError> {
    sqlx::query(
        "INSERT INTO twilio_config (id, updated_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
    )
    .bind(ROW)
    .bind(now())
    .execute(&state.db.pool)
    .await?;
    sqlx::query("UPDATE twilio_config SET trunk_sid = $1 WHERE id = $2")
        .bind(trunk_sid.map(str::to_string))
        .bind(ROW)
        .execute(&state.db.pool)
        .await?;
    if let Some((address, username, password)) = termination {
        let env = &state.config.twilio;
        if env.sip_address.is_none() {
            sqlx::query("UPDATE twilio_config SET sip_address = $1 WHERE id = $2")
                .bind(address)
                .bind(ROW)
                .execute(&state.db.pool)
                .await?;
        }
        if env.sip_username.is_none() {
            sqlx::query("UPDATE twilio_config SET sip_username = $1 WHERE id = $2")
                .bind(username)
                .bind(ROW)
                .execute(&state.db.pool)
                .await?;
        }
        if env.sip_password.is_none() {
            sqlx::query("UPDATE twilio_config SET sip_password = $1 WHERE id = $2")
                .bind(
                    state
                        .keyring
                        .encrypt(password.expose_secret(), binding("sip_password")),
                )
                .bind(ROW)
                .execute(&state.db.pool)
                .await?;
        }
    }
    Ok(())
}
