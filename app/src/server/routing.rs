//! Routing profiles: name, plan code, country, outbound provider and trunk references.
//! They are organisational metadata on numbers and do not change call routing. Also the
//! per-number metadata: which profile, and the compliance state (string key/value pairs).

use super::{
    audit::{self, Actor},
    db::is_unique_violation,
    new_id, now,
    state::AppState,
};
use crate::{
    error::{AppError, FieldError},
    model::{NumberMetadata, RoutingProfile},
};
use std::collections::BTreeMap;

/// ISO 3166-1 alpha-2 codes.
const ISO_COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL \
GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR \
LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK \
PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR \
TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

pub fn is_iso_country(code: &str) -> bool {
    code.len() == 2 && ISO_COUNTRIES.split_whitespace().any(|c| c == code)
}

/// What the profile form sends.
#[derive(Debug, Clone, Default)]
pub struct ProfileInput {
    pub name: String,
    pub plan_code: String,
    pub country: String,
    pub outbound_provider: String,
    pub outbound_trunk_ref: String,
    pub inbound_trunk_ref: String,
}

fn limit(
    errors: &mut Vec<FieldError>,
    field: &str,
    label: &str,
    value: &str,
    max: usize,
) -> String {
    let value = value.trim();
    if value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("{label} is at most {max} characters."),
        ));
    }
    value.to_string()
}

fn validate(input: &ProfileInput) -> Result<ProfileInput, AppError> {
    let mut errors = Vec::new();
    let name = limit(&mut errors, "name", "The name", &input.name, 64);
    if name.is_empty() {
        errors.push(FieldError::new("name", "Give the profile a name."));
    }
    let country = input.country.trim().to_ascii_uppercase();
    if !country.is_empty() && !is_iso_country(&country) {
        errors.push(FieldError::new(
            "country",
            "Use a two-letter ISO 3166 country code, such as US, GB or DE.",
        ));
    }
    let provider = limit(
        &mut errors,
        "outbound_provider",
        "The outbound provider",
        &input.outbound_provider,
        32,
    );
    let output = ProfileInput {
        plan_code: limit(
            &mut errors,
            "plan_code",
            "The plan code",
            &input.plan_code,
            64,
        ),
        outbound_trunk_ref: limit(
            &mut errors,
            "outbound_trunk_ref",
            "The outbound trunk reference",
            &input.outbound_trunk_ref,
            128,
        ),
        inbound_trunk_ref: limit(
            &mut errors,
            "inbound_trunk_ref",
            "The inbound trunk reference",
            &input.inbound_trunk_ref,
            128,
        ),
        outbound_provider: if provider.is_empty() {
            "twilio".into()
        } else {
            provider
        },
        name,
        country,
    };
    if errors.is_empty() {
        Ok(output)
    } else {
        Err(AppError::Invalid { errors })
    }
}

fn duplicate(name: &str) -> AppError {
    AppError::invalid(
        "name",
        format!("A routing profile named \u{201c}{name}\u{201d} already exists."),
    )
}

type ProfileTuple = (String, String, String, String, String, String, String, i64);

pub async fn list(state: &AppState) -> Result<Vec<RoutingProfile>, AppError> {
    let rows: Vec<ProfileTuple> = sqlx::query_as(
        "SELECT p.id, p.name, p.plan_code, p.country, p.outbound_provider, p.outbound_trunk_ref, p.inbound_trunk_ref, \
         (SELECT COUNT(*) FROM phone_numbers n WHERE n.routing_profile_id = p.id AND n.released_at IS NULL) \
         FROM routing_profiles p ORDER BY LOWER(p.name)",
    )
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                name,
                plan_code,
                country,
                outbound_provider,
                outbound_trunk_ref,
                inbound_trunk_ref,
                numbers,
            )| RoutingProfile {
                id,
                name,
                plan_code,
                country,
                outbound_provider,
                outbound_trunk_ref,
                inbound_trunk_ref,
                numbers: numbers.max(0) as u64,
            },
        )
        .collect())
}

pub async fn create(
    state: &AppState,
    actor: &Actor,
    input: &ProfileInput,
) -> Result<String, AppError> {
    let p = validate(input)?;
    let id = new_id();
    let mut tx = state.db.begin_write().await?;
    let result = sqlx::query(
        "INSERT INTO routing_profiles (id, name, plan_code, country, outbound_provider, outbound_trunk_ref, inbound_trunk_ref, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(&id)
    .bind(&p.name)
    .bind(&p.plan_code)
    .bind(&p.country)
    .bind(&p.outbound_provider)
    .bind(&p.outbound_trunk_ref)
    .bind(&p.inbound_trunk_ref)
    .bind(now())
    .execute(&mut *tx)
    .await;
    match result {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Err(duplicate(&p.name)),
        Err(e) => return Err(e.into()),
    }
    audit::record_on(
        &mut *tx,
        actor,
        "routing_profile.created",
        Some(&p.name),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn update(
    state: &AppState,
    actor: &Actor,
    id: &str,
    input: &ProfileInput,
) -> Result<(), AppError> {
    let p = validate(input)?;
    let mut tx = state.db.begin_write().await?;
    let result = sqlx::query(
        "UPDATE routing_profiles SET name = $1, plan_code = $2, country = $3, outbound_provider = $4, \
         outbound_trunk_ref = $5, inbound_trunk_ref = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(&p.name)
    .bind(&p.plan_code)
    .bind(&p.country)
    .bind(&p.outbound_provider)
    .bind(&p.outbound_trunk_ref)
    .bind(&p.inbound_trunk_ref)
    .bind(now())
    .bind(id)
    .execute(&mut *tx)
    .await;
    match result {
        Ok(done) if done.rows_affected() == 0 => Err(AppError::not_found("That routing profile")),
        Ok(_) => {
            audit::record_on(
                &mut *tx,
                actor,
                "routing_profile.updated",
                Some(&p.name),
                None,
            )
            .await?;
            tx.commit().await?;
            Ok(())
        }
        Err(e) if is_unique_violation(&e) => Err(duplicate(&p.name)),
        Err(e) => Err(e.into()),
    }
}

/// Deletes a profile; numbers that used it are unlinked in the same transaction.
pub async fn delete(state: &AppState, actor: &Actor, id: &str) -> Result<u64, AppError> {
    let mut tx = state.db.begin_write().await?;
    let name: Option<String> =
        sqlx::query_scalar("SELECT name FROM routing_profiles WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let name = name.ok_or_else(|| AppError::not_found("That routing profile"))?;
    let unlinked = sqlx::query("UPDATE phone_numbers SET routing_profile_id = NULL, updated_at = $1 WHERE routing_profile_id = $2")
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query("DELETE FROM routing_profiles WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record_on(
        &mut *tx,
        actor,
        "routing_profile.deleted",
        Some(&name),
        Some(&format!("{unlinked} number(s) unlinked")),
    )
    .await?;
    tx.commit().await?;
    Ok(unlinked)
}

/// Parses "key: value" lines (or "key = value") into a JSON object of strings.
pub fn parse_compliance(text: &str) -> Result<BTreeMap<String, String>, AppError> {
    let mut map = BTreeMap::new();
    for (n, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once(':').or_else(|| line.split_once('=')) else {
            return Err(AppError::invalid("compliance", format!("Line {n} has no \u{201c}key: value\u{201d}. Write one pair per line, e.g. \u{201c}a2p_status: approved\u{201d}.")));
        };
        let (key, value) = (key.trim(), value.trim());
        let key_ok = !key.is_empty()
            && key.len() <= 40
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !key_ok {
            return Err(AppError::invalid("compliance", format!("Line {n}: a key is 1 to 40 letters, digits, _ - or . (got \u{201c}{key}\u{201d}).")));
        }
        if value.chars().count() > 200 {
            return Err(AppError::invalid(
                "compliance",
                format!("Line {n}: a value is at most 200 characters."),
            ));
        }
        if map.insert(key.to_string(), value.to_string()).is_some() {
            return Err(AppError::invalid(
                "compliance",
                format!("Line {n}: the key \u{201c}{key}\u{201d} appears twice."),
            ));
        }
    }
    if map.len() > 20 {
        return Err(AppError::invalid("compliance", "At most 20 pairs."));
    }
    Ok(map)
}

pub async fn metadata(state: &AppState, id: &str) -> Result<NumberMetadata, AppError> {
    let row: Option<(Option<String>, String)> =
        sqlx::query_as("SELECT routing_profile_id, compliance FROM phone_numbers WHERE id = $1 AND released_at IS NULL")
            .bind(id)
            .fetch_optional(&state.db.pool)
            .await?;
    let (profile, compliance) = row.ok_or_else(|| AppError::not_found("That phone number"))?;
    let map: BTreeMap<String, String> = serde_json::from_str(&compliance).unwrap_or_default();
    Ok(NumberMetadata {
        routing_profile_id: profile,
        compliance: map.into_iter().collect(),
    })
}

/// Links a number to a profile (or none) and sets its compliance state.
pub async fn set_number_metadata(
    state: &AppState,
    actor: &Actor,
    number_id: &str,
    e164: &str,
    profile_id: Option<&str>,
    compliance: &str,
) -> Result<(), AppError> {
    let map = parse_compliance(compliance)?;
    let profile = match profile_id.filter(|p| !p.is_empty()) {
        Some(p) => {
            let name: Option<String> =
                sqlx::query_scalar("SELECT name FROM routing_profiles WHERE id = $1")
                    .bind(p)
                    .fetch_optional(&state.db.pool)
                    .await?;
            Some((
                p.to_string(),
                name.ok_or_else(|| {
                    AppError::invalid("routing_profile_id", "Choose one of the routing profiles.")
                })?,
            ))
        }
        None => None,
    };
    let json = serde_json::to_string(&map).map_err(|_| AppError::Internal)?;
    let mut tx = state.db.begin_write().await?;
    sqlx::query("UPDATE phone_numbers SET routing_profile_id = $1, compliance = $2, updated_at = $3 WHERE id = $4")
        .bind(profile.as_ref().map(|(id, _)| id.clone()))
        .bind(&json)
        .bind(now())
        .bind(number_id)
        .execute(&mut *tx)
        .await?;
    let detail = format!(
        "profile {}; compliance {}",
        profile.map(|(_, n)| n).unwrap_or_else(|| "none".into()),
        if map.is_empty() {
            "empty".to_string()
        } else {
            map.keys().cloned().collect::<Vec<_>>().join(", ")
        }
    );
    {
        audit::record_on(
            &mut *tx,
            actor,
            "number.metadata_set",
            Some(e164),
            Some(&detail),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compliance_pairs() {
        let map = parse_compliance("a2p_status: approved\n\ncnam = Dial Inc\n").unwrap();
        assert_eq!(map["a2p_status"], "approved");
        assert_eq!(map["cnam"], "Dial Inc");
        assert!(parse_compliance("just text")
            .unwrap_err()
            .field("compliance")
            .unwrap()
            .contains("Line 1"));
        assert!(parse_compliance("bad key!: x").is_err());
        assert!(parse_compliance("a: 1\na: 2")
            .unwrap_err()
            .to_string()
            .contains("twice"));
    }

    #[test]
    fn countries() {
        assert!(is_iso_country("US") && is_iso_country("GB") && is_iso_country("DE"));
        assert!(!is_iso_country("UK") && !is_iso_country("USA") && !is_iso_country("us"));
    }
}
