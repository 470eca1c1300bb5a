//! streaming: an answer printed as it arrives, with a retry before the first chunk.
//!
//! `stream_generate_content` applies the client policy until the first chunk reaches you: here
//! the (simulated) model is overloaded on the first try, the client waits and retries, and then
//! the chunks are printed as they come. Once a chunk has been delivered nothing is retried, so no
//! text is ever printed twice; an error after that ends the stream with a clear message.
//!
//! Run: `cargo run -p steadfast-examples --example streaming` (the real API with GEMINI_API_KEY).

use futures_util::StreamExt;
use std::io::Write;
use std::time::{Duration, Instant};
use steadfast_gemini::types::GenerateContentRequest;
use steadfast_gemini::{Client, ClientPolicy};
use steadfast_sim::{Faults, Simulator, SimulatorConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Show the client's retries as they happen.
    steadfast_examples::show_events();
    let mut _simulator = None;
    let policy = ClientPolicy::default().retry_with(|r| r.base(Duration::from_millis(300)));
    let client = if std::env::var("GEMINI_API_KEY").is_ok() {
        println!("Using the real Gemini API.");
        Client::builder()
            .key(std::env::var("GEMINI_API_KEY")?)
            .policy(policy)
            .build()?
    } else {
        println!("Using the local Gemini simulator; its first answer is a 503 \"overloaded\".");
        // With this seed the first draw is an overload, the next ones are not.
        let sim = Simulator::start(SimulatorConfig {
            faults: Faults {
                overloaded: 0.5,
                ..Faults::default()
            },
            seed: 3,
            ..SimulatorConfig::default()
        })
        .await?;
        let client = steadfast_examples::sim_client(&sim, policy)?;
        _simulator = Some(sim);
        client
    };

    let request = GenerateContentRequest::prompt(
        "Tell me, in a few words, why streams are retried only before their first chunk",
    );
    let start = Instant::now();
    let mut stream = client
        .stream_generate_content("gemini-2.5-flash", &request)
        .await?;
    println!("first chunk after {:.2?}:", start.elapsed());
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                chunks += 1;
                print!("{}", chunk.text());
                std::io::stdout().flush()?;
                if let Some(reason) = chunk
                    .candidates
                    .first()
                    .and_then(|c| c.finish_reason.as_ref())
                {
                    println!("\n[finish reason: {reason}]");
                }
            }
            Err(e) => println!("\n[the stream ended with an error, not retried: {e}]"),
        }
    }
    println!("{chunks} chunks in {:.2?}", start.elapsed());
    Ok(())
}
