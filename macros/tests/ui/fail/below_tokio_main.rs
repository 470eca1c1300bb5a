#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

// tokio::main runs first and makes the function blocking.
#[tokio::main(flavor = "current_thread")]
#[resilient]
async fn main() -> Result<(), ApiError> {
    Ok(())
}
