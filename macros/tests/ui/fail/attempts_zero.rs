use steadfast::resilient;

#[derive(Debug)]
struct ApiError;

impl steadfast::classify::Classify for ApiError {
    fn failure(&self) -> Option<steadfast::classify::Failure> {
        None
    }
}

#[resilient(attempts = 0)]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
