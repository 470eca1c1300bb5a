//! Time limits: the deadline for a whole call and the timeout of each attempt.
//!
//! The deadline covers everything a call does: attempts, backoff waits, rate-limit waits and
//! waits for a concurrency permit. Nothing sleeps past it: a wait that would end after the
//! deadline is not started, and the call gives up at once instead. Each attempt runs under the
//! shorter of the attempt `timeout` and the time left.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! use std::time::Duration;
//! use steadfast::timeout::Deadline;
//! let d = Deadline::after(Some(Duration::from_secs(10)));
//! assert!(d.allows(Duration::from_secs(9)));
//! tokio::time::advance(Duration::from_secs(2)).await;
//! assert!(!d.allows(Duration::from_secs(9)), "only 8 s are left");
//! assert!(Deadline::after(None).allows(Duration::MAX));
//! # }
//! ```

use std::time::Duration;
use tokio::time::Instant;

/// When a call must be over, if ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at: Option<Instant>,
    budget: Option<Duration>,
}

/// Which limit bounded an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The per-attempt timeout.
    Attempt(Duration),
    /// The time left before the deadline.
    Deadline,
}

impl Deadline {
    /// A deadline `budget` from now; `None` for no deadline.
    #[inline]
    pub fn after(budget: Option<Duration>) -> Self {
        Deadline {
            at: budget.and_then(|b| Instant::now().checked_add(b)),
            budget,
        }
    }

    /// The instant of the deadline.
    #[inline]
    pub fn at(&self) -> Option<Instant> {
        self.at
    }

    /// The configured budget.
    pub fn budget(&self) -> Option<Duration> {
        self.budget
    }

    /// Time left; `None` without a deadline, zero once past it.
    #[inline]
    pub fn remaining(&self) -> Option<Duration> {
        self.at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Whether the deadline has passed.
    #[inline]
    pub fn is_past(&self) -> bool {
        self.remaining().is_some_and(|r| r.is_zero())
    }

    /// Whether a wait of `wait` would end no later than the deadline.
    #[inline]
    pub fn allows(&self, wait: Duration) -> bool {
        self.remaining().is_none_or(|r| wait <= r)
    }

    /// The limit for the next attempt: the attempt timeout or the time left, whichever is
    /// shorter, and which of the two it is.
    #[inline]
    pub fn attempt_limit(&self, timeout: Option<Duration>) -> Option<(Duration, Bound)> {
        match (timeout, self.remaining()) {
            (Some(t), Some(r)) if t < r => Some((t, Bound::Attempt(t))),
            (_, Some(r)) => Some((r, Bound::Deadline)),
            (Some(t), None) => Some((t, Bound::Attempt(t))),
            (None, None) => None,
        }
    }
}
