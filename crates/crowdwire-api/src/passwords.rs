//! Password hashing off the async threads, a few at a time.
//!
//! Each Argon2id call takes ~12 ms of a core and a 19 MiB buffer. Run unbounded on tokio's
//! blocking pool, a burst of logins hashes on dozens of threads at once, and the allocator
//! keeps those buffers: the process grew to 6–10 GiB under 32 concurrent logins
//! (BENCHMARKS.md). One permit per core bounds both the memory and the CPU given to hashing;
//! other requests keep flowing while logins queue.

use std::sync::OnceLock;

use tokio::sync::Semaphore;

use crowdwire_auth::{PasswordCheck, hash_password, verify_password};

use crate::error::{ApiError, ApiResult};

fn permits() -> &'static Semaphore {
    static SEM: OnceLock<Semaphore> = OnceLock::new();
    SEM.get_or_init(|| Semaphore::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)))
}

async fn run<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    let _permit = permits()
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// Hashes a new password (Argon2id).
pub async fn hash(password: String) -> ApiResult<String> {
    run(move || hash_password(&password)).await
}

/// Checks a password against a stored hash.
pub async fn verify(password: String, stored: String) -> ApiResult<PasswordCheck> {
    run(move || verify_password(&password, &stored)).await
}
