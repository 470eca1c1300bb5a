//! Classification of type-erased errors (`Box<dyn Error + Send + Sync>`, and `anyhow::Error`
//! with the feature `anyhow`) by walking their source chain.
//!
//! Application code often returns an error whose type says nothing (`anyhow::Result<T>`,
//! `Result<T, Box<dyn Error + Send + Sync>>`). What it wraps usually does: a `reqwest::Error`,
//! an `io::Error`, a `steadfast::Error` from an inner policy, a `steadfast_gemini::Error`. The
//! chain is walked from the outermost error inwards and the first cause that is recognised gives
//! the failure; an error with no recognised cause is [`Failure::unknown`], which no built-in rule
//! retries.
//!
//! Recognised out of the box: `std::io::Error`, [`crate::Error`], and `reqwest::Error` with the
//! feature `reqwest`. Any other error type that implements [`Classify`] joins with
//! [`register`]; `steadfast-gemini` registers its `Error` when a client is built.

use super::{Classify, Failure, Transport};
use std::any::TypeId;
use std::error::Error as StdError;
use std::sync::RwLock;

type Recognise = fn(&(dyn StdError + 'static)) -> Option<Failure>;

/// Error types registered by users and companion crates, in registration order.
static REGISTERED: RwLock<Vec<(TypeId, Recognise)>> = RwLock::new(Vec::new());

/// Makes `T` recognised inside type-erased errors (`Box<dyn Error + Send + Sync>`,
/// `anyhow::Error`): when a source chain holds a `T`, its [`Classify`] impl decides. Registering
/// a type twice is harmless.
///
/// ```
/// use steadfast::classify::{self, Classify, Failure};
///
/// #[derive(Debug)]
/// struct Upstream(u16);
/// impl std::fmt::Display for Upstream {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "upstream answered {}", self.0)
///     }
/// }
/// impl std::error::Error for Upstream {}
/// impl Classify for Upstream {
///     fn failure(&self) -> Option<Failure> {
///         Some(Failure::status(self.0))
///     }
/// }
///
/// let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(Upstream(503));
/// assert_eq!(boxed.failure(), Some(Failure::unknown()), "not recognised yet");
/// classify::register::<Upstream>();
/// assert_eq!(boxed.failure().and_then(|f| f.status_code()), Some(503));
/// ```
pub fn register<T: StdError + Classify + 'static>() {
    fn recognise<T: StdError + Classify + 'static>(
        e: &(dyn StdError + 'static),
    ) -> Option<Failure> {
        e.downcast_ref::<T>().and_then(Classify::failure)
    }
    let id = TypeId::of::<T>();
    // A poisoned lock only means a panic while pushing; the list is still a valid list.
    let mut list = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    if !list.iter().any(|(t, _)| *t == id) {
        list.push((id, recognise::<T>));
    }
}

/// The failure one error describes by itself, if its type is recognised.
fn recognise(e: &(dyn StdError + 'static)) -> Option<Failure> {
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        return io.failure();
    }
    if let Some(policy) = e.downcast_ref::<crate::Error>() {
        return policy.failure();
    }
    #[cfg(feature = "reqwest")]
    if let Some(r) = e.downcast_ref::<reqwest::Error>() {
        return r.failure();
    }
    // Copied out before calling: a user's `Classify` may classify a chain itself, and must not
    // meet this lock held (a writer waiting in between would deadlock it).
    let list: Vec<Recognise> = REGISTERED
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(_, r)| *r)
        .collect();
    list.iter().find_map(|recognise| recognise(e))
}

/// The failure of the first recognised error in `error`'s source chain, outermost first;
/// [`Failure::unknown`] when none is recognised.
///
/// ```
/// use steadfast::classify::{Transport, of_chain};
///
/// let io = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
/// let wrapped = std::io::Error::other(io); // an io::Error inside an io::Error
/// assert_eq!(of_chain(&wrapped).transport_kind(), Some(Transport::Other), "the outermost wins");
/// ```
pub fn of_chain(error: &(dyn StdError + 'static)) -> Failure {
    let mut current = Some(error);
    // A cyclic chain is a bug elsewhere; a bound keeps it from hanging us.
    for _ in 0..64 {
        let Some(e) = current else { break };
        if let Some(f) = recognise(e) {
            return f;
        }
        current = e.source();
    }
    Failure::unknown()
}

impl Classify for dyn StdError + 'static {
    /// Walks the source chain; see [`of_chain`].
    fn failure(&self) -> Option<Failure> {
        Some(of_chain(self))
    }
}

impl Classify for dyn StdError + Send + 'static {
    /// Walks the source chain; see [`of_chain`].
    fn failure(&self) -> Option<Failure> {
        Some(of_chain(self))
    }
}

impl Classify for dyn StdError + Send + Sync + 'static {
    /// Walks the source chain; see [`of_chain`].
    fn failure(&self) -> Option<Failure> {
        Some(of_chain(self))
    }
}

#[cfg(feature = "anyhow")]
impl Classify for anyhow::Error {
    /// Walks the chain of causes, context included; see [`of_chain`].
    fn failure(&self) -> Option<Failure> {
        Some(
            self.chain()
                .take(64)
                .find_map(recognise)
                .unwrap_or_else(Failure::unknown),
        )
    }
}

impl Classify for crate::Error {
    /// A policy error seen by an outer policy (a resilient call made inside another): a timed-out
    /// attempt is a timeout; an inner deadline, an open breaker and a rate limit that cannot be
    /// met are terminal (retrying at once would meet them again); a server delay that was too long
    /// keeps its status and delay, for the outer policy to weigh against its own `max_hint`.
    fn failure(&self) -> Option<Failure> {
        use crate::Error as E;
        Some(match self {
            E::AttemptTimedOut { .. } => Failure::transport(Transport::Timeout),
            E::DeadlineExceeded { .. } => Failure::transport(Transport::Timeout).terminal(),
            E::CircuitOpen { retry_after } => Failure::unknown().with_hint(*retry_after).terminal(),
            E::RetryDelayTooLong {
                requested, status, ..
            } => match status {
                Some(s) => Failure::status(*s),
                None => Failure::unknown(),
            }
            .with_hint(*requested),
            E::RateLimited { retry_after } => Failure::unknown()
                .with_optional_hint(*retry_after)
                .terminal(),
            E::LimiterUnavailable => Failure::unknown().terminal(),
        })
    }
}
