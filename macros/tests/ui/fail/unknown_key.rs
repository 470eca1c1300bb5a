#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[resilient(attemps = 3)]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {
    // The function is still emitted beside the error: no second "cannot find" error.
    let _ = ask();
}
