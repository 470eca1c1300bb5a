#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[resilient(on = [599..=500])]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
