//! The Gemini client's integration tests, in one binary: each file below was its own test
//! binary, each linking tokio, reqwest, hyper and the simulator again (see BENCHMARKS.md for
//! the build time this saves). `common` holds what they share.

#![allow(clippy::unwrap_used)]

mod common;

mod batch_api;
mod client_policy;
mod erased_errors;
mod files_caches;
mod files_caches_hostile;
mod fixtures;
mod headline;
mod hostile;
mod key_secrecy;
mod metrics_series;
mod parser_fuzz;
mod raw_route;
mod real_api;
mod shared_quotas;
mod simulator;
