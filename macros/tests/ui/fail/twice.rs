#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

// Two loops would nest: 3 attempts inside 4 make 12 requests.
#[resilient(attempts = 4)]
#[resilient(attempts = 3)]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
