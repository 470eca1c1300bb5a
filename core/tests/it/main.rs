//! steadfast's integration tests, in one binary: each file below was its own test binary,
//! each linking tokio and the test dependencies again (BENCHMARKS.md has the build time this
//! saves). `no_alloc` (a counting global allocator), `observability` (a subscriber for its own
//! thread) and `processes` (the binary is also the child process) stay targets of their own.

#![allow(clippy::unwrap_used)]

#[cfg(feature = "redis")]
mod common;

mod erased_errors;
mod executor;
mod hostile;
mod limiter;
mod metrics_series;
mod object_safety;
mod one_layer;
mod probe_regressions;
mod redis_limit;
mod reqwest_classify;
mod resilient;
mod shapes;
mod simulations;
mod stats;
mod tower_layer;
