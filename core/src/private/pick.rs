//! How an annotated function's results are classified and how a stop becomes its result,
//! picked by method resolution at its concrete result type.

use super::bounds::ErrorClassify;
use crate::classify::{Classify, Verdict};
use crate::error::Error;
use crate::policy::Stop;

use std::fmt;
use std::marker::PhantomData;

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
