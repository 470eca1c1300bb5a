#[path = "../support/pass.rs"]
mod support;
use support::*;

use steadfast::resilient;

#[resilient]
async fn greet(name: impl AsRef<str> + Clone, suffix: &impl std::fmt::Display) -> Result<String, ApiError> {
    Ok(format!("{}{suffix}", name.as_ref()))
}

fn main() {
    assert_eq!(block_on(greet("a", &1)).unwrap(), "a1");
}