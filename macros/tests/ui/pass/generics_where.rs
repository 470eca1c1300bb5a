#[path = "../support/pass.rs"]
mod support;
use support::*;
#[allow(unused_imports)]
use steadfast::classify::{Classify, Failure};

use std::fmt::Display;
use steadfast::resilient;

#[resilient(attempts = 2)]
async fn show<T: Display + Clone + Send, U>(value: T, extra: &U) -> Result<String, ApiError>
where
    U: AsRef<str> + ?Sized,
{
    Ok(format!("{value}{}", extra.as_ref()))
}

#[resilient(timeout = "1s")]
async fn generic_error<E>(fail: bool) -> Result<u8, E>
where
    E: Classify + From<steadfast::Error> + From<u8>,
{
    if fail { Err(E::from(7)) } else { Ok(1) }
}

impl From<u8> for ApiError {
    fn from(n: u8) -> Self { ApiError(u16::from(n) + 400) }
}

fn main() {
    assert_eq!(block_on(show(1, "x")).unwrap(), "1x");
    assert_eq!(block_on(generic_error::<ApiError>(false)).unwrap(), 1);
}