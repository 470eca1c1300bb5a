// A body whose value is not the return type is reported at that value, with the return type
// named as where the type comes from.
#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[resilient(on = [503])]
async fn ask(n: u32) -> Result<u32, ApiError> {
    let doubled = n * 2;
    doubled.to_string()
}

fn main() {}
