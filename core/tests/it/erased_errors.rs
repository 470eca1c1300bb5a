//! `anyhow::Result` and `Result<T, Box<dyn Error + Send + Sync>>` under `#[resilient]`: the first
//! recognised cause in the source chain decides, and the caller gets its own error back, message
//! included.

#![allow(clippy::unwrap_used)]

use std::error::Error as StdError;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use steadfast::classify::{self, Classify, Failure, Transport};
use steadfast::resilient;

type BoxError = Box<dyn StdError + Send + Sync>;

/// An application error that wraps a cause, as `thiserror`'s `#[source]` would.
#[derive(Debug)]
struct Fetching(Box<dyn StdError + Send + Sync>);

impl fmt::Display for Fetching {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fetching the report")
    }
}

impl StdError for Fetching {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.0)
    }
}

/// A user's error type, recognised once registered.
#[derive(Debug)]
struct Upstream(u16);

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "upstream answered {}", self.0)
    }
}

impl StdError for Upstream {}

impl Classify for Upstream {
    fn failure(&self) -> Option<Failure> {
        Some(Failure::status(self.0))
    }
}

#[resilient(attempts = 3, base = "10ms")]
async fn boxed(calls: &AtomicU32, error: fn() -> BoxError) -> Result<u32, BoxError> {
    let n = calls.fetch_add(1, Ordering::SeqCst);
    if n < 2 { Err(error()) } else { Ok(n) }
}

#[tokio::test(start_paused = true)]
async fn boxed_io_reset_inside_an_application_error_is_retried() {
    let calls = AtomicU32::new(0);
    let got = boxed(&calls, || {
        Box::new(Fetching(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        ))))
    })
    .await;
    assert_eq!(got.unwrap(), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn boxed_error_with_a_custom_message_comes_back_unchanged() {
    let calls = AtomicU32::new(0);
    let got = boxed(&calls, || "the upstream said no".into()).await;
    assert_eq!(got.unwrap_err().to_string(), "the upstream said no");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "nothing recognised: not retried"
    );
}

#[tokio::test(start_paused = true)]
async fn boxed_registered_type_is_recognised_in_the_chain() {
    classify::register::<Upstream>();
    classify::register::<Upstream>();
    let calls = AtomicU32::new(0);
    let got = boxed(&calls, || Box::new(Fetching(Box::new(Upstream(503))))).await;
    assert_eq!(got.unwrap(), 2, "503 is transient");
    let calls = AtomicU32::new(0);
    let got = boxed(&calls, || Box::new(Upstream(400))).await;
    assert_eq!(got.unwrap_err().to_string(), "upstream answered 400");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "400 is not retried");
}

#[resilient(attempts = 2, base = "10ms")]
async fn inner_timed_out(calls: &AtomicU32) -> Result<(), BoxError> {
    calls.fetch_add(1, Ordering::SeqCst);
    Err(Box::new(steadfast::Error::AttemptTimedOut {
        after: Duration::from_secs(1),
    }))
}

#[resilient(attempts = 2, base = "10ms")]
async fn inner_deadline(calls: &AtomicU32) -> Result<(), BoxError> {
    calls.fetch_add(1, Ordering::SeqCst);
    Err(Box::new(steadfast::Error::DeadlineExceeded {
        deadline: Duration::from_secs(1),
    }))
}

#[tokio::test(start_paused = true)]
async fn a_policy_error_from_an_inner_call_classifies_by_its_kind() {
    let calls = AtomicU32::new(0);
    let _ = inner_timed_out(&calls).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "an attempt timeout is a timeout"
    );
    let calls = AtomicU32::new(0);
    let _ = inner_deadline(&calls).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "an inner deadline is terminal"
    );
}

#[resilient(attempts = 2, timeout = "1s")]
async fn boxed_with_timeout(calls: &AtomicU32) -> Result<(), BoxError> {
    calls.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(5)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn boxed_errors_take_policy_errors_too() {
    let calls = AtomicU32::new(0);
    let err = boxed_with_timeout(&calls).await.unwrap_err();
    assert!(err.downcast_ref::<steadfast::Error>().is_some(), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn the_outermost_recognised_cause_wins_and_unknown_chains_are_unknown() {
    let outer: BoxError = Box::new(Fetching(Box::new(std::io::Error::from(
        std::io::ErrorKind::TimedOut,
    ))));
    assert_eq!(
        outer.failure().unwrap().transport_kind(),
        Some(Transport::Timeout)
    );
    let plain: Box<dyn StdError> = "nothing known".into();
    assert_eq!(plain.failure(), Some(Failure::unknown()));
}

#[cfg(feature = "anyhow")]
mod with_anyhow {
    use super::*;
    use anyhow::Context as _;

    #[resilient(attempts = 3, base = "10ms")]
    async fn report(calls: &AtomicU32, error: fn() -> anyhow::Error) -> anyhow::Result<u32> {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        if n < 2 { Err(error()) } else { Ok(n) }
    }

    #[tokio::test(start_paused = true)]
    async fn anyhow_io_error_under_context_is_retried() {
        let calls = AtomicU32::new(0);
        let got = report(&calls, || {
            Err::<(), _>(std::io::Error::from(std::io::ErrorKind::ConnectionReset))
                .context("fetching the report")
                .unwrap_err()
        })
        .await;
        assert_eq!(got.unwrap(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn anyhow_message_comes_back_unchanged_and_is_not_retried() {
        let calls = AtomicU32::new(0);
        let got = report(&calls, || anyhow::anyhow!("bad input: {}", 7)).await;
        assert_eq!(got.unwrap_err().to_string(), "bad input: 7");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn anyhow_registered_type_is_recognised() {
        classify::register::<Upstream>();
        let calls = AtomicU32::new(0);
        let got = report(&calls, || {
            anyhow::Error::new(Upstream(429)).context("asking")
        })
        .await;
        assert_eq!(got.unwrap(), 2);
    }

    #[resilient(attempts = 2, deadline = "1s")]
    async fn report_with_deadline(calls: &AtomicU32) -> anyhow::Result<()> {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn anyhow_takes_policy_errors() {
        let calls = AtomicU32::new(0);
        let err = report_with_deadline(&calls).await.unwrap_err();
        assert!(matches!(
            err.downcast_ref::<steadfast::Error>(),
            Some(steadfast::Error::DeadlineExceeded { .. })
        ));
    }

    #[cfg(feature = "reqwest")]
    #[tokio::test]
    async fn anyhow_reqwest_connect_error_is_retried() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let calls = AtomicU32::new(0);
        let err = fetch_closed(&calls, port).await.unwrap_err();
        assert!(err.downcast_ref::<reqwest::Error>().is_some());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "connect errors are transient"
        );
    }

    #[cfg(feature = "reqwest")]
    #[resilient(attempts = 2, base = "1ms")]
    async fn fetch_closed(calls: &AtomicU32, port: u16) -> anyhow::Result<String> {
        calls.fetch_add(1, Ordering::SeqCst);
        let body = reqwest::get(format!("http://127.0.0.1:{port}/"))
            .await
            .context("fetching")?
            .text()
            .await?;
        Ok(body)
    }
}
