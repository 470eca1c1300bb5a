#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[resilient(breaker(failure_ratio = 1.5, min_call = 3))]
async fn ask() -> Result<(), ApiError> { Ok(()) }

impl From<steadfast::Error> for ApiError {
    fn from(_: steadfast::Error) -> Self { ApiError }
}

fn main() {}
