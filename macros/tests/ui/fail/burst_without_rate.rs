#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[resilient(burst = 3)]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
