use steadfast::resilient;

#[derive(Debug)]
struct ApiError;

impl steadfast::classify::Classify for ApiError {
    fn failure(&self) -> Option<steadfast::classify::Failure> {
        None
    }
}

#[resilient(timeout = "10s", deadline = "10s")]
async fn ask() -> Result<(), ApiError> { Ok(()) }

impl From<steadfast::Error> for ApiError {
    fn from(_: steadfast::Error) -> Self { ApiError }
}

fn main() {}
