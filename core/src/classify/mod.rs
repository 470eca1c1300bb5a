//! Classification: what an outcome says about retrying.
//!
//! A failed call is described by a [`Failure`]: its HTTP status, its transport kind (timeout,
//! connect, reset), the delay the server asked for, and whether the failure is terminal whatever
//! its status says (a per-day quota is a 429 that no retry today will fix). Types expose this by
//! implementing [`Classify`]: errors always describe a failure, and success values such as
//! `reqwest::Response` describe one only when their status is not a success, so that `Ok` of a
//! 429 response is retried like an error.
//!
//! A policy then holds a [`RetryOn`] set (statuses, ranges, and the classes `transient`,
//! `timeout`, `connect`) and turns a failure into a [`Verdict`]. A user who wants full control
//! writes a function that returns a `Verdict` directly.
//!
//! ```
//! use steadfast::classify::{Classify, Failure, RetryOn, Transport};
//!
//! #[derive(Debug)]
//! enum MyError { Http(u16), Offline }
//!
//! impl Classify for MyError {
//!     fn failure(&self) -> Option<Failure> {
//!         Some(match self {
//!             MyError::Http(s) => Failure::status(*s),
//!             MyError::Offline => Failure::transport(Transport::Connect),
//!         })
//!     }
//! }
//!
//! let on = RetryOn::transient();
//! assert!(on.matches(&MyError::Http(503).failure().unwrap()));
//! assert!(!on.matches(&MyError::Http(400).failure().unwrap()));
//! assert!(on.matches(&MyError::Offline.failure().unwrap()));
//! ```

mod chain;
mod impls;
mod status;

pub use chain::{of_chain, register};
pub use status::{RetryOn, StatusRange};

use std::time::Duration;

/// How a failure happened below HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// The request or the answer took too long (class `timeout`).
    Timeout,
    /// No connection could be made: refused, unreachable, DNS (class `connect`).
    Connect,
    /// The connection was lost midway: reset, aborted, closed early (class `connect`).
    Reset,
    /// Any other transport problem; not retried by the built-in classes.
    Other,
}

/// What a failed outcome says about retrying.
///
/// ```
/// use std::time::Duration;
/// use steadfast::classify::Failure;
/// let f = Failure::status(429).with_hint(Duration::from_secs(17));
/// assert_eq!(f.status_code(), Some(429));
/// assert_eq!(f.hint(), Some(Duration::from_secs(17)));
/// assert!(!f.is_terminal());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failure {
    status: Option<u16>,
    transport: Option<Transport>,
    hint: Option<Duration>,
    terminal: bool,
}

impl Failure {
    /// A failure with an HTTP status.
    pub const fn status(status: u16) -> Self {
        Failure {
            status: Some(status),
            transport: None,
            hint: None,
            terminal: false,
        }
    }

    /// A failure below HTTP.
    pub const fn transport(kind: Transport) -> Self {
        Failure {
            status: None,
            transport: Some(kind),
            hint: None,
            terminal: false,
        }
    }

    /// A failure with nothing known about it: no status set or class matches it, so it is never
    /// retried by the built-in rules.
    pub const fn unknown() -> Self {
        Failure {
            status: None,
            transport: None,
            hint: None,
            terminal: false,
        }
    }

    /// Adds the delay the server asked for (RetryInfo, Retry-After, …).
    pub const fn with_hint(mut self, delay: Duration) -> Self {
        self.hint = Some(delay);
        self
    }

    /// Adds a hint when there is one.
    pub const fn with_optional_hint(mut self, delay: Option<Duration>) -> Self {
        self.hint = delay;
        self
    }

    /// Marks the failure as terminal: never retried, whatever its status. For example a per-day
    /// quota, which answers 429 but will not clear for hours.
    pub const fn terminal(mut self) -> Self {
        self.terminal = true;
        self
    }

    /// The HTTP status, when there is one.
    pub const fn status_code(&self) -> Option<u16> {
        self.status
    }

    /// The transport kind, when the failure happened below HTTP.
    pub const fn transport_kind(&self) -> Option<Transport> {
        self.transport
    }

    /// The delay the server asked for.
    pub const fn hint(&self) -> Option<Duration> {
        self.hint
    }

    /// Whether the failure must never be retried.
    pub const fn is_terminal(&self) -> bool {
        self.terminal
    }

    /// A short description for logs: `"status 503"`, `"timeout"`, `"connect"`.
    pub fn cause(&self) -> &'static str {
        match (self.status, self.transport) {
            (Some(s), _) => status::status_label(s),
            (None, Some(Transport::Timeout)) => "timeout",
            (None, Some(Transport::Connect)) => "connect",
            (None, Some(Transport::Reset)) => "connection reset",
            (None, Some(Transport::Other)) => "transport",
            (None, None) => "error",
        }
    }
}

/// A value that can say whether it is a failure, and what kind.
///
/// Implemented for `std::io::Error`, `http::StatusCode`, and with feature `reqwest` for
/// `reqwest::Error` and `reqwest::Response`. Error types return `Some` always; success values
/// return `None` when they are a success (`reqwest::Response` with a 2xx status).
pub trait Classify {
    /// The failure this value describes, or `None` when it is a success.
    fn failure(&self) -> Option<Failure>;
}

impl<C: Classify + ?Sized> Classify for &C {
    fn failure(&self) -> Option<Failure> {
        (**self).failure()
    }
}

impl<C: Classify + ?Sized> Classify for Box<C> {
    fn failure(&self) -> Option<Failure> {
        (**self).failure()
    }
}

/// The judgement on one attempt's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The call succeeded: return it.
    Success,
    /// The call failed; the policy's [`RetryOn`] set decides whether to retry.
    Failed(Failure),
    /// Retry, whatever the policy's set says (a custom classifier's override).
    Retry(Failure),
    /// Do not retry, whatever the policy's set says.
    Stop(Failure),
}

impl Verdict {
    /// The verdict on a result whose error type is classified and whose `Ok` is always a success.
    ///
    /// ```
    /// use steadfast::classify::Verdict;
    /// let r: Result<u8, std::io::Error> = Err(std::io::ErrorKind::TimedOut.into());
    /// assert!(matches!(Verdict::of_error(&r), Verdict::Failed(_)));
    /// assert_eq!(Verdict::of_error(&Ok::<u8, std::io::Error>(1)), Verdict::Success);
    /// ```
    pub fn of_error<T, E: Classify>(result: &Result<T, E>) -> Verdict {
        match result {
            Ok(_) => Verdict::Success,
            Err(e) => Verdict::Failed(e.failure().unwrap_or_default()),
        }
    }

    /// The verdict on a result whose `Ok` value may itself be a failure (an HTTP response with
    /// status 429 is retried like an error).
    ///
    /// ```
    /// use steadfast::classify::Verdict;
    /// let r: Result<http::StatusCode, std::io::Error> = Ok(http::StatusCode::TOO_MANY_REQUESTS);
    /// assert!(matches!(Verdict::of_result(&r), Verdict::Failed(f) if f.status_code() == Some(429)));
    /// ```
    pub fn of_result<T: Classify, E: Classify>(result: &Result<T, E>) -> Verdict {
        match result {
            Ok(v) => v.failure().map_or(Verdict::Success, Verdict::Failed),
            Err(e) => Verdict::Failed(e.failure().unwrap_or_default()),
        }
    }

    /// The failure, for every verdict but `Success`.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Verdict::Success => None,
            Verdict::Failed(f) | Verdict::Retry(f) | Verdict::Stop(f) => Some(f),
        }
    }

    /// Whether a policy with this `on` set retries this verdict (before attempts, budget and
    /// deadline are considered).
    pub fn is_retryable(&self, on: &RetryOn) -> bool {
        match self {
            Verdict::Success | Verdict::Stop(_) => false,
            Verdict::Retry(_) => true,
            Verdict::Failed(f) => !f.is_terminal() && on.matches(f),
        }
    }
}
