//! Password hashing with argon2, off the async runtime (it is deliberately slow), a few at a
//! time: each hash takes about 19 MiB and a core, so a flood of sign-ins waits in line
//! instead of exhausting memory and CPU. A request that waits too long is refused with 503
//! `unavailable` and `Retry-After`.

use std::{
    sync::{Arc, LazyLock},
    time::Duration,
};

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use tokio::sync::Semaphore;

use crate::error::AppError;

/// Hashes run at once in this process: the number of CPUs, at most 4.
pub fn default_permits() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 4)
}

/// How long a request waits for its turn before it is refused.
pub const MAX_WAIT: Duration = Duration::from_secs(10);
/// `Retry-After` on that refusal.
pub const RETRY_AFTER_SECS: u64 = 5;

/// What a request that waited too long for its turn is told.
fn busy() -> AppError {
    AppError::Overloaded {
        message: "Too many passwords are being checked at once; try again in a few seconds.".into(),
        retry_after_secs: RETRY_AFTER_SECS,
    }
}

/// A bounded line for argon2 work.
pub struct Hashers {
    permits: Arc<Semaphore>,
    max_wait: Duration,
}

impl Hashers {
    pub fn new(permits: usize, max_wait: Duration) -> Self {
        Hashers { permits: Arc::new(Semaphore::new(permits)), max_wait }
    }

    /// Runs `work` on the blocking pool once a permit is free. The permit goes with the
    /// work, so a request that gives up (a closed connection) does not free it early.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let permit = tokio::time::timeout(self.max_wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(AppError::internal)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(AppError::internal)?
    }
}

/// The line every request's hashing goes through.
static HASHERS: LazyLock<Hashers> = LazyLock::new(|| Hashers::new(default_permits(), MAX_WAIT));

pub async fn hash(password: String) -> Result<String, AppError> {
    HASHERS
        .run(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(AppError::internal)
        })
        .await
}

/// Verifies against `hash`, or against a dummy hash when there is no user, so that an
/// unknown email takes as long as a wrong password (and waits in the same line).
pub async fn verify(password: String, hash: Option<String>) -> Result<bool, AppError> {
    HASHERS
        .run(move || {
            let stored = hash.unwrap_or_else(|| DUMMY_HASH.to_string());
            let parsed = PasswordHash::new(&stored).map_err(AppError::internal)?;
            Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
}

/// argon2id of a random string nobody knows, with the default parameters (as every stored
/// hash has); only used to spend the same time.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0JbK4ZDLlbnQ5cDm0Tu5QqOcCUwVSkGGvCa2l1gRz1E";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_the_permitted_number_of_hashes_run_at_once() {
        let hashers = Arc::new(Hashers::new(2, Duration::from_secs(30)));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (hashers, running, most) = (hashers.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    hashers
                        .run(move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(50));
                            running.fetch_sub(1, Ordering::SeqCst);
                            Ok(())
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2, "two at once, never more");
    }

    #[tokio::test]
    async fn a_request_that_waits_too_long_is_refused_as_busy() {
        let hashers = Arc::new(Hashers::new(1, Duration::from_millis(100)));
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let holder = {
            let hashers = hashers.clone();
            tokio::spawn(async move {
                hashers
                    .run(move || {
                        let _ = started_tx.send(());
                        std::thread::sleep(Duration::from_millis(600));
                        Ok(())
                    })
                    .await
            })
        };
        started_rx.await.unwrap();
        assert!(matches!(hashers.run(|| Ok(())).await, Err(AppError::Overloaded { .. })));
        holder.await.unwrap().unwrap();
        // Once the permit is back, work runs again.
        assert!(hashers.run(|| Ok(1)).await.is_ok());
    }

    #[tokio::test]
    async fn the_dummy_hash_is_valid_and_matches_nothing_typed() {
        assert!(!verify("password".into(), None).await.unwrap());
        let stored = hash("correct horse".into()).await.unwrap();
        assert!(verify("correct horse".into(), Some(stored.clone())).await.unwrap());
        assert!(!verify("wrong horse".into(), Some(stored)).await.unwrap());
    }
}
