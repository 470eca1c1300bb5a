#[path = "../support/pass.rs"]
mod support;
use support::*;

use steadfast::resilient;

struct Session { sent: u32 }

impl Session {
    // The order that works: #[resilient] first, so one span covers the call and its retries.
    #[resilient(base = "1ms")]
    #[tracing::instrument(skip(self))]
    async fn send(&mut self, text: &str) -> Result<usize, ApiError> {
        self.sent += 1;
        if self.sent < 3 { return Err(ApiError(503)); }
        Ok(text.len())
    }
}

fn main() {
    let mut s = Session { sent: 0 };
    assert_eq!(block_on(s.send("hello")).unwrap(), 5);
    assert_eq!(s.sent, 3);
}
