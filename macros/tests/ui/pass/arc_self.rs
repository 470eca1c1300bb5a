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

use std::sync::Arc;
use steadfast::resilient;

struct Service { name: String }

impl Service {
    #[resilient(base = "1ms")]
    async fn name(self: Arc<Self>) -> Result<String, ApiError> {
        Ok(self.name.clone())
    }
}

fn main() {
    let s = Arc::new(Service { name: "svc".into() });
    assert_eq!(block_on(s.name()).unwrap(), "svc");
}