//! `tracing` events: every retry, wait and give-up is logged with its numbers and cause.
//!
//! A target of its own, not a module of `it`: it captures events with a subscriber set for its
//! thread only, and in a binary shared with other tests, their threads can cache a callsite's
//! interest without it (events went missing one run in three).

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;
use steadfast::Policy;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields(String);
impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields(format!("{} ", event.metadata().level()));
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
}

#[tokio::test(start_paused = true)]
async fn retries_waits_and_give_ups_are_traced() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let policy = Policy::builder()
        .name("ask")
        .attempts(2)
        .rps(1)
        .base(Duration::from_millis(10))
        .budget(None)
        .build()
        .unwrap();
    let r: Result<(), std::io::Error> = policy
        .call(|| async { Err(std::io::ErrorKind::ConnectionReset.into()) })
        .await;
    assert!(r.is_err());

    let lines = capture.0.lock().unwrap().clone();
    let find = |needle: &str| {
        lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no event with {needle:?} in {lines:#?}"))
            .clone()
    };
    let retry = find("retrying");
    for part in [
        "call=\"ask\"",
        "attempt=1",
        "delay_ms=",
        "wait=\"backoff\"",
        "cause=\"connection reset\"",
    ] {
        assert!(retry.contains(part), "{part} missing in {retry}");
    }
    let wait = find("waiting for the rate limiter");
    assert!(wait.contains("attempt=2"), "{wait}");
    let give_up = find("giving up");
    assert!(
        give_up.starts_with("WARN") && give_up.contains("attempts exhausted"),
        "{give_up}"
    );
}
