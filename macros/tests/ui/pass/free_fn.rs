#[path = "../support/pass.rs"]
mod support;
use support::*;

use steadfast::resilient;

#[resilient(retry = "exp", on = [429, 500, 503], rpm = 25)]
async fn ask(prompt: &str) -> Result<String, ApiError> {
    Ok(prompt.to_uppercase())
}

fn main() {
    assert_eq!(block_on(ask("hi")).unwrap(), "HI");
}