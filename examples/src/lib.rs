//! Runnable examples for steadfast live in `examples/examples/`; run one with
//! `cargo run -p steadfast-examples --example NAME`. Each starts with a comment on what it
//! teaches. Without `GEMINI_API_KEY` they talk to the local Gemini simulator; set
//! `STEADFAST_QUICK=1` for the short runs CI uses.

/// Whether the examples should do a short run (CI sets `STEADFAST_QUICK=1`).
pub fn quick() -> bool {
    std::env::var_os("STEADFAST_QUICK").is_some()
}
