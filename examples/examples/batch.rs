//! batch: 200 prompts through the Gemini client, as fast as the quotas allow.
//!
//! Two keys of two projects. The client holds itself to 3000 requests and 60 000 tokens a
//! minute per project (client-side limits) with at most 8 calls in flight. The simulator's own
//! quota is tighter (11 requests per 250 ms "minute" per project) and some answers are 503s: the
//! client learns each project's quota from its first 429, spreads the prompts over both
//! projects, waits for room instead of being refused again, and retries the 503s. A progress
//! bar shows what is done, retried and waited; a summary table, read from the client's own
//! counters (`Client::stats`) and quota snapshot (`Client::quotas`), closes the run.
//!
//! Run: `cargo run -p steadfast-examples --example batch` (`STEADFAST_QUICK=1` for 40 prompts).

use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use std::time::{Duration, Instant};
use steadfast_gemini::{ClientPolicy, LimitSource, ModelLimits};
use steadfast_sim::{Faults, SimModel, Simulator, SimulatorConfig};

const MODEL: &str = "gemini-2.5-flash";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Each project may send 11 requests per 250 ms "minute" (44/s); 5 % of answers are 503s.
    let sim = Simulator::start(SimulatorConfig {
        keys: vec![
            "batch-key-project-one-0001".into(),
            "batch-key-project-two-0002".into(),
        ],
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
    let client = steadfast_examples::sim_client(
        &sim,
        ClientPolicy::default()
            // The simulator's minute (the window of the limits the client learns from its 429s).
            .quota_minute(Duration::from_millis(250))
            .retry_with(|r| {
                r.base(Duration::from_millis(50))
                    .max_delay(Duration::from_millis(500))
            })
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
            let (client, bar) = (client.clone(), bar.clone());
            async move {
                let began = Instant::now();
                let prompt = format!("Summarise document number {i} in one sentence, please.");
                let ok = client.generate(MODEL, &prompt).await.is_ok();
                let stats = client.stats().total();
                bar.inc(1);
                bar.set_message(format!(
                    "{} retries, {} waits for quota",
                    stats.retries, stats.quota_waits
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
    let stats = client.stats().total();
    let row = |name: &str, value: String| println!("  {name:<32} {value:>12}");
    println!(
        "\nsummary ({total} prompts, 8 in flight, {:.2?} in all)",
        start.elapsed()
    );
    row(
        "successes",
        results.iter().filter(|r| r.0).count().to_string(),
    );
    row(
        "failures",
        results.iter().filter(|r| !r.0).count().to_string(),
    );
    row("requests sent", stats.requests.to_string());
    row("retries", stats.retries.to_string());
    row(
        "sent again through another project",
        stats.rerouted.to_string(),
    );
    row("429s per minute", stats.rate_limited_per_minute.to_string());
    row(
        "429s naming no quota",
        stats.rate_limited_unknown.to_string(),
    );
    row("other errors (503s)", stats.other_errors.to_string());
    row("waits for quota", stats.quota_waits.to_string());
    row(
        "time waited for quota",
        format!("{:.2?}", stats.quota_waited),
    );
    row(
        "latency p50",
        format!("{:.2?}", percentile(&latencies, 0.50)),
    );
    row(
        "latency p95",
        format!("{:.2?}", percentile(&latencies, 0.95)),
    );
    println!("\nquotas (Client::quotas)");
    for project in client.quotas().projects {
        for m in &project.models {
            let limits: Vec<String> = m
                .limits
                .iter()
                .map(|l| {
                    let from = match l.source {
                        LimitSource::Configured => "configured",
                        LimitSource::Learned => "learned",
                        _ => "adaptive",
                    };
                    format!("{} {} per {:.0?} ({from})", l.value, l.metric, l.window)
                })
                .collect();
            println!(
                "  project {} (key {}), {}: {} requests today; {}",
                project.name,
                project.keys.join(", "),
                m.model,
                m.requests_today,
                limits.join(", ")
            );
        }
    }
    Ok(())
}
