#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[resilient]
fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {
    // The function is still emitted beside the error: no second "cannot find" error.
    let _ = ask();
}
