#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[resilient(attempts = "5", honor_hint = 1, retry = exp)]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
