#[path = "../support/pass.rs"]
mod support;
use support::*;

use steadfast::resilient;

#[derive(Clone)]
struct Request { body: Vec<u8> }

#[resilient(base = "1ms")]
async fn send(mut request: Request, label: String, retries: u32) -> Result<usize, ApiError> {
    request.body.push(0);
    drop(label);
    Ok(request.body.len() + retries as usize)
}

fn main() {
    assert_eq!(block_on(send(Request { body: vec![1] }, "l".into(), 1)).unwrap(), 3);
}