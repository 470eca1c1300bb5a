use steadfast::classify::{Classify, Failure, Verdict};
use steadfast::resilient;

#[derive(Debug)]
struct ApiError(u16);

impl Classify for ApiError {
    fn failure(&self) -> Option<Failure> {
        Some(Failure::status(self.0))
    }
}

// Takes the error, not the whole result.
fn judge(e: &ApiError) -> Verdict {
    let _ = e;
    Verdict::Success
}

#[resilient(classify = judge)]
async fn ask() -> Result<u32, ApiError> { Ok(1) }

fn main() {}
