//! metrics: steadfast's events through the `metrics` facade, printed from a recorder.
//!
//! Any exporter of the `metrics` ecosystem (Prometheus, StatsD, …) receives the same series.
//! Here `metrics-util`'s debugging recorder collects them, and the example prints every series
//! after a few calls: some retried, one that gives up, one refused by the rate limit's wait.
//!
//! Run: `cargo run -p steadfast-examples --example metrics`

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use std::sync::atomic::{AtomicU32, Ordering};
use steadfast::resilient;

#[derive(Debug)]
struct ApiError(u16);

impl steadfast::classify::Classify for ApiError {
    fn failure(&self) -> Option<steadfast::classify::Failure> {
        Some(steadfast::classify::Failure::status(self.0))
    }
}

static SENT: AtomicU32 = AtomicU32::new(0);

/// Every third request answers 503; the 8th answers 404, which is not retried.
#[resilient(on = [503], base = "10ms", rps = 20)]
async fn fetch() -> Result<u32, ApiError> {
    let n = SENT.fetch_add(1, Ordering::Relaxed) + 1;
    match n {
        8 => Err(ApiError(404)),
        n if n % 3 == 0 => Err(ApiError(503)),
        n => Ok(n),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::set_global_recorder(recorder)?;

    for _ in 0..6 {
        let _ = fetch().await;
    }

    let mut lines: Vec<String> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}=\"{}\"", l.key(), l.value()))
                .collect();
            let value = match value {
                DebugValue::Counter(c) => c.to_string(),
                DebugValue::Gauge(g) => g.into_inner().to_string(),
                DebugValue::Histogram(h) => format!("{} observations", h.len()),
            };
            format!("{}{{{}}} {value}", key.name(), labels.join(","))
        })
        .collect();
    lines.sort();
    for line in &lines {
        println!("{line}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("steadfast_retries_total"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("steadfast_give_ups_total"))
    );
    Ok(())
}
