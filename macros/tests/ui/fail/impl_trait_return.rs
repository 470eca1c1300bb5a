// The expansion names the return type, and an `impl Trait` inside it cannot be named there:
// one clear error at `impl`, not the compiler's "`impl Trait` is not allowed in paths".
#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

#[resilient]
async fn opaque() -> Result<impl std::fmt::Debug, ApiError> {
    Ok(1u8)
}

fn main() {}
