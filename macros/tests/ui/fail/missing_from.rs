#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[resilient(on = [503], timeout = "5s")]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
