#[path = "../support/pass.rs"]
mod support;
use support::*;

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