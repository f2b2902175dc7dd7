//! Delivery signatures: HMAC-SHA256 over `"{timestamp}.{body}"` with the endpoint's
//! secret, sent as `Dial-Signature: t=<timestamp>,v1=<hex>`.
//!
//! The timestamp is the attempt's (each retry and replay is signed anew), so a receiver
//! that refuses timestamps more than [`TOLERANCE_SECS`] from its clock refuses a captured
//! request replayed later; the `Dial-Event-Id` header (the same on every attempt) lets it
//! drop an event it has already handled. [`verify`] is what a receiver does (the README
//! shows the same in Python); Dial's tests use it.

use hmac::{Hmac, Mac};
use rand::{distributions::Alphanumeric, rngs::OsRng, Rng};
use secrecy::SecretString;
use sha2::Sha256;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "Dial-Signature";
/// The event's id: the same on every attempt and replay, for receivers' idempotency.
pub const EVENT_ID_HEADER: &str = "Dial-Event-Id";
/// The event's type (`call.ended`, …).
pub const EVENT_TYPE_HEADER: &str = "Dial-Event-Type";
/// Which attempt this is (1 for the first).
pub const ATTEMPT_HEADER: &str = "Dial-Delivery-Attempt";
/// How far from its own clock a receiver should accept a signature's timestamp.
pub const TOLERANCE_SECS: i64 = 300;

/// Every secret starts with this.
pub const SECRET_PREFIX: &str = "whsec_";
const SECRET_RANDOM_CHARS: usize = 40;

/// A new signing secret: `whsec_` and 40 letters and digits from the operating system's
/// generator (238 bits). The whole string, prefix included, is the HMAC key.
pub fn generate_secret() -> SecretString {
    let random: String = OsRng
        .sample_iter(&Alphanumeric)
        .take(SECRET_RANDOM_CHARS)
        .map(char::from)
        .collect();
    SecretString::from(format!("{SECRET_PREFIX}{random}"))
}

fn mac(secret: &str) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"))
}

/// The hex HMAC-SHA256 of `"{timestamp}.{body}"`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `Dial-Signature` value for a delivery sent at `timestamp`.
pub fn header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", signature(secret, timestamp, body))
}

/// Why a receiver refuses a delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Dial-Signature header is missing or malformed")]
    Malformed,
    #[error("the signature's timestamp is more than {TOLERANCE_SECS} s from now")]
    Stale,
    #[error("no v1 signature matches the body")]
    Mismatch,
}

/// Checks a `Dial-Signature` header as a receiver should: the timestamp within
/// `tolerance_secs` of `now`, and one of its `v1` signatures equal (in constant time) to
/// the HMAC of the timestamp and the body exactly as received.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    for candidate in signatures {
        let Ok(bytes) = hex::decode(candidate) else {
            continue;
        };
        let mut mac = mac(secret);
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        if mac.verify_slice(&bytes).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    /// RFC 4231 test case 2: the HMAC itself.
    #[test]
    fn the_mac_is_hmac_sha256() {
        let mut mac = mac("Jefe");
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// A known vector, computed independently (Python's `hmac` module):
    /// `hmac.new(b"whsec_test_secret", b'1700000000.{"id":"evt_1","type":"call.ended"}',
    /// hashlib.sha256).hexdigest()`.
    #[test]
    fn a_delivery_is_signed_over_the_timestamp_and_the_body() {
        let body = br#"{"id":"evt_1","type":"call.ended"}"#;
        let expected = "e75e3c3068a502246eac6f5dc22fb3d0e5a47f29ab5b014e090c78e8cc57820a";
        assert_eq!(
            signature("whsec_test_secret", 1_700_000_000, body),
            expected
        );
        assert_eq!(
            header("whsec_test_secret", 1_700_000_000, body),
            format!("t=1700000000,v1={expected}")
        );
    }

    #[test]
    fn receivers_refuse_changed_bodies_other_secrets_and_stale_timestamps() {
        let body = br#"{"id":"evt_1"}"#;
        let signed = header("whsec_a", 1_700_000_000, body);
        assert_eq!(verify("whsec_a", &signed, body, 1_700_000_100, 300), Ok(()));
        assert_eq!(
            verify("whsec_a", &signed, br#"{"id":"evt_2"}"#, 1_700_000_100, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("whsec_b", &signed, body, 1_700_000_100, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("whsec_a", &signed, body, 1_700_000_301, 300),
            Err(SignatureError::Stale)
        );
        // The timestamp is signed: moving it forward breaks the signature.
        let moved = signed.replace("t=1700000000", "t=1700000200");
        assert_eq!(
            verify("whsec_a", &moved, body, 1_700_000_200, 300),
            Err(SignatureError::Mismatch)
        );
        for bad in ["", "t=1700000000", "v1=00", "t=x,v1=00"] {
            assert_eq!(
                verify("whsec_a", bad, body, 1_700_000_000, 300),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        // Any of several v1 values may match (a receiver ignores ones it cannot read).
        let two = format!(
            "t=1700000000,v1=zz,v1={}",
            signature("whsec_a", 1_700_000_000, body)
        );
        assert_eq!(verify("whsec_a", &two, body, 1_700_000_000, 300), Ok(()));
    }

    #[test]
    fn secrets_are_random_and_well_formed() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a.expose_secret(), b.expose_secret());
        let rest = a.expose_secret().strip_prefix(SECRET_PREFIX).unwrap();
        assert_eq!(rest.len(), SECRET_RANDOM_CHARS);
        assert!(rest.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
