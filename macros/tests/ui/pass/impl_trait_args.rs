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

#[resilient]
async fn greet(name: impl AsRef<str> + Clone, suffix: &impl std::fmt::Display) -> Result<String, ApiError> {
    Ok(format!("{}{suffix}", name.as_ref()))
}

fn main() {
    assert_eq!(block_on(greet("a", &1)).unwrap(), "a1");
}