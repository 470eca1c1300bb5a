//! What `#[resilient]` expands to calls into. Not public API: names and signatures may change in
//! any release. The logic lives here, in ordinary tested Rust, so that the macro stays thin.

use crate::classify::{Classify, Verdict};
use crate::error::{ConfigError, Error};
use crate::limit::{RateLimit, RateLimiter};
use crate::observe::{Event, Hook};
use crate::policy::Stop;
use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

pub use crate::Policy;
pub use crate::breaker::BreakerConfig;
pub use crate::policy::{Attempt, Judged, Step};
pub use crate::retry::Jitter;
pub use std::result::Result;
pub use std::sync::OnceLock;
pub use std::time::Duration;

/// The policy of one annotated function, built on first use and shared by every call.
///
/// # Panics
///
/// When the policy cannot be built. The attribute checks every literal setting at compile time,
/// so this happens only for what it cannot see: a `limiter = "name"` whose rates differ from
/// another function's limiter of the same name. That is a programming error in the caller, and
/// the message names the function, the limiter and both configurations.
pub fn site(
    cell: &'static OnceLock<Policy>,
    function: &'static str,
    build: impl FnOnce() -> Result<Policy, ConfigError>,
) -> &'static Policy {
    if let Some(policy) = cell.get() {
        return policy;
    }
    let policy = cell.get_or_init(|| match build() {
        Ok(policy) => policy,
        Err(e) => panic!("#[resilient] on `{function}`: {e}"),
    });
    crate::observe::register_site(function, policy);
    policy
}

/// Parses the `on = [...]` list; the attribute has checked it already.
pub fn retry_on(text: &str) -> Result<crate::classify::RetryOn, ConfigError> {
    text.parse()
}

/// Turns a `limiter = <expr>` value into the limiter a policy holds.
pub trait IntoLimiter {
    /// The limiter.
    fn into_limiter(self) -> Arc<dyn RateLimiter>;
}

impl IntoLimiter for Arc<dyn RateLimiter> {
    fn into_limiter(self) -> Arc<dyn RateLimiter> {
        self
    }
}

impl<L: RateLimiter + 'static> IntoLimiter for Arc<L> {
    fn into_limiter(self) -> Arc<dyn RateLimiter> {
        self
    }
}

impl IntoLimiter for RateLimit {
    fn into_limiter(self) -> Arc<dyn RateLimiter> {
        Arc::new(self)
    }
}

/// `on_retry = path`: calls `path(&event)` just before each wait: a retry's backoff or server
/// delay ([`Event::Retry`]), or a wait for the rate limiter ([`Event::RateLimitWait`]).
pub struct OnRetry(pub fn(&Event));

impl fmt::Debug for OnRetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnRetry")
    }
}

impl Hook for OnRetry {
    fn on_event(&self, event: &Event) {
        if let Event::Retry { .. } | Event::RateLimitWait { .. } = event {
            (self.0)(event)
        }
    }
}

/// The default classification. Method resolution picks [`JudgeResult`] when the success type
/// is [`Classify`] too (so `Ok` of a 429 response is retried), and [`JudgeError`] otherwise:
/// `(&Judge(&result)).verdict()`.
#[derive(Debug)]
pub struct Judge<'a, T, E>(pub &'a Result<T, E>);

/// Classification of both sides of a result. The bound on the error type sits on the method,
/// not the impl, so that a missing `Classify` is reported with [`ErrorClassify`]'s message
/// rather than as "method not found".
pub trait JudgeResult<E> {
    /// The verdict.
    fn verdict(&self) -> Verdict
    where
        E: ErrorClassify;
}

impl<T: Classify, E> JudgeResult<E> for Judge<'_, T, E> {
    fn verdict(&self) -> Verdict
    where
        E: ErrorClassify,
    {
        Verdict::of_result(self.0)
    }
}

/// Classification of the error side only.
pub trait JudgeError<E> {
    /// The verdict.
    fn verdict(&self) -> Verdict
    where
        E: ErrorClassify;
}

impl<T, E> JudgeError<E> for &Judge<'_, T, E> {
    fn verdict(&self) -> Verdict
    where
        E: ErrorClassify,
    {
        Verdict::of_error(self.0)
    }
}

/// [`Classify`], with a message that says what to do when an error type lacks it.
#[diagnostic::on_unimplemented(
    message = "#[resilient] cannot tell which `{Self}` errors to retry",
    label = "this error type does not implement `steadfast::classify::Classify`",
    note = "implement `steadfast::classify::Classify` for `{Self}` (give its status, transport kind and server hint), or pass `classify = path::to::fn` returning a `steadfast::classify::Verdict`",
    note = "for `anyhow::Error`, enable the `anyhow` feature of `steadfast`; `Box<dyn Error + Send + Sync>` classifies by its source chain (see `steadfast::classify::register`)"
)]
pub trait ErrorClassify: Classify {}
#[diagnostic::do_not_recommend]
impl<E: Classify> ErrorClassify for E {}

/// `From<steadfast::Error>`, with a message naming the missing impl, for keys whose policies
/// report their own errors.
#[diagnostic::on_unimplemented(
    message = "`{Self}` must implement `From<steadfast::Error>` for this #[resilient] policy",
    label = "this key makes the policy report its own errors (attempt timed out, deadline exceeded, circuit open, ...)",
    note = "add `impl From<steadfast::Error> for {Self}` (for example a variant that wraps it), or remove the key"
)]
pub trait FromPolicyError: From<Error> {}
#[diagnostic::do_not_recommend]
impl<E: From<Error>> FromPolicyError for E {}

/// Checks, at the span of the key that needs it, that the error type takes policy errors.
pub fn require_from_policy_error<T, E: FromPolicyError>(_: &Option<Result<T, E>>) {}

/// What a stopped call returns. Method resolution picks [`ViaFrom`] when the error type has
/// `From<steadfast::Error>` (so it gets the policy's own, more precise error) and [`ViaLast`]
/// otherwise (the call's last real outcome, which may be an `Ok` that classified as a failure):
/// `(&Converting::new(stop)).convert()`.
pub struct Converting<T, E> {
    reason: Error,
    last: Cell<Option<Result<T, E>>>,
}

impl<T, E> fmt::Debug for Converting<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Converting")
    }
}

impl<T, E> Converting<T, E> {
    /// Wraps a stop.
    pub fn new(stop: Stop<T, E>) -> Self {
        let reason = stop.reason().clone();
        Converting {
            reason,
            last: Cell::new(stop.into_last()),
        }
    }
}

/// The policy's error, through `From`.
pub trait ViaFrom<O> {
    /// What to return.
    fn convert(&self) -> O;
}

impl<T, E: From<Error>> ViaFrom<Result<T, E>> for Converting<T, E> {
    fn convert(&self) -> Result<T, E> {
        Err(E::from(self.reason.clone()))
    }
}

/// The call's last real outcome.
pub trait ViaLast<O> {
    /// What to return.
    fn convert(&self) -> O;
}

impl<T, E> ViaLast<Result<T, E>> for &Converting<T, E> {
    fn convert(&self) -> Result<T, E> {
        match self.last.take() {
            Some(result) => result,
            // Only a timed-out attempt, a deadline, a breaker, a limiter value or a prebuilt
            // policy stop a call without an outcome of its own, and each of those keys makes the
            // attribute require `From<steadfast::Error>` (a compile error otherwise), which
            // selects `ViaFrom`. Without them the only stop is a server delay beyond `max_hint`,
            // and that stop always carries the outcome that asked for the delay, `Ok` or `Err`.
            None => unreachable!("#[resilient]: a policy stop without the call's outcome"),
        }
    }
}

/// A `before_attempt` error for a policy without error-producing keys: it cannot happen (only a
/// deadline, a breaker or a limiter value can refuse an attempt), but the loop must type-check.
/// The error type is carried so that method resolution can see whether it has `From`.
pub struct Refused<E>(Error, std::marker::PhantomData<fn() -> E>);

impl<E> Refused<E> {
    /// Wraps `error` for a call whose result type is that of `_output`.
    pub fn new<T>(error: Error, _output: &Option<Result<T, E>>) -> Self {
        Refused(error, std::marker::PhantomData)
    }
}

impl<E> fmt::Debug for Refused<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Refused").field(&self.0).finish()
    }
}

impl<E: From<Error>> ViaFrom<E> for Refused<E> {
    fn convert(&self) -> E {
        E::from(self.0.clone())
    }
}

impl<E> ViaLast<E> for &Refused<E> {
    fn convert(&self) -> E {
        unreachable!(
            "#[resilient]: attempt refused by a policy without deadline, breaker or limiter value: {}",
            self.0
        )
    }
}

/// Each owned argument is cloned for each attempt; a message that says so when it cannot be.
#[diagnostic::on_unimplemented(
    message = "#[resilient] needs to clone the argument of type `{Self}` for each attempt",
    label = "this argument is taken by value, but `{Self}` does not implement `Clone`",
    note = "each attempt gets its own copy of owned arguments: make `{Self}` `Clone`, or take it by reference (`&{Self}`)"
)]
pub trait RetryArgument: Clone {}
#[diagnostic::do_not_recommend]
impl<T: Clone> RetryArgument for T {}

/// A fresh copy of an owned argument for one attempt.
pub fn clone_argument<T: RetryArgument>(value: &T) -> T {
    value.clone()
}

/// The registry path for `stats!(a::b::f)` written in module `here`: `crate::` becomes the
/// crate's name, `self::` and `super::` are resolved against `here`.
pub fn stats_path(here: &str, segments: &[&str]) -> String {
    let mut base: Vec<&str> = here.split("::").collect();
    let mut rest = segments;
    match rest.first() {
        Some(&"crate") => {
            base.truncate(1);
            rest = &rest[1..];
        }
        Some(&"self") => rest = &rest[1..],
        Some(&"super") => {
            while let Some(&"super") = rest.first() {
                base.pop();
                rest = &rest[1..];
            }
        }
        // An absolute path (`my_crate::api::ask`) or one relative to this module: try the
        // absolute reading first; `stats_of` finds whichever is registered.
        _ => {
            let absolute = segments.join("::");
            if crate::observe::stats_of(&absolute).is_some() {
                return absolute;
            }
        }
    }
    base.extend_from_slice(rest);
    base.join("::")
}

/// One attempt of a policy the attribute built without `timeout`, `deadline` or `policy`
/// (so with neither time limit): no timer is compiled into the annotated function.
pub async fn attempt_untimed<T, E>(
    run: &crate::policy::Run<'_>,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Attempt<T, E> {
    run.attempt_untimed(call).await
}
