// Types that are not a `Result`, however they are written: each is reported at the type.
use steadfast::resilient;

#[derive(Debug)]
struct E;

#[resilient]
async fn tuple() -> (Result<u8, E>, u8) {
    (Ok(1), 2)
}

trait FakeResult {}
impl FakeResult for u8 {}

#[resilient]
async fn opaque() -> impl FakeResult {
    1u8
}

#[resilient]
async fn reference() -> &'static Result<u8, E> {
    &Ok(1)
}

#[resilient]
async fn generic_arrow<F: Fn() -> Result<u8, E>>(f: F) -> Option<u8> {
    f().ok()
}

// An alias is read as written: one whose name does not end in `Result` is refused, and the
// message says how the type is read.
type Outcome<T> = Result<T, E>;

#[resilient]
async fn aliased() -> Outcome<u8> {
    Ok(1)
}

fn main() {}
