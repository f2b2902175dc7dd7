//! Where the encryption key comes from, the start-up check that it is the right one,
//! and `dial rotate-key`.
//!
//! The key is `DIAL_ENCRYPTION_KEY` (32 bytes, hex or base64). When that is unset, Dial
//! keeps a generated key in `<data dir>/encryption.key` (mode 0600) and warns that
//! production should set the variable. Previous keys, still accepted for reading, come
//! from `DIAL_ENCRYPTION_OLD_KEYS` (comma-separated) and `<data dir>/encryption.old-keys`.
//! A canary value encrypted with the current key lives in `app_state`, so a wrong key is
//! reported at start-up, naming the variable, instead of failing later.

use super::{
    config::Config,
    crypto::{generate_key_hex, Binding, CryptoError, Keyring, ENCRYPTED_COLUMNS},
    db::Db,
    now,
};
use secrecy::{ExposeSecret, SecretString};
use std::path::{Path, PathBuf};

const CANARY: Binding<'static> = Binding {
    table: "app_state",
    column: "value",
    row: "encryption_canary",
};
const CANARY_TEXT: &str = "dial-encryption-canary";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("DIAL_ENCRYPTION_KEY is not a valid key: {0}")]
    BadEnvKey(CryptoError),
    #[error("{path} does not hold a valid key: {err}")]
    BadFileKey { path: String, err: CryptoError },
    #[error("a key in DIAL_ENCRYPTION_OLD_KEYS or encryption.old-keys is not valid: {0}")]
    BadOldKey(CryptoError),
    #[error("could not read or write {path}: {err}")]
    Io { path: String, err: std::io::Error },
    #[error(
        "the encryption key does not match this database: its secrets were encrypted with key {found}, \
         but the current key is {current}. Set DIAL_ENCRYPTION_KEY to the key this database was set up with \
         (or list it in DIAL_ENCRYPTION_OLD_KEYS after a rotation)"
    )]
    WrongKey { found: String, current: String },
    #[error(
        "the stored encryption check value is damaged ({0}); DIAL_ENCRYPTION_KEY may be wrong"
    )]
    Canary(CryptoError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// Whether the key came from the environment or from the data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    File(PathBuf),
}

fn key_file(config: &Config) -> PathBuf {
    config.data_dir.join("encryption.key")
}

fn old_keys_file(config: &Config) -> PathBuf {
    config.data_dir.join("encryption.old-keys")
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |err| KeyError::Io {
        path: path.display().to_string(),
        err,
    }
}

fn write_private(path: &Path, contents: &str) -> Result<(), KeyError> {
    super::files::write_private_atomic(path, contents.as_bytes()).map_err(io(path))
}

/// Loads the keyring; generates the key file on first run when no key is configured.
pub fn load_keyring(config: &Config) -> Result<(Keyring, KeySource), KeyError> {
    let mut previous: Vec<SecretString> = config.old_encryption_keys.clone();
    let old_file = old_keys_file(config);
    if let Ok(text) = std::fs::read_to_string(&old_file) {
        previous.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| SecretString::from(l.to_string())),
        );
    }
    let (current, source) = match &config.encryption_key {
        Some(key) => {
            super::crypto::parse_key(key.expose_secret()).map_err(KeyError::BadEnvKey)?;
            (key.clone(), KeySource::Environment)
        }
        None => {
            let path = key_file(config);
            let key = match std::fs::read_to_string(&path) {
                Ok(text) => SecretString::from(text.trim().to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    super::files::create_private_dir(&config.data_dir)
                        .map_err(io(&config.data_dir))?;
                    let key = generate_key_hex();
                    write_private(&path, key.expose_secret())?;
                    tracing::warn!(
                        path = %path.display(),
                        "DIAL_ENCRYPTION_KEY is not set: generated an encryption key into the data directory. \
                         In production set DIAL_ENCRYPTION_KEY (and keep a copy of it safe)."
                    );
                    key
                }
                Err(e) => return Err(io(&path)(e)),
            };
            super::crypto::parse_key(key.expose_secret()).map_err(|err| KeyError::BadFileKey {
                path: path.display().to_string(),
                err,
            })?;
            (key, KeySource::File(path))
        }
    };
    let ring = Keyring::from_text(&current, &previous).map_err(KeyError::BadOldKey)?;
    Ok((ring, source))
}

/// Verifies (or, on a new database, writes) the canary.
pub async fn check_key(db: &Db, ring: &Keyring) -> Result<(), KeyError> {
    let stored: Option<String> =
        sqlx::query_scalar("SELECT value FROM app_state WHERE key = 'encryption_canary'")
            .fetch_optional(&db.pool)
            .await?;
    match stored {
        None => {
            sqlx::query("INSERT INTO app_state (key, value, updated_at) VALUES ('encryption_canary', $1, $2)")
                .bind(ring.encrypt(CANARY_TEXT, CANARY))
                .bind(now())
                .execute(&db.pool)
                .await?;
            Ok(())
        }
        Some(value) => match ring.decrypt(&value, CANARY) {
            Ok(_) => Ok(()),
            Err(CryptoError::UnknownKey(found)) => Err(KeyError::WrongKey {
                found,
                current: ring.current_key_id().to_string(),
            }),
            Err(e) => Err(KeyError::Canary(e)),
        },
    }
}

pub struct Rotation {
    pub rewritten: usize,
    pub new_key: SecretString,
    pub new_key_id: String,
}

/// Re-encrypts every secret (and the canary) under `new_key`, in one transaction,
/// reading each value with whichever known key wrote it. With a file-managed key the
/// new key replaces the file and the old one is kept in `encryption.old-keys`.
pub async fn rotate(
    db: &Db,
    config: &Config,
    new_key: Option<SecretString>,
) -> Result<Rotation, Box<dyn std::error::Error + Send + Sync>> {
    let (ring, source) = load_keyring(config)?;
    check_key(db, &ring).await?;
    let new_key = new_key.unwrap_or_else(generate_key_hex);
    let new_bytes = super::crypto::parse_key(new_key.expose_secret())?;
    let current_bytes = match &source {
        KeySource::Environment => config
            .encryption_key
            .as_ref()
            .map(|k| super::crypto::parse_key(k.expose_secret()))
            .transpose()?,
        KeySource::File(path) => Some(super::crypto::parse_key(
            std::fs::read_to_string(path)?.trim(),
        )?),
    };
    let new_ring = Keyring::new(&new_bytes, &[]);

    let mut tx = db.begin_write().await?;
    let mut rewritten = 0;
    for (table, id_col, col) in ENCRYPTED_COLUMNS {
        // Table and column names are the constants above, never input.
        let rows: Vec<(String, String)> = sqlx::query_as(&format!(
            "SELECT {id_col}, {col} FROM {table} WHERE {col} IS NOT NULL"
        ))
        .fetch_all(&mut *tx)
        .await?;
        for (id, value) in rows {
            let binding = Binding {
                table,
                column: col,
                row: &id,
            };
            let plain = ring.decrypt(&value, binding)?;
            let sealed = new_ring.encrypt(plain.expose_secret(), binding);
            sqlx::query(&format!(
                "UPDATE {table} SET {col} = $1 WHERE {id_col} = $2"
            ))
            .bind(sealed)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            rewritten += 1;
        }
    }
    sqlx::query("UPDATE app_state SET value = $1, updated_at = $2 WHERE key = 'encryption_canary'")
        .bind(new_ring.encrypt(CANARY_TEXT, CANARY))
        .bind(now())
        .execute(&mut *tx)
        .await?;

    if let KeySource::File(path) = &source {
        // Keep the old key readable before the new one becomes current.
        if let Some(old) = current_bytes {
            let old_file = old_keys_file(config);
            let mut text = std::fs::read_to_string(&old_file).unwrap_or_default();
            text.push_str(&hex::encode(old));
            text.push('\n');
            write_private(&old_file, &text)?;
        }
        write_private(path, new_key.expose_secret())?;
    }
    tx.commit().await?;
    Ok(Rotation {
        rewritten,
        new_key_id: new_ring.current_key_id().to_string(),
        new_key,
    })
}
