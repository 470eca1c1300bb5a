#[path = "../support/pass.rs"]
mod support;
use support::*;

use steadfast::resilient;

#[async_trait::async_trait]
pub trait Store {
    async fn load(&self, key: String) -> Result<String, ApiError>;
}

struct Memory;

#[async_trait::async_trait]
impl Store for Memory {
    #[resilient(attempts = 2, base = "1ms")]
    async fn load(&self, key: String) -> Result<String, ApiError> {
        Ok(key)
    }
}

fn main() {
    let m: Box<dyn Store + Send + Sync> = Box::new(Memory);
    assert_eq!(block_on(m.load("k".into())).unwrap(), "k");
}