#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[resilient(timeout = "10s", deadline = "10s")]
async fn ask() -> Result<(), ApiError> { Ok(()) }

impl From<steadfast::Error> for ApiError {
    fn from(_: steadfast::Error) -> Self { ApiError }
}

fn main() {}
