// Arguments the body may change keep the loop in the function (each attempt reborrows them);
// everything else goes through `__private::call`. Both forms are exercised here, each one
// retried, with its future `Send`.
#[path = "../support/pass.rs"]
mod support;
use support::*;

use std::pin::Pin;
use steadfast::resilient;

#[derive(Clone)]
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

    // `mut self` by value: each attempt changes a copy of the caller's value (issue 24: it was
    // one value kept across attempts, unlike every other `mut` owned argument).
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

// Found by review: `#[async_trait]` moves `mut` out of the signature into `let mut x = x;`
// before the body, and a by-value `self` may be a `&mut` (`impl .. for &mut T`) or an alias may
// hide one: all of these keep the loop.
#[async_trait::async_trait]
trait Consume {
    async fn consume(self) -> Result<u32, ApiError>;
    async fn count(self: std::sync::Arc<Self>, n: u32) -> Result<u32, ApiError>;
    async fn fill(&self, v: Vec<u8>) -> Result<usize, ApiError>;
}

struct Plain {
    n: u32,
}

#[async_trait::async_trait]
impl Consume for Plain {
    #[resilient(base = "1ms")]
    async fn consume(mut self) -> Result<u32, ApiError> {
        self.n += 1;
        if self.n < 3 {
            return Err(ApiError(503));
        }
        Ok(self.n)
    }

    #[resilient(base = "1ms")]
    async fn count(self: std::sync::Arc<Self>, mut n: u32) -> Result<u32, ApiError> {
        n += 1 + self.n;
        if n < 3 {
            return Err(ApiError(503));
        }
        Ok(n)
    }

    #[resilient(base = "1ms")]
    async fn fill(&self, mut v: Vec<u8>) -> Result<usize, ApiError> {
        v.push(1);
        if v.len() < 3 {
            return Err(ApiError(503));
        }
        Ok(v.len())
    }
}

trait Bump {
    async fn bump(self) -> Result<u32, ApiError>;
}

impl Bump for &mut Plain {
    #[resilient(base = "1ms")]
    async fn bump(self) -> Result<u32, ApiError> {
        self.n += 1;
        if self.n < 3 {
            return Err(ApiError(503));
        }
        Ok(self.n)
    }
}

type MutPlain<'a> = &'a mut Plain;

impl Plain {
    #[resilient(base = "1ms")]
    async fn bump_alias(self: MutPlain<'_>) -> Result<u32, ApiError> {
        self.n += 1;
        if self.n < 6 {
            return Err(ApiError(503));
        }
        Ok(self.n)
    }
}

// Types passed through `macro_rules!` fragments arrive in invisible groups.
macro_rules! through {
    ($name:ident, $v:ty, $s:ty) => {
        #[resilient(base = "1ms")]
        async fn $name(v: $v, mut text: $s) -> Result<usize, ApiError> {
            v.push(0);
            text = &text[1..];
            if v.len() < 3 {
                return Err(ApiError(503));
            }
            Ok(v.len() + text.len())
        }
    };
}
through!(grouped, &mut Vec<u8>, &str);

fn assert_send<T: Send>(t: T) -> T {
    t
}

fn main() {
    let mut c = Counter { n: 0, name: "c".into() };
    assert_eq!(block_on(assert_send(Pin::new(&mut c).bump_pinned())).unwrap(), 3);
    assert_eq!(c.n, 3);
    assert!(block_on(assert_send(Counter { n: 0, name: String::new() }.consume())).is_err());
    assert_eq!(block_on(assert_send(Counter { n: 2, name: String::new() }.consume())).unwrap(), 3);
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
    assert_eq!(block_on(Plain { n: 0 }.consume()).unwrap(), 3);
    // `mut n`, which async-trait rebinds before the body (`let mut n = n;`), starts each attempt
    // from the caller's value as it does without async-trait: 1 + 1 never reaches 3 (it did,
    // on the second attempt, while the changes were kept from one attempt to the next).
    assert!(block_on(std::sync::Arc::new(Plain { n: 0 }).count(1)).is_err());
    assert_eq!(block_on(std::sync::Arc::new(Plain { n: 1 }).count(1)).unwrap(), 3);
    // A `mut` vector, likewise (refused before: the per-attempt copy was bound without `mut`).
    assert!(block_on(Plain { n: 0 }.fill(Vec::new())).is_err());
    assert_eq!(block_on(Plain { n: 0 }.fill(vec![0, 0])).unwrap(), 3);
    let mut p = Plain { n: 0 };
    assert_eq!(block_on((&mut p).bump()).unwrap(), 3);
    assert_eq!(block_on(p.bump_alias()).unwrap(), 6);
    let mut v = Vec::new();
    // Three attempts: the vector keeps each push, the text loses a letter each time.
    assert_eq!(block_on(grouped(&mut v, "abcd")).unwrap(), 3 + 1);
}
