#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[resilient(concurrency = 0)]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
