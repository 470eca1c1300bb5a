#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

struct Payload(Vec<u8>);

#[resilient]
async fn send(id: u32, payload: Payload) -> Result<usize, ApiError> { Ok(payload.0.len() + id as usize) }

fn main() {}
