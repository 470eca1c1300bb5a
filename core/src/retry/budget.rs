//! The retry budget: retries as a share of calls.

use crate::error::ConfigError;
use crate::limit::Gcra;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Tokens are counted in thousandths, so that a ratio of 0.2 deposits 200 per call.
const UNIT: i64 = 1000;

/// Caps retries at a share of calls, plus a small floor per second.
///
/// Why a budget and not only a maximum number of attempts: with `attempts = 5`, a dead server
/// receives five times the traffic of a healthy one, from every client at once, just when it is
/// least able to take it. A budget (as in Finagle and gRPC) lets each call earn `ratio` of a
/// retry, so that over any stretch of time retries are at most `ratio × calls`, plus
/// `min_per_second` so that a quiet client can still retry its rare failures. When the budget is
/// spent the call returns its last error at once instead of retrying.
///
/// Earned retries are saved up to what 100 calls earn, so a long healthy period cannot fund a
/// later storm. Deposits and withdrawals are single atomic operations: no lock, no allocation.
///
/// ```
/// use steadfast::retry::RetryBudget;
/// let budget = RetryBudget::new(0.2, 0)?;
/// for _ in 0..10 { budget.deposit(); }
/// assert!(budget.try_withdraw());
/// assert!(budget.try_withdraw());
/// assert!(!budget.try_withdraw(), "10 calls at 20 % earn exactly two retries");
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    per_call: i64,
    cap: i64,
    balance: AtomicI64,
    floor: Option<Gcra>,
    min_per_second: u32,
}

impl RetryBudget {
    /// The default budget: retries at most 20 % of calls, plus 10 per second.
    pub fn default_budget() -> Self {
        // Both values are valid by construction.
        Self::build(0.2, 10)
    }

    /// A budget of `ratio` retries per call (0.0..=1.0) plus `min_per_second` retries a second
    /// that are always allowed. Fails on a NaN, negative or greater-than-1 ratio.
    pub fn new(ratio: f64, min_per_second: u32) -> Result<Self, ConfigError> {
        if !(0.0..=1.0).contains(&ratio) {
            return Err(ConfigError::new(
                "budget",
                format!("ratio {ratio} must be a number between 0.0 and 1.0 (0.2 = 20 % of calls)"),
            ));
        }
        Ok(Self::build(ratio, min_per_second))
    }

    fn build(ratio: f64, min_per_second: u32) -> Self {
        let per_call = (ratio * UNIT as f64).round() as i64;
        let floor = (min_per_second > 0).then(|| {
            let interval = Duration::from_secs(1) / min_per_second;
            Gcra::new(interval, min_per_second)
        });
        RetryBudget {
            ratio,
            per_call,
            cap: (per_call * 100).max(UNIT),
            balance: AtomicI64::new(0),
            floor,
            min_per_second,
        }
    }

    /// The share of calls that may be retried.
    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// Retries per second allowed whatever the ratio.
    pub fn min_per_second(&self) -> u32 {
        self.min_per_second
    }

    /// Records a call (its first attempt): earns `ratio` of a retry.
    pub fn deposit(&self) {
        let _ = self
            .balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                Some((b + self.per_call).min(self.cap))
            });
    }

    /// Takes one retry from the budget; `false` when none is left.
    pub fn try_withdraw(&self) -> bool {
        let earned = self
            .balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                (b >= UNIT).then_some(b - UNIT)
            })
            .is_ok();
        earned
            || self
                .floor
                .as_ref()
                .is_some_and(|f| f.try_take(tokio::time::Instant::now(), 1).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_ratios_are_rejected() {
        for r in [f64::NAN, -0.1, 1.5, f64::INFINITY] {
            assert_eq!(RetryBudget::new(r, 1).unwrap_err().field(), "budget");
        }
    }

    #[test]
    fn savings_are_capped() {
        let b = RetryBudget::new(0.5, 0).unwrap();
        for _ in 0..10_000 {
            b.deposit();
        }
        let mut n = 0;
        while b.try_withdraw() {
            n += 1;
        }
        assert_eq!(n, 50, "at most what 100 calls earn is saved");
    }

    #[tokio::test(start_paused = true)]
    async fn floor_allows_min_per_second_without_deposits() {
        let b = RetryBudget::new(0.0, 3).unwrap();
        let mut n = 0;
        while b.try_withdraw() {
            n += 1;
        }
        assert_eq!(n, 3);
        tokio::time::advance(Duration::from_secs(1)).await;
        let mut m = 0;
        while b.try_withdraw() {
            m += 1;
        }
        assert_eq!(m, 3);
    }
}
