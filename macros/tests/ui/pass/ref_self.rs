#[path = "../support/pass.rs"]
mod support;
use support::*;

use steadfast::resilient;

struct Client { base: String }

impl Client {
    #[resilient(attempts = 3, base = "10ms")]
    async fn get(&self, path: &str) -> Result<String, ApiError> {
        Ok(format!("{}{}", self.base, path))
    }
}

fn main() {
    let c = Client { base: "x".into() };
    assert_eq!(block_on(c.get("/y")).unwrap(), "x/y");
}