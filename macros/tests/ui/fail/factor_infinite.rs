#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

// 1e400 reads as infinity: the message says so, not "must be greater than 1".
#[resilient(factor = 1e400)]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
