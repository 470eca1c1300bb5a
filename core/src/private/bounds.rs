//! Traits that carry a bound the expansion needs, each with a message that says, at the user's
//! code, what to do when the bound does not hold.

use crate::classify::Classify;
use crate::error::Error;

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
