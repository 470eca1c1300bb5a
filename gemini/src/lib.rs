//! A typed Google Gemini client built on [steadfast](https://docs.rs/steadfast): every call is
//! resilient by default, and every error says what happened and what to do.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use steadfast_gemini::{Client, ClientPolicy, ErrorKind, ModelLimits};
//! use steadfast_sim::{SIM_KEY, Simulator, SimulatorConfig};
//!
//! // A local Gemini (the `steadfast-sim` crate); with a real key: `Client::from_env()?`.
//! let sim = Simulator::start(SimulatorConfig::default()).await?;
//! let client = Client::builder()
//!     .base_url(sim.base_url())
//!     .key(SIM_KEY)
//!     .policy(
//!         ClientPolicy::default()
//!             .limits("gemini-2.5-flash", ModelLimits { rpm: Some(600), ..Default::default() })
//!             .fallback(["gemini-2.0-flash"]),
//!     )
//!     .build()?;
//! let answer = client.generate("gemini-2.5-flash", "Why is the sky blue?").await?;
//! assert!(answer.contains("sky"));
//!
//! // A retired model name falls back to the next model of the chain.
//! let request = steadfast_gemini::types::GenerateContentRequest::prompt("hi");
//! let answer = client.generate_content("gemini-1.0-pro", &request).await?;
//! assert_eq!(answer.model_version.as_deref(), Some("gemini-2.0-flash"));
//!
//! // Errors say what happened and what to do.
//! let e = client.generate("gemini-2.5-flash", "[sim:invalid]").await.unwrap_err();
//! assert_eq!(*e.kind(), ErrorKind::InvalidArgument);
//! println!("{e}"); // Gemini invalid argument (400 INVALID_ARGUMENT): … [fix the request: …]
//! # Ok(()) }
//! ```
//!
//! - [`Client`]: keys (a pool), base URL, timeouts that fit streaming (connect, first byte,
//!   idle; no total limit on a healthy stream), bounded bodies, the
//!   [client policy](ClientPolicy) (retries honouring RetryInfo and `Retry-After`, limits per
//!   project and model: configured, learned from 429s, or adaptive, shown by
//!   `Client::quotas()` and `Client::stats()`; load spread across projects, a pre-flight token
//!   guard, per-day refusals until midnight Pacific time, model fallback, a circuit breaker per
//!   model, one attempt per call inside an outer `#[resilient]`), and the [endpoints]:
//!   `generateContent`, `streamGenerateContent` (SSE),
//!   `countTokens`, `embedContent`, `batchEmbedContents`, `models.get`, `models.list`, the
//!   Files API (resumable upload, get, list, delete) and `cachedContents` (create, get, list,
//!   TTL update, delete).
//! - [`Error`] and [`ErrorKind`]: every Gemini error body classified (see the table in
//!   [`Error`]'s module); it implements `steadfast::classify::Classify`, so
//!   `#[steadfast::resilient(on = [429, 500, 503])]` works on any function returning it, and a
//!   per-day quota is never retried.
//! - [`types`]: the v1beta request and response types, which keep every field they do not name
//!   (a round trip loses nothing); [`sse`]: the stream parser.
//! - A local Gemini server with quotas and injected faults, for tests and any SDK, is its own
//!   crate: `steadfast-sim` (and its command `gemini-sim`).
//!
//! The API key travels only in the `x-goog-api-key` header, to the base URL's host only (the
//! client follows no redirect: a 3xx is [`ErrorKind::Redirect`]), and never appears in `Debug`,
//! `Display`, an error or a log line ([`ApiKey`]); neither does any Google-shaped key that a
//! server echoes back.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod client;
pub mod endpoints;
mod error;
mod key;
mod policy;
pub mod sse;
pub mod types;

pub use client::quota::{Limit, LimitSource, Metric, ModelQuota, ProjectQuotas, QuotaSnapshot};
pub use client::raw::{RawBody, RawRequest, RawResponse};
pub use client::route::Route;
#[cfg(feature = "redis")]
pub use client::shared::{SharedQuotas, SharedQuotasBuilder};
pub use client::stats::{ClientStats, ModelStats};
pub use client::{ApiKey, Client, ClientBuilder, DEFAULT_BASE_URL};
pub use error::{
    BadRequestViolation, Details, Error, ErrorInfo, ErrorKind, HelpLink, QuotaScope,
    QuotaViolation, Status,
};
pub use policy::{ClientPolicy, ModelLimits};
/// When a per-day quota comes back (midnight Pacific time), written once in core.
pub(crate) use steadfast::calendar::until_daily_reset;
