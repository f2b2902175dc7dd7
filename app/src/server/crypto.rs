//! Encryption of secrets at rest: AES-256-GCM, a fresh random 96-bit nonce per value,
//! the key id stored with the ciphertext, and associated data that binds the ciphertext
//! to its table, column and row (a value copied to another row does not decrypt).
//!
//! Stored form: `v1.<key id>.<base64(nonce ‖ ciphertext ‖ tag)>`. The key id is the first
//! 8 hex digits of SHA-256 of the key, so keys rotate without a registry: the keyring
//! holds the current key and any previous ones, and decrypts with whichever matches.

use aes_gcm::{
    aead::{Aead, KeyInit, OsRng, Payload},
    AeadCore, Aes256Gcm, Key,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// Every column that holds a ciphertext: (table, id column, secret column).
/// `dial rotate-key` re-encrypts exactly these.
pub const ENCRYPTED_COLUMNS: &[(&str, &str, &str)] = &[
    ("twilio_config", "id", "auth_token"),
    ("twilio_config", "id", "sip_password"),
    ("carriers", "id", "auth_password"),
    ("webhook_endpoints", "id", "secret"),
];

/// Where a ciphertext lives; it is part of the associated data.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row: &'a str,
}

impl Binding<'_> {
    fn aad(&self) -> Vec<u8> {
        format!("dial:{}:{}:{}", self.table, self.column, self.row).into_bytes()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("the encryption key must be 32 bytes, as 64 hex digits or base64 ({0})")]
    BadKey(String),
    #[error("the value was encrypted with key {0}, which is not the current key nor one of the old keys")]
    UnknownKey(String),
    #[error("the stored value is not in Dial's ciphertext format")]
    Malformed,
    #[error(
        "the value does not decrypt: it was changed, moved to another row, or the key is wrong"
    )]
    Tampered,
}

struct KeyEntry {
    id: String,
    cipher: Aes256Gcm,
}

pub struct Keyring {
    current: KeyEntry,
    previous: Vec<KeyEntry>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.id)
            .field(
                "previous",
                &self.previous.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Parses a 32-byte key given as 64 hex digits or as base64 (standard or URL-safe).
pub fn parse_key(text: &str) -> Result<[u8; 32], CryptoError> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        hex::decode(text).map_err(|e| CryptoError::BadKey(e.to_string()))?
    } else {
        STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
            .map_err(|_| CryptoError::BadKey("neither 64 hex digits nor base64".into()))?
    };
    bytes
        .try_into()
        .map_err(|v: Vec<u8>| CryptoError::BadKey(format!("decoded to {} bytes", v.len())))
}

/// A new random key, as 64 hex digits.
pub fn generate_key_hex() -> SecretString {
    let key = Aes256Gcm::generate_key(OsRng);
    SecretString::from(hex::encode(key))
}

fn entry(key: &[u8; 32]) -> KeyEntry {
    let id = hex::encode(&Sha256::digest(key)[..4]);
    KeyEntry {
        id,
        cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
    }
}

impl Keyring {
    pub fn new(current: &[u8; 32], previous: &[[u8; 32]]) -> Self {
        Keyring {
            current: entry(current),
            previous: previous.iter().map(entry).collect(),
        }
    }

    pub fn from_text(
        current: &SecretString,
        previous: &[SecretString],
    ) -> Result<Self, CryptoError> {
        let current = parse_key(current.expose_secret())?;
        let previous = previous
            .iter()
            .map(|k| parse_key(k.expose_secret()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Keyring::new(&current, &previous))
    }

    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    pub fn encrypt(&self, plaintext: &str, binding: Binding<'_>) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = binding.aad();
        // Encryption with a valid key and in-memory buffers cannot fail.
        let sealed = self
            .current
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        format!("v1.{}.{}", self.current.id, STANDARD.encode(blob))
    }

    pub fn decrypt(&self, stored: &str, binding: Binding<'_>) -> Result<SecretString, CryptoError> {
        let mut parts = stored.splitn(3, '.');
        let (Some("v1"), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CryptoError::Malformed);
        };
        let key = std::iter::once(&self.current)
            .chain(self.previous.iter())
            .find(|k| k.id == key_id)
            .ok_or_else(|| CryptoError::UnknownKey(key_id.to_string()))?;
        let blob = STANDARD.decode(body).map_err(|_| CryptoError::Malformed)?;
        if blob.len() < 12 + 16 {
            return Err(CryptoError::Malformed);
        }
        let (nonce, sealed) = blob.split_at(12);
        let aad = binding.aad();
        let plain = key
            .cipher
            .decrypt(
                aes_gcm::Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Tampered)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| CryptoError::Tampered)
    }

    /// The key id a stored value was written with, if it is in Dial's format.
    pub fn key_id_of(stored: &str) -> Option<&str> {
        let mut parts = stored.splitn(3, '.');
        match (parts.next(), parts.next()) {
            (Some("v1"), Some(id)) => Some(id),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: Binding<'static> = Binding {
        table: "twilio_config",
        column: "auth_token",
        row: "default",
    };

    fn key(n: u8) -> [u8; 32] {
        [n; 32]
    }

    #[test]
    fn round_trip_with_fresh_nonces() {
        let ring = Keyring::new(&key(1), &[]);
        let a = ring.encrypt("s3cret-token", ROW);
        let b = ring.encrypt("s3cret-token", ROW);
        assert_ne!(a, b, "each encryption uses a new nonce");
        assert!(!a.contains("s3cret"));
        assert_eq!(
            ring.decrypt(&a, ROW).unwrap().expose_secret(),
            "s3cret-token"
        );
        assert_eq!(
            ring.decrypt(&b, ROW).unwrap().expose_secret(),
            "s3cret-token"
        );
    }

    #[test]
    fn tampered_ciphertext_is_refused() {
        let ring = Keyring::new(&key(1), &[]);
        let stored = ring.encrypt("value", ROW);
        let mut blob = STANDARD.decode(stored.rsplit('.').next().unwrap()).unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 1;
        let forged = format!("v1.{}.{}", ring.current_key_id(), STANDARD.encode(blob));
        assert_eq!(
            ring.decrypt(&forged, ROW).unwrap_err(),
            CryptoError::Tampered
        );
        assert_eq!(
            ring.decrypt("garbage", ROW).unwrap_err(),
            CryptoError::Malformed
        );
    }

    #[test]
    fn value_moved_to_another_row_or_column_does_not_decrypt() {
        let ring = Keyring::new(&key(1), &[]);
        let stored = ring.encrypt("value", ROW);
        let other_row = Binding {
            row: "other",
            ..ROW
        };
        let other_column = Binding {
            column: "sip_password",
            ..ROW
        };
        assert_eq!(
            ring.decrypt(&stored, other_row).unwrap_err(),
            CryptoError::Tampered
        );
        assert_eq!(
            ring.decrypt(&stored, other_column).unwrap_err(),
            CryptoError::Tampered
        );
    }

    #[test]
    fn wrong_key_is_named_not_garbage() {
        let stored = Keyring::new(&key(1), &[]).encrypt("value", ROW);
        let other = Keyring::new(&key(2), &[]);
        let id = Keyring::key_id_of(&stored).unwrap().to_string();
        assert_eq!(
            other.decrypt(&stored, ROW).unwrap_err(),
            CryptoError::UnknownKey(id)
        );
    }

    #[test]
    fn rotation_reads_old_values_and_writes_new_ones() {
        let old = Keyring::new(&key(1), &[]);
        let stored = old.encrypt("value", ROW);
        let rotated = Keyring::new(&key(2), &[key(1)]);
        assert_eq!(
            rotated.decrypt(&stored, ROW).unwrap().expose_secret(),
            "value"
        );
        let rewritten = rotated.encrypt("value", ROW);
        assert_eq!(
            Keyring::key_id_of(&rewritten),
            Some(rotated.current_key_id())
        );
        assert!(Keyring::new(&key(2), &[]).decrypt(&rewritten, ROW).is_ok());
    }

    #[test]
    fn keys_parse_from_hex_and_base64() {
        let hex_key = "00".repeat(32);
        assert_eq!(parse_key(&hex_key).unwrap(), [0u8; 32]);
        let b64 = STANDARD.encode([7u8; 32]);
        assert_eq!(parse_key(&b64).unwrap(), [7u8; 32]);
        assert!(matches!(parse_key("abcd"), Err(CryptoError::BadKey(_))));
        assert!(matches!(
            parse_key(&STANDARD.encode([1u8; 16])),
            Err(CryptoError::BadKey(_))
        ));
    }
}
