#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[resilient(limiter = std::sync::Arc::new(steadfast::limit::RateLimit::builder().per_minute(5).build().unwrap()), rpm = 5)]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
