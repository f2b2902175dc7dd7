//! SIP carriers besides Twilio (SignalWire, Telnyx, any SIP trunk), and the numbers bought
//! elsewhere that are added to them by hand. The auth password is encrypted like the
//! Twilio secrets and never leaves the server.

use super::{
    audit::{self, Actor},
    crypto::Binding,
    db::is_unique_violation,
    new_id, now,
    numbers::country_of,
    routing::is_iso_country,
    state::AppState,
    validate,
};
use crate::{
    error::{AppError, FieldError},
    model::{CarrierView, SecretSetting, Source, CARRIER_KINDS, TRANSPORTS},
    phone::{format_e164, E164},
};
use secrecy::{ExposeSecret, SecretString};

fn binding(row: &str) -> Binding<'_> {
    Binding {
        table: "carriers",
        column: "auth_password",
        row,
    }
}

/// What the carrier form sends. An empty password keeps the stored one.
#[derive(Default)]
pub struct CarrierInput {
    pub name: String,
    pub kind: String,
    pub sip_address: String,
    pub transport: String,
    pub auth_username: String,
    pub auth_password: SecretString,
    pub destination_country: String,
    pub inbound_addresses: String,
    /// Calls a second the carrier accepts on this trunk (empty: 1).
    pub outbound_cps: String,
}

struct Valid {
    name: String,
    kind: String,
    sip_address: String,
    transport: String,
    auth_username: Option<String>,
    auth_password: Option<SecretString>,
    destination_country: Option<String>,
    inbound_addresses: Vec<String>,
    outbound_cps: i64,
}

fn valid_address(a: &str) -> bool {
    let (ip, bits) = match a.split_once('/') {
        Some((ip, bits)) => (ip, Some(bits)),
        None => (a, None),
    };
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    bits.is_none_or(|b| b.parse::<u8>().is_ok_and(|b| b <= max))
}

fn validate_input(input: &CarrierInput) -> Result<Valid, AppError> {
    let mut errors = Vec::new();
    let name = input.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 64 {
        errors.push(FieldError::new(
            "name",
            "Give the carrier a name of 1 to 64 characters.",
        ));
    }
    if !CARRIER_KINDS.iter().any(|(k, _)| *k == input.kind) {
        errors.push(FieldError::new(
            "kind",
            "Choose SignalWire, Telnyx or another SIP trunk.",
        ));
    }
    let sip_address = validate::sip_host("sip_address", &input.sip_address)
        .map(|host| host.to_string())
        .map_err(|e| errors.push(e))
        .ok();
    let transport = if input.transport.is_empty() {
        "auto".to_string()
    } else {
        input.transport.to_ascii_lowercase()
    };
    if !TRANSPORTS.iter().any(|(t, _)| *t == transport) {
        errors.push(FieldError::new(
            "transport",
            "Choose a transport: auto, UDP, TCP or TLS.",
        ));
    }
    let username = input.auth_username.trim();
    if username.chars().count() > 64 {
        errors.push(FieldError::new(
            "auth_username",
            "The auth username is at most 64 characters.",
        ));
    }
    let password = input.auth_password.expose_secret();
    if password.chars().count() > 128 {
        errors.push(FieldError::new(
            "auth_password",
            "The auth password is at most 128 characters.",
        ));
    }
    let country = input.destination_country.trim().to_ascii_uppercase();
    if !country.is_empty() && !is_iso_country(&country) {
        errors.push(FieldError::new(
            "destination_country",
            "Use a two-letter ISO 3166 country code, such as US.",
        ));
    }
    let addresses: Vec<String> = input
        .inbound_addresses
        .split([',', '\n', ' '])
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(bad) = addresses.iter().find(|a| !valid_address(a)) {
        errors.push(FieldError::new("inbound_addresses", format!("\u{201c}{bad}\u{201d} is not an IP address or CIDR range (e.g. 192.0.2.10 or 192.0.2.0/24).")));
    }
    let outbound_cps = match input.outbound_cps.trim() {
        "" => 1,
        text => match text.parse::<i64>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                errors.push(FieldError::new(
                    "outbound_cps",
                    "Enter the calls a second this trunk accepts, a whole number from 1 to 1000.",
                ));
                1
            }
        },
    };
    match (sip_address, errors.is_empty()) {
        (Some(sip_address), true) => Ok(Valid {
            outbound_cps,
            name,
            kind: input.kind.clone(),
            sip_address,
            transport,
            auth_username: (!username.is_empty()).then(|| username.to_string()),
            auth_password: (!password.is_empty()).then(|| input.auth_password.clone()),
            destination_country: (!country.is_empty()).then_some(country),
            inbound_addresses: addresses,
        }),
        _ => Err(AppError::Invalid { errors }),
    }
}

type CarrierTuple = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    i64,
    i64,
);

pub async fn list(state: &AppState) -> Result<Vec<CarrierView>, AppError> {
    let rows: Vec<CarrierTuple> = sqlx::query_as(
        "SELECT c.id, c.name, c.kind, c.sip_address, c.transport, c.auth_username, c.auth_password, c.destination_country, \
         c.inbound_addresses, (SELECT COUNT(*) FROM phone_numbers n WHERE n.carrier_id = c.id AND n.released_at IS NULL), c.outbound_cps \
         FROM carriers c ORDER BY LOWER(c.name)",
    )
    .fetch_all(&state.db.pool)
    .await?;
    rows.into_iter()
        .map(|(id, name, kind, sip_address, transport, username, password, country, addresses, numbers, cps)| {
            let ends_with = match &password {
                Some(stored) => {
                    let plain = state.keyring.decrypt(stored, binding(&id)).map_err(|e| {
                        tracing::error!(error = %e, carrier = %id, "could not decrypt a carrier password");
                        AppError::Internal
                    })?;
                    let chars: Vec<char> = plain.expose_secret().chars().collect();
                    (chars.len() >= 8).then(|| chars[chars.len() - 2..].iter().collect())
                }
                None => None,
            };
            Ok(CarrierView {
                auth_password: SecretSetting {
                    ends_with,
                    source: if password.is_some() { Source::Database } else { Source::Unset },
                },
                id,
                name,
                kind,
                sip_address,
                transport,
                auth_username: username.unwrap_or_default(),
                destination_country: country.unwrap_or_default(),
                inbound_addresses: serde_json::from_str(&addresses).unwrap_or_default(),
                numbers: numbers.max(0) as u64,
                outbound_cps: cps.max(1) as u32,
            })
        })
        .collect()
}

fn duplicate(name: &str) -> AppError {
    AppError::invalid(
        "name",
        format!("A carrier named \u{201c}{name}\u{201d} already exists."),
    )
}

pub async fn create(
    state: &AppState,
    actor: &Actor,
    input: &CarrierInput,
) -> Result<String, AppError> {
    let v = validate_input(input)?;
    let id = new_id();
    let sealed = v
        .auth_password
        .as_ref()
        .map(|p| state.keyring.encrypt(p.expose_secret(), binding(&id)));
    let mut tx = state.db.begin_write().await?;
    let result = sqlx::query(
        "INSERT INTO carriers (id, name, kind, sip_address, transport, auth_username, auth_password, destination_country, \
         inbound_addresses, created_at, updated_at, outbound_cps) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)",
    )
    .bind(&id)
    .bind(&v.name)
    .bind(&v.kind)
    .bind(&v.sip_address)
    .bind(&v.transport)
    .bind(v.auth_username.clone())
    .bind(sealed)
    .bind(v.destination_country.clone())
    .bind(serde_json::to_string(&v.inbound_addresses).unwrap_or_else(|_| "[]".into()))
    .bind(now())
    .bind(v.outbound_cps)
    .execute(&mut *tx)
    .await;
    match result {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Err(duplicate(&v.name)),
        Err(e) => return Err(e.into()),
    }
    let detail = format!("{} {} via {}", v.kind, v.sip_address, v.transport);
    audit::record_on(
        &mut *tx,
        actor,
        "carrier.created",
        Some(&v.name),
        Some(&detail),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn update(
    state: &AppState,
    actor: &Actor,
    id: &str,
    input: &CarrierInput,
) -> Result<(), AppError> {
    let v = validate_input(input)?;
    let stored: Option<Option<String>> =
        sqlx::query_scalar("SELECT auth_password FROM carriers WHERE id = $1")
            .bind(id)
            .fetch_optional(&state.db.pool)
            .await?;
    let previous = stored.ok_or_else(|| AppError::not_found("That carrier"))?;
    let sealed = match &v.auth_password {
        Some(p) => Some(state.keyring.encrypt(p.expose_secret(), binding(id))),
        None => previous,
    };
    let mut tx = state.db.begin_write().await?;
    let result = sqlx::query(
        "UPDATE carriers SET name = $1, kind = $2, sip_address = $3, transport = $4, auth_username = $5, auth_password = $6, \
         destination_country = $7, inbound_addresses = $8, updated_at = $9, outbound_cps = $11 WHERE id = $10",
    )
    .bind(&v.name)
    .bind(&v.kind)
    .bind(&v.sip_address)
    .bind(&v.transport)
    .bind(v.auth_username.clone())
    .bind(sealed)
    .bind(v.destination_country.clone())
    .bind(serde_json::to_string(&v.inbound_addresses).unwrap_or_else(|_| "[]".into()))
    .bind(now())
    .bind(id)
    .bind(v.outbound_cps)
    .execute(&mut *tx)
    .await;
    match result {
        Ok(_) => {
            let detail = if v.auth_password.is_some() {
                "password replaced"
            } else {
                "password kept"
            };
            audit::record_on(
                &mut *tx,
                actor,
                "carrier.updated",
                Some(&v.name),
                Some(detail),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        }
        Err(e) if is_unique_violation(&e) => Err(duplicate(&v.name)),
        Err(e) => Err(e.into()),
    }
}

/// Deletes a carrier that no live number uses.
pub async fn delete(state: &AppState, actor: &Actor, id: &str) -> Result<(), AppError> {
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM carriers WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.db.pool)
        .await?;
    let name = name.ok_or_else(|| AppError::not_found("That carrier"))?;
    let in_use: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM phone_numbers WHERE carrier_id = $1 AND released_at IS NULL",
    )
    .bind(id)
    .fetch_one(&state.db.pool)
    .await?;
    if in_use > 0 {
        return Err(AppError::conflict(format!(
            "{in_use} number{} still use{} \u{201c}{name}\u{201d}. Release {} first, then delete the carrier.",
            if in_use == 1 { "" } else { "s" },
            if in_use == 1 { "s" } else { "" },
            if in_use == 1 { "it" } else { "them" }
        )));
    }
    // Released numbers keep their history but no longer point at the carrier.
    let mut tx = state.db.begin_write().await?;
    sqlx::query("UPDATE phone_numbers SET carrier_id = NULL WHERE carrier_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM carriers WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record_on(&mut *tx, actor, "carrier.deleted", Some(&name), None).await?;
    tx.commit().await?;
    Ok(())
}

/// Adds a number bought elsewhere to a carrier. `country` helps parse national formats.
pub async fn add_number(
    state: &AppState,
    actor: &Actor,
    carrier_id: &str,
    number: &str,
    country: &str,
    label: &str,
    owner_id: Option<&str>,
) -> Result<String, AppError> {
    let carrier: Option<String> = sqlx::query_scalar("SELECT name FROM carriers WHERE id = $1")
        .bind(carrier_id)
        .fetch_optional(&state.db.pool)
        .await?;
    let carrier = carrier.ok_or_else(|| AppError::not_found("That carrier"))?;
    let e164 = E164::parse(number, Some(country).filter(|c| !c.is_empty()))
        .map_err(|m| AppError::invalid("e164", m))?;
    let label = label.trim();
    if label.chars().count() > 64 {
        return Err(AppError::invalid(
            "label",
            "A label is at most 64 characters.",
        ));
    }
    let existing: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT n.label, c.name FROM phone_numbers n LEFT JOIN carriers c ON c.id = n.carrier_id WHERE n.e164 = $1 AND n.released_at IS NULL",
    )
    .bind(e164.as_str())
    .fetch_optional(&state.db.pool)
    .await?;
    if let Some((existing_label, existing_carrier)) = existing {
        let named = if existing_label.is_empty() {
            String::new()
        } else {
            format!(" as \u{201c}{existing_label}\u{201d}")
        };
        return Err(AppError::invalid(
            "e164",
            format!(
                "{} is already in Dial{named} ({}).",
                e164.formatted(),
                existing_carrier.unwrap_or_else(|| "Twilio".into())
            ),
        ));
    }
    let owner = match owner_id.filter(|o| !o.is_empty()) {
        Some(o) => {
            let ok: Option<String> =
                sqlx::query_scalar("SELECT id FROM users WHERE id = $1 AND disabled = 0")
                    .bind(o)
                    .fetch_optional(&state.db.pool)
                    .await?;
            Some(ok.ok_or_else(|| {
                AppError::invalid("owner_id", "Choose an active user as the owner.")
            })?)
        }
        None => None,
    };
    let id = new_id();
    let mut tx = state.db.begin_write().await?;
    let result = sqlx::query(
        "INSERT INTO phone_numbers (id, e164, label, country, voice, sms, carrier_id, owner_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 1, 0, $5, $6, $7, $7)",
    )
    .bind(&id)
    .bind(e164.as_str())
    .bind(label)
    .bind(country_of(e164.as_str()))
    .bind(carrier_id)
    .bind(owner)
    .bind(now())
    .execute(&mut *tx)
    .await;
    match result {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(AppError::invalid(
                "e164",
                format!("{} is already in Dial.", format_e164(e164.as_str())),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    audit::record_on(
        &mut *tx,
        actor,
        "number.added",
        Some(e164.as_str()),
        Some(&format!("carrier {carrier}")),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// (id, name) of every carrier, for filters and forms.
pub async fn options(state: &AppState) -> Result<Vec<(String, String)>, AppError> {
    Ok(
        sqlx::query_as("SELECT id, name FROM carriers ORDER BY LOWER(name)")
            .fetch_all(&state.db.pool)
            .await?,
    )
}
