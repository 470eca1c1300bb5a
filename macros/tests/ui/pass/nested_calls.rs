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

#[resilient(attempts = 2)]
async fn inner(n: u32) -> Result<u32, ApiError> {
    Ok(n + 1)
}

#[resilient(attempts = 3, rpm = 600)]
async fn outer(n: u32) -> Result<u32, ApiError> {
    let a = inner(n).await?;
    inner(a).await
}

fn main() {
    assert_eq!(block_on(outer(1)).unwrap(), 3);
}