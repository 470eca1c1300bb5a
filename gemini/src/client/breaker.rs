//! The client's circuit breaker, one per model: what counts as server trouble, and the
//! admission held by each attempt.
//!
//! The breaker is `steadfast`'s [`SlidingWindowBreaker`], driven here rather than through the
//! model's `steadfast::Policy`, because the policy counts every retryable failure and the client
//! must not: a 429 that names the caller's own per-minute quota is the caller's pace (handled by
//! waiting for RetryInfo), and opening the breaker on it would turn waits that succeed into
//! refusals. What counts ([`outcome_of`]):
//!
//! | result | for the breaker |
//! | --- | --- |
//! | 500, 502, 503, 504; a 429 that names no quota (Gemini's "resource exhausted" when overloaded); timeouts, refused or lost connections, answers that are not HTTP | failure |
//! | a 429 naming a per-minute quota; the client's own refusals (a local limit) | not counted |
//! | anything else (a success, a 400, a 403, a 404, a per-day quota) | success: the server answered |
//!
//! The first attempt of a call is admitted before the model's policy runs, so that while the
//! breaker is open a call fails at once and takes no rate-limit slot; later attempts (retries)
//! are admitted inside the attempt. An admission that ends without an outcome (a cancelled
//! call, a deadline) is released as abandoned, freeing a half-open probe slot.

use crate::error::ErrorKind;
use crate::{Error, QuotaScope};
use steadfast::breaker::{Admission, CircuitBreaker, Outcome, SlidingWindowBreaker};
use steadfast::classify::Transport;

/// What a result says about the server's health.
pub(crate) fn outcome_of<T>(result: &Result<T, Error>) -> Outcome {
    let Err(e) = result else {
        return Outcome::Success;
    };
    match e.kind() {
        ErrorKind::Internal | ErrorKind::Unavailable | ErrorKind::DeadlineExceeded => {
            Outcome::Failure
        }
        ErrorKind::Transport(
            Transport::Timeout | Transport::Connect | Transport::Reset | Transport::Other,
        ) => Outcome::Failure,
        ErrorKind::RateLimited {
            scope: QuotaScope::Unknown,
            ..
        } => Outcome::Failure,
        ErrorKind::RateLimited {
            scope: QuotaScope::PerMinute,
            ..
        }
        | ErrorKind::Policy(_)
        | ErrorKind::Configuration => Outcome::Abandoned,
        _ => Outcome::Success,
    }
}

/// One admitted attempt; released as abandoned if dropped without [`Held::settle`].
#[derive(Debug)]
pub(crate) struct Held<'a> {
    breaker: &'a SlidingWindowBreaker,
    model: &'a str,
    admission: Option<Admission>,
}

impl Held<'_> {
    /// Records how the attempt went.
    pub(crate) fn settle(mut self, outcome: Outcome) {
        self.record(outcome);
    }

    fn record(&mut self, outcome: Outcome) {
        if let Some(admission) = self.admission.take() {
            if let Some(t) = self.breaker.record(&admission, outcome) {
                tracing::warn!(target: "steadfast_gemini", model = self.model, from = %t.from, to = %t.to, "circuit breaker");
            }
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.record(Outcome::Abandoned);
    }
}

/// Asks `breaker` to let one attempt at `model` through; an open breaker is a
/// [`steadfast::Error::CircuitOpen`] error, sent nowhere.
pub(crate) fn admit<'a>(
    breaker: &'a SlidingWindowBreaker,
    model: &'a str,
) -> Result<Held<'a>, Error> {
    match breaker.admit() {
        Ok(admission) => {
            if let Some(t) = admission.transition {
                tracing::info!(target: "steadfast_gemini", model, from = %t.from, to = %t.to, "circuit breaker");
            }
            Ok(Held {
                breaker,
                model,
                admission: Some(admission),
            })
        }
        Err(rejected) => Err(Error::from(steadfast::Error::CircuitOpen {
            retry_after: rejected.retry_after,
        })),
    }
}
