#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[resilient(base = "2m", max_delay = "60s")]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
