use steadfast::resilient;

#[derive(Debug)]
struct ApiError;

impl steadfast::classify::Classify for ApiError {
    fn failure(&self) -> Option<steadfast::classify::Failure> {
        None
    }
}

struct Payload(Vec<u8>);

#[resilient]
async fn send(id: u32, payload: Payload) -> Result<usize, ApiError> { Ok(payload.0.len() + id as usize) }

fn main() {}
