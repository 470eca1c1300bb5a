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

#[resilient(rpm = 10, concurrency = 2, timeout = "1s", deadline = "5s", breaker)]
async fn work(data: Vec<u8>) -> Result<usize, ApiError> {
    Ok(data.len())
}

fn assert_send<T: Send + 'static>(_: T) {}

fn main() {
    assert_send(work(vec![1]));
    block_on(async {
        assert_eq!(tokio::spawn(work(vec![1, 2])).await.unwrap().unwrap(), 2);
    });
}