use steadfast::resilient;

#[derive(Debug)]
struct ApiError;

impl steadfast::classify::Classify for ApiError {
    fn failure(&self) -> Option<steadfast::classify::Failure> {
        None
    }
}

#[resilient(attempts = "5", honor_hint = 1, retry = exp)]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
