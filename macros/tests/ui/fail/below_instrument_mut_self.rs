#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

struct Session { sent: u32 }

impl Session {
    // instrument moves `&mut self` into an `async move` block that can run once.
    #[tracing::instrument(skip(self))]
    #[resilient(on = [503])]
    async fn send(&mut self, text: &str) -> Result<usize, ApiError> {
        self.sent += 1;
        Ok(text.len())
    }
}

fn main() {}
