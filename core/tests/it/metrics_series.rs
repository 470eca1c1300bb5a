//! The `metrics` facade (feature `metrics`), checked with its debugging recorder.

#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used)]

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use std::time::Duration;
use steadfast::Policy;
use steadfast::classify::{Classify, Failure};

#[derive(Debug)]
struct Status(u16);

impl Classify for Status {
    fn failure(&self) -> Option<Failure> {
        Some(Failure::status(self.0))
    }
}

impl From<steadfast::Error> for Status {
    fn from(_: steadfast::Error) -> Self {
        Status(599)
    }
}

/// Every series recorded, as `name{label=value,...} => value`, sorted.
fn series(recorder: &DebuggingRecorder) -> Vec<String> {
    let mut out: Vec<String> = recorder
        .snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let value = match value {
                DebugValue::Counter(c) => c.to_string(),
                DebugValue::Gauge(g) => g.into_inner().to_string(),
                DebugValue::Histogram(h) => format!("{} samples", h.len()),
            };
            format!("{}{{{}}} => {value}", key.name(), labels.join(","))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn attempts_retries_give_ups_waits_and_breaker_states_are_recorded() {
    let recorder = DebuggingRecorder::new();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let policy = Policy::builder()
                .name("metrics-test")
                .on("503".parse().unwrap())
                .attempts(3)
                .base(Duration::from_millis(10))
                .rps(1)
                .budget(None)
                .breaker(steadfast::breaker::BreakerConfig {
                    min_calls: 6,
                    failure_ratio: 0.6,
                    ..Default::default()
                })
                .build()
                .unwrap();
            // One call that fails twice then succeeds, one that fails for good (404).
            let mut answers = vec![503, 503, 200, 404].into_iter();
            for _ in 0..2 {
                let _ = policy
                    .call(|| {
                        let status = answers.next().unwrap_or(200);
                        async move {
                            if status == 200 {
                                Ok(())
                            } else {
                                Err(Status(status))
                            }
                        }
                    })
                    .await;
            }
            // Trip the breaker with 503s until it refuses.
            for _ in 0..6 {
                let _ = policy.call(|| async { Err::<(), _>(Status(503)) }).await;
            }
        });
    });
    let all = series(&recorder);
    let has = |needle: &str| all.iter().any(|s| s.contains(needle));
    assert!(has("steadfast_calls_total{call=metrics-test}"), "{all:#?}");
    assert!(
        has("steadfast_attempts_total{call=metrics-test}"),
        "{all:#?}"
    );
    assert!(
        has("steadfast_successes_total{call=metrics-test} => 1"),
        "{all:#?}"
    );
    assert!(
        has("steadfast_retries_total{call=metrics-test,cause=status 503}"),
        "{all:#?}"
    );
    assert!(
        has("steadfast_give_ups_total{call=metrics-test,reason=not retryable} => 1"),
        "{all:#?}"
    );
    assert!(
        has("steadfast_rate_limit_wait_seconds{call=metrics-test}"),
        "{all:#?}"
    );
    assert!(
        has("steadfast_breaker_state{call=metrics-test} => 2"),
        "open: {all:#?}"
    );
    assert!(
        has("steadfast_breaker_rejections_total{call=metrics-test}"),
        "{all:#?}"
    );
}
