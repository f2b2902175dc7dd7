//! Password hashing: argon2id (m = 19456 KiB, t = 2, p = 1), always off the async
//! executor. Verifying against an unknown user hashes against a dummy so that unknown
//! names and wrong passwords take the same time.
//!
//! Each hash holds 19 MiB for its duration, so at most as many run at once as there are
//! cores ([`permits`]): sign-in takes a permit without waiting ([`try_permit`]; none left
//! means "too many attempts" at once, not a queue that grows with a flood), and the other
//! callers (creating a user, changing a password) wait for one.

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use secrecy::{ExposeSecret, SecretString};
use std::sync::{Arc, OnceLock};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

fn hasher() -> Argon2<'static> {
    // These parameters are constants that argon2 accepts.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(hasher()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking("dial-dummy-password-for-timing").unwrap_or_default())
}

/// The hashing permits: one per core.
fn permits() -> &'static Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Arc::new(Semaphore::new(cores))
    })
}

/// A permit to hash one password, if one is free now.
pub fn try_permit() -> Option<OwnedSemaphorePermit> {
    permits().clone().try_acquire_owned().ok()
}

pub async fn hash(password: SecretString) -> Result<String, crate::error::AppError> {
    let permit = permits().clone().acquire_owned().await.map_err(|e| {
        tracing::error!(error = %e, "password hashing permits closed");
        crate::error::AppError::Internal
    })?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        hash_blocking(password.expose_secret())
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "password hashing task failed");
        crate::error::AppError::Internal
    })?
    .map_err(|e| {
        tracing::error!(error = %e, "password hashing failed");
        crate::error::AppError::Internal
    })
}

/// Verifies `password` against `stored`, or against a dummy hash when there is no user.
pub async fn verify(password: SecretString, stored: Option<String>) -> bool {
    match permits().clone().acquire_owned().await {
        Ok(permit) => verify_with(permit, password, stored).await,
        Err(_) => false,
    }
}

/// [`verify`] with a permit already held (released when the hash is done).
pub async fn verify_with(
    permit: OwnedSemaphorePermit,
    password: SecretString,
    stored: Option<String>,
) -> bool {
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_string());
        let ok = PasswordHash::new(&stored)
            .map(|parsed| {
                hasher()
                    .verify_password(password.expose_secret().as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        known && ok
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_use_argon2id_with_the_required_cost() {
        let stored = hash(SecretString::from("correct horse")).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(verify(SecretString::from("correct horse"), Some(stored.clone())).await);
        assert!(!verify(SecretString::from("wrong horse"), Some(stored)).await);
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        assert!(!verify(SecretString::from("dial-dummy-password-for-timing"), None).await);
    }
}
