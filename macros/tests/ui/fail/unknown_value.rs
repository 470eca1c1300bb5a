#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[resilient(retry = "exponential-ish", jitter = "some", on = ["flaky"])]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
