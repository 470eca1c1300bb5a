#[path = "../support/pass.rs"]
mod support;
use support::*;

use steadfast::resilient;

fn parse(s: &str) -> Result<u32, ApiError> {
    s.parse().map_err(|_| ApiError(400))
}

#[resilient(on = [503])]
async fn checked(s: &str) -> Result<u32, ApiError> {
    let n = parse(s)?;
    if n == 0 {
        return Err(ApiError(400));
    }
    Ok(n)
}

fn main() {
    assert_eq!(block_on(checked("4")).unwrap(), 4);
    assert!(block_on(checked("x")).is_err());
    assert!(block_on(checked("0")).is_err());
}