#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

trait Ask {
    // A declaration has no body: the attribute belongs on the impl.
    #[resilient(on = [503])]
    async fn ask(&self) -> Result<(), ApiError>;
}

fn main() {}
