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

struct Client { base: String }

impl Client {
    #[resilient(attempts = 3, base = "10ms")]
    async fn get(&self, path: &str) -> Result<String, ApiError> {
        Ok(format!("{}{}", self.base, path))
    }
}

fn main() {
    let c = Client { base: "x".into() };
    assert_eq!(block_on(c.get("/y")).unwrap(), "x/y");
}