//! Password hashing with argon2id, off the async workers and a few at a time.
//!
//! Hashing is deliberately expensive (19 MiB and two passes by default), so it runs on threads
//! of its own behind a semaphore of about one permit per core: a burst of logins queues
//! instead of exhausting memory or starving the threads that database calls use.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher as _, PasswordVerifier as _, phc::PasswordHash},
};
use tokio::sync::Semaphore;

use crate::{error::AppError, settings::PasswordHashParams};

/// Hashes and verifies passwords; cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    permits: Semaphore,
    /// A hash of a random password with the current parameters: verified against when the
    /// username is unknown, so both failures cost the same.
    dummy_hash: String,
    verifications: AtomicU64,
}

impl Passwords {
    /// # Errors
    /// When argon2 refuses the parameters.
    pub fn new(params: PasswordHashParams) -> anyhow::Result<Self> {
        let params = params.argon2_params().map_err(anyhow::Error::msg)?;
        let random_password: [u8; 32] = rand::random();
        let dummy_hash = hash_blocking(&params, &random_password).map_err(anyhow::Error::msg)?;
        let permits = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                permits: Semaphore::new(permits),
                dummy_hash,
                verifications: AtomicU64::new(0),
            }),
        })
    }

    /// A PHC string (`$argon2id$v=19$...`) for `password`, with a fresh random salt.
    ///
    /// # Errors
    /// Only if argon2 or its thread fails, which is a bug: a 500.
    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        let inner = Arc::clone(&self.inner);
        self.off_the_workers(move || hash_blocking(&inner.params, password.as_bytes()))
            .await?
            .map_err(|e| AppError::internal(anyhow::anyhow!(e)))
    }

    /// Whether `password` matches `stored_hash`. With no stored hash (an unknown username) it
    /// verifies against the dummy hash and answers `false`, taking the same time.
    ///
    /// # Errors
    /// Only if its thread fails: a 500.
    pub async fn verify(
        &self,
        password: String,
        stored_hash: Option<String>,
    ) -> Result<bool, AppError> {
        let inner = Arc::clone(&self.inner);
        self.off_the_workers(move || {
            inner.verifications.fetch_add(1, Ordering::Relaxed);
            let real = stored_hash.is_some();
            let hash = stored_hash.unwrap_or_else(|| inner.dummy_hash.clone());
            let Ok(parsed) = PasswordHash::new(&hash) else {
                tracing::error!("a stored password hash is not a valid PHC string");
                return false;
            };
            // Parameters come from the stored hash; `Argon2::default()` only picks the algorithm.
            let matches = Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            real && matches
        })
        .await
    }

    /// How many verifications ran since start-up (the dummy ones included).
    pub fn verifications(&self) -> u64 {
        self.inner.verifications.load(Ordering::Relaxed)
    }

    async fn off_the_workers<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(AppError::internal)?;
        actix_web::web::block(work)
            .await
            .map_err(AppError::internal)
    }
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<String, String> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|e| format!("argon2 failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn a_hash_verifies_its_password_only() {
        let passwords = Passwords::new(PasswordHashParams::FAST_FOR_TESTS).unwrap();
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        assert!(
            passwords
                .verify("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("wrong horse".into(), Some(hash))
                .await
                .unwrap()
        );
    }

    #[actix_web::test]
    async fn an_unknown_user_still_costs_one_verification() {
        let passwords = Passwords::new(PasswordHashParams::FAST_FOR_TESTS).unwrap();
        assert!(!passwords.verify("anything".into(), None).await.unwrap());
        assert_eq!(passwords.verifications(), 1);
    }
}
