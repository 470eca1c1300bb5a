//! failover: a key pool and a model chain doing their job.
//!
//! Three keys, each its own project (none is declared with `ClientBuilder::project`): the
//! first is invalid, the other two have one request a day on the fallback model. Two models:
//! the first is overloaded. The client skips the invalid key for good, retries the overload
//! and, when it persists, falls back to the next model; there it spreads the calls over the two
//! projects, learns each one's daily limit from its 429, and, once both are spent, fails with
//! the per-day error that says when the quota resets. Each answer shows which key (redacted),
//! project and model served it (the `answered` lines); the end shows `Client::quotas()`.
//!
//! Run: `cargo run -p steadfast-examples --example failover`

use std::time::Duration;
use steadfast_gemini::types::GenerateContentRequest;
use steadfast_gemini::{Client, ClientPolicy};
use steadfast_sim::{SimModel, Simulator, SimulatorConfig};

const INVALID: &str = "revoked-key-00000000000dead";
const SPENT: &str = "daily-key-000000000000spnt";
const GOOD: &str = "healthy-key-0000000000g00d";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    steadfast_examples::show_events();
    // The simulator knows the two real keys; every key has one request a day on the flash
    // model; the pro model is overloaded.
    let sim = Simulator::start(SimulatorConfig {
        keys: vec![SPENT.into(), GOOD.into()],
        models: vec![
            SimModel {
                overloaded: true,
                ..SimModel::new("gemini-2.5-pro")
            },
            SimModel {
                rpd: Some(1),
                ..SimModel::new("gemini-2.5-flash")
            },
        ],
        ..SimulatorConfig::default()
    })
    .await?;
    let client = Client::builder()
        .base_url(sim.base_url())
        .key(INVALID)
        .key(SPENT)
        .key(GOOD)
        .policy(
            ClientPolicy::default()
                .retry_with(|r| r.attempts(2).base(Duration::from_millis(20)))
                .fallback(["gemini-2.5-flash"]),
        )
        .build()?;
    println!(
        "keys: {:?}; models: gemini-2.5-pro, then gemini-2.5-flash\n",
        client.keys()
    );

    for i in 1..=3 {
        let request = GenerateContentRequest::prompt(format!("question {i}"));
        match client.generate_content("gemini-2.5-pro", &request).await {
            Ok(answer) => println!(
                "call {i}: answered by {} -> {}\n",
                answer.model_version.as_deref().unwrap_or("?"),
                answer.text()
            ),
            Err(e) => println!("call {i}: failed: {e}\n"),
        }
    }
    for project in client.quotas().projects {
        for m in project.models.iter().filter(|m| m.requests_today > 0) {
            println!(
                "project {} ({}): {} sent to {} today{}",
                project.name,
                project.keys.join(", "),
                m.requests_today,
                m.model,
                match (m.refused_because, m.refused_for) {
                    (Some(why), Some(d)) => format!("; refused ({why}) for {:.0?} more", d),
                    _ => String::new(),
                }
            );
        }
    }
    let stats = sim.stats();
    println!(
        "server saw: {} requests, {} answered, {} refused for quota, {} overloads",
        stats.requests, stats.answered, stats.rate_limited, stats.faults
    );
    Ok(())
}
