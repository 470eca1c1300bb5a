use steadfast::resilient;

#[derive(Debug)]
struct ApiError;

impl steadfast::classify::Classify for ApiError {
    fn failure(&self) -> Option<steadfast::classify::Failure> {
        None
    }
}

#[resilient]
fn ask() -> Result<(), ApiError> { Ok(()) }

fn main() {
    // The function is still emitted beside the error: no second "cannot find" error.
    let _ = ask();
}
