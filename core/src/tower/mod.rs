//! A `tower` layer that runs any [`Service`] under a steadfast [`Policy`] (feature `tower`).
//!
//! Much of the Rust HTTP world composes as tower services (axum, tonic, hyper-util, reqwest
//! behind adapters). [`PolicyLayer`] gives such a stack the same retries, rate limits, timeouts,
//! breaker and budget as the attribute. A response and an error are judged by their
//! [`Classify`] impls: an `http::Response` by its status and its `Retry-After` /
//! `retry-after-ms` headers, so `Ok` of a 503 is retried like an error; errors such as
//! `reqwest::Error`, `std::io::Error` or tower's `BoxError` (by the first recognised cause in
//! its chain).
//!
//! Each attempt gets its own clone of the request (a request is consumed by `call`), and of the
//! inner service, made ready before each retry, never past the call's deadline. A readiness
//! error ends the call with that error: a give-up ([`ServiceNotReady`]), counted in
//! `give_ups`. A request type that is not `Clone` is a compile error that says so. The
//! policy's own errors (timeout, deadline, open breaker, a delay beyond `max_hint`) come back as
//! [`PolicyError::Policy`]; the service's as [`PolicyError::Service`], the last one when retries
//! run out.
//!
//! [`ServiceNotReady`]: crate::observe::GiveUpReason::ServiceNotReady
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use steadfast::Policy;
//! use steadfast::tower::PolicyLayer;
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! let sent = Arc::new(AtomicU32::new(0));
//! let counter = sent.clone();
//! let api = tower::service_fn(move |path: String| {
//!     let n = counter.fetch_add(1, Ordering::SeqCst);
//!     async move {
//!         let status = if n == 0 { 503 } else { 200 };
//!         http::Response::builder().status(status).body(path).map_err(std::io::Error::other)
//!     }
//! });
//! let policy = Policy::builder().on("503".parse()?).build()?;
//! let mut svc = ServiceBuilder::new().layer(PolicyLayer::new(policy)).service(api);
//! let response = svc.ready().await?.call("/v1/items".to_owned()).await?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(sent.load(Ordering::SeqCst), 2, "the 503 was retried");
//! # Ok(()) }
//! ```
//!
//! A request that cannot be cloned is refused at compile time:
//!
//! ```compile_fail
//! # async fn run() {
//! use tower::Layer;
//! struct Once; // not Clone
//! let svc = tower::service_fn(|_: Once| async { Ok::<_, std::io::Error>(http::Response::new(())) });
//! let mut svc = steadfast::tower::PolicyLayer::new(steadfast::Policy::builder().build().unwrap())
//!     .layer(svc);
//! let _ = tower::Service::call(&mut svc, Once);
//! # }
//! ```

use crate::Policy;
use crate::classify::{Classify, Verdict};
use crate::policy::{Judged, Step};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
pub use tower_layer::Layer;
pub use tower_service::Service;

/// Applies a [`Policy`] to the services it wraps.
#[derive(Debug, Clone)]
pub struct PolicyLayer {
    policy: Arc<Policy>,
}

impl PolicyLayer {
    /// A layer with its own policy.
    pub fn new(policy: Policy) -> Self {
        PolicyLayer {
            policy: Arc::new(policy),
        }
    }

    /// A layer sharing a policy (and so its limiter, breaker, budget and counters) with other
    /// layers or callers.
    pub fn shared(policy: Arc<Policy>) -> Self {
        PolicyLayer { policy }
    }
}

impl<S> Layer<S> for PolicyLayer {
    type Service = PolicyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PolicyService {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// A service run under a [`Policy`]; made by [`PolicyLayer`].
#[derive(Debug, Clone)]
pub struct PolicyService<S> {
    inner: S,
    policy: Arc<Policy>,
}

impl<S> PolicyService<S> {
    /// The policy, for its [`stats`](Policy::stats).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

/// What a [`PolicyService`] fails with: the inner service's error, or the policy's own.
#[derive(Debug)]
pub enum PolicyError<E> {
    /// The inner service's error (its last one, when retries ran out).
    Service(E),
    /// The policy stopped the call: timeout, deadline, open breaker, a server delay beyond
    /// `max_hint`, a rate limit that cannot be met.
    Policy(crate::Error),
}

impl<E: fmt::Display> fmt::Display for PolicyError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::Service(e) => e.fmt(f),
            PolicyError::Policy(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for PolicyError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PolicyError::Service(e) => Some(e),
            PolicyError::Policy(e) => Some(e),
        }
    }
}

impl<E: Classify> Classify for PolicyError<E> {
    fn failure(&self) -> Option<crate::classify::Failure> {
        match self {
            PolicyError::Service(e) => e.failure(),
            PolicyError::Policy(e) => e.failure(),
        }
    }
}

/// Each attempt takes its own copy of the request; a message that says so when it cannot.
#[diagnostic::on_unimplemented(
    message = "steadfast's tower layer needs to clone the request `{Self}` for each attempt",
    label = "this request type does not implement `Clone`",
    note = "each attempt consumes a request: make `{Self}` `Clone` (for an `http::Request`, buffer the body into `Bytes` or a `String` first), or retry inside the service instead"
)]
pub trait RetryRequest: Clone {}
#[diagnostic::do_not_recommend]
impl<R: Clone> RetryRequest for R {}

/// The future of one call through a [`PolicyService`].
pub type ResponseFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, PolicyError<E>>> + Send>>;

impl<S, Req> Service<Req> for PolicyService<S>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Classify + Send,
    S::Error: Classify + Send,
    Req: RetryRequest + Send + 'static,
{
    type Response = S::Response;
    type Error = PolicyError<S::Error>;
    type Future = ResponseFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(PolicyError::Service)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        // The ready service goes with this call; the layer keeps a fresh clone (tower's rule:
        // the instance that was polled ready is the one that is called).
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let policy = self.policy.clone();
        Box::pin(async move {
            let mut run = policy.start();
            let mut first = true;
            loop {
                // Readiness first: a rate-limit slot or a permit is not held while the inner
                // service gets ready. Never past the deadline: a service that stays unready (a
                // full `Buffer`, a `ConcurrencyLimit` held elsewhere) would otherwise hold the
                // call forever. When the deadline passes, `before_attempt` below refuses.
                if !first {
                    let ready = std::future::poll_fn(|cx| inner.poll_ready(cx));
                    let ready = match run.deadline().at() {
                        Some(at) => tokio::time::timeout_at(at, ready).await.ok(),
                        None => Some(ready.await),
                    };
                    if let Some(Err(error)) = ready {
                        run.give_up_not_ready();
                        return Err(PolicyError::Service(error));
                    }
                }
                first = false;
                if !run.ready_now() {
                    run.before_attempt().await.map_err(PolicyError::Policy)?;
                }
                let attempt = run.attempt(inner.call(request.clone())).await;
                let failed = match run.judge(attempt, Verdict::of_result) {
                    Judged::Success(result) => return result.map_err(PolicyError::Service),
                    Judged::Failed(failed) => failed,
                };
                match run.after_failure(failed).await {
                    Step::Retry => continue,
                    Step::Done(result) => return result.map_err(PolicyError::Service),
                    Step::Stop(stop) => return Err(PolicyError::Policy(stop.into_reason())),
                }
            }
        })
    }
}
