#[path = "../support/pass.rs"]
mod support;
use support::*;

use steadfast::resilient;

#[resilient(attempts = 2)]
async fn inner(n: u32) -> Result<u32, ApiError> {
    Ok(n + 1)
}

#[resilient(attempts = 3, rpm = 600)]
async fn outer(n: u32) -> Result<u32, ApiError> {
    let a = inner(n).await?;
    inner(a).await
}

fn main() {
    assert_eq!(block_on(outer(1)).unwrap(), 3);
}