#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[resilient]
async fn ask((a, b): (u8, u8)) -> Result<u8, ApiError> { Ok(a + b) }

fn main() {}
