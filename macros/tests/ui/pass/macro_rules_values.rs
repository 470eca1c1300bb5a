// Values passed through `macro_rules!` fragments (`$v:expr`, `$v:literal`) arrive in invisible
// groups; they are read as if written in place. A list holding a range through `$v:expr` used to
// be refused ("`on` takes a list") while a list of plain statuses was accepted.
#![deny(warnings)]

#[path = "../support/pass.rs"]
mod support;
use support::*;

use std::sync::atomic::{AtomicU32, Ordering};
use steadfast::resilient;

macro_rules! retried {
    ($name:ident, $on:expr, $rpm:literal, $base:expr) => {
        #[resilient(on = $on, rpm = $rpm, base = $base)]
        async fn $name(calls: &AtomicU32, status: u16) -> Result<u32, ApiError> {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Err(ApiError(status)),
                n => Ok(n),
            }
        }
    };
}

retried!(plain_list, [503], 600, "1ms");
retried!(with_range, [429, 500..=599], 600, "1ms");

fn main() {
    let calls = AtomicU32::new(0);
    assert_eq!(block_on(plain_list(&calls, 503)).unwrap(), 1);
    let calls = AtomicU32::new(0);
    assert_eq!(block_on(with_range(&calls, 502)).unwrap(), 1, "502 is in 500..=599: retried");
    let calls = AtomicU32::new(0);
    assert!(block_on(with_range(&calls, 404)).is_err(), "404 is not listed");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
