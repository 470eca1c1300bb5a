use steadfast::classify::{Classify, Failure};

#[derive(Debug, Clone)]
pub struct ApiError(pub u16);

impl Classify for ApiError {
    fn failure(&self) -> Option<Failure> {
        Some(Failure::status(self.0))
    }
}

impl From<steadfast::Error> for ApiError {
    fn from(_: steadfast::Error) -> Self {
        ApiError(599)
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(f)
}

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