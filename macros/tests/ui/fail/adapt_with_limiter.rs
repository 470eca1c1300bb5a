#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

// An adaptive limiter learns its own rate: it cannot share a named limiter.
#[resilient(adapt = true, limiter = "shared", rpm = 10)]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
