//! What `#[resilient]` expands to calls into. Not public API: names and signatures may change in
//! any release. The logic lives here, in ordinary tested Rust, so that the macro stays thin.
//!
//! By concept: `site` (an annotated function's `static`: its literal settings, the policy built
//! from them on first use, its registry path), `pick` (how its results are classified and how a
//! stop becomes a result, chosen at its result type), `call` (the loop, or one pass of it) and
//! `bounds` (the traits whose messages explain a missing bound at the user's code).

mod bounds;
mod call;
mod pick;
mod site;

pub use bounds::*;
pub use call::*;
pub use pick::*;
pub use site::*;

pub use crate::Policy;
pub use std::time::Duration;
