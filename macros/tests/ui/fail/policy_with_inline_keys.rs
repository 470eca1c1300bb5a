#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

fn policy() -> steadfast::Policy { steadfast::Policy::builder().build().unwrap() }

#[resilient(policy = policy(), rpm = 10)]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
