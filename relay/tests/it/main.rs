//! The relay's integration tests, one binary: real sockets, the simulator as the upstream.

#![allow(clippy::unwrap_used)]

mod analytics;
mod basics;
mod common;
mod dashboard;
mod hostile;
mod limits;
mod objects;
mod openai;
mod operations;
mod secrets;
mod shared;
