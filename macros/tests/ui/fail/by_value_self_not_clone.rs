use steadfast::resilient;

#[derive(Debug)]
pub struct ApiError(u16);
impl steadfast::classify::Classify for ApiError {
    fn failure(&self) -> Option<steadfast::classify::Failure> {
        Some(steadfast::classify::Failure::status(self.0))
    }
}

struct Request(Vec<u8>);

impl Request {
    #[resilient]
    async fn send(self) -> Result<usize, ApiError> { Ok(self.0.len()) }
}

fn main() {}
