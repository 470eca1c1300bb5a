#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[resilient(on = [500..600])]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
