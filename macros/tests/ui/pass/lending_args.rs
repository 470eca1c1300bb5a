// Arguments the body may change keep the loop in the function (each attempt reborrows them);
// everything else goes through `__private::call`. Both forms are exercised here, each one
// retried, with its future `Send`.
#[path = "../support/pass.rs"]
mod support;
use support::*;

use std::pin::Pin;
use steadfast::resilient;

struct Counter {
    n: u32,
    name: String,
}

impl Counter {
    // `mut self: Pin<&mut Self>`: the `&mut` is inside the receiver's type.
    #[resilient(base = "1ms")]
    async fn bump_pinned(mut self: Pin<&mut Self>) -> Result<u32, ApiError> {
        self.n += 1;
        if self.n % 3 != 0 {
            return Err(ApiError(503));
        }
        Ok(self.n)
    }

    // `mut self` by value: the body changes its own copy, kept across attempts.
    #[resilient(base = "1ms")]
    async fn consume(mut self) -> Result<u32, ApiError> {
        self.n += 1;
        if self.n < 3 {
            return Err(ApiError(503));
        }
        Ok(self.n)
    }

    // `&self` with a borrowed result: one closure makes every attempt.
    #[resilient(base = "1ms")]
    async fn name(&self, tries: &std::sync::atomic::AtomicU32) -> Result<&str, ApiError> {
        if tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 2 {
            return Err(ApiError(503));
        }
        Ok(&self.name)
    }
}

// A `&mut` inside a reference's type.
#[resilient(base = "1ms")]
async fn push(into: &mut Option<&mut Vec<u8>>, byte: u8) -> Result<usize, ApiError> {
    let Some(v) = into else { return Ok(0) };
    v.push(byte);
    if v.len() < 3 {
        return Err(ApiError(503));
    }
    Ok(v.len())
}

// A `mut` reference binding the body reassigns: each attempt starts from where the last left it.
#[resilient(base = "1ms")]
async fn advance(mut text: &str) -> Result<&str, ApiError> {
    text = &text[1..];
    if text.len() > 2 {
        return Err(ApiError(503));
    }
    Ok(text)
}

// A `&mut` with a named lifetime, and a time limit (the timed loop).
#[resilient(base = "1ms", timeout = "1s")]
async fn tally<'a>(total: &'a mut u32, step: u32) -> Result<u32, ApiError> {
    *total += step;
    if *total < 3 {
        return Err(ApiError(503));
    }
    Ok(*total)
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

fn main() {
    let mut c = Counter { n: 0, name: "c".into() };
    assert_eq!(block_on(assert_send(Pin::new(&mut c).bump_pinned())).unwrap(), 3);
    assert_eq!(c.n, 3);
    assert_eq!(block_on(assert_send(Counter { n: 0, name: String::new() }.consume())).unwrap(), 3);
    let tries = std::sync::atomic::AtomicU32::new(0);
    assert_eq!(block_on(assert_send(c.name(&tries))).unwrap(), "c");
    assert_eq!(tries.into_inner(), 3);
    let mut v = Vec::new();
    assert_eq!(block_on(assert_send(push(&mut Some(&mut v), 7))).unwrap(), 3);
    assert_eq!(v, [7, 7, 7]);
    assert_eq!(block_on(assert_send(advance("abcde"))).unwrap(), "de");
    let mut total = 0;
    assert_eq!(block_on(assert_send(tally(&mut total, 1))).unwrap(), 3);
    assert_eq!(total, 3);
}
