//! What `#[resilient]` expands to calls into. Not public API: names and signatures may change in
//! any release. The logic lives here, in ordinary tested Rust, so that the macro stays thin.

use crate::PolicyBuilder;
use crate::breaker::BreakerConfig;
use crate::classify::{Classify, Verdict};
use crate::error::{ConfigError, Error};
use crate::limit::{RateLimit, RateLimiter};
use crate::observe::{Event, Hook};
use crate::policy::{Ended, Failed, InsideAttempt, Judged, Run, Stop};
use crate::retry::Jitter;
use std::convert::identity;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::sync::{Arc, OnceLock};

pub use crate::Policy;
pub use std::time::Duration;

/// A builder with the literal settings of one annotated function, as the attribute wrote them
/// into its `static`: `key=value` pairs separated by `;`, every value already checked and
/// normalised at compile time (durations in nanoseconds, `on` as a list, `budget=off`, the
/// parameters of `breaker(...)` as `breaker.min_calls=20`, a bare `breaker`). `limiter`, whose
/// value is the user's name, comes last and takes the rest of the text.
///
/// One string, parsed once on first use by this one function, keeps every annotated function's
/// static and code small; the attribute's own checks are what users see.
fn builder_from(name: &'static str, settings: &str) -> Result<PolicyBuilder, ConfigError> {
    let mut b = Policy::builder().name(name);
    let mut breaker: Option<BreakerConfig> = None;
    let mut rest = settings;
    while !rest.is_empty() {
        let (pair, next) = match rest.strip_prefix("limiter=") {
            Some(_) => (rest, ""),
            None => rest.split_once(';').unwrap_or((rest, "")),
        };
        rest = next;
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = || {
            ConfigError::new(
                "attribute",
                format!(
                    "#[resilient] wrote `{pair}`, which this version of steadfast cannot read: keep steadfast and steadfast-macros at the same version"
                ),
            )
        };
        let nanos = || value.parse().map(Duration::from_nanos).map_err(|_| bad());
        let count = || value.parse::<u32>().map_err(|_| bad());
        let ratio = || value.parse::<f64>().map_err(|_| bad());
        let flag = || value.parse::<bool>().map_err(|_| bad());
        if let Some(field) = key.strip_prefix("breaker") {
            let c = breaker.get_or_insert_with(BreakerConfig::default);
            match field {
                "" => {}
                ".failure_ratio" => c.failure_ratio = ratio()?,
                ".min_calls" => c.min_calls = count()?,
                ".window" => c.window = nanos()?,
                ".open_for" => c.open_for = nanos()?,
                ".half_open" => c.half_open = count()?,
                _ => return Err(bad()),
            }
            continue;
        }
        b = match key {
            "retry" => b.retry(value),
            "on" => b.on(value.parse()?),
            "attempts" => b.attempts(count()?),
            "base" => b.base(nanos()?),
            "max_delay" => b.max_delay(nanos()?),
            "deadline" => b.deadline(nanos()?),
            "timeout" => b.timeout(nanos()?),
            "max_hint" => b.max_hint(nanos()?),
            "factor" => b.factor(ratio()?),
            "jitter" => b.jitter(match value {
                "full" => Jitter::Full,
                "equal" => Jitter::Equal,
                "decorrelated" => Jitter::Decorrelated,
                "none" => Jitter::None,
                _ => return Err(bad()),
            }),
            "rps" => b.rps(count()?),
            "rpm" => b.rpm(count()?),
            "rph" => b.rph(count()?),
            "rpd" => b.rpd(count()?),
            "burst" => b.burst(count()?),
            "concurrency" => b.concurrency(count()?),
            "budget" if value == "off" => b.budget(None),
            "budget" => b.budget(Some((ratio()?, 10))),
            "honor_hint" => b.honor_hint(flag()?),
            "retry_when_nested" => b.retry_when_nested(flag()?),
            "adapt" => b.adapt(flag()?),
            "limiter" => b.limiter_name(value),
            _ => return Err(bad()),
        };
    }
    if let Some(c) = breaker {
        b = b.breaker(c);
    }
    Ok(b)
}

/// One annotated function's policy: its literal settings, and the policy built from them on
/// first use and shared by every call. The attribute puts one in a `static`.
#[derive(Debug)]
pub struct Site {
    module: &'static str,
    function: &'static str,
    settings: &'static str,
    /// `module::function`, joined on first use (a `concat!` in every function cost more).
    name: OnceLock<String>,
    policy: OnceLock<Policy>,
}

/// [`Site::new`], as the expansion names it: a generic-free function's path costs the compiler
/// less than an associated function's (`Site::new`, a path relative to a type), 0.01 M
/// instructions per annotated function in a debug rebuild (BENCHMARKS.md §5).
#[inline(always)]
pub const fn site(module: &'static str, function: &'static str, settings: &'static str) -> Site {
    Site::new(module, function, settings)
}

/// How [`Site::build`] makes the policy.
enum Make<'a> {
    /// From the literal settings alone.
    Settings,
    /// From the literal settings, then the keys that are expressions.
    With(&'a dyn Fn(PolicyBuilder) -> PolicyBuilder),
    /// `policy = <expr>`.
    Prebuilt(&'a dyn Fn() -> Policy),
}

impl Site {
    /// The site of `function` in `module` (its `module_path!()`), with the attribute's literal
    /// settings (see `builder_from`); the policy is built on first use.
    pub const fn new(module: &'static str, function: &'static str, settings: &'static str) -> Site {
        Site {
            module,
            function,
            settings,
            name: OnceLock::new(),
            policy: OnceLock::new(),
        }
    }

    /// The function's path, `module::function`: the policy's name.
    pub fn name(&'static self) -> &'static str {
        self.name
            .get_or_init(|| format!("{}::{}", self.module, self.function))
    }

    /// The policy, built from the literal settings on first use.
    ///
    /// # Panics
    ///
    /// When the policy cannot be built. The attribute checks every literal setting at compile
    /// time, so this happens only for what it cannot see: a `limiter = "name"` whose rates
    /// differ from another function's limiter of the same name. That is a programming error in
    /// the caller, and the message names the function, the limiter and both configurations.
    #[inline]
    pub fn policy(&'static self) -> &'static Policy {
        match self.policy.get() {
            Some(policy) => policy,
            None => self.build(Make::Settings),
        }
    }

    /// A call under [`policy`](Site::policy).
    ///
    /// # Panics
    ///
    /// As [`policy`](Site::policy).
    #[inline]
    pub fn start(&'static self) -> Run<'static> {
        self.policy().start()
    }

    /// [`policy`](Site::policy), for a function with keys that are expressions (a limiter
    /// value, `on_retry`): `with` adds them to the builder. It runs once, on first use.
    ///
    /// # Panics
    ///
    /// As [`policy`](Site::policy).
    #[inline]
    pub fn policy_with(
        &'static self,
        with: &dyn Fn(PolicyBuilder) -> PolicyBuilder,
    ) -> &'static Policy {
        match self.policy.get() {
            Some(policy) => policy,
            None => self.build(Make::With(with)),
        }
    }

    /// The policy `policy = <expr>` gives, evaluated on first use.
    #[inline]
    pub fn prebuilt(&'static self, policy: &dyn Fn() -> Policy) -> &'static Policy {
        match self.policy.get() {
            Some(policy) => policy,
            None => self.build(Make::Prebuilt(policy)),
        }
    }

    #[cold]
    #[inline(never)]
    fn build(&'static self, make: Make<'_>) -> &'static Policy {
        let function = self.name();
        let policy = self.policy.get_or_init(|| {
            let built = match make {
                Make::Settings => {
                    builder_from(function, self.settings).and_then(PolicyBuilder::build)
                }
                Make::With(with) => {
                    builder_from(function, self.settings).and_then(|b| with(b).build())
                }
                Make::Prebuilt(policy) => Ok(policy()),
            };
            match built {
                Ok(policy) => policy,
                Err(e) => panic!("#[resilient] on `{function}`: {e}"),
            }
        });
        crate::observe::register_site(function, policy);
        policy
    }
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

/// Picks, by method resolution at an annotated function's concrete result type `R`, how its
/// results are classified and how a stop becomes a result: `pick::<R>().judging()` (or
/// `.converter()` alone, with `classify = path`).
///
/// - Results are classified by [`Verdict::of_result`] when the success type is [`Classify`] too
///   (so `Ok` of a 429 response is retried), and by [`Verdict::of_error`] otherwise.
/// - A stop becomes the policy's own error through `From<steadfast::Error>` when the error type
///   has it, and the call's last real outcome otherwise.
///
/// Each of the four combinations is an inherent method of one type, under the bounds it needs:
/// `Pick` (both), [`PickResult`] (success type `Classify`), [`PickFrom`] (error type `From`),
/// [`PickNeither`]. When a bound does not hold, method resolution moves on through `Deref` to the
/// next type, so no trait needs to be in scope and the expansion imports nothing. The results are
/// zero-sized types ([`OfResult`] or [`OfError`], [`ViaFrom`] or [`ViaLast`]) whose methods
/// inline into the attempt. The bound on the
/// error type's `Classify` sits on the methods, not the impls, so that a missing one is reported
/// with [`ErrorClassify`]'s message rather than as "method not found".
pub struct Pick<R>(PickResult<R>);

/// [`Pick`] when the error type has no `From<steadfast::Error>`.
pub struct PickResult<R>(PickFrom<R>);

/// [`Pick`] when the success type is not [`Classify`].
pub struct PickFrom<R>(PickNeither<R>);

/// [`Pick`] when neither bound holds.
pub struct PickNeither<R>(PhantomData<fn() -> R>);

impl<R> Pick<R> {
    /// The picker.
    pub const NEW: Self = Pick(PickResult(PickFrom(PickNeither(PhantomData))));
}

/// The picker for result type `R`, as the expansion names it: `pick::<R>().judging()`. A
/// generic function's call costs the compiler less than the associated constant of a generic
/// type (`Pick::<R>::NEW`): 0.025 M fewer instructions per annotated function in a debug
/// rebuild (BENCHMARKS.md §5).
#[inline(always)]
pub const fn pick<R>() -> Pick<R> {
    Pick::NEW
}

macro_rules! pick_chain {
    ($($from:ident => $to:ident),*) => {$(
        impl<R> std::ops::Deref for $from<R> {
            type Target = $to<R>;
            fn deref(&self) -> &$to<R> {
                &self.0
            }
        }

        impl<R> fmt::Debug for $from<R> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(stringify!($from))
            }
        }
    )*};
}

pick_chain!(Pick => PickResult, PickResult => PickFrom, PickFrom => PickNeither);

impl<R> fmt::Debug for PickNeither<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PickNeither")
    }
}

/// A stop as the policy's own error.
fn via_from<T, E: From<Error>>(stop: Stop<T, E>) -> Result<T, E> {
    Err(E::from(stop.into_reason()))
}

/// A stop as the call's last real outcome.
fn via_last<T, E>(stop: Stop<T, E>) -> Result<T, E> {
    match stop.into_last() {
        Some(result) => result,
        // Only a refused or timed-out attempt, a deadline, a breaker, a limiter value or a
        // prebuilt policy stop a call without an outcome of its own, and each of those keys makes
        // the attribute require `From<steadfast::Error>` (a compile error otherwise), which picks
        // `via_from`. Without them the only stop is a server delay beyond `max_hint`, and that
        // stop always carries the outcome that asked for the delay, `Ok` or `Err`.
        None => unreachable!("#[resilient]: a policy stop without the call's outcome"),
    }
}

impl<T: Classify, E: From<Error>> Pick<Result<T, E>> {
    /// Both sides classified; stops through `From`.
    pub fn judging(&self) -> Judging<OfResult, ViaFrom>
    where
        E: ErrorClassify,
    {
        (OfResult, ViaFrom)
    }

    /// Stops through `From`.
    pub fn converter(&self) -> ViaFrom {
        ViaFrom
    }
}

impl<T: Classify, E> PickResult<Result<T, E>> {
    /// Both sides classified; stops give the last outcome.
    pub fn judging(&self) -> Judging<OfResult, ViaLast>
    where
        E: ErrorClassify,
    {
        (OfResult, ViaLast)
    }

    /// Stops give the last outcome.
    pub fn converter(&self) -> ViaLast {
        ViaLast
    }
}

impl<T, E: From<Error>> PickFrom<Result<T, E>> {
    /// The error side classified; stops through `From`.
    pub fn judging(&self) -> Judging<OfError, ViaFrom>
    where
        E: ErrorClassify,
    {
        (OfError, ViaFrom)
    }

    /// Stops through `From`.
    pub fn converter(&self) -> ViaFrom {
        ViaFrom
    }
}

impl<T, E> PickNeither<Result<T, E>> {
    /// The error side classified; stops give the last outcome.
    pub fn judging(&self) -> Judging<OfError, ViaLast>
    where
        E: ErrorClassify,
    {
        (OfError, ViaLast)
    }

    /// Stops give the last outcome.
    pub fn converter(&self) -> ViaLast {
        ViaLast
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

/// A method taking `self` by value gives each attempt its own copy of `self`; a message that
/// says so when it cannot.
#[diagnostic::on_unimplemented(
    message = "#[resilient] needs to clone `self` (of type `{Self}`) for each attempt",
    label = "`self` is taken by value, but `{Self}` does not implement `Clone`",
    note = "each attempt gets its own copy of `self` taken by value (the body may consume it): make `{Self}` `Clone`, or take `&self` or `&mut self`"
)]
pub trait RetryReceiver: Clone {}
#[diagnostic::do_not_recommend]
impl<T: Clone> RetryReceiver for T {}

/// The two ways `self` taken by value is made fresh for one attempt, imported together by a
/// glob (whichever the type picks is used, so the import is never unused).
pub mod receiver {
    use super::RetryReceiver;

    /// `self` taken by value, for one attempt (`self.__sf_fresh()`): a copy, or, when `Self` is a
    /// `&mut` (a method of `impl Trait for &mut T`), a reborrow, which the method call makes
    /// ([`ReceiverReborrow`] is found first, at the receiver's own type; this one by autoref).
    pub trait ReceiverCopy {
        /// A copy of `self`.
        fn __sf_fresh(&self) -> Self
        where
            Self: RetryReceiver + Sized;
    }

    impl<T> ReceiverCopy for T {
        fn __sf_fresh(&self) -> T
        where
            T: RetryReceiver,
        {
            self.clone()
        }
    }

    /// `self` of type `&mut U` taken by value, for one attempt: the method call reborrows it.
    pub trait ReceiverReborrow<'a, U: ?Sized> {
        /// The reborrowed reference.
        fn __sf_fresh(self) -> &'a mut U;
    }

    impl<'a, U: ?Sized> ReceiverReborrow<'a, U> for &'a mut U {
        fn __sf_fresh(self) -> &'a mut U {
            self
        }
    }
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

/// How an annotated function's results are classified, and how a stop becomes its result:
/// what [`Pick`] chose for its result type.
///
/// Both are zero-sized types named here, neither closures nor function pointers: the success
/// path calls them directly (so they inline), and checking an annotated function needs one
/// trait lookup each, not a closure signature or an opaque type.
pub type Judging<C, V> = (C, V);

/// How an annotated function's results are classified (see [`Pick`]).
pub trait Classifier<T, E>: Copy {
    /// The verdict on one outcome.
    fn classify(self, result: &Result<T, E>) -> Verdict;
}

/// How a stop becomes an annotated function's result (see [`Pick`]).
pub trait Converter<T, E>: Copy {
    /// The function's result for a stop.
    fn convert(self, stop: Stop<T, E>) -> Result<T, E>;
}

/// Classifies both sides ([`Verdict::of_result`]): the success type is [`Classify`] too.
#[derive(Debug, Clone, Copy)]
pub struct OfResult;

impl<T: Classify, E: ErrorClassify> Classifier<T, E> for OfResult {
    #[inline(always)]
    fn classify(self, result: &Result<T, E>) -> Verdict {
        Verdict::of_result(result)
    }
}

/// Classifies the error side ([`Verdict::of_error`]).
#[derive(Debug, Clone, Copy)]
pub struct OfError;

impl<T, E: ErrorClassify> Classifier<T, E> for OfError {
    #[inline(always)]
    fn classify(self, result: &Result<T, E>) -> Verdict {
        Verdict::of_error(result)
    }
}

/// Classifies with the function given as `classify = path` (see [`custom`]).
#[derive(Debug, Clone, Copy)]
pub struct Custom<F>(F);

impl<T, E> Classifier<T, E> for Custom<fn(&Result<T, E>) -> Verdict> {
    #[inline(always)]
    fn classify(self, result: &Result<T, E>) -> Verdict {
        (self.0)(result)
    }
}

/// The `classify = path` function as the attempt's classifier. Taken as a function pointer of
/// the function's result type `R`, so that a function of another shape is one type error at the
/// path (the user's classifier is then called through the pointer, not inlined: a few ns,
/// against built-in classification that inlines).
pub fn custom<R>(f: fn(&R) -> Verdict) -> Custom<fn(&R) -> Verdict> {
    Custom(f)
}

/// A stop as the policy's own error, through `From<steadfast::Error>`.
#[derive(Debug, Clone, Copy)]
pub struct ViaFrom;

impl<T, E: From<Error>> Converter<T, E> for ViaFrom {
    #[inline]
    fn convert(self, stop: Stop<T, E>) -> Result<T, E> {
        via_from(stop)
    }
}

/// A stop as the call's last real outcome.
#[derive(Debug, Clone, Copy)]
pub struct ViaLast;

impl<T, E> Converter<T, E> for ViaLast {
    #[inline]
    fn convert(self, stop: Stop<T, E>) -> Result<T, E> {
        via_last(stop)
    }
}

/// Never called: `#[resilient]` writes `if false { return typed::<R>(); }` at the start of the
/// body's block, which gives the block its type (the function's return type) before the body is
/// checked, so `?` and `.into()` in the body infer, and a body of the wrong type is reported at
/// its value, with a note at the return type.
///
/// # Panics
///
/// Always, if called: there is no value to return. The expansion only names it in a branch that
/// is never taken.
#[cold]
pub fn typed<R>() -> R {
    unreachable!("steadfast::__private::typed is only named in a branch that is never taken")
}

/// One pass of an annotated function's loop, inside an `async fn` of this module: the wait
/// decided by the previous pass and the gates before the attempt (one future,
/// [`Run::before_attempt`], which takes the wait first), the attempt, its verdict, and the
/// decision after a failure. Whatever
/// ends the call leaves by `return $leave(result)`; a pass that falls through has left its wait
/// in the `Run` for the next pass, which makes the next attempt. Two futures in the caller's
/// state, not three: less code in every annotated function. `untimed` polls the attempt's future in
/// place, pinned in the caller's state, never moved; `timed` moves it once, into
/// [`Run::attempt`], which applies the attempt timeout and the deadline.
///
/// A success goes straight back to the caller, never through `Judged`: each move of the result
/// through another aggregate costs a copy on the hottest path there is. What follows a failure
/// is decided synchronously ([`after_failure`]), so only the wait (a timer) is held in the
/// caller's future, inside `before_attempt`'s.
macro_rules! pass {
    ($timing:ident, $run:expr, $attempt:expr, ($classify:ident, $convert:ident), $leave:path) => {{
        let run: &mut Run<'_> = $run;
        if run.wait_pending || !run.ready_now() {
            if let Err(reason) = run.before_attempt().await {
                return $leave($convert.convert(Stop::refused(reason)));
            }
        }
        let failed = pass!(@judged $timing, run, $attempt, $classify, $leave);
        match after_failure(run, failed, $convert) {
            Ok(delay) => run.defer_wait(delay),
            Err(end) => return $leave(end),
        }
    }};
    (@judged untimed, $run:ident, $attempt:expr, $classify:ident, $leave:path) => {{
        let result = InsideAttempt(std::pin::pin!($attempt)).await;
        $run.attempt_returned();
        match $run.judge_verdict($classify.classify(&result)) {
            Ok(()) => return $leave(result),
            Err(verdict) => match $run.judge_returned(result, verdict) {
                Judged::Success(result) => return $leave(result),
                Judged::Failed(failed) => failed,
            },
        }
    }};
    (@judged timed, $run:ident, $attempt:expr, $classify:ident, $leave:path) => {{
        let attempt = $run.attempt($attempt).await;
        match $run.judge(attempt, |r| $classify.classify(r)) {
            Judged::Success(result) => return $leave(result),
            Judged::Failed(failed) => failed,
        }
    }};
}

/// The whole call, for a function whose keys are all literals (no `policy`, `limiter = <expr>`
/// or `on_retry`: its site builds the policy from the settings alone) and set no time limit
/// (no `timeout` or `deadline`, which the attribute knows at compile time: no timer is compiled
/// in), and a function
/// whose body only reads its arguments, as far as the signature shows: a receiver known to be
/// read-only (`&self`, `Arc<Self>`, ...), no `&mut` in an argument's type, no `mut` binding
/// that is not copied per attempt (docs/architecture.md, "The attribute"). One closure then
/// makes every attempt's future, after the gates have let the attempt through, and the loop
/// lives here, compiled once, instead of in each annotated function, whose body is then a
/// single `.await` (a tenth less compile time per function than [`attempt`]'s loop,
/// BENCHMARKS.md §5).
///
/// `classify` gives each attempt's verdict; `convert` turns a stop (a refused attempt, a
/// server delay beyond `max_hint`, ...) into the function's result, through
/// `From<steadfast::Error>` when the error type has it (see [`Pick`]).
///
/// Given the site rather than its policy: one method call fewer in each annotated function
/// (BENCHMARKS.md §5).
pub async fn call<T, E, F: Future<Output = Result<T, E>>>(
    site: &'static Site,
    mut make: impl FnMut() -> F,
    judge: Judging<impl Classifier<T, E>, impl Converter<T, E>>,
) -> Result<T, E> {
    let mut run = site.policy().start();
    let (classify, convert) = judge;
    loop {
        pass!(untimed, &mut run, make(), (classify, convert), identity);
    }
}

/// [`call`] given the policy, for a function with keys that are expressions (`limiter =
/// <expr>`, `on_retry`), which its site builds with them (`Site::policy_with`), and no time
/// limit.
pub async fn call_policy<T, E, F: Future<Output = Result<T, E>>>(
    policy: &Policy,
    mut make: impl FnMut() -> F,
    judge: Judging<impl Classifier<T, E>, impl Converter<T, E>>,
) -> Result<T, E> {
    let mut run = policy.start();
    let (classify, convert) = judge;
    loop {
        pass!(untimed, &mut run, make(), (classify, convert), identity);
    }
}

/// [`call`] given the policy, for a policy that may have a time limit (`timeout`, `deadline`,
/// or `policy = <expr>`, whose limits the attribute cannot see).
pub async fn call_timed<T, E, F: Future<Output = Result<T, E>>>(
    policy: &Policy,
    mut make: impl FnMut() -> F,
    judge: Judging<impl Classifier<T, E>, impl Converter<T, E>>,
) -> Result<T, E> {
    let mut run = policy.start();
    let (classify, convert) = judge;
    loop {
        pass!(timed, &mut run, make(), (classify, convert), identity);
    }
}

/// One pass of the loop of a function that may lend an argument mutably to its body (a receiver
/// not known to be read-only, a `&mut` argument, a `mut` reference): each attempt's future
/// borrows it anew, so each pass needs a closure of its own, and the loop stays in the
/// function. `Break` carries what the function returns, `Continue` means the attempt failed and
/// will be retried: the loop calls this again, which first waits the delay decided (kept in the
/// `Run`). `judge` is as for [`call`].
pub async fn attempt<T, E, F: Future<Output = Result<T, E>>>(
    run: &mut Run<'_>,
    call: impl FnOnce() -> F,
    (classify, convert): Judging<impl Classifier<T, E>, impl Converter<T, E>>,
) -> ControlFlow<Result<T, E>> {
    pass!(
        untimed,
        run,
        call(),
        (classify, convert),
        ControlFlow::Break
    );
    ControlFlow::Continue(())
}

/// [`attempt`] for a policy that may have a time limit.
pub async fn attempt_timed<T, E, F: Future<Output = Result<T, E>>>(
    run: &mut Run<'_>,
    call: impl FnOnce() -> F,
    (classify, convert): Judging<impl Classifier<T, E>, impl Converter<T, E>>,
) -> ControlFlow<Result<T, E>> {
    pass!(timed, run, call(), (classify, convert), ControlFlow::Break);
    ControlFlow::Continue(())
}

/// The end of a failed pass, decided synchronously: the delay before the next attempt, or
/// what the function returns. Only the wait (a timer) is held in the caller's future, not the
/// decision's state.
#[inline]
fn after_failure<T, E>(
    run: &mut Run<'_>,
    failed: Failed<T, E>,
    convert: impl Converter<T, E>,
) -> Result<Duration, Result<T, E>> {
    match run.decide_failure(failed) {
        Ok(delay) => Ok(delay),
        Err(Ended::Done(result)) => Err(result),
        Err(Ended::Stop(stop)) => Err(convert.convert(stop)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_the_attribute_writes_reads_back() {
        let text = "retry=linear;on=429, 500..=599, timeout;attempts=3;base=250000000;\
                    max_delay=2000000000;deadline=60000000000;timeout=10000000000;\
                    max_hint=90000000000;factor=1.5;jitter=equal;rps=2;rpm=60;burst=2;\
                    concurrency=4;breaker;breaker.failure_ratio=0.25;breaker.min_calls=20;\
                    breaker.window=1000000000;breaker.open_for=2000000000;breaker.half_open=2;\
                    budget=0.1;honor_hint=false;retry_when_nested=true";
        let policy = builder_from("here::f", text)
            .and_then(PolicyBuilder::build)
            .expect("the attribute's text builds");
        assert_eq!(policy.name, "here::f");
        assert_eq!(policy.attempts, 3);
        assert_eq!(policy.deadline, Some(Duration::from_secs(60)));
        assert_eq!(policy.timeout, Some(Duration::from_secs(10)));
        assert_eq!(policy.max_hint, Duration::from_secs(90));
        assert!(!policy.honor_hint);
        assert!(policy.retry_when_nested);
        assert!(policy.concurrency.is_some());
        assert!(policy.breaker.is_some());
        assert!(policy.budget.is_some());
        assert!(policy.rate_limit().is_some());
        assert_eq!(
            policy.on,
            "429, 500..=599, timeout".parse().expect("a list")
        );
    }

    #[test]
    fn no_text_is_the_builder_defaults() {
        let policy = builder_from("here::g", "")
            .and_then(PolicyBuilder::build)
            .expect("defaults build");
        assert_eq!(policy.attempts, 5);
        assert!(policy.limiter.is_none() && policy.breaker.is_none());
        assert!(policy.budget.is_some(), "the budget is on by default");
        let off = builder_from("here::h", "budget=off")
            .and_then(PolicyBuilder::build)
            .expect("budget off builds");
        assert!(off.budget.is_none());
    }

    #[test]
    fn a_limiter_name_is_read_whole_whatever_it_holds() {
        let policy = builder_from("here::i", "rpm=7;limiter=private tests; a=b")
            .and_then(PolicyBuilder::build)
            .expect("a named limiter builds");
        let again = builder_from("here::j", "rpm=7;limiter=private tests; a=b")
            .and_then(PolicyBuilder::build)
            .expect("the same name and rates share the limiter");
        let (Some(a), Some(b)) = (policy.limiter(), again.limiter()) else {
            panic!("both have a limiter");
        };
        assert!(Arc::ptr_eq(a, b));
    }

    #[test]
    fn text_from_another_version_is_a_config_error_not_a_panic() {
        for text in [
            "frobnicate=1",
            "attempts=many",
            "breaker.colour=red",
            "jitter=loud",
        ] {
            let err = builder_from("here::k", text).expect_err(text);
            assert_eq!(err.field(), "attribute", "{text}");
        }
    }
}
