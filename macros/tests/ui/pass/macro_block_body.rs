// A body passed through a `macro_rules!` `$body:block` fragment arrives in an invisible group
// around its braces. The attribute used to find no body there and left the function as it was,
// silently: it compiled and never retried (found by a probe of this session). It must retry.
#![deny(warnings)]

#[path = "../support/pass.rs"]
mod support;
use support::*;

use std::sync::atomic::{AtomicU32, Ordering};
use steadfast::resilient;

macro_rules! with_body {
    ($name:ident, $calls:ident, $body:block) => {
        #[resilient(on = [503], attempts = 3, base = "1ms")]
        async fn $name($calls: &AtomicU32) -> Result<u32, ApiError> $body
    };
}

with_body!(retried, calls, {
    match calls.fetch_add(1, Ordering::SeqCst) {
        0 => Err(ApiError(503)),
        n => Ok(n),
    }
});

fn main() {
    let calls = AtomicU32::new(0);
    assert_eq!(block_on(retried(&calls)).unwrap(), 1, "the 503 was retried");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
