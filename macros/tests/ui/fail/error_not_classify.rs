use steadfast::resilient;

#[derive(Debug)]
struct ApiError;

impl steadfast::classify::Classify for ApiError {
    fn failure(&self) -> Option<steadfast::classify::Failure> {
        None
    }
}

#[derive(Debug)]
struct Opaque;

#[resilient]
async fn ask() -> Result<(), Opaque> { Ok(()) }

fn main() {}
