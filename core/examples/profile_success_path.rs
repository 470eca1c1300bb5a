//! A harness for profiling the success path of `#[resilient]` with callgrind, which counts
//! instructions and so gives the same answer on every run:
//!
//! ```text
//! cargo build --release -p steadfast --example profile_success_path
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out target/release/examples/profile_success_path
//! callgrind_annotate /tmp/cg.out | head -30
//! ```

use std::future::Future;
use std::task::{Context, Poll, Waker};

#[steadfast::resilient]
async fn call(n: u32) -> Result<u32, std::io::Error> {
    Ok(std::hint::black_box(n))
}

/// One call, polled once: a successful call completes without waiting.
#[inline(never)]
fn one(n: u32) -> u32 {
    let mut future = std::pin::pin!(call(n));
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(Ok(v)) => v,
        _ => 0,
    }
}

fn main() {
    let total: u64 = (0..200_000).map(|i| u64::from(one(i))).sum();
    println!("{total}");
}
