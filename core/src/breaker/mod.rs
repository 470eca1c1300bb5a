//! The circuit breaker: stop calling a server that is failing, and probe until it recovers.
//!
//! Closed: calls pass, and their outcomes fill a sliding window (`window` long, in ten buckets).
//! When the window holds at least `min_calls` outcomes and the share of failures reaches
//! `failure_ratio`, the breaker opens. Open: every call is refused at once with
//! [`Error::CircuitOpen`](crate::Error::CircuitOpen), sends nothing and takes no rate-limit slot.
//! After `open_for`, it is half-open: `half_open` probe calls pass; if they all succeed it closes,
//! and the first failure opens it again.
//!
//! Only failures that the policy would retry (server trouble: 5xx, 429, timeouts, lost
//! connections) count against the server; a 400 or 404 is the caller's problem and counts as the
//! server answering.
//!
//! [`CircuitBreaker`] is the trait, [`SlidingWindowBreaker`] the built-in. State, buckets and probe
//! counts are atomics: no lock on any path.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), steadfast::ConfigError> {
//! use std::time::Duration;
//! use steadfast::breaker::{BreakerConfig, BreakerState, CircuitBreaker, Outcome, SlidingWindowBreaker};
//!
//! let breaker = SlidingWindowBreaker::new(BreakerConfig {
//!     failure_ratio: 0.5, min_calls: 4, window: Duration::from_secs(30),
//!     open_for: Duration::from_secs(10), half_open: 1,
//! })?;
//! for _ in 0..4 {
//!     let admission = breaker.admit().unwrap();
//!     breaker.record(&admission, Outcome::Failure);
//! }
//! assert_eq!(breaker.state(), BreakerState::Open);
//! assert!(breaker.admit().is_err());
//! tokio::time::advance(Duration::from_secs(10)).await;
//! let probe = breaker.admit().unwrap();
//! assert_eq!(breaker.state(), BreakerState::HalfOpen);
//! breaker.record(&probe, Outcome::Success);
//! assert_eq!(breaker.state(), BreakerState::Closed);
//! # Ok(()) }
//! ```

use crate::error::ConfigError;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls pass and are counted.
    Closed,
    /// Calls are refused.
    Open,
    /// A few probe calls pass to test recovery.
    HalfOpen,
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        })
    }
}

/// A change of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state before.
    pub from: BreakerState,
    /// The state after.
    pub to: BreakerState,
}

/// How an admitted call went, as far as the breaker cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered (a success, or an error that is the caller's fault).
    Success,
    /// The server is in trouble (an error the policy would retry).
    Failure,
    /// The call ended without telling (it was cancelled): not counted, its probe slot freed.
    Abandoned,
}

/// Permission to make one call, returned by [`CircuitBreaker::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// Whether the call is a half-open probe.
    pub probe: bool,
    /// The transition that admitting caused (open → half-open), for logging.
    pub transition: Option<Transition>,
}

/// A refused call: the breaker is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    /// How long until a probe may pass (an estimate while half-open probes are out).
    pub retry_after: Duration,
}

/// A circuit breaker. The built-in is [`SlidingWindowBreaker`]; the trait is object-safe.
pub trait CircuitBreaker: Send + Sync + fmt::Debug {
    /// Asks to make a call.
    fn admit(&self) -> Result<Admission, Rejected>;
    /// Reports how an admitted call went; returns the transition it caused, if any.
    fn record(&self, admission: &Admission, outcome: Outcome) -> Option<Transition>;
    /// The current state.
    fn state(&self) -> BreakerState;
}

/// The parameters of the built-in breaker. Deserializes from a config file, with durations as
/// strings (`"30s"`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Share of failures in the window that opens the breaker (0 < ratio ≤ 1).
    pub failure_ratio: f64,
    /// Fewest outcomes in the window before the ratio is trusted.
    pub min_calls: u32,
    /// Length of the sliding window.
    #[serde(deserialize_with = "crate::duration::deserialize_duration")]
    pub window: Duration,
    /// How long the breaker stays open before probing.
    #[serde(deserialize_with = "crate::duration::deserialize_duration")]
    pub open_for: Duration,
    /// Probe calls allowed while half-open; all must succeed to close.
    pub half_open: u32,
}

impl Default for BreakerConfig {
    /// `failure_ratio = 0.5, min_calls = 10, window = "30s", open_for = "30s", half_open = 1`.
    fn default() -> Self {
        BreakerConfig {
            failure_ratio: 0.5,
            min_calls: 10,
            window: Duration::from_secs(30),
            open_for: Duration::from_secs(30),
            half_open: 1,
        }
    }
}

impl BreakerConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.failure_ratio > 0.0 && self.failure_ratio <= 1.0) {
            return Err(ConfigError::new(
                "failure_ratio",
                format!(
                    "{} must be a number in (0, 1]: 0.5 opens the breaker when half the calls fail",
                    self.failure_ratio
                ),
            ));
        }
        if self.min_calls == 0 {
            return Err(ConfigError::new(
                "min_calls",
                "min_calls must be at least 1",
            ));
        }
        if self.window < Duration::from_millis(10) {
            return Err(ConfigError::new(
                "window",
                "the window must be at least 10ms",
            ));
        }
        if self.open_for.is_zero() {
            return Err(ConfigError::new(
                "open_for",
                "open_for must be longer than zero",
            ));
        }
        if self.half_open == 0 {
            return Err(ConfigError::new(
                "half_open",
                "half_open must be at least 1 probe",
            ));
        }
        Ok(())
    }
}

const BUCKETS: u64 = 10;
const COUNT_BITS: u32 = 20;
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;
const INDEX_MASK: u64 = (1 << 24) - 1;

const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;

/// The built-in breaker over a time-based sliding window.
#[derive(Debug)]
pub struct SlidingWindowBreaker {
    config: BreakerConfig,
    epoch: Instant,
    bucket_nanos: u64,
    /// `(since_nanos << 2) | state`.
    state: AtomicU64,
    /// Each `(index << 40) | (successes << 20) | failures`.
    buckets: [AtomicU64; BUCKETS as usize],
    probes_out: AtomicU32,
    probes_ok: AtomicU32,
}

fn unpack_bucket(w: u64) -> (u64, u64, u64) {
    (w >> 40, (w >> COUNT_BITS) & COUNT_MAX, w & COUNT_MAX)
}

impl SlidingWindowBreaker {
    /// A closed breaker; fails on an invalid configuration.
    pub fn new(config: BreakerConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let bucket_nanos = u64::try_from((config.window / BUCKETS as u32).as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        Ok(SlidingWindowBreaker {
            config,
            epoch: Instant::now(),
            bucket_nanos,
            state: AtomicU64::new(CLOSED),
            buckets: Default::default(),
            probes_out: AtomicU32::new(0),
            probes_ok: AtomicU32::new(0),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    fn now(&self) -> u64 {
        u64::try_from(
            Instant::now()
                .saturating_duration_since(self.epoch)
                .as_nanos(),
        )
        .unwrap_or(u64::MAX >> 2)
    }

    fn open_nanos(&self) -> u64 {
        u64::try_from(self.config.open_for.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Moves from `old` to `to` stamped `now`; `true` if this thread made the move.
    fn switch(&self, old: u64, to: u64, now: u64) -> bool {
        self.state
            .compare_exchange(old, (now << 2) | to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn count(&self, now: u64, failure: bool) -> (u64, u64) {
        let index = (now / self.bucket_nanos) & INDEX_MASK;
        let slot = &self.buckets[(index % BUCKETS) as usize];
        let _ = slot.fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
            let (i, mut ok, mut bad) = unpack_bucket(w);
            if i != index {
                (ok, bad) = (0, 0);
            }
            if failure {
                bad = (bad + 1).min(COUNT_MAX);
            } else {
                ok = (ok + 1).min(COUNT_MAX);
            }
            Some((index << 40) | (ok << COUNT_BITS) | bad)
        });
        self.buckets.iter().fold((0, 0), |(ok_sum, bad_sum), b| {
            let (i, ok, bad) = unpack_bucket(b.load(Ordering::Acquire));
            // Buckets older than the window (or never used) do not count.
            if index.wrapping_sub(i) & INDEX_MASK < BUCKETS && (ok | bad) != 0 {
                (ok_sum + ok, bad_sum + bad)
            } else {
                (ok_sum, bad_sum)
            }
        })
    }

    fn clear(&self) {
        for b in &self.buckets {
            b.store(0, Ordering::Release);
        }
    }

    fn try_probe(&self, transition: Option<Transition>) -> Result<Admission, Rejected> {
        let half_open = self.config.half_open;
        match self
            .probes_out
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < half_open).then_some(n + 1)
            }) {
            Ok(_) => Ok(Admission {
                probe: true,
                transition,
            }),
            Err(_) => Err(Rejected {
                retry_after: self.config.open_for,
            }),
        }
    }
}

impl CircuitBreaker for SlidingWindowBreaker {
    fn admit(&self) -> Result<Admission, Rejected> {
        let word = self.state.load(Ordering::Acquire);
        let (since, state) = (word >> 2, word & 3);
        match state {
            CLOSED => Ok(Admission {
                probe: false,
                transition: None,
            }),
            OPEN => {
                let now = self.now();
                let reopen_at = since.saturating_add(self.open_nanos());
                if now < reopen_at {
                    return Err(Rejected {
                        retry_after: Duration::from_nanos(reopen_at - now),
                    });
                }
                let transition = if self.switch(word, HALF_OPEN, now) {
                    self.probes_out.store(0, Ordering::Release);
                    self.probes_ok.store(0, Ordering::Release);
                    tracing::info!(target: "steadfast::breaker", from = "open", to = "half-open", "circuit breaker half-open: probing");
                    Some(Transition {
                        from: BreakerState::Open,
                        to: BreakerState::HalfOpen,
                    })
                } else {
                    None
                };
                match self.state.load(Ordering::Acquire) & 3 {
                    HALF_OPEN => self.try_probe(transition),
                    CLOSED => Ok(Admission {
                        probe: false,
                        transition,
                    }),
                    _ => Err(Rejected {
                        retry_after: self.config.open_for,
                    }),
                }
            }
            _ => self.try_probe(None),
        }
    }

    fn record(&self, admission: &Admission, outcome: Outcome) -> Option<Transition> {
        let now = self.now();
        let word = self.state.load(Ordering::Acquire);
        if admission.probe {
            let _ = self
                .probes_out
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
            if word & 3 != HALF_OPEN {
                return None;
            }
            return match outcome {
                Outcome::Abandoned => None,
                Outcome::Failure => self.switch(word, OPEN, now).then(|| {
                    tracing::warn!(target: "steadfast::breaker", from = "half-open", to = "open", "circuit breaker reopened: probe failed");
                    Transition {
                        from: BreakerState::HalfOpen,
                        to: BreakerState::Open,
                    }
                }),
                Outcome::Success => {
                    let ok = self.probes_ok.fetch_add(1, Ordering::AcqRel) + 1;
                    (ok >= self.config.half_open && self.switch(word, CLOSED, now)).then(|| {
                        self.clear();
                        tracing::info!(target: "steadfast::breaker", from = "half-open", to = "closed", "circuit breaker closed: probes succeeded");
                        Transition {
                            from: BreakerState::HalfOpen,
                            to: BreakerState::Closed,
                        }
                    })
                }
            };
        }
        if outcome == Outcome::Abandoned || word & 3 != CLOSED {
            return None;
        }
        let (ok, bad) = self.count(now, outcome == Outcome::Failure);
        let total = ok + bad;
        let trips = total >= u64::from(self.config.min_calls)
            && bad as f64 >= self.config.failure_ratio * total as f64;
        (trips && self.switch(word, OPEN, now)).then(|| {
            tracing::warn!(target: "steadfast::breaker", from = "closed", to = "open", failures = bad, calls = total, "circuit breaker opened");
            Transition {
                from: BreakerState::Closed,
                to: BreakerState::Open,
            }
        })
    }

    fn state(&self) -> BreakerState {
        match self.state.load(Ordering::Acquire) & 3 {
            CLOSED => BreakerState::Closed,
            OPEN => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(min_calls: u32, half_open: u32) -> SlidingWindowBreaker {
        SlidingWindowBreaker::new(BreakerConfig {
            failure_ratio: 0.5,
            min_calls,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(5),
            half_open,
        })
        .unwrap()
    }

    fn call(b: &SlidingWindowBreaker, outcome: Outcome) -> Option<Transition> {
        let a = b.admit().expect("admitted");
        b.record(&a, outcome)
    }

    #[test]
    fn invalid_configs_name_their_field() {
        let bad = |c: BreakerConfig| SlidingWindowBreaker::new(c).unwrap_err().field();
        let d = BreakerConfig::default();
        assert_eq!(
            bad(BreakerConfig {
                failure_ratio: f64::NAN,
                ..d
            }),
            "failure_ratio"
        );
        assert_eq!(
            bad(BreakerConfig {
                failure_ratio: 0.0,
                ..d
            }),
            "failure_ratio"
        );
        assert_eq!(
            bad(BreakerConfig {
                failure_ratio: 1.5,
                ..d
            }),
            "failure_ratio"
        );
        assert_eq!(bad(BreakerConfig { min_calls: 0, ..d }), "min_calls");
        assert_eq!(bad(BreakerConfig { half_open: 0, ..d }), "half_open");
        assert_eq!(
            bad(BreakerConfig {
                open_for: Duration::ZERO,
                ..d
            }),
            "open_for"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn stays_closed_below_min_calls_and_below_ratio() {
        let b = breaker(4, 1);
        for _ in 0..3 {
            assert_eq!(call(&b, Outcome::Failure), None);
        }
        assert_eq!(b.state(), BreakerState::Closed, "3 calls < min_calls");
        let b = breaker(4, 1);
        for _ in 0..10 {
            call(&b, Outcome::Success);
        }
        for _ in 0..4 {
            assert_eq!(
                call(&b, Outcome::Failure),
                None,
                "at most 4 of 14 failed < 50 %"
            );
        }
        assert_eq!(b.state(), BreakerState::Closed);
        for _ in 0..5 {
            call(&b, Outcome::Failure);
        }
        assert_eq!(b.state(), BreakerState::Closed, "9 of 19 failed < 50 %");
        let opened = call(&b, Outcome::Failure);
        assert_eq!(
            opened.map(|t| t.to),
            Some(BreakerState::Open),
            "10 of 20 = 50 %"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn old_outcomes_leave_the_window() {
        let b = breaker(4, 1);
        for _ in 0..3 {
            call(&b, Outcome::Failure);
        }
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(call(&b, Outcome::Failure), None, "the old failures expired");
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn opens_rejects_probes_and_closes() {
        let b = breaker(2, 2);
        call(&b, Outcome::Failure);
        let t = call(&b, Outcome::Failure);
        assert_eq!(t.map(|t| t.to), Some(BreakerState::Open));
        let rejected = b.admit().unwrap_err();
        assert_eq!(rejected.retry_after, Duration::from_secs(5));
        tokio::time::advance(Duration::from_secs(5)).await;
        let p1 = b.admit().unwrap();
        assert!(p1.probe);
        assert_eq!(p1.transition.map(|t| t.to), Some(BreakerState::HalfOpen));
        let p2 = b.admit().unwrap();
        assert!(b.admit().is_err(), "only two probes at a time");
        assert_eq!(b.record(&p1, Outcome::Success), None, "one of two probes");
        let t = b.record(&p2, Outcome::Success);
        assert_eq!(t.map(|t| t.to), Some(BreakerState::Closed));
        assert!(!b.admit().unwrap().probe);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_probe_reopens_and_abandoned_probe_frees_its_slot() {
        let b = breaker(1, 1);
        call(&b, Outcome::Failure);
        tokio::time::advance(Duration::from_secs(5)).await;
        let p = b.admit().unwrap();
        assert!(b.admit().is_err());
        b.record(&p, Outcome::Abandoned);
        let p = b.admit().expect("the abandoned probe's slot is free again");
        assert_eq!(
            b.record(&p, Outcome::Failure).map(|t| t.to),
            Some(BreakerState::Open)
        );
        assert!(b.admit().is_err());
    }
}
