#[path = "../support/pass.rs"]
mod support;
use support::*;

use steadfast::resilient;

// Names the expansion uses internally do not collide with the user's.
#[resilient]
async fn collide(__sf_run: u32, __sf_policy: &str) -> Result<u32, ApiError> {
    let __sf_result = __sf_run + __sf_policy.len() as u32;
    let __sf_attempt = 1;
    Ok(__sf_result + __sf_attempt)
}

fn main() {
    assert_eq!(block_on(collide(1, "ab")).unwrap(), 4);
}