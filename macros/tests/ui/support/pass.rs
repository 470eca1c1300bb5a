//! Shared by the `pass/` UI tests: an error type that classifies and takes policy errors, and a
//! paused-clock runtime.

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

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(f)
}
