//! Test helpers shared by the steadfast crates' tests (dev-only, never published): a raw HTTP
//! server that answers from a script, a sink that captures log output, and a real
//! `redis-server` on a free port.
//!
//! It depends on no steadfast crate, so that every crate of the workspace can dev-depend on it
//! without a dependency cycle.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use steadfast_testkit::raw::{Raw, answer, write};
//! let server = Raw::start(|_line, _index| vec![write(answer("200 OK", "", b"{}"))]).await;
//! let body = reqwest::get(format!("{}/hello", server.url)).await.unwrap().text().await.unwrap();
//! assert_eq!(body, "{}");
//! assert_eq!(server.count("GET /hello"), 1);
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod raw;
pub mod redis;
pub mod sink;
