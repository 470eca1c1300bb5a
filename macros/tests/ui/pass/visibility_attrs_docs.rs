#[path = "../support/pass.rs"]
mod support;
use support::*;

use steadfast::resilient;

mod api {
    use super::*;

    /// Documented, crate-visible, with other attributes kept.
    #[must_use = "the answer matters"]
    #[resilient(rpm = 100)]
    #[inline]
    pub(crate) async fn answer() -> Result<u32, ApiError> {
        Ok(42)
    }
}

fn main() {
    assert_eq!(block_on(api::answer()).unwrap(), 42);
}