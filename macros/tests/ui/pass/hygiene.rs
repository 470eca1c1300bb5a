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

// Names the expansion uses internally do not collide with the user's.
#[resilient]
async fn collide(__sf_run: u32, __sf_policy: &str) -> Result<u32, ApiError> {
    let __sf_result = __sf_run + __sf_policy.len() as u32;
    let __sf_attempt = 1;
    Ok(__sf_result + __sf_attempt)
}

fn main() {
    assert_eq!(block_on(collide(1, "ab")).unwrap(), 4);
}