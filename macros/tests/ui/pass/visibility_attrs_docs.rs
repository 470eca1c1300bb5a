use steadfast::classify::{Classify, Failure};

#[derive(Debug, Clone)]
pub struct ApiError(pub u16);

impl Classify for ApiError {
    fn failure(&self) -> Option<Failure> {
        Some(Failure::status(self.0))
    }
}

impl From<steadfast::Error> for ApiError {
    fn from(_: steadfast::Error) -> Self {
        ApiError(599)
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(f)
}

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