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

use steadfast::resilient;

struct Parser<'a> { input: &'a str }

impl<'a> Parser<'a> {
    #[resilient]
    async fn first_word<'b>(&'b self, sep: &'b str) -> Result<&'a str, ApiError> {
        Ok(self.input.split(sep).next().unwrap_or(""))
    }
}

#[resilient]
async fn longest<'x>(a: &'x str, b: &'x str) -> Result<&'x str, ApiError> {
    Ok(if a.len() >= b.len() { a } else { b })
}

fn main() {
    let p = Parser { input: "a b" };
    assert_eq!(block_on(p.first_word(" ")).unwrap(), "a");
    assert_eq!(block_on(longest("ab", "c")).unwrap(), "ab");
}