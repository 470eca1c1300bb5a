// The body reaches the attempt as a closure that makes its future (`|| async { .. }`): shapes
// that depend on how that closure captures, on both the untimed and the timed attempt.
#[path = "../support/pass.rs"]
mod support;
use support::*;

use steadfast::classify::Verdict;
use steadfast::resilient;

struct Counter {
    n: u32,
}

impl Counter {
    // `&mut self` reborrowed per attempt, untimed and timed.
    #[resilient(base = "1ms")]
    async fn bump(&mut self) -> Result<u32, ApiError> {
        self.n += 1;
        if self.n % 3 != 0 { return Err(ApiError(503)); }
        Ok(self.n)
    }

    #[resilient(base = "1ms", timeout = "1s")]
    async fn bump_timed(&mut self) -> Result<u32, ApiError> {
        self.n += 1;
        if self.n % 3 != 0 { return Err(ApiError(503)); }
        Ok(self.n)
    }

    #[resilient(base = "1ms")]
    async fn read(&self, extra: u32) -> Result<u32, ApiError> {
        Ok(self.n + extra)
    }
}

// A `&mut` argument, written on each attempt.
#[resilient(base = "1ms")]
async fn push(log: &mut Vec<u32>, value: u32) -> Result<usize, ApiError> {
    log.push(value);
    if log.len() < 2 { return Err(ApiError(500)); }
    Ok(log.len())
}

// `fallback` on the untimed attempt.
async fn zero(_n: u32) -> Result<u32, ApiError> { Ok(0) }

#[resilient(attempts = 2, base = "1ms", fallback = zero)]
async fn always_fails(n: u32) -> Result<u32, ApiError> {
    Err(ApiError(400 + n as u16 % 2))
}

// A classifier generic over the success type.
fn by_status<T>(r: &Result<T, ApiError>) -> Verdict {
    Verdict::of_error(r)
}

#[resilient(base = "1ms", classify = by_status)]
async fn classified(n: u32) -> Result<u32, ApiError> { Ok(n) }

// `&mut self` under async-trait.
#[async_trait::async_trait]
pub trait Tally {
    async fn add(&mut self, k: u32) -> Result<u32, ApiError>;
}

#[async_trait::async_trait]
impl Tally for Counter {
    #[resilient(base = "1ms")]
    async fn add(&mut self, k: u32) -> Result<u32, ApiError> {
        self.n += k;
        Ok(self.n)
    }
}

fn assert_send<T: Send>(_: &T) {}

fn main() {
    let mut c = Counter { n: 0 };
    {
        let f = c.bump();
        assert_send(&f);
        assert_eq!(block_on(f).unwrap(), 3);
    }
    {
        let f = c.bump_timed();
        assert_send(&f);
        assert_eq!(block_on(f).unwrap(), 6);
    }
    {
        let f = c.read(1);
        assert_send(&f);
        assert_eq!(block_on(f).unwrap(), 7);
    }
    let mut log = Vec::new();
    {
        let f = push(&mut log, 9);
        assert_send(&f);
        assert_eq!(block_on(f).unwrap(), 2);
    }
    assert_eq!(log, [9, 9]);
    assert_eq!(block_on(always_fails(1)).unwrap(), 0);
    assert_eq!(block_on(classified(4)).unwrap(), 4);
    assert_eq!(block_on(c.add(3)).unwrap(), 9);
}
