//! A typed Google Gemini client built on [steadfast](https://docs.rs/steadfast). **In
//! progress**: the error model (parsing every shape of Gemini error body, classifying it, and
//! the core `Classify` impl) is written and tested; the client, the endpoints, the client-level
//! policy and the simulator are not written yet.
//!
//! ```
//! use steadfast_gemini::{Error, ErrorKind};
//! let e = Error::from_body(503, br#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#);
//! assert_eq!(*e.kind(), ErrorKind::Unavailable);
//! assert!(e.to_string().contains("overloaded"));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod client;
pub mod endpoints;
mod error;
mod policy;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod sse;
pub mod types;

pub use client::{ApiKey, Client, ClientBuilder, DEFAULT_BASE_URL};
pub use error::{
    BadRequestViolation, Details, Error, ErrorInfo, ErrorKind, HelpLink, QuotaScope,
    QuotaViolation, Status,
};
pub use policy::{ClientPolicy, ModelLimits};
