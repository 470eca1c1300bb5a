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

struct Counter { n: u32 }

impl Counter {
    #[resilient(base = "1ms")]
    async fn bump(&mut self) -> Result<u32, ApiError> {
        self.n += 1;
        if self.n < 3 { return Err(ApiError(503)); }
        Ok(self.n)
    }
}

fn main() {
    let mut c = Counter { n: 0 };
    assert_eq!(block_on(c.bump()).unwrap(), 3);
    assert_eq!(c.n, 3);
}