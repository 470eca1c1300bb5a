#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[tokio::test]
#[resilient(attempts = 2)]
async fn calls_the_api() -> Result<(), ApiError> {
    Ok(())
}

fn main() {
    // tokio::test emits a #[test] function, compiled only for tests.
    let _ = ApiError;
}
