//! Every function shape `#[resilient]` supports, compiled as a user crate: CI runs clippy with
//! `-D warnings` over this file, so the generated code must trip no default lint.

#![allow(clippy::unwrap_used)]

use std::fmt::Display;
use std::sync::Arc;
use steadfast::classify::{Classify, Failure};
use steadfast::resilient;

#[derive(Debug, Clone, PartialEq)]
struct ShapeError(u16);

impl Classify for ShapeError {
    fn failure(&self) -> Option<Failure> {
        Some(Failure::status(self.0))
    }
}

impl From<steadfast::Error> for ShapeError {
    fn from(_: steadfast::Error) -> Self {
        ShapeError(599)
    }
}

#[resilient]
async fn free(n: u32) -> Result<u32, ShapeError> {
    Ok(n)
}

struct Thing {
    n: u32,
}

impl Thing {
    #[resilient(rpm = 600)]
    async fn by_ref(&self, extra: &str) -> Result<usize, ShapeError> {
        Ok(self.n as usize + extra.len())
    }

    #[resilient(timeout = "1s")]
    async fn by_mut(&mut self) -> Result<u32, ShapeError> {
        self.n += 1;
        Ok(self.n)
    }

    #[resilient(concurrency = 2)]
    async fn by_arc(self: Arc<Self>) -> Result<u32, ShapeError> {
        Ok(self.n)
    }
}

#[resilient(attempts = 2)]
async fn generic<T: Display + Clone, U>(value: T, other: &U) -> Result<String, ShapeError>
where
    U: AsRef<str> + ?Sized,
{
    Ok(format!("{value}{}", other.as_ref()))
}

#[resilient(deadline = "10s")]
async fn impl_trait(
    name: impl AsRef<str> + Clone,
    shown: &impl Display,
) -> Result<String, ShapeError> {
    Ok(format!("{}{shown}", name.as_ref()))
}

#[resilient(breaker)]
async fn lifetimes<'a>(a: &'a str, b: &'a str) -> Result<&'a str, ShapeError> {
    Ok(if a.len() >= b.len() { a } else { b })
}

fn parse(s: &str) -> Result<u32, ShapeError> {
    s.parse().map_err(|_| ShapeError(400))
}

#[resilient(on = [503])]
async fn question_mark(s: &str) -> Result<u32, ShapeError> {
    let n = parse(s)?;
    if n == 0 {
        return Err(ShapeError(400));
    }
    Ok(n)
}

#[resilient(rpm = 600)]
async fn nested(mut words: Vec<String>) -> Result<u32, ShapeError> {
    words.push("1".into());
    let a = question_mark(&words[0]).await?;
    free(a).await
}

// Regression (clippy::diverging_sub_expression): the body was the initializer of a typed `let`,
// so a `return` or a diverging call at its top level was a diverging sub-expression to clippy,
// reported on the user's code although the same function without the attribute is clean.
#[resilient(on = [503])]
#[allow(clippy::needless_return)] // what clippy says of this body without the attribute
async fn returns_at_end(n: i64) -> Result<i64, ShapeError> {
    return Ok(-n);
}

#[resilient(on = [503])]
async fn always_panics(n: u8) -> Result<u8, ShapeError> {
    panic!("never returns: {n}");
}

// Regression: a generic parameter named like a primitive is not a primitive; the argument is
// still copied per attempt (it used to be taken as `Copy` and moved by the first attempt).
#[resilient(on = [503], base = "1ms")]
#[allow(non_camel_case_types, clippy::builtin_type_shadow)]
async fn generic_named_u32<u32: Clone>(
    value: u32,
    calls: &std::sync::atomic::AtomicU8,
) -> Result<u32, ShapeError> {
    if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
        return Err(ShapeError(503));
    }
    Ok(value)
}

#[async_trait::async_trait]
trait Store {
    async fn load(&self, key: String) -> Result<String, ShapeError>;
}

#[async_trait::async_trait]
impl Store for Thing {
    #[resilient(base = "1ms")]
    async fn load(&self, key: String) -> Result<String, ShapeError> {
        Ok(format!("{key}{}", self.n))
    }
}

#[tokio::test(start_paused = true)]
async fn every_shape_runs() {
    assert_eq!(free(1).await, Ok(1));
    let mut thing = Thing { n: 1 };
    assert_eq!(thing.by_ref("ab").await, Ok(3));
    assert_eq!(thing.by_mut().await, Ok(2));
    assert_eq!(thing.load("k".into()).await, Ok("k2".into()));
    assert_eq!(Arc::new(thing).by_arc().await, Ok(2));
    assert_eq!(generic(1, "x").await, Ok("1x".into()));
    assert_eq!(impl_trait("a", &2).await, Ok("a2".into()));
    assert_eq!(lifetimes("ab", "c").await, Ok("ab"));
    assert_eq!(question_mark("x").await, Err(ShapeError(400)));
    assert_eq!(nested(vec!["5".into()]).await, Ok(5));
    assert_eq!(returns_at_end(2).await, Ok(-2));
    let calls = std::sync::atomic::AtomicU8::new(0);
    assert_eq!(
        generic_named_u32(String::from("v"), &calls).await,
        Ok("v".into())
    );
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    let _ = always_panics;
}
