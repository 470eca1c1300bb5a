//! The errors that steadfast itself produces.
//!
//! Two families live here. [`Error`] is what a *policy* produces while running a call: an attempt
//! timed out, the deadline passed, the breaker is open, the server asked for a wait longer than
//! allowed. A call's own error type receives these through `From<steadfast::Error>`, and only
//! when a policy that can produce them is configured. [`ConfigError`] is what a constructor or a
//! config file gets back when a value is impossible (a zero rate, a factor ≤ 1, a NaN ratio).

use std::fmt;
use std::time::{Duration, SystemTime};

/// What a policy reports when it stops a call on its own account.
///
/// When retries are simply exhausted, the caller gets the call's last real error instead; these
/// variants cover the cases where there is no such error to return, or where the reason to stop
/// was the policy's.
///
/// ```
/// use std::time::Duration;
/// let e = steadfast::Error::AttemptTimedOut { after: Duration::from_secs(2) };
/// assert_eq!(e.to_string(), "attempt timed out after 2s");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// One attempt ran longer than the configured `timeout`.
    AttemptTimedOut {
        /// The per-attempt limit that was reached.
        after: Duration,
    },
    /// The whole call, waits included, reached its `deadline`.
    DeadlineExceeded {
        /// The configured budget for the whole call.
        deadline: Duration,
    },
    /// The circuit breaker is open: the call was refused without being sent.
    CircuitOpen {
        /// How long until the breaker lets a probe through.
        retry_after: Duration,
    },
    /// The server asked for a wait that is longer than `max_hint` or than the time left before the
    /// deadline, so the policy gave up at once instead of sleeping.
    RetryDelayTooLong {
        /// The delay the server asked for, at most
        /// [`hint::LONGEST_HINT`](crate::hint::LONGEST_HINT) (a year and a day: a longer one is
        /// read as that).
        requested: Duration,
        /// The longest wait the policy would accept at that moment.
        allowed: Duration,
        /// When a retry would have been allowed by the server (wall clock): now plus
        /// `requested`.
        retry_at: SystemTime,
        /// The status of the failure that carried the hint, when it had one.
        status: Option<u16>,
    },
    /// A rate limit would not grant a slot before the deadline (or ever, for an acquisition
    /// heavier than the limit can hold).
    RateLimited {
        /// How long until a slot would be free; `None` when it never will be.
        retry_after: Option<Duration>,
    },
    /// A shared rate limiter (Redis) could not be reached, and it is configured to fail rather
    /// than wait or fall back to a local share.
    LimiterUnavailable,
}

impl Error {
    /// A short, stable name for the variant, used in logs and counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::AttemptTimedOut { .. } => "attempt_timed_out",
            Error::DeadlineExceeded { .. } => "deadline_exceeded",
            Error::CircuitOpen { .. } => "circuit_open",
            Error::RetryDelayTooLong { .. } => "retry_delay_too_long",
            Error::RateLimited { .. } => "rate_limited",
            Error::LimiterUnavailable => "limiter_unavailable",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::AttemptTimedOut { after } => write!(f, "attempt timed out after {after:?}"),
            Error::DeadlineExceeded { deadline } => {
                write!(f, "deadline of {deadline:?} for the whole call exceeded")
            }
            Error::CircuitOpen { retry_after } => write!(
                f,
                "circuit breaker is open: call refused without sending; next probe in {retry_after:?}"
            ),
            Error::RetryDelayTooLong {
                requested,
                allowed,
                retry_at,
                status,
            } => {
                write!(f, "server asked to wait {requested:?}")?;
                if let Some(s) = status {
                    write!(f, " (status {s})")?;
                }
                write!(
                    f,
                    ", longer than the {allowed:?} this policy allows; gave up at once. \
                     A retry would be allowed at {}",
                    httpdate::fmt_http_date(*retry_at)
                )
            }
            Error::RateLimited {
                retry_after: Some(d),
            } => write!(
                f,
                "client-side rate limit: no slot free before the deadline (next in {d:?})"
            ),
            Error::RateLimited { retry_after: None } => write!(
                f,
                "client-side rate limit: the limiter will not grant this request (it is heavier \
                 than the limit allows at once, or the limiter's allowance is spent)"
            ),
            Error::LimiterUnavailable => f.write_str(
                "the shared rate limiter cannot be reached (its Redis is down or slow); \
                 the call was not sent",
            ),
        }
    }
}

impl std::error::Error for Error {}

/// An impossible configuration, reported by a constructor, a builder or a config file.
///
/// The message names the field and says what a valid value looks like.
///
/// ```
/// let err = steadfast::retry::Schedule::exponential(
///     std::time::Duration::from_secs(1), 1.0, std::time::Duration::from_secs(60),
/// ).unwrap_err();
/// assert!(err.to_string().contains("factor"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    message: String,
}

impl ConfigError {
    /// A configuration error about `field`, with a message saying what is wrong and how to fix it.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        ConfigError {
            field,
            message: message.into(),
        }
    }

    /// The name of the offending field (`"factor"`, `"rpm"`, …).
    pub fn field(&self) -> &'static str {
        self.field
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: {}", self.field, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Policy errors as I/O errors: timeouts and deadlines become `TimedOut`, the rest `Other`, with
/// the policy error as the source. Lets `io::Error`-returning calls use every policy.
///
/// ```
/// let e: std::io::Error = steadfast::Error::DeadlineExceeded { deadline: std::time::Duration::from_secs(1) }.into();
/// assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
/// ```
impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        let kind = match e {
            Error::AttemptTimedOut { .. } | Error::DeadlineExceeded { .. } => {
                std::io::ErrorKind::TimedOut
            }
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}
