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
async fn total(items: &[u32], scale: &mut u32, name: &str) -> Result<u32, ApiError> {
    *scale += 1;
    Ok(items.iter().sum::<u32>() * *scale + name.len() as u32)
}

fn main() {
    let mut scale = 1;
    assert_eq!(block_on(total(&[1, 2], &mut scale, "ab")).unwrap(), 8);
}