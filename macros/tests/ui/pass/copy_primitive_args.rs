// Arguments of primitive types are used in place (a copy is all a clone would do), `mut` ones are
// still copied per attempt, and bodies that never return or return early compile without a
// warning (every warning is an error here).
#![deny(warnings)]

#[path = "../support/pass.rs"]
mod support;
use support::*;

use std::sync::atomic::{AtomicU32, Ordering};
use steadfast::resilient;

// Moved into an `async move` block and a `move` closure, used after: each attempt sees the
// caller's values.
#[resilient(on = [503], base = "1ms")]
async fn scaled(calls: &AtomicU32, n: u32, factor: f64, on: bool, tag: char) -> Result<String, ApiError> {
    let inner = async move { n * 2 };
    let twice = inner.await;
    let show = move || format!("{tag}{twice}");
    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(ApiError(503));
    }
    Ok(format!("{} {} {on} {}", show(), (f64::from(n) * factor) as u32, n))
}

// A `mut` argument changed by a failed attempt: the next attempt starts from the caller's value.
#[resilient(on = [503], base = "1ms")]
async fn counted(calls: &AtomicU32, mut n: u64) -> Result<u64, ApiError> {
    n += 10;
    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(ApiError(503));
    }
    Ok(n)
}

// Bodies that diverge: no "unreachable expression" from the expansion.
#[resilient(on = [503])]
async fn unfinished(_n: u32) -> Result<u32, ApiError> {
    todo!()
}

#[resilient(on = [503])]
async fn spins(n: u32) -> Result<u32, ApiError> {
    loop {
        if n > 0 {
            return Ok(n);
        }
    }
}

#[resilient(on = [503])]
async fn returns_at_end(n: i64) -> Result<i64, ApiError> {
    return Ok(-n);
}

fn main() {
    let calls = AtomicU32::new(0);
    assert_eq!(block_on(scaled(&calls, 3, 1.5, true, 'x')).unwrap(), "x6 4 true 3");
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let calls = AtomicU32::new(0);
    assert_eq!(block_on(counted(&calls, 1)).unwrap(), 11);
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    assert_eq!(block_on(spins(4)).unwrap(), 4);
    assert_eq!(block_on(returns_at_end(5)).unwrap(), -5);
    let _ = unfinished;
}
