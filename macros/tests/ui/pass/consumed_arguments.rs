// Issue 24, item 7 (found by a probe): arguments the body consumes.
// - A method taking `self` by value whose body consumes it (the builder pattern): each attempt
//   gets its own copy of `self`, as it does of any owned argument.
// - A `&mut` argument passed to a generic function (`take<W: Write>(w: W)`), which moves the
//   reference instead of reborrowing it: each attempt reborrows the argument.
// Both were "use of moved value" at the attribute.
#[path = "../support/pass.rs"]
mod support;
use support::*;

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use steadfast::resilient;

static SENT: AtomicU32 = AtomicU32::new(0);

#[derive(Clone, Debug)]
struct Request {
    url: String,
}

impl Request {
    fn into_http(self) -> Result<String, ApiError> {
        if SENT.fetch_add(1, Ordering::Relaxed) < 2 {
            return Err(ApiError(503));
        }
        Ok(self.url)
    }

    #[resilient(base = "1ms")]
    async fn send(self) -> Result<String, ApiError> {
        self.into_http()
    }

    // `mut self`: each attempt starts from the caller's value, like a `mut` owned argument.
    #[resilient(base = "1ms")]
    async fn send_changed(mut self) -> Result<String, ApiError> {
        self.url.push('!');
        if self.url.len() > "u!".len() {
            return Err(ApiError(400));
        }
        if SENT.fetch_add(1, Ordering::Relaxed) < 4 {
            return Err(ApiError(503));
        }
        Ok(self.url)
    }
}

fn helper() -> usize {
    1
}

impl Request {
    // The body's `self` is renamed; a path's `self::` and the `self` of an item declared in
    // the body are not.
    #[resilient(base = "1ms")]
    async fn nested(self) -> Result<usize, ApiError> {
        // Found by review: `self` in a `use` names a module, and in `pub(self)` a visibility.
        #[allow(unused_imports)]
        use std::io::{self, Write as _};
        pub(self) struct Private;
        let _ = Private;
        struct Inner(usize);
        impl Inner {
            fn get(&self) -> usize {
                self.0
            }
        }
        fn local(x: usize) -> usize {
            x
        }
        let n = self::helper() + Inner(local(1)).get();
        let f = move || self.url.len();
        Ok(f() + n)
    }
}

fn take<W: Write>(mut w: W) -> Result<usize, ApiError> {
    w.write_all(b"x").map_err(|_| ApiError(500))?;
    Ok(1)
}

static WRITES: AtomicU32 = AtomicU32::new(0);

#[resilient(base = "1ms")]
async fn write_into(buf: &mut Vec<u8>) -> Result<usize, ApiError> {
    let before = buf.len();
    take(buf)?;
    if WRITES.fetch_add(1, Ordering::Relaxed) < 2 {
        return Err(ApiError(503));
    }
    Ok(before + 1)
}

fn main() {
    block_on(async {
        let request = Request { url: "u".into() };
        assert_eq!(request.clone().send().await.unwrap(), "u");
        assert_eq!(SENT.load(Ordering::Relaxed), 3, "two 503s, then the answer");
        // A third attempt that kept the second's `self` would see "u!!" and get a 400.
        assert_eq!(request.send_changed().await.unwrap(), "u!");
        assert_eq!(Request { url: "abc".into() }.nested().await.unwrap(), 5);
        let mut buf = Vec::new();
        assert_eq!(write_into(&mut buf).await.unwrap(), 3);
        assert_eq!(buf, b"xxx", "one write per attempt");
    });
}
