#[path = "../support/pass.rs"]
mod support;
use support::*;

use std::sync::atomic::{AtomicU32, Ordering};
use steadfast::resilient;

static TRIES: AtomicU32 = AtomicU32::new(0);

// The order that works: #[resilient] sees the async body, then tokio makes it blocking.
#[resilient(base = "1ms")]
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), ApiError> {
    if TRIES.fetch_add(1, Ordering::SeqCst) < 1 {
        return Err(ApiError(503));
    }
    Ok(())
}
