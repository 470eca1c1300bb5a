//! batch_api: 1 000 prompts submitted as one job of Gemini's Batch API, with its progress
//! printed until it is done.
//!
//! The `batch` example sends prompts one by one, paced to the per-minute quota: each answer
//! comes in seconds. This one hands them all to the service at once
//! (`models/{model}:batchGenerateContent`): the service runs them at its own pace (within 24
//! hours, at half the price), under batch limits of its own instead of the model's per-minute
//! quota, and the results come back together, each under the key it was submitted with. Two of
//! the prompts ask the simulator to fail: a batch's requests fail alone, and the batch still
//! succeeds.
//!
//! Without `GEMINI_API_KEY`, the job runs on the local simulator, whose batches wait 1 s and
//! take 2 ms a request; with it, on Gemini itself (polled every 30 s; it may take hours).
//!
//! Run: `cargo run -p steadfast-examples --example batch_api` (`STEADFAST_QUICK=1` for 200
//! prompts).

use std::time::{Duration, Instant};
use steadfast_gemini::Client;
use steadfast_gemini::types::{BatchInput, BatchRequest, BatchState, GenerateContentRequest};
use steadfast_sim::{BatchLimits, Simulator, SimulatorConfig};

const MODEL: &str = "gemini-2.5-flash";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let total = if steadfast_examples::quick() {
        200
    } else {
        1000
    };
    let (client, every, _sim) = match std::env::var("GEMINI_API_KEY") {
        Ok(key) if !key.is_empty() => (
            Client::builder().key(key).build()?,
            Duration::from_secs(30),
            None,
        ),
        _ => {
            let sim = Simulator::start(SimulatorConfig {
                batches: BatchLimits {
                    queued: Duration::from_secs(1),
                    per_request: Duration::from_millis(2),
                    ..BatchLimits::default()
                },
                ..SimulatorConfig::default()
            })
            .await?;
            let client = steadfast_examples::sim_client(&sim, Default::default())?;
            (client, Duration::from_millis(250), Some(sim))
        }
    };

    let requests: Vec<BatchRequest> = (0..total)
        .map(|i| {
            // Two prompts the simulator answers with an error of their own.
            let marker = match i {
                17 => "[sim:invalid] ",
                423 => "[sim:permission] ",
                _ => "",
            };
            let prompt = format!("{marker}Summarise document number {i} in one sentence.");
            BatchRequest::new(format!("doc-{i}"), GenerateContentRequest::prompt(prompt))
        })
        .collect();
    let started = Instant::now();
    let batch = client
        .create_batch(
            MODEL,
            &format!("{total} summaries"),
            BatchInput::Inlined(requests),
        )
        .await?;
    println!(
        "submitted {} ({} requests) through project {}",
        batch.name, total, batch.project
    );

    let mut last = None;
    let done = client
        .wait_for_batch(&batch, every, |b| {
            let line = format!(
                "{:>6.1?}  {:<10} {:>5} of {} done, {} failed",
                started.elapsed(),
                format!("{:?}", b.state),
                b.stats.requests - b.stats.pending,
                b.stats.requests,
                b.stats.failed
            );
            // One line per change, not per poll.
            if last.as_ref() != Some(&(b.state.clone(), b.stats.pending)) {
                println!("{line}");
                last = Some((b.state.clone(), b.stats.pending));
            }
        })
        .await?;
    if done.state != BatchState::Succeeded {
        return Err(format!("the batch ended as {:?}: {:?}", done.state, done.error).into());
    }

    let results = client.batch_results(&done).await?;
    let failed: Vec<_> = results.iter().filter(|r| r.outcome.is_err()).collect();
    println!(
        "\n{} results in {:.1?}: {} answered, {} failed",
        results.len(),
        started.elapsed(),
        results.len() - failed.len(),
        failed.len()
    );
    for r in &failed {
        if let (Some(key), Err(e)) = (&r.key, &r.outcome) {
            println!("  {key}: {e}");
        }
    }
    if let Some(first) = results.first()
        && let (Some(key), Ok(answer)) = (&first.key, &first.outcome)
    {
        println!("  {key}: {}", answer.text());
    }
    assert_eq!(results.len(), total, "one result per request");
    Ok(())
}
