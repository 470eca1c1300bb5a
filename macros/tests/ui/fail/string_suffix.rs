#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

// A suffix after a string literal is a typo, not part of the value: refused, not ignored.
#[resilient(base = "1s"ms)]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
