#[path = "../support/pass.rs"]
mod support;
use support::*;

use steadfast::resilient;

struct Counter { n: u32 }

impl Counter {
    #[resilient(base = "1ms")]
    async fn bump(&mut self) -> Result<u32, ApiError> {
        self.n += 1;
        if self.n < 3 { return Err(ApiError(503)); }
        Ok(self.n)
    }
}

fn main() {
    let mut c = Counter { n: 0 };
    assert_eq!(block_on(c.bump()).unwrap(), 3);
    assert_eq!(c.n, 3);
}