// `fallback` is called with every argument, and one under `#[cfg]` may not exist.
#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

async fn spare(a: u8, #[cfg(any())] b: String) -> Result<u8, ApiError> {
    Ok(a)
}

#[resilient(fallback = spare)]
async fn ask(a: u8, #[cfg(any())] b: String) -> Result<u8, ApiError> {
    Ok(a)
}

fn main() {}
