use steadfast::resilient;

#[derive(Debug)]
struct ApiError;

impl steadfast::classify::Classify for ApiError {
    fn failure(&self) -> Option<steadfast::classify::Failure> {
        None
    }
}

fn policy() -> steadfast::Policy { steadfast::Policy::builder().build().unwrap() }

#[resilient(policy = policy(), rpm = 10)]
async fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {}
