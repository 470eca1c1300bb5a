use steadfast::resilient;

#[derive(Debug)]
struct ApiError;

impl steadfast::classify::Classify for ApiError {
    fn failure(&self) -> Option<steadfast::classify::Failure> {
        None
    }
}

#[resilient(breaker(failure_ratio = 1.5, min_call = 3))]
async fn ask() -> Result<(), ApiError> { Ok(()) }

impl From<steadfast::Error> for ApiError {
    fn from(_: steadfast::Error) -> Self { ApiError }
}

fn main() {}
