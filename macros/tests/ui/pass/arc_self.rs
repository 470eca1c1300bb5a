#[path = "../support/pass.rs"]
mod support;
use support::*;

use std::sync::Arc;
use steadfast::resilient;

struct Service { name: String }

impl Service {
    #[resilient(base = "1ms")]
    async fn name(self: Arc<Self>) -> Result<String, ApiError> {
        Ok(self.name.clone())
    }
}

fn main() {
    let s = Arc::new(Service { name: "svc".into() });
    assert_eq!(block_on(s.name()).unwrap(), "svc");
}