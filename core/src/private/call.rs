//! The loop of an annotated function (`call`, `call_policy`, `call_timed`), or one pass of it
//! for a function whose body may change an argument (`attempt`, `attempt_timed`).

use super::pick::{Classifier, Converter, Judging};
use super::site::Site;
use crate::policy::{Ended, Failed, InsideAttempt, Judged, Policy, Run, Stop};
use std::convert::identity;
use std::future::Future;
use std::ops::ControlFlow;
use std::time::Duration;

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
/// `From<steadfast::Error>` when the error type has it (see [`Pick`](super::pick::Pick)).
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
