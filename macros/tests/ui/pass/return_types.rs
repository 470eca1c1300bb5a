// The return type is read from the tokens after the argument list's `->` (it is not parsed), so
// each way of writing a `Result` must work: through an alias, a full path, parentheses, a
// projection and a macro's `$t:ty`, with `->` also in the generics, in the `where` clause and
// inside the type itself.
#![deny(warnings)]
#![allow(unused_parens)]

#[path = "../support/pass.rs"]
mod support;
use support::*;

use steadfast::resilient;

type ApiResult<T> = Result<T, ApiError>;

#[resilient(attempts = 2)]
async fn aliased() -> ApiResult<u8> {
    Ok(1)
}

#[resilient(attempts = 2)]
async fn full_path() -> ::std::result::Result<u8, ApiError> {
    Ok(2)
}

#[resilient(attempts = 2)]
async fn parenthesized() -> (Result<u8, ApiError>) {
    Ok(3)
}

#[resilient(attempts = 2)]
async fn arrow_in_generics<F: Fn(u8) -> u8>(f: &F) -> Result<u8, ApiError> {
    Ok(f(4))
}

#[resilient(attempts = 2)]
async fn arrow_in_where<F>(f: &F) -> Result<u8, ApiError>
where
    F: Fn(u8) -> u8 + Sync,
{
    Ok(f(5))
}

#[resilient(attempts = 2)]
async fn arrow_in_the_type() -> Result<fn(u8) -> u8, ApiError> {
    Ok(|x| x + 6)
}

trait Api {
    type Result;
}
struct Service;
impl Api for Service {
    type Result = Result<u8, ApiError>;
}

#[resilient(attempts = 2)]
async fn projected() -> <Service as Api>::Result {
    Ok(7)
}

macro_rules! returning {
    ($name:ident, $ret:ty) => {
        #[resilient(attempts = 2)]
        async fn $name() -> $ret {
            Ok(8)
        }
    };
}
returning!(from_macro, Result<u8, ApiError>);

fn main() {
    assert_eq!(block_on(aliased()).unwrap(), 1);
    assert_eq!(block_on(full_path()).unwrap(), 2);
    assert_eq!(block_on(parenthesized()).unwrap(), 3);
    assert_eq!(block_on(arrow_in_generics(&|x| x)).unwrap(), 4);
    assert_eq!(block_on(arrow_in_where(&|x| x)).unwrap(), 5);
    assert_eq!(block_on(arrow_in_the_type()).unwrap()(0), 6);
    assert_eq!(block_on(projected()).unwrap(), 7);
    assert_eq!(block_on(from_macro()).unwrap(), 8);
}
