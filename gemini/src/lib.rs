//! A typed Google Gemini client built on [steadfast](https://docs.rs/steadfast): **not
//! implemented yet**.
//!
//! This crate is a placeholder so that the workspace layout is in place. It will hold the typed
//! endpoints, the error model and its classification, a client-level policy, key pools, model
//! fallback and a local Gemini simulator. Nothing in it works today.
