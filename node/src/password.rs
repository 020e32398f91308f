//! Password hashing with argon2id, off the async runtime and bounded, so that
//! a burst of log-ins can neither stall the node's other work nor take more
//! CPU than it has cores.

use std::sync::Arc;

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

/// Hashes and verifies passwords.
#[derive(Debug, Clone)]
pub struct Passwords {
    /// One permit per hash in progress.
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified against when the user does
    /// not exist, so that a log-in takes as long for an unknown user as for a
    /// wrong password.
    decoy: Arc<str>,
}

impl Passwords {
    /// At most `parallelism` hashes at a time.
    pub fn new(parallelism: usize) -> anyhow::Result<Self> {
        let decoy = Argon2::default()
            .hash_password(b"confab-decoy-password")
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
            .to_string();
        Ok(Self {
            permits: Arc::new(Semaphore::new(parallelism.max(1))),
            decoy: decoy.into(),
        })
    }

    /// The argon2id PHC string of `password`, with a fresh salt.
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let _permit = self
            .permits
            .acquire()
            .await
            .context("password hasher closed")?;
        tokio::task::spawn_blocking(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("argon2: {e}"))
        })
        .await
        .context("password hashing task failed")?
    }

    /// Whether `password` matches `hash`; with `None`, checks against the
    /// decoy and returns false, taking the same time.
    pub async fn verify(&self, password: String, hash: Option<String>) -> anyhow::Result<bool> {
        let _permit = self
            .permits
            .acquire()
            .await
            .context("password hasher closed")?;
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy.to_string());
        tokio::task::spawn_blocking(move || {
            let parsed =
                PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
            let matches = Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            Ok(known && matches)
        })
        .await
        .context("password verification task failed")?
    }
}
