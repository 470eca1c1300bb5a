#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[resilient(budget = 1.5)]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
