#[path = "../support/pass.rs"]
mod support;
use support::*;

use steadfast::resilient;

#[resilient(rpm = 10, concurrency = 2, timeout = "1s", deadline = "5s", breaker)]
async fn work(data: Vec<u8>) -> Result<usize, ApiError> {
    Ok(data.len())
}

fn assert_send<T: Send + 'static>(_: T) {}

fn main() {
    assert_send(work(vec![1]));
    block_on(async {
        assert_eq!(tokio::spawn(work(vec![1, 2])).await.unwrap().unwrap(), 2);
    });
}