// The user's own unreachable code in the body is reported, as it is without the attribute (the
// expansion used to allow `unreachable_code` over the whole body).
#![deny(unreachable_code)]

#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[resilient(on = [503])]
async fn ask(n: u32) -> Result<u32, ApiError> {
    return Ok(n);
    #[allow(unused_variables)]
    let later = n + 1;
}

fn main() {}
