//! Password hashing with argon2id, bounded three ways, so that a burst of
//! log-ins can neither stall the node's other work, nor take more CPU than
//! it has cores, nor leave it holding memory:
//! - hashes run on a fixed pool of one thread per core (rayon), never on
//!   the async runtime nor on tokio's blocking pool: each hash takes 19 MiB,
//!   and the allocator keeps what a thread freed for that thread's next
//!   allocation, so a fixed set of threads bounds what is kept (before, any
//!   of hundreds of blocking threads could hash, and a burst of 1,000
//!   log-ins left a node at 0.7–1 GB);
//! - a semaphore of one permit per core admits hashes, in arrival order;
//! - at most `queue` requests wait for a permit: past that the request is
//!   refused at once ([`PasswordError::Busy`], a 503 with `Retry-After`)
//!   instead of waiting for seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::{Semaphore, oneshot};

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Too many requests already wait for the hasher.
    #[error("too many log-ins at once")]
    Busy,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Hashes and verifies passwords.
#[derive(Debug, Clone)]
pub struct Passwords {
    /// One permit per hash in progress.
    permits: Arc<Semaphore>,
    /// Requests waiting for a permit, and the most that may.
    waiting: Arc<AtomicUsize>,
    queue: usize,
    /// The hashing threads.
    pool: Arc<rayon::ThreadPool>,
    /// A real hash of a random password, verified against when the user does
    /// not exist, so that a log-in takes as long for an unknown user as for a
    /// wrong password.
    decoy: Arc<str>,
}

impl Passwords {
    /// At most `parallelism` hashes at a time, each on one of as many
    /// threads, and at most `queue` requests waiting.
    pub fn new(parallelism: usize, queue: usize) -> anyhow::Result<Self> {
        let parallelism = parallelism.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(parallelism)
            .thread_name(|i| format!("confab-argon2-{i}"))
            .build()?;
        let decoy = Argon2::default()
            .hash_password(b"confab-decoy-password")
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
            .to_string();
        Ok(Self {
            permits: Arc::new(Semaphore::new(parallelism)),
            waiting: Arc::new(AtomicUsize::new(0)),
            queue,
            pool: Arc::new(pool),
            decoy: decoy.into(),
        })
    }

    /// The argon2id PHC string of `password`, with a fresh salt.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        self.run(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("argon2: {e}"))
        })
        .await
    }

    /// Whether `password` matches `hash`; with `None`, checks against the
    /// decoy and returns false, taking the same time.
    pub async fn verify(
        &self,
        password: String,
        hash: Option<String>,
    ) -> Result<bool, PasswordError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy.to_string());
        self.run(move || {
            let parsed =
                PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
            let matches = Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            Ok(known && matches)
        })
        .await
    }

    /// Runs `work` on the hashing pool once a permit is free, or refuses
    /// at once if the queue is full.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let _waiting = Waiting::enter(&self.waiting, self.queue)?;
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| anyhow::anyhow!("password hasher closed"))?
            }
        };
        let (done, result) = oneshot::channel();
        self.pool.spawn(move || {
            let _permit = permit;
            let _ = done.send(work());
        });
        Ok(result
            .await
            .map_err(|_| anyhow::anyhow!("password hashing thread failed"))??)
    }
}

/// A place in the queue for a permit, given back when dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(waiting: &'a AtomicUsize, queue: usize) -> Result<Self, PasswordError> {
        let before = waiting.fetch_add(1, Ordering::AcqRel);
        let place = Self(waiting);
        if before >= queue {
            metrics::counter!(confab_common::metric::PASSWORD_BUSY).increment(1);
            return Err(PasswordError::Busy);
        }
        Ok(place)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn with_no_queue_only_free_permits_are_served() {
        let passwords = Passwords::new(1, 0).unwrap();
        let (first, second) = tokio::join!(passwords.hash("a".into()), passwords.hash("b".into()));
        assert!(first.is_ok());
        assert!(matches!(second, Err(PasswordError::Busy)));
    }

    #[tokio::test]
    async fn past_the_queue_a_request_is_refused_at_once_and_the_rest_are_served() {
        // One hash at a time, one waiting: of five at once, the first is
        // hashed, the second waits, the other three are refused.
        let passwords = Passwords::new(1, 1).unwrap();
        let attempts = (0..5).map(|i| passwords.hash(format!("password-{i}")));
        let outcomes = futures_util::future::join_all(attempts).await;
        let busy = outcomes
            .iter()
            .filter(|o| matches!(o, Err(PasswordError::Busy)))
            .count();
        let hashed: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
        assert_eq!((hashed.len(), busy), (2, 3), "{outcomes:?}");
        assert!(
            passwords
                .verify("password-0".into(), Some(hashed[0].clone()))
                .await
                .unwrap()
        );
        // Once the queue drained, requests are served again.
        assert!(passwords.hash("again".into()).await.is_ok());
        assert_eq!(passwords.waiting.load(Ordering::Acquire), 0);
    }
}
