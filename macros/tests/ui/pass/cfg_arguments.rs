// An argument under `#[cfg]` may not exist: the copy the expansion makes of it for each attempt
// goes under the same `#[cfg]`. It used to be made unconditionally ("cannot find value `b`").
#![deny(warnings)]

#[path = "../support/pass.rs"]
mod support;
use support::*;

use steadfast::resilient;

#[resilient(attempts = 2)]
async fn removed(a: u8, #[cfg(any())] b: String) -> Result<u8, ApiError> {
    Ok(a)
}

#[resilient(attempts = 2)]
async fn kept(a: u8, #[cfg(all())] b: String, #[cfg(all())] mut c: Vec<u8>) -> Result<usize, ApiError> {
    c.push(a);
    Ok(b.len() + c.len())
}

fn main() {
    assert_eq!(block_on(removed(1)).unwrap(), 1);
    assert_eq!(block_on(kept(1, "ab".into(), vec![0])).unwrap(), 4);
}
