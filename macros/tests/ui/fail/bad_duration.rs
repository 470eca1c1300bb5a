#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[resilient(base = "5 sec")]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
