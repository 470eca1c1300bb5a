// On an item that is not a function, the attribute used to do nothing, silently, even with
// keys that do not exist (found by a probe of this session).
#[path = "../support/fail.rs"]
mod support;
use steadfast::resilient;
use support::ApiError;

struct Service;

#[resilient(on = [503])]
impl Service {
    async fn ask(&self) -> Result<u8, ApiError> {
        Ok(1)
    }
}

#[resilient(nonsense = 1)]
pub(crate) struct Unit;

#[resilient]
mod inner {}

#[resilient]
type Pointer = fn(u8) -> u8;

fn main() {}
