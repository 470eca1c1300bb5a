#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[resilient(on = [])]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
