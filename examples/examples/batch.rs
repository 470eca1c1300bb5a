//! batch: 200 prompts through the Gemini client, as fast as the quotas allow.
//!
//! The client holds itself to 3000 requests and 60 000 tokens a minute (client-side limits) with
//! at most 8 calls in flight. The simulator's own quota is tighter at times and some answers are
//! 503s, so some calls are retried after the server's RetryInfo or a backoff. A progress bar
//! shows what is done, retrying and waiting for quota; a summary table closes the run.
//!
//! Run: `cargo run -p steadfast-examples --example batch` (`STEADFAST_QUICK=1` for 40 prompts).

use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use steadfast_gemini::simulator::{Faults, SimModel, Simulator, SimulatorConfig};
use steadfast_gemini::{ClientPolicy, ModelLimits};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

const MODEL: &str = "gemini-2.5-flash";

/// Counts what the client's policy does, from its `tracing` events.
#[derive(Default)]
struct Activity {
    retries: AtomicU64,
    retried_429: AtomicU64,
    quota_waits: AtomicU64,
    quota_waited_ms: AtomicU64,
}

#[derive(Default)]
struct Fields {
    message: String,
    delay_ms: u64,
    status: u64,
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "delay_ms" => self.delay_ms = value,
            "status" => self.status = value,
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        }
    }
}

struct Counting(Arc<Activity>);

impl<S: tracing::Subscriber> Layer<S> for Counting {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "steadfast" {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        let a = &self.0;
        match f.message.as_str() {
            "retrying" => {
                a.retries.fetch_add(1, Ordering::Relaxed);
                if f.status == 429 {
                    a.retried_429.fetch_add(1, Ordering::Relaxed);
                }
            }
            "waiting for the rate limiter" => {
                a.quota_waits.fetch_add(1, Ordering::Relaxed);
                a.quota_waited_ms.fetch_add(f.delay_ms, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let activity = Arc::new(Activity::default());
    tracing_subscriber::registry()
        .with(Counting(Arc::clone(&activity)))
        .init();

    // The server allows 11 requests per 250 ms "minute" (44/s, a bit under the client's 50/s)
    // and fails 5 % with a 503.
    let sim = Simulator::start(SimulatorConfig {
        models: vec![SimModel {
            rpm: Some(11),
            ..SimModel::new(MODEL)
        }],
        faults: Faults {
            overloaded: 0.05,
            ..Faults::default()
        },
        minute: Duration::from_millis(250),
        seed: 9,
        ..SimulatorConfig::default()
    })
    .await?;
    let client = sim.client_with(
        ClientPolicy::default()
            // The simulator's minute (the window of the limits the client learns from its 429s).
            .quota_minute(Duration::from_millis(250))
            .base_delay(Duration::from_millis(50))
            .max_delay(Duration::from_millis(500))
            .limits(
                MODEL,
                ModelLimits {
                    rpm: Some(3000),
                    tpm: Some(60_000),
                    rpd: None,
                },
            ),
    )?;

    let total = if steadfast_examples::quick() { 40 } else { 200 };
    let bar = ProgressBar::new(total);
    bar.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} done  {msg}",
    )?);
    let start = Instant::now();
    let results: Vec<(bool, Duration)> = futures_util::stream::iter(0..total)
        .map(|i| {
            let (client, bar, activity) = (client.clone(), bar.clone(), Arc::clone(&activity));
            async move {
                let began = Instant::now();
                let prompt = format!("Summarise document number {i} in one sentence, please.");
                let ok = client.generate(MODEL, &prompt).await.is_ok();
                bar.inc(1);
                bar.set_message(format!(
                    "{} retries, {} waits for quota",
                    activity.retries.load(Ordering::Relaxed),
                    activity.quota_waits.load(Ordering::Relaxed)
                ));
                (ok, began.elapsed())
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    bar.finish();

    let mut latencies: Vec<Duration> = results.iter().map(|r| r.1).collect();
    latencies.sort();
    let stats = sim.stats();
    let row = |name: &str, value: String| println!("  {name:<28} {value:>12}");
    println!(
        "\nsummary ({total} prompts, 8 in flight, {:.2?} in all)",
        start.elapsed()
    );
    row(
        "successes",
        format!("{}", results.iter().filter(|r| r.0).count()),
    );
    row(
        "failures",
        format!("{}", results.iter().filter(|r| !r.0).count()),
    );
    row(
        "retries",
        activity.retries.load(Ordering::Relaxed).to_string(),
    );
    row("429s received (server)", stats.rate_limited.to_string());
    row("503s injected (server)", stats.faults.to_string());
    row(
        "waits for client quota",
        activity.quota_waits.load(Ordering::Relaxed).to_string(),
    );
    row(
        "time waited for quota",
        format!(
            "{:.2?}",
            Duration::from_millis(activity.quota_waited_ms.load(Ordering::Relaxed))
        ),
    );
    row(
        "latency p50",
        format!("{:.2?}", percentile(&latencies, 0.50)),
    );
    row(
        "latency p95",
        format!("{:.2?}", percentile(&latencies, 0.95)),
    );
    Ok(())
}
