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

#[derive(Clone)]
struct Request { body: Vec<u8> }

#[resilient(base = "1ms")]
async fn send(mut request: Request, label: String, retries: u32) -> Result<usize, ApiError> {
    request.body.push(0);
    drop(label);
    Ok(request.body.len() + retries as usize)
}

fn main() {
    assert_eq!(block_on(send(Request { body: vec![1] }, "l".into(), 1)).unwrap(), 3);
}