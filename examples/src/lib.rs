//! Runnable examples for steadfast live in `examples/examples/`; run one with
//! `cargo run -p steadfast-examples --example NAME`.
