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

fn parse(s: &str) -> Result<u32, ApiError> {
    s.parse().map_err(|_| ApiError(400))
}

#[resilient(on = [503])]
async fn checked(s: &str) -> Result<u32, ApiError> {
    let n = parse(s)?;
    if n == 0 {
        return Err(ApiError(400));
    }
    Ok(n)
}

fn main() {
    assert_eq!(block_on(checked("4")).unwrap(), 4);
    assert!(block_on(checked("x")).is_err());
    assert!(block_on(checked("0")).is_err());
}