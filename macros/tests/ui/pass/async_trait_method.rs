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

#[async_trait::async_trait]
pub trait Store {
    async fn load(&self, key: String) -> Result<String, ApiError>;
}

struct Memory;

#[async_trait::async_trait]
impl Store for Memory {
    #[resilient(attempts = 2, base = "1ms")]
    async fn load(&self, key: String) -> Result<String, ApiError> {
        Ok(key)
    }
}

fn main() {
    let m: Box<dyn Store + Send + Sync> = Box::new(Memory);
    assert_eq!(block_on(m.load("k".into())).unwrap(), "k");
}