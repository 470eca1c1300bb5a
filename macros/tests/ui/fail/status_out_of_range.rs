use steadfast::resilient;

#[derive(Debug)]
struct ApiError;

impl steadfast::classify::Classify for ApiError {
    fn failure(&self) -> Option<steadfast::classify::Failure> {
        None
    }
}

#[resilient(on = [429, 600])]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
