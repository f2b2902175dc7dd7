//! API keys for the JSON API under `/api/v1`: personal to the user who creates them and
//! carrying exactly that user's rights (an admin's key acts as the admin, an owner's as
//! the owner; a disabled user's keys stop working at once).
//!
//! A key is `dial_` and 40 random letters and digits from the operating system's CSPRNG.
//! It is shown once, when it is created; Dial keeps only its SHA-256 (the key has 238
//! bits of entropy, so a fast hash is enough) and its first characters for display.
//!
//! A browser without JavaScript cannot receive the create response itself (the form post
//! is redirected back to the page), so for that case the new key is handed to the next
//! page render through the session, encrypted, and removed as soon as it is read
//! ([`stash_for_next_page`], [`take_stashed`]).

use super::{
    audit::{self, Actor},
    crypto::Binding,
    new_id, now,
    state::AppState,
};
use crate::{
    error::AppError,
    model::{ApiKeyView, CreatedKey, Me, Role},
};
use rand::{distributions::Alphanumeric, rngs::OsRng, Rng};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tower_sessions::Session;

/// Every key starts with this, so leaked keys are easy to recognise and scan for.
pub const KEY_PREFIX: &str = "dial_";
/// Random characters after [`KEY_PREFIX`].
const KEY_RANDOM_CHARS: usize = 40;
/// How many characters of the key the list shows.
const DISPLAY_CHARS: usize = 12;
const NAME_MAX: usize = 64;
/// `last_used_at` is written at most this often per key.
const LAST_USED_EVERY_SECS: i64 = 60;
const NOT_FOUND: &str = "That API key";

/// A new key's secret. Never logged: `SecretString` prints nothing.
fn generate() -> SecretString {
    let random: String = OsRng
        .sample_iter(&Alphanumeric)
        .take(KEY_RANDOM_CHARS)
        .map(char::from)
        .collect();
    SecretString::from(format!("{KEY_PREFIX}{random}"))
}

fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn display_prefix(key: &str) -> String {
    let start: String = key.chars().take(DISPLAY_CHARS).collect();
    format!("{start}\u{2026}")
}

/// Whether `key` has the shape of a Dial key; anything else is refused without a lookup.
fn well_formed(key: &str) -> bool {
    key.strip_prefix(KEY_PREFIX).is_some_and(|rest| {
        rest.len() == KEY_RANDOM_CHARS && rest.chars().all(|c| c.is_ascii_alphanumeric())
    })
}

fn parse_name(input: &str) -> Result<String, AppError> {
    let name = input.trim();
    if name.is_empty() {
        Err(AppError::invalid(
            "name",
            "Give the key a name that says where it is used, for example \u{201c}CRM integration\u{201d}.",
        ))
    } else if name.chars().count() > NAME_MAX {
        Err(AppError::invalid(
            "name",
            format!("A key name is at most {NAME_MAX} characters."),
        ))
    } else {
        Ok(name.to_string())
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    name: String,
    prefix: String,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl From<Row> for ApiKeyView {
    fn from(r: Row) -> Self {
        ApiKeyView {
            id: r.id,
            name: r.name,
            prefix: r.prefix,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        }
    }
}

const SELECT: &str = "SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_keys";

/// Creates a key for `me`; the returned secret is the only copy there will ever be.
pub async fn create(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    name: &str,
) -> Result<CreatedKey, AppError> {
    let name = parse_name(name)?;
    let secret = generate();
    let key = ApiKeyView {
        id: new_id(),
        name,
        prefix: display_prefix(secret.expose_secret()),
        created_at: now(),
        last_used_at: None,
        revoked_at: None,
    };
    // Read then write: the name check and the insert are one step.
    let mut tx = state.db.begin_write().await?;
    let taken: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM api_keys WHERE user_id = $1 AND name = $2 AND revoked_at IS NULL",
    )
    .bind(&me.id)
    .bind(&key.name)
    .fetch_one(&mut *tx.tx)
    .await?;
    if taken > 0 {
        return Err(AppError::invalid(
            "name",
            format!(
                "You already have a key called \u{201c}{}\u{201d}. Choose another name, or revoke that key first.",
                key.name
            ),
        ));
    }
    sqlx::query(
        "INSERT INTO api_keys (id, user_id, name, prefix, secret_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&key.id)
    .bind(&me.id)
    .bind(&key.name)
    .bind(&key.prefix)
    .bind(hash(secret.expose_secret()))
    .bind(key.created_at)
    .execute(&mut *tx.tx)
    .await?;
    audit::record_on(
        &mut *tx,
        actor,
        "api_key.create",
        Some(&key.id),
        Some(&format!("{} ({})", key.name, key.prefix)),
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedKey {
        key,
        secret: secret.expose_secret().to_string(),
    })
}

/// The user's own keys, active first, newest first. Keys are personal: admins too see
/// only their own.
pub async fn list(state: &AppState, me: &Me) -> Result<Vec<ApiKeyView>, AppError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE user_id = $1 \
         ORDER BY CASE WHEN revoked_at IS NULL THEN 0 ELSE 1 END, created_at DESC, id"
    ))
    .bind(&me.id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows.into_iter().map(ApiKeyView::from).collect())
}

async fn own(state: &AppState, me: &Me, id: &str) -> Result<ApiKeyView, AppError> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE id = $1 AND user_id = $2"))
        .bind(id)
        .bind(&me.id)
        .fetch_optional(&state.db.pool)
        .await?;
    row.map(ApiKeyView::from)
        .ok_or_else(|| AppError::not_found(NOT_FOUND))
}

/// Revokes one of the user's own keys (anyone else's is "not found"); revoking a revoked
/// key changes nothing.
pub async fn revoke(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    id: &str,
) -> Result<ApiKeyView, AppError> {
    let key = own(state, me, id).await?;
    if !key.is_active() {
        return Ok(key);
    }
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
    )
    .bind(now())
    .bind(id)
    .bind(&me.id)
    .execute(&mut *tx)
    .await?;
    audit::record_on(
        &mut *tx,
        actor,
        "api_key.revoke",
        Some(id),
        Some(&format!("{} ({})", key.name, key.prefix)),
    )
    .await?;
    tx.commit().await?;
    own(state, me, id).await
}

/// The user a bearer key acts as. Unknown, malformed and revoked keys, and keys of
/// disabled users, are all simply unauthorized.
pub async fn authenticate(state: &AppState, bearer: &str) -> Result<Me, AppError> {
    let bearer = bearer.trim();
    if !well_formed(bearer) {
        return Err(AppError::Unauthorized);
    }
    let row: Option<(String, Option<i64>, String, String, String)> = sqlx::query_as(
        "SELECT k.id, k.last_used_at, u.id, u.username, u.role \
         FROM api_keys k JOIN users u ON u.id = k.user_id \
         WHERE k.secret_hash = $1 AND k.revoked_at IS NULL AND u.disabled = 0",
    )
    .bind(hash(bearer))
    .fetch_optional(&state.db.pool)
    .await?;
    let Some((key_id, last_used_at, id, username, role)) = row else {
        return Err(AppError::Unauthorized);
    };
    let at = now();
    if last_used_at.is_none_or(|t| at - t >= LAST_USED_EVERY_SECS) {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $1 \
             WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)",
        )
        .bind(at)
        .bind(&key_id)
        .bind(at - LAST_USED_EVERY_SECS)
        .execute(&state.db.pool)
        .await?;
    }
    Ok(Me {
        id,
        username,
        role: Role::parse(&role).unwrap_or(Role::Owner),
    })
}

/// The session entry that carries a new key to the next page render (no-JavaScript
/// forms only).
const STASH: &str = "api_key_created";
/// A stash older than this is dropped unread.
const STASH_MAX_AGE_SECS: i64 = 300;

#[derive(Serialize, Deserialize)]
struct Stash {
    id: String,
    /// The key, encrypted with the installation's key and bound to the user.
    sealed: String,
    at: i64,
}

fn stash_binding<'a>(me: &'a Me) -> Binding<'a> {
    Binding {
        table: "sessions",
        column: STASH,
        row: &me.id,
    }
}

/// Keeps the new key, encrypted, in the session until the next render of the page.
pub async fn stash_for_next_page(
    state: &AppState,
    session: &Session,
    me: &Me,
    created: &CreatedKey,
) -> Result<(), AppError> {
    let stash = Stash {
        id: created.key.id.clone(),
        sealed: state.keyring.encrypt(&created.secret, stash_binding(me)),
        at: now(),
    };
    session.insert(STASH, stash).await.map_err(|e| {
        tracing::error!(error = %e, "could not keep the new API key for the next page");
        AppError::Internal
    })
}

/// The key stashed by [`stash_for_next_page`], removed from the session as it is read.
pub async fn take_stashed(
    state: &AppState,
    session: &Session,
    me: &Me,
) -> Result<Option<CreatedKey>, AppError> {
    let stash: Option<Stash> = match crate::server::auth::sessions::take(session, STASH).await {
        Ok(stash) => stash,
        Err(e) => {
            tracing::warn!(error = %e, "could not read a stashed API key");
            None
        }
    };
    let Some(stash) = stash.filter(|s| now() - s.at <= STASH_MAX_AGE_SECS) else {
        return Ok(None);
    };
    let secret = match state.keyring.decrypt(&stash.sealed, stash_binding(me)) {
        Ok(secret) => secret,
        Err(e) => {
            tracing::warn!(error = %e, "a stashed API key does not decrypt");
            return Ok(None);
        }
    };
    match own(state, me, &stash.id).await {
        Ok(key) if key.is_active() => Ok(Some(CreatedKey {
            key,
            secret: secret.expose_secret().to_string(),
        })),
        Ok(_) | Err(AppError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_well_formed_and_hashed() {
        let a = generate();
        let b = generate();
        let a = a.expose_secret();
        assert!(well_formed(a), "{}", a.len());
        assert_ne!(a, b.expose_secret());
        assert_eq!(a.len(), KEY_PREFIX.len() + KEY_RANDOM_CHARS);
        let h = hash(a);
        assert_eq!(h.len(), 64);
        assert!(!h.contains(&a[KEY_PREFIX.len()..]));
        let shown = display_prefix(a);
        assert!(shown.starts_with(&a[..DISPLAY_CHARS]) && shown.ends_with('\u{2026}'));
    }

    #[test]
    fn malformed_keys_are_refused_without_a_lookup() {
        assert!(!well_formed(""));
        assert!(!well_formed("dial_"));
        assert!(!well_formed("sk_0123456789012345678901234567890123456789"));
        assert!(!well_formed("dial_012345678901234567890123456789012345678"));
        assert!(!well_formed(
            "dial_01234567890123456789012345678901234567-9"
        ));
        assert!(well_formed("dial_0123456789012345678901234567890123456789"));
    }

    #[test]
    fn names_are_required_and_short() {
        assert!(parse_name("  ").unwrap_err().field("name").is_some());
        assert!(parse_name(&"x".repeat(65)).is_err());
        assert_eq!(parse_name(" CRM ").unwrap(), "CRM");
    }
}
