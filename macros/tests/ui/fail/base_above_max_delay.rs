use steadfast::resilient;

#[derive(Debug)]
struct ApiError;

impl steadfast::classify::Classify for ApiError {
    fn failure(&self) -> Option<steadfast::classify::Failure> {
        None
    }
}

#[resilient(base = "2m", max_delay = "60s")]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
