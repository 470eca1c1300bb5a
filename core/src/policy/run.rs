//! One call under a policy: the step-by-step executor.

use super::Policy;
use crate::breaker::{Admission, Outcome};
use crate::classify::{Failure, Transport, Verdict};
use crate::error::Error;
use crate::limit::{Observation, RateLimiter};
use crate::observe::{Event, GiveUpReason, WaitReason, metrics};
use crate::retry::Random;
use crate::timeout::{Bound, Deadline};
use std::cell::Cell;
use std::future::Future;
use std::time::{Duration, SystemTime};
use tokio::sync::SemaphorePermit;

/// What one attempt produced.
#[derive(Debug)]
pub enum Attempt<T, E> {
    /// The call returned.
    Returned(Result<T, E>),
    /// The call ran out of time and was dropped.
    TimedOut(Bound),
}

/// What to do after an attempt.
#[derive(Debug)]
#[must_use = "a step says whether to retry or return"]
pub enum Step<T, E> {
    /// The wait is over: make the next attempt.
    Retry,
    /// Return this result: a success, or the last real error.
    Done(Result<T, E>),
    /// The policy stopped the call on its own account (timeout, deadline, a server delay beyond
    /// what is allowed).
    Stop(Stop<T, E>),
}

/// What [`Run::judge`] made of an attempt.
#[derive(Debug)]
#[must_use = "a success is returned, a failure goes to `after_failure`"]
pub(crate) enum Judged<T, E> {
    /// A success: return it.
    Success(Result<T, E>),
    /// A failure: hand it to [`Run::after_failure`], which decides whether to retry.
    Failed(Failed<T, E>),
}

/// An attempt judged a failure, on its way to [`Run::after_failure`].
#[derive(Debug)]
pub(crate) struct Failed<T, E> {
    result: Option<Result<T, E>>,
    verdict: Verdict,
    bound: Option<Bound>,
}

/// A call stopped by the policy: the reason, and the last real outcome when there is one.
///
/// The last outcome is an `Err`, or an `Ok` that classified as a failure (a `reqwest::Response`
/// with status 429 whose `Retry-After` is too long): a caller whose error type cannot hold
/// [`Error`] returns that outcome as it is.
#[derive(Debug)]
pub struct Stop<T, E> {
    reason: Error,
    last: Option<Result<T, E>>,
}

impl<T, E> Stop<T, E> {
    /// A stop before any attempt returned: the gates refused one (deadline, breaker, limiter).
    pub(crate) fn refused(reason: Error) -> Self {
        Stop { reason, last: None }
    }

    /// Why the policy stopped.
    pub fn reason(&self) -> &Error {
        &self.reason
    }

    /// The policy's error.
    pub fn into_reason(self) -> Error {
        self.reason
    }

    /// What the call itself returned on its last attempt, if that attempt returned (a timed-out
    /// attempt returned nothing).
    pub fn into_last(self) -> Option<Result<T, E>> {
        self.last
    }

    /// The policy's error, converted into the call's error type.
    pub fn into_error(self) -> E
    where
        E: From<Error>,
    {
        E::from(self.reason)
    }
}

thread_local! {
    /// How many attempts are being polled on this thread, one inside the other.
    static ATTEMPTS_IN_POLL: Cell<u32> = const { Cell::new(0) };
}

/// Whether the caller is inside another policy's attempt (its future is being polled).
#[inline]
fn inside_an_attempt() -> bool {
    ATTEMPTS_IN_POLL.with(|d| d.get() > 0)
}

/// How long a remote limiter's `acquire` may take before it counts as a wait rather than a
/// round trip.
const REMOTE_ROUND_TRIP: Duration = Duration::from_millis(10);

/// Measures a wait for the rate limiter and records it when dropped: when the wait ends, or when
/// the call is cancelled during it (so the statistics hold the time actually waited). A wait
/// shorter than `min` is not recorded; one at least that long counts as a wait too when `min`
/// is not zero (a remote limiter, whose wait is only known afterwards).
struct WaitClock<'p> {
    policy: &'p Policy,
    since: tokio::time::Instant,
    min: Duration,
}

impl<'p> WaitClock<'p> {
    fn new(policy: &'p Policy, min: Duration) -> Self {
        WaitClock {
            policy,
            since: tokio::time::Instant::now(),
            min,
        }
    }

    /// Records the wait now and returns how long it was (the same reading the record used).
    fn stop(self) -> Duration {
        let waited = self.since.elapsed();
        self.record(waited);
        std::mem::forget(self);
        waited
    }

    fn record(&self, waited: Duration) {
        if waited < self.min {
            return;
        }
        if !self.min.is_zero() {
            self.policy.counters.rate_limit_wait();
        }
        self.policy.counters.rate_limit_waited(waited);
        self.policy.metrics.rate_limit_wait(waited);
    }
}

impl Drop for WaitClock<'_> {
    fn drop(&mut self) {
        self.record(self.since.elapsed());
    }
}

/// Marks the thread as inside an attempt for as long as it lives (one poll).
struct InAttempt;

impl InAttempt {
    #[inline]
    fn enter() -> InAttempt {
        ATTEMPTS_IN_POLL.with(|d| d.set(d.get() + 1));
        InAttempt
    }
}

/// A pinned future polled with the thread marked as inside an attempt (see [`Run`]): what each
/// attempt awaits. A named future rather than `poll_fn` and a closure: fewer generic instances
/// in every annotated function, 1.4 M fewer compiler instructions each (BENCHMARKS.md §5).
pub(crate) struct InsideAttempt<'a, F>(pub(crate) std::pin::Pin<&'a mut F>);

impl<F: Future> Future for InsideAttempt<'_, F> {
    type Output = F::Output;

    #[inline]
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let _inside = InAttempt::enter();
        // `get_mut` (it is `Unpin`) rather than `self.0` through `Pin`'s `DerefMut`: one
        // generic function in each annotated function instead of three.
        std::pin::Pin::get_mut(self).0.as_mut().poll(cx)
    }
}

impl Drop for InAttempt {
    #[inline]
    fn drop(&mut self) {
        ATTEMPTS_IN_POLL.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// The per-call state of a policy: attempt number, deadline, previous delay, the concurrency
/// permit and breaker admission of the attempt in flight. Lives on the caller's stack; dropping
/// it (a cancelled call) returns the permit and frees any half-open probe slot.
///
/// # One layer retries
///
/// A call started while another policy's attempt is being polled (a `#[resilient]` function, or
/// a client with its own policy, awaited inside an outer `#[resilient]` body) makes one attempt:
/// its limiter, breaker, concurrency limit, timeout and deadline apply, but a failure is handed
/// up at once, for the outer policy (the one the user wrote) to wait and retry. Retrying at
/// every layer multiplies the load: 5 attempts inside 5 are 25 requests. A policy built with
/// `retry_when_nested(true)` (attribute key `retry_when_nested = true`) keeps its own retries.
/// Work spawned onto another task is not inside the attempt.
#[derive(Debug)]
pub struct Run<'p> {
    policy: &'p Policy,
    attempt: u32,
    nested: bool,
    /// When the attempt in flight started, for a limiter that learns from outcomes.
    started: Option<tokio::time::Instant>,
    /// Whether this call is in the counters yet (see `Counters::quick_successes`).
    counted: bool,
    /// Whether the attempt in flight went through `ready_now` uncounted.
    quick: bool,
    deadline: Deadline,
    previous_delay: Duration,
    /// Whether `previous_delay` is a wait decided after a failure and not yet taken: the
    /// annotated function's loop takes it in [`before_attempt`](Run::before_attempt), before the
    /// gates of the next attempt. A flag beside the delay (in the padding of the other flags), not an
    /// `Option<Duration>` of its own, which made every annotated function's future 40 bytes
    /// larger.
    pub(crate) wait_pending: bool,
    rng: Option<Random>,
    permit: Option<SemaphorePermit<'p>>,
    admission: Option<Admission>,
}

impl Drop for Run<'_> {
    #[inline]
    fn drop(&mut self) {
        // Only a call cancelled mid-way has anything left to do: the check is inlined into
        // every annotated function, the work is not.
        if !self.counted || self.quick || self.admission.is_some() {
            self.abandon();
        }
    }
}

impl<'p> Run<'p> {
    #[inline]
    pub(super) fn new(policy: &'p Policy) -> Self {
        if let Some(budget) = &policy.budget {
            budget.deposit();
        }
        Run {
            policy,
            attempt: 0,
            nested: !policy.retry_when_nested && inside_an_attempt(),
            started: None,
            counted: false,
            quick: false,
            deadline: Deadline::after(policy.deadline),
            previous_delay: Duration::ZERO,
            wait_pending: false,
            rng: None,
            permit: None,
            admission: None,
        }
    }

    /// A call dropped before it was counted (cancelled during its first attempt, or before
    /// it) still counts, and so does the attempt it had started; a half-open probe slot it
    /// held is freed.
    #[cold]
    #[inline(never)]
    fn abandon(&mut self) {
        self.count_call();
        self.settle_breaker(Outcome::Abandoned);
    }

    /// Attempts started so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The deadline of this call.
    pub fn deadline(&self) -> &Deadline {
        &self.deadline
    }

    /// Puts the call, and an uncounted attempt in flight, in the counters (once).
    #[inline]
    fn count_call(&mut self) {
        if !self.counted {
            self.counted = true;
            self.policy.counters.calls();
            self.policy.metrics.call(false);
        }
        if self.quick {
            self.quick = false;
            self.policy.counters.attempts();
            self.policy.metrics.attempt();
        }
    }

    fn emit(&self, event: Event) {
        if let Event::Breaker(t) = &event {
            metrics::breaker_state(self.policy.name, t.to);
        }
        if let Some(hook) = &self.policy.hook {
            hook.on_event(&event);
        }
    }

    #[inline]
    fn settle_breaker(&mut self, outcome: Outcome) {
        if let (Some(admission), Some(breaker)) = (self.admission.take(), &self.policy.breaker) {
            if let Some(t) = breaker.record(&admission, outcome) {
                self.emit(Event::Breaker(t));
            }
        }
    }

    fn give_up(&mut self, reason: GiveUpReason, failure: Option<Failure>) {
        self.policy.counters.give_ups();
        metrics::give_up(self.policy.name, reason.as_str());
        if reason == GiveUpReason::OuterRetries {
            // Not the end of the call: the outer policy decides, and logs if it gives up.
            tracing::debug!(
                target: "steadfast",
                call = self.policy.name,
                cause = failure.map(|f| f.cause()),
                status = failure.and_then(|f| f.status_code()),
                "handing the failure to the outer policy"
            );
            self.emit(Event::GiveUp {
                attempts: self.attempt,
                reason,
                failure,
            });
            return;
        }
        tracing::warn!(
            target: "steadfast",
            call = self.policy.name,
            attempts = self.attempt,
            reason = reason.as_str(),
            cause = failure.map(|f| f.cause()),
            status = failure.and_then(|f| f.status_code()),
            "giving up"
        );
        self.emit(Event::GiveUp {
            attempts: self.attempt,
            reason,
            failure,
        });
    }

    /// Ends the call because what the next attempt needs outside the policy failed (a tower
    /// service's readiness): counted and reported as a give-up.
    #[cfg(feature = "tower")]
    pub(crate) fn give_up_not_ready(&mut self) {
        self.count_call();
        self.settle_breaker(Outcome::Abandoned);
        self.give_up(GiveUpReason::ServiceNotReady, None);
    }

    fn stop_before_attempt(&mut self, reason: GiveUpReason, error: Error) -> Result<(), Error> {
        self.settle_breaker(Outcome::Abandoned);
        self.give_up(reason, None);
        Err(error)
    }

    fn deadline_error(&self) -> Error {
        Error::DeadlineExceeded {
            deadline: self.deadline.budget().unwrap_or_default(),
        }
    }

    /// The gates before an attempt when none of them can wait or refuse (no breaker, limiter,
    /// concurrency limit or deadline): counts the attempt and returns `true`, so that
    /// [`before_attempt`](Run::before_attempt) and its future are skipped. `false` means
    /// `before_attempt` must run. The attribute calls it first; it is only a shortcut.
    #[inline]
    pub fn ready_now(&mut self) -> bool {
        let policy = self.policy;
        if policy.breaker.is_some()
            || policy.limiter.is_some()
            || policy.concurrency.is_some()
            || policy.deadline.is_some()
        {
            return false;
        }
        self.attempt += 1;
        if self.counted {
            policy.counters.attempts();
            policy.metrics.attempt();
        } else {
            // Counted when it ends: as a quick success, or by `count_call`.
            self.quick = true;
        }
        true
    }

    /// Everything before an attempt, in order: deadline, breaker, concurrency, rate limiter.
    /// Waits for the limiter and for a permit, never past the deadline. An `Err` ends the call:
    /// return it (converted into the call's error type). In the `#[resilient]` attribute's
    /// loop it first sleeps the wait decided after the last failure, and skips the gates when
    /// the policy has none ([`ready_now`](Run::ready_now)); a caller of the step interface,
    /// whose [`after_attempt`](Run::after_attempt) has already waited, never has one pending.
    pub async fn before_attempt(&mut self) -> Result<(), Error> {
        // In an annotated function's loop, the wait decided after the last failure comes first
        // (see `defer_wait`): one future for the wait and the gates, so that the loop holds one
        // future besides the attempt's, not two, and no larger one.
        if std::mem::take(&mut self.wait_pending) {
            tokio::time::sleep(self.previous_delay).await;
            if self.ready_now() {
                return Ok(());
            }
        }
        let policy = self.policy;
        self.count_call();
        self.attempt += 1;
        if self.deadline.is_past() {
            return self.stop_before_attempt(GiveUpReason::Deadline, self.deadline_error());
        }
        if let Some(breaker) = &policy.breaker {
            match breaker.admit() {
                Ok(admission) => {
                    if let Some(t) = admission.transition {
                        self.emit(Event::Breaker(t));
                    }
                    self.admission = Some(admission);
                }
                Err(rejected) => {
                    policy.counters.rejected_by_breaker();
                    metrics::breaker_rejection(policy.name);
                    return self.stop_before_attempt(
                        GiveUpReason::CircuitOpen,
                        Error::CircuitOpen {
                            retry_after: rejected.retry_after,
                        },
                    );
                }
            }
        }
        if let Some(concurrency) = &policy.concurrency {
            let permit = match self.deadline.at() {
                Some(at) => tokio::time::timeout_at(at, concurrency.acquire())
                    .await
                    .ok(),
                None => Some(concurrency.acquire().await),
            };
            match permit {
                Some(p) => self.permit = Some(p),
                None => {
                    return self.stop_before_attempt(GiveUpReason::Deadline, self.deadline_error());
                }
            }
        }
        // The slot is taken last, at the moment the attempt starts: a slot taken before waiting
        // for a permit would be spent later, when permits free up, all at once (with `rpm = 600,
        // concurrency = 10` and a slow server, 980 starts in one minute). What the server counts
        // is starts, so the limiter is the last gate before the call.
        if let Some(limiter) = &policy.limiter {
            if let Err((reason, error)) = self.acquire_slot(limiter.as_ref()).await {
                self.permit = None;
                return self.stop_before_attempt(reason, error);
            }
        }
        if policy
            .limiter
            .as_ref()
            .is_some_and(|l| l.wants_observations())
        {
            self.started = Some(tokio::time::Instant::now());
        }
        policy.counters.attempts();
        policy.metrics.attempt();
        Ok(())
    }

    /// Tells a limiter that learns from outcomes what the attempt got.
    fn observe(&mut self, failure: Option<&Failure>) {
        if let (Some(started), Some(limiter)) = (self.started.take(), &self.policy.limiter) {
            limiter.observe(&Observation {
                started,
                status: failure.and_then(Failure::status_code),
                hint: failure.and_then(Failure::hint),
                terminal: failure.is_some_and(Failure::is_terminal),
            });
        }
    }

    /// Takes one rate-limit slot, waiting no later than the deadline. The time waited is
    /// measured, not predicted: it goes into the statistics and the wait histogram when the
    /// wait ends, or when the call is dropped during it.
    async fn acquire_slot(&self, limiter: &dyn RateLimiter) -> Result<(), (GiveUpReason, Error)> {
        let Some(builtin) = limiter.as_rate_limit() else {
            // Any other limiter: its own `acquire`, bounded by the deadline. It waits inside, so
            // the wait is known when it ends: anything over 10 ms is a wait; less is taken for
            // the round trip to a remote limiter.
            let clock = WaitClock::new(self.policy, REMOTE_ROUND_TRIP);
            let acquired = match self.deadline.at() {
                Some(at) => tokio::time::timeout_at(at, limiter.acquire(1)).await,
                None => Ok(limiter.acquire(1).await),
            };
            let waited = clock.stop();
            if waited >= REMOTE_ROUND_TRIP {
                self.announce_rate_limit_wait(waited);
            }
            return match acquired {
                Ok(Ok(())) => Ok(()),
                Ok(Err(denied)) if denied.is_unavailable() => {
                    Err((GiveUpReason::RateLimited, Error::LimiterUnavailable))
                }
                Ok(Err(denied)) => Err((
                    GiveUpReason::RateLimited,
                    Error::RateLimited {
                        retry_after: denied.retry_after(),
                    },
                )),
                Err(_) => Err((GiveUpReason::Deadline, self.deadline_error())),
            };
        };
        // The built-in: synchronous checks and plain sleeps, no boxed future.
        let mut clock = None;
        while let Err(denied) = builtin.try_acquire(1) {
            let wait = match denied.retry_after() {
                Some(wait) if self.deadline.allows(wait) => wait,
                retry_after => {
                    return Err((
                        GiveUpReason::RateLimited,
                        Error::RateLimited { retry_after },
                    ));
                }
            };
            if clock.is_none() {
                self.policy.counters.rate_limit_wait();
                self.announce_rate_limit_wait(wait);
                clock = Some(WaitClock::new(self.policy, Duration::ZERO));
            }
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// Logs a wait for the rate limiter and tells the hook, with the wait it expects (the
    /// built-in) or the one it took (any other limiter).
    fn announce_rate_limit_wait(&self, wait: Duration) {
        tracing::debug!(
            target: "steadfast",
            call = self.policy.name,
            attempt = self.attempt,
            delay_ms = wait.as_millis() as u64,
            "waiting for the rate limiter"
        );
        self.emit(Event::RateLimitWait {
            attempt: self.attempt,
            delay: wait,
        });
    }

    /// Runs one attempt under the attempt timeout and the deadline, whichever ends first.
    /// While the attempt is polled, policies started inside it make one attempt each (see
    /// [`Run`]).
    pub async fn attempt<T, E>(&self, call: impl Future<Output = Result<T, E>>) -> Attempt<T, E> {
        let call = InsideAttempt(std::pin::pin!(call));
        if self.policy.timeout.is_none() && self.deadline.at().is_none() {
            return Attempt::Returned(call.await);
        }
        match self.deadline.attempt_limit(self.policy.timeout) {
            None => Attempt::Returned(call.await),
            Some((limit, bound)) => match tokio::time::timeout(limit, call).await {
                Ok(result) => Attempt::Returned(result),
                Err(_) => Attempt::TimedOut(bound),
            },
        }
    }

    /// Judges an attempt and, if it will be retried, waits before returning [`Step::Retry`].
    ///
    /// `classify` turns the result into a [`Verdict`]: [`Verdict::of_error`] for most calls.
    pub async fn after_attempt<T, E>(
        &mut self,
        attempt: Attempt<T, E>,
        classify: impl FnOnce(&Result<T, E>) -> Verdict,
    ) -> Step<T, E> {
        match self.judge(attempt, classify) {
            Judged::Success(result) => Step::Done(result),
            Judged::Failed(failed) => self.after_failure(failed).await,
        }
    }

    /// The synchronous half of [`after_attempt`](Run::after_attempt): records a success (and
    /// returns it) or hands a failure on, without creating a future.
    #[inline(always)]
    pub(crate) fn judge<T, E>(
        &mut self,
        attempt: Attempt<T, E>,
        classify: impl FnOnce(&Result<T, E>) -> Verdict,
    ) -> Judged<T, E> {
        // The common case, a success with no adaptive limiter to tell, stays inline in the
        // caller (so the result is not passed through memory to another function); the rest is
        // one out-of-line function per result type.
        match attempt {
            Attempt::Returned(result) => {
                self.attempt_returned();
                match self.judge_verdict(classify(&result)) {
                    Ok(()) => Judged::Success(result),
                    Err(verdict) => self.judge_returned(result, verdict),
                }
            }
            Attempt::TimedOut(bound) => self.timed_out(bound),
        }
    }

    /// Frees the concurrency slot of an attempt that returned: the first thing done with it,
    /// before its result is classified.
    #[inline(always)]
    pub(crate) fn attempt_returned(&mut self) {
        self.permit = None;
    }

    /// The inline half of [`judge`](Run::judge) for an attempt that returned (after
    /// [`attempt_returned`](Run::attempt_returned)), given its verdict: `Ok` when the result is a
    /// success and is recorded as one (no adaptive limiter to tell), otherwise the verdict, for
    /// [`judge_returned`](Run::judge_returned). Only the verdict is passed, so a success is
    /// returned straight from where it was produced, and this is one function for every result
    /// type.
    #[inline(always)]
    pub(crate) fn judge_verdict(&mut self, verdict: Verdict) -> Result<(), Verdict> {
        if verdict == Verdict::Success && self.started.is_none() {
            self.succeeded();
            return Ok(());
        }
        Err(verdict)
    }

    /// A success: the breaker, the counters (one update for a first attempt that succeeds),
    /// and the retry budget.
    #[inline(always)]
    fn succeeded(&mut self) {
        let policy = self.policy;
        self.settle_breaker(Outcome::Success);
        if self.quick {
            // The call, its attempt and its success in one update.
            self.quick = false;
            self.counted = true;
            policy.counters.quick_success();
            policy.metrics.call(true);
        } else {
            policy.counters.successes();
            policy.metrics.success();
        }
        if let Some(budget) = &policy.budget {
            budget.on_success(self.attempt.saturating_sub(1));
        }
    }

    /// [`judge`](Run::judge) for an attempt that returned, when it is not a plain success:
    /// the adaptive limiter learns from it, and a failure is handed on.
    #[inline(never)]
    pub(crate) fn judge_returned<T, E>(
        &mut self,
        result: Result<T, E>,
        verdict: Verdict,
    ) -> Judged<T, E> {
        self.permit = None;
        if self.started.is_some() {
            self.observe(verdict.failure());
        }
        if verdict == Verdict::Success {
            self.succeeded();
            return Judged::Success(result);
        }
        self.count_call();
        Judged::Failed(Failed {
            result: Some(result),
            verdict,
            bound: None,
        })
    }

    /// [`judge`](Run::judge) for an attempt that ran out of time.
    #[cold]
    #[inline(never)]
    fn timed_out<T, E>(&mut self, bound: Bound) -> Judged<T, E> {
        self.permit = None;
        self.count_call();
        Judged::Failed(Failed {
            result: None,
            verdict: Verdict::Failed(Failure::transport(Transport::Timeout)),
            bound: Some(bound),
        })
    }

    /// Decides what a failed attempt leads to and, if it will be retried, waits before
    /// returning [`Step::Retry`].
    pub(crate) async fn after_failure<T, E>(&mut self, failed: Failed<T, E>) -> Step<T, E> {
        match self.decide_failure(failed) {
            Ok(delay) => {
                self.wait(delay).await;
                Step::Retry
            }
            Err(Ended::Done(result)) => Step::Done(result),
            Err(Ended::Stop(stop)) => Step::Stop(stop),
        }
    }

    /// The synchronous half of [`after_failure`](Run::after_failure): the delay before the
    /// next attempt (the failed result is dropped, not held across the wait), or what the call
    /// ends with. A caller that awaits only the wait ([`wait`](Run::wait), or
    /// [`before_attempt`](Run::before_attempt) after [`defer_wait`](Run::defer_wait)) keeps the
    /// decision's state out of its own future.
    #[inline]
    pub(crate) fn decide_failure<T, E>(
        &mut self,
        failed: Failed<T, E>,
    ) -> Result<Duration, Ended<T, E>> {
        // The decision is not generic, so it is compiled once in this crate, not again for
        // every annotated function (it is most of the executor's code).
        let decision = self.decide(failed.verdict, failed.bound);
        let result = failed.result;
        match decision {
            Decision::End(reason) => Err(match result {
                Some(result) => Ended::Done(result),
                None => Ended::Stop(Stop { reason, last: None }),
            }),
            Decision::Stop(reason) => Err(Ended::Stop(Stop {
                reason,
                last: result,
            })),
            Decision::Retry(delay) => Ok(delay),
        }
    }

    /// Keeps the wait decided after a failure for the next [`before_attempt`](Run::before_attempt)
    /// to take first, in an annotated function's loop. It is the previous delay from here on, as
    /// [`wait`](Run::wait) records it after sleeping: the next decision reads it only after the
    /// wait (or the call was dropped).
    pub(crate) fn defer_wait(&mut self, delay: Duration) {
        self.previous_delay = delay;
        self.wait_pending = true;
    }

    /// Sleeps before a retry. Not generic, for the same reason as `decide`.
    pub(crate) async fn wait(&mut self, delay: Duration) {
        tokio::time::sleep(delay).await;
        self.previous_delay = delay;
    }

    /// What a failed attempt leads to: every check after an attempt, the events and logs.
    fn decide(&mut self, verdict: Verdict, bound: Option<Bound>) -> Decision {
        let policy = self.policy;
        let retryable = verdict.is_retryable(&policy.on);
        self.settle_breaker(if retryable {
            Outcome::Failure
        } else {
            Outcome::Success
        });
        // Every verdict but `Success` (returned by `judge`) carries its failure.
        let failure = verdict.failure().copied().unwrap_or_default();
        let timeout_error = match bound {
            Some(Bound::Deadline) => {
                self.give_up(GiveUpReason::Deadline, Some(failure));
                return Decision::End(self.deadline_error());
            }
            Some(Bound::Attempt(after)) => Error::AttemptTimedOut { after },
            None => self.deadline_error(),
        };
        // `End(error)` returns the call's own result when it has one, `error` otherwise.
        let end_with = Decision::End;
        if !retryable {
            self.give_up(GiveUpReason::NotRetryable, Some(failure));
            return end_with(timeout_error);
        }
        if self.nested {
            self.give_up(GiveUpReason::OuterRetries, Some(failure));
            return end_with(timeout_error);
        }
        if self.attempt >= policy.attempts {
            self.give_up(GiveUpReason::AttemptsExhausted, Some(failure));
            return end_with(timeout_error);
        }
        let (delay, reason) = match failure.hint().filter(|_| policy.honor_hint) {
            Some(hint) => {
                let allowed = match self.deadline.remaining() {
                    Some(left) => left.min(policy.max_hint),
                    None => policy.max_hint,
                };
                if hint > allowed {
                    self.give_up(GiveUpReason::HintTooLong, Some(failure));
                    return Decision::Stop(Error::RetryDelayTooLong {
                        requested: hint,
                        allowed,
                        retry_at: SystemTime::now()
                            .checked_add(hint)
                            .unwrap_or_else(SystemTime::now),
                        status: failure.status_code(),
                    });
                }
                (hint, WaitReason::ServerHint)
            }
            None => {
                let rng = self.rng.get_or_insert_with(|| match &policy.seed {
                    Some((seed, calls)) => {
                        let n = calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        Random::seeded(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                    }
                    None => Random::new(),
                });
                let retry = self.attempt;
                match policy.schedule.delay(retry, self.previous_delay, rng) {
                    Some(d) => (d, WaitReason::Backoff),
                    None => {
                        self.give_up(GiveUpReason::ScheduleEnded, Some(failure));
                        return end_with(timeout_error);
                    }
                }
            }
        };
        if !self.deadline.allows(delay) {
            // Nothing sleeps past the deadline: stop now with what we have.
            self.give_up(GiveUpReason::Deadline, Some(failure));
            return end_with(self.deadline_error());
        }
        if let Some(budget) = &policy.budget {
            if !budget.try_withdraw(failure.transport_kind() == Some(Transport::Timeout)) {
                self.give_up(GiveUpReason::BudgetExhausted, Some(failure));
                return end_with(timeout_error);
            }
        }
        policy.counters.retries();
        metrics::retry(policy.name, failure.cause());
        tracing::info!(
            target: "steadfast",
            call = policy.name,
            attempt = self.attempt,
            delay_ms = delay.as_millis() as u64,
            wait = reason.as_str(),
            cause = failure.cause(),
            status = failure.status_code(),
            "retrying"
        );
        self.emit(Event::Retry {
            attempt: self.attempt,
            delay,
            reason,
            failure,
        });
        Decision::Retry(delay)
    }
}

/// What [`Run::decide`] concluded.
enum Decision {
    /// Return the call's own result if there is one, this error otherwise.
    End(Error),
    /// The policy stops the call: this error, with the last outcome.
    Stop(Error),
    /// Wait this long, then retry.
    Retry(Duration),
}

/// How a call ends after a failed attempt that is not retried (see [`Run::decide_failure`]).
pub(crate) enum Ended<T, E> {
    /// The call returns its own last result.
    Done(Result<T, E>),
    /// The policy stopped it.
    Stop(Stop<T, E>),
}
