#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[resilient(rpm = 5, burst = 10)]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
