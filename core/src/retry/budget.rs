//! The retry budget: retries as a share of calls.

use crate::error::ConfigError;
use crate::limit::Gcra;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Tokens are counted in thousandths, so that a ratio of 0.2 deposits 200 per call.
const UNIT: i64 = 1000;

/// Limits retries so that a failing server is not flooded by them.
///
/// Why a budget and not only a maximum number of attempts: with `attempts = 5`, a dead server
/// receives five times the traffic of a healthy one, from every client at once, just when it is
/// least able to take it. Two kinds exist:
///
/// - **A retry quota** (the default, [`RetryBudget::quota`]), the design of the AWS SDKs: a
///   bucket of 500 units; a retry takes 5 (10 after a timeout); a success gives back what the
///   call's retries took, or 1 unit for a success at the first attempt, up to the capacity. A
///   retry that the bucket cannot pay for is not made: the call returns its last error. Retries
///   that succeed pay for themselves, so a healthy server with random failures is retried as
///   much as it needs (25 % of attempts failing: every call succeeds, 1.34 attempts per call);
///   against a dead server nothing refills, so a whole outage costs at most 100 retries from
///   this budget, whatever the call rate. First attempts are never refused.
/// - **A ratio of calls** ([`RetryBudget::new`], as in Finagle and gRPC, and `budget = 0.2` in
///   the attribute): each call earns `ratio` of a retry, saved up to what 100 calls earn, plus
///   `min_per_second` retries a second always allowed. Simple and predictable, but a fixed
///   ratio cannot both let a 25 % failure rate through and hold an outage's extra load to 20 %.
///
/// Every operation is one atomic update (a success on a full quota only reads it): no lock, no
/// allocation.
///
/// ```
/// use steadfast::retry::RetryBudget;
/// let ratio = RetryBudget::new(0.2, 0)?;
/// for _ in 0..10 { ratio.deposit(); }
/// assert!(ratio.try_withdraw(false));
/// assert!(ratio.try_withdraw(false));
/// assert!(!ratio.try_withdraw(false), "10 calls at 20 % earn exactly two retries");
///
/// let quota = RetryBudget::quota(20, 5, 10)?;
/// assert!(quota.try_withdraw(false) && quota.try_withdraw(true)); // 5 + 10 taken
/// assert!(quota.try_withdraw(false));                             // 5 more: empty
/// assert!(!quota.try_withdraw(false), "a dead server: nothing refills");
/// quota.on_success(1); // a success after one retry gives back its 5
/// assert!(quota.try_withdraw(false));
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct RetryBudget {
    kind: Kind,
    cap: i64,
    balance: AtomicI64,
}

#[derive(Debug)]
enum Kind {
    Ratio {
        ratio: f64,
        per_call: i64,
        // Boxed: its counter sits on a cache line of its own.
        floor: Option<Box<Gcra>>,
        min_per_second: u32,
    },
    Quota {
        retry_cost: i64,
        timeout_cost: i64,
    },
}

impl RetryBudget {
    /// The default budget: a retry quota of 500 units, 5 per retry, 10 per retry after a
    /// timeout, refilled by successes.
    pub fn default_budget() -> Self {
        RetryBudget {
            kind: Kind::Quota {
                retry_cost: 5,
                timeout_cost: 10,
            },
            cap: 500,
            balance: AtomicI64::new(500),
        }
    }

    /// A retry quota of `capacity` units (full at the start): a retry takes `retry_cost`, or
    /// `timeout_cost` when the failure was a timeout; a success refunds what its call's retries
    /// took, or 1 unit for a first-attempt success. Fails when a cost is 0 or above the capacity.
    pub fn quota(capacity: u32, retry_cost: u32, timeout_cost: u32) -> Result<Self, ConfigError> {
        for (field, cost) in [("retry_cost", retry_cost), ("timeout_cost", timeout_cost)] {
            if cost == 0 || cost > capacity {
                return Err(ConfigError::new(
                    field,
                    format!(
                        "a retry must cost between 1 and the capacity ({capacity}) units; got {cost}"
                    ),
                ));
            }
        }
        Ok(RetryBudget {
            kind: Kind::Quota {
                retry_cost: i64::from(retry_cost),
                timeout_cost: i64::from(timeout_cost),
            },
            cap: i64::from(capacity),
            balance: AtomicI64::new(i64::from(capacity)),
        })
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
        let per_call = (ratio * UNIT as f64).round() as i64;
        let floor = (min_per_second > 0).then(|| {
            let interval = Duration::from_secs(1) / min_per_second;
            Box::new(Gcra::new(interval, min_per_second))
        });
        Ok(RetryBudget {
            kind: Kind::Ratio {
                ratio,
                per_call,
                floor,
                min_per_second,
            },
            cap: (per_call * 100).max(UNIT),
            balance: AtomicI64::new(0),
        })
    }

    /// The share of calls that may be retried, for a ratio budget; `None` for a quota.
    pub fn ratio(&self) -> Option<f64> {
        match &self.kind {
            Kind::Ratio { ratio, .. } => Some(*ratio),
            Kind::Quota { .. } => None,
        }
    }

    /// Retries per second allowed whatever the ratio (0 for a quota).
    pub fn min_per_second(&self) -> u32 {
        match &self.kind {
            Kind::Ratio { min_per_second, .. } => *min_per_second,
            Kind::Quota { .. } => 0,
        }
    }

    /// Units left: thousandths of a retry for a ratio budget, quota units for a quota.
    pub fn balance(&self) -> i64 {
        self.balance.load(Ordering::Acquire)
    }

    fn add(&self, amount: i64) {
        let _ = self
            .balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                (b < self.cap).then(|| (b + amount).min(self.cap))
            });
    }

    /// Records a call (its first attempt): a ratio budget earns `ratio` of a retry.
    #[inline]
    pub fn deposit(&self) {
        if let Kind::Ratio { per_call, .. } = &self.kind {
            self.add(*per_call);
        }
    }

    /// Records a successful call that took `retries` retries: a quota gets back `retry_cost` for
    /// each (a retry after a timeout paid more; the difference stays spent), or 1 unit for a
    /// success at the first attempt.
    #[inline]
    pub fn on_success(&self, retries: u32) {
        if let Kind::Quota { retry_cost, .. } = &self.kind {
            // A full quota (the healthy steady state) is only read, never written.
            if self.balance.load(Ordering::Relaxed) < self.cap {
                self.add(if retries == 0 {
                    1
                } else {
                    retry_cost.saturating_mul(i64::from(retries))
                });
            }
        }
    }

    /// Takes one retry from the budget; `false` when it cannot pay for one. `after_timeout`:
    /// the failure was a timeout (a quota charges more for those: the server may still be
    /// working on the abandoned attempt).
    pub fn try_withdraw(&self, after_timeout: bool) -> bool {
        let cost = match &self.kind {
            Kind::Ratio { .. } => UNIT,
            Kind::Quota {
                retry_cost,
                timeout_cost,
            } => {
                if after_timeout {
                    *timeout_cost
                } else {
                    *retry_cost
                }
            }
        };
        let paid = self
            .balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                (b >= cost).then_some(b - cost)
            })
            .is_ok();
        paid || match &self.kind {
            Kind::Ratio { floor, .. } => floor
                .as_ref()
                .is_some_and(|f| f.try_take(tokio::time::Instant::now(), 1).is_ok()),
            Kind::Quota { .. } => false,
        }
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
        while b.try_withdraw(false) {
            n += 1;
        }
        assert_eq!(n, 50, "at most what 100 calls earn is saved");
    }

    #[tokio::test(start_paused = true)]
    async fn floor_allows_min_per_second_without_deposits() {
        let b = RetryBudget::new(0.0, 3).unwrap();
        let mut n = 0;
        while b.try_withdraw(false) {
            n += 1;
        }
        assert_eq!(n, 3);
        tokio::time::advance(Duration::from_secs(1)).await;
        let mut m = 0;
        while b.try_withdraw(false) {
            m += 1;
        }
        assert_eq!(m, 3);
    }

    #[test]
    fn a_quota_is_spent_by_failures_and_refilled_by_successes() {
        let q = RetryBudget::default_budget();
        let mut n = 0;
        while q.try_withdraw(false) {
            n += 1;
        }
        assert_eq!(n, 100, "500 units at 5 a retry");
        for _ in 0..5 {
            q.on_success(0);
        }
        assert!(
            q.try_withdraw(false),
            "five first-attempt successes pay for one retry"
        );
        assert!(!q.try_withdraw(false));
        q.on_success(2);
        assert!(
            q.try_withdraw(true),
            "a success after two retries gives back their 10"
        );
        assert_eq!(q.balance(), 0);
    }

    #[test]
    fn bad_quota_costs_are_rejected() {
        assert_eq!(
            RetryBudget::quota(10, 0, 5).unwrap_err().field(),
            "retry_cost"
        );
        assert_eq!(
            RetryBudget::quota(10, 5, 11).unwrap_err().field(),
            "timeout_cost"
        );
    }
}
