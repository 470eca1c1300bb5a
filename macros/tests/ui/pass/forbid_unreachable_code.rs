// Regression: the expansion carried `#[allow(unreachable_code)]`, which a crate that forbids the
// lint refuses (E0453) on every annotated function. The body is now the value of its block, so
// nothing in the expansion follows it and nothing needs allowing.
#![forbid(unreachable_code)]
#![deny(warnings)]

#[path = "../support/pass.rs"]
mod support;
use support::*;

use steadfast::resilient;

#[resilient(on = [503])]
async fn plain(n: u32) -> Result<u32, ApiError> {
    Ok(n + 1)
}

#[resilient(on = [503], timeout = "1s")]
async fn early(n: u32) -> Result<u32, ApiError> {
    if n == 0 {
        return Err(ApiError(400));
    }
    return Ok(n);
}

#[resilient(on = [503])]
async fn unfinished(_n: u32) -> Result<u32, ApiError> {
    todo!()
}

#[resilient(on = [503], fallback = spare)]
async fn with_fallback(n: u32) -> Result<u32, ApiError> {
    loop {
        if n > 0 {
            return Err(ApiError(400));
        }
    }
}

async fn spare(n: u32) -> Result<u32, ApiError> {
    Ok(n * 10)
}

fn main() {
    assert_eq!(block_on(plain(1)).unwrap(), 2);
    assert_eq!(block_on(early(3)).unwrap(), 3);
    assert!(block_on(early(0)).is_err());
    assert_eq!(block_on(with_fallback(2)).unwrap(), 20);
    let _ = unfinished;
}
