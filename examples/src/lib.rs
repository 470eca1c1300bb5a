//! Runnable examples for steadfast live in `examples/examples/`; run one with
//! `cargo run -p steadfast-examples --example NAME`. Each starts with a comment on what it
//! teaches. Without `GEMINI_API_KEY` they talk to the local Gemini simulator; set
//! `STEADFAST_QUICK=1` for the short runs CI uses.
//!
//! ```
//! // The examples shorten their runs when CI asks.
//! let prompts = if steadfast_examples::quick() { 40 } else { 200 };
//! assert!(prompts >= 40);
//! ```

pub mod distributed;

/// The README's Rust snippets, compiled as doctests so that they stay true. They live here,
/// where `steadfast`, the Gemini client and the simulator are all normal dependencies (in
/// `steadfast` itself they made the client a dev-dependency of core: a cycle, and a TLS stack in
/// core's tests).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeSnippets;

/// A client of the local simulator: its base URL, its keys, and `policy`.
pub fn sim_client(
    sim: &steadfast_sim::Simulator,
    policy: steadfast_gemini::ClientPolicy,
) -> Result<steadfast_gemini::Client, steadfast_gemini::Error> {
    steadfast_gemini::Client::builder()
        .base_url(sim.base_url())
        .keys(sim.keys())
        .policy(policy)
        .build()
}

/// Whether the examples should do a short run (CI sets `STEADFAST_QUICK=1`).
pub fn quick() -> bool {
    std::env::var_os("STEADFAST_QUICK").is_some()
}

/// Prints steadfast's and the Gemini client's own events (retries, waits, give-ups, key and
/// model changes, who answered) on stderr, compactly, and nothing from other crates.
pub fn show_events() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let targets = Targets::new()
        .with_target("steadfast", LevelFilter::DEBUG)
        .with_target("steadfast_gemini", LevelFilter::DEBUG);
    let layer = tracing_subscriber::fmt::layer()
        .compact()
        .without_time()
        .with_target(false)
        .with_writer(std::io::stderr);
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(targets)
        .try_init();
}
