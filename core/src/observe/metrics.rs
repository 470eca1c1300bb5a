//! Metrics through the `metrics` facade (feature `metrics`): any exporter works, Prometheus
//! included. Every series is labelled `call` with the policy's name (for `#[resilient]`, the
//! function's path); no label ever holds request data or a credential.
//!
//! | name | kind | labels | what |
//! | --- | --- | --- | --- |
//! | `steadfast_calls_total` | counter | `call` | calls made |
//! | `steadfast_attempts_total` | counter | `call` | attempts sent, first ones and retries |
//! | `steadfast_successes_total` | counter | `call` | calls that returned a success |
//! | `steadfast_retries_total` | counter | `call`, `cause` | retries, by what failed (`"status 503"`, `"timeout"`, `"connect"`, …) |
//! | `steadfast_give_ups_total` | counter | `call`, `reason` | calls that returned a failure, by why (`"attempts exhausted"`, `"not retryable"`, `"deadline"`, …) |
//! | `steadfast_rate_limit_wait_seconds` | histogram | `call` | each wait for the rate limiter, as long as it lasted (a cancelled one too) |
//! | `steadfast_breaker_state` | gauge | `call` | 0 closed, 1 half-open, 2 open; set on each transition |
//! | `steadfast_breaker_rejections_total` | counter | `call` | calls refused by an open breaker |
//!
//! Install the recorder before the first call of a policy: the calls, attempts and successes
//! series are registered when the policy is built (so that the success path allocates
//! nothing), with the recorder installed at that moment.
//!
//! Without the feature every function here is empty and compiles away.

#[cfg(feature = "metrics")]
use crate::breaker::BreakerState;
use std::time::Duration;

/// The series a policy updates on its success path, registered once when the policy is built,
/// so that a successful call allocates nothing (the facade's macros build a key, labels
/// included, on every use). Series with a cause or a reason label are recorded with the macros
/// on the failure path.
pub(crate) struct Handles {
    #[cfg(feature = "metrics")]
    calls: metrics::Counter,
    #[cfg(feature = "metrics")]
    attempts: metrics::Counter,
    #[cfg(feature = "metrics")]
    successes: metrics::Counter,
    #[cfg(feature = "metrics")]
    rate_limit_wait: metrics::Histogram,
}

impl std::fmt::Debug for Handles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handles")
    }
}

impl Handles {
    /// Registers the series of the policy `name` with the recorder installed now.
    pub(crate) fn new(name: &'static str) -> Self {
        #[cfg(feature = "metrics")]
        {
            Handles {
                calls: metrics::counter!("steadfast_calls_total", "call" => name),
                attempts: metrics::counter!("steadfast_attempts_total", "call" => name),
                successes: metrics::counter!("steadfast_successes_total", "call" => name),
                rate_limit_wait: metrics::histogram!("steadfast_rate_limit_wait_seconds", "call" => name),
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = name;
            Handles {}
        }
    }

    /// A call counted (`calls`, and with `first_success`, its attempt and its success too).
    #[inline]
    pub(crate) fn call(&self, first_success: bool) {
        #[cfg(feature = "metrics")]
        {
            self.calls.increment(1);
            if first_success {
                self.attempts.increment(1);
                self.successes.increment(1);
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = first_success;
    }

    /// An attempt sent.
    #[inline]
    pub(crate) fn attempt(&self) {
        #[cfg(feature = "metrics")]
        self.attempts.increment(1);
    }

    /// A success after a counted attempt.
    #[inline]
    pub(crate) fn success(&self) {
        #[cfg(feature = "metrics")]
        self.successes.increment(1);
    }

    /// A wait for the rate limiter.
    #[inline]
    pub(crate) fn rate_limit_wait(&self, wait: Duration) {
        #[cfg(feature = "metrics")]
        self.rate_limit_wait.record(wait.as_secs_f64());
        #[cfg(not(feature = "metrics"))]
        let _ = wait;
    }
}

/// A retry decided, and what failed.
#[inline]
pub(crate) fn retry(name: &'static str, cause: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("steadfast_retries_total", "call" => name, "cause" => cause).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (name, cause);
}

/// A call that gave up, and why.
#[inline]
pub(crate) fn give_up(name: &'static str, reason: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("steadfast_give_ups_total", "call" => name, "reason" => reason).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (name, reason);
}

/// A call refused by an open breaker.
#[inline]
pub(crate) fn breaker_rejection(name: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("steadfast_breaker_rejections_total", "call" => name).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = name;
}

/// The breaker's new state.
#[inline]
pub(crate) fn breaker_state(name: &'static str, state: crate::breaker::BreakerState) {
    #[cfg(feature = "metrics")]
    {
        let value = match state {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        };
        metrics::gauge!("steadfast_breaker_state", "call" => name).set(value);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (name, state);
}
