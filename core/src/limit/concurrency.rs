//! The concurrency limit (bulkhead).

use crate::error::ConfigError;
use tokio::sync::{Semaphore, SemaphorePermit};

/// At most `n` attempts in flight at once; the others wait their turn in FIFO order.
///
/// The permit is a guard: it is returned when the attempt ends, and also when the call is
/// dropped while waiting or running, so a cancelled call never leaks capacity.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), steadfast::ConfigError> {
/// let limit = steadfast::limit::ConcurrencyLimit::new(2)?;
/// let a = limit.acquire().await;
/// let b = limit.acquire().await;
/// assert_eq!(limit.available(), 0);
/// drop(a);
/// assert_eq!(limit.available(), 1);
/// # drop(b); Ok(()) }
/// ```
#[derive(Debug)]
pub struct ConcurrencyLimit {
    max: u32,
    semaphore: Semaphore,
}

impl ConcurrencyLimit {
    /// A limit of `max` attempts in flight; `max` must be at least 1.
    pub fn new(max: u32) -> Result<Self, ConfigError> {
        if max == 0 {
            return Err(ConfigError::new(
                "concurrency",
                "concurrency must be at least 1 (it is the number of attempts in flight)",
            ));
        }
        Ok(ConcurrencyLimit {
            max,
            semaphore: Semaphore::new(max as usize),
        })
    }

    /// The configured maximum.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// Permits free right now.
    pub fn available(&self) -> usize {
        self.semaphore.available_permits()
    }

    /// Waits for a permit.
    pub async fn acquire(&self) -> SemaphorePermit<'_> {
        match self.semaphore.acquire().await {
            Ok(permit) => permit,
            // The semaphore is private and never closed.
            Err(_) => unreachable!("the concurrency semaphore is never closed"),
        }
    }
}
