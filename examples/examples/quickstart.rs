//! quickstart: the main job in one screen.
//!
//! A `#[resilient(...)]` function calls Gemini a dozen times. Without `GEMINI_API_KEY` it talks to
//! the local Gemini simulator, started in-process with a small quota (5 requests per 2-second
//! "minute") and injected 503, 500 and 429 errors; with the key set, it makes the same calls to
//! the real API. Each attempt, each wait and its reason (rate limit, server hint, backoff) and
//! each answer are printed as they happen.
//!
//! Run: `cargo run -p steadfast-examples --example quickstart`

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use steadfast::observe::{Event, WaitReason};
use steadfast::resilient;
use steadfast_gemini::simulator::{Faults, SimModel, Simulator, SimulatorConfig};
use steadfast_gemini::{Client, ClientPolicy};

const MODEL: &str = "gemini-2.5-flash";

static ATTEMPTS: AtomicU32 = AtomicU32::new(0);

/// Called before every wait the policy makes.
fn show_wait(event: &Event) {
    match event {
        Event::Retry {
            attempt,
            delay,
            reason,
            failure,
            ..
        } => {
            let why = match reason {
                WaitReason::ServerHint => "the server asked for it",
                WaitReason::Backoff => "jittered exponential backoff",
            };
            println!(
                "      attempt {attempt} failed ({}); waiting {delay:.2?}: {why}",
                failure.cause()
            );
        }
        Event::RateLimitWait { delay, .. } => {
            println!("      client-side rate limit (rpm = 300): waiting {delay:.2?}");
        }
        _ => {}
    }
}

/// The one line that makes it dependable: retry 429/500/503 with jittered exponential backoff
/// (honouring the server's RetryInfo), at most 300 attempts a minute across every caller.
#[resilient(retry = "exp", on = [429, 500, 503], rpm = 300, base = "200ms", max_delay = "5s", on_retry = show_wait)]
async fn ask(client: &Client, prompt: &str) -> Result<String, steadfast_gemini::Error> {
    let n = ATTEMPTS.fetch_add(1, Ordering::Relaxed) + 1;
    println!("    -> request #{n}");
    client.generate(MODEL, prompt).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Keep the simulator alive for the whole run.
    let mut _simulator = None;
    let client = if std::env::var("GEMINI_API_KEY").is_ok() {
        println!("Using the real Gemini API (GEMINI_API_KEY is set).\n");
        // The attribute does the retrying here; the client sends each call once.
        Client::builder()
            .key(std::env::var("GEMINI_API_KEY")?)
            .policy(ClientPolicy::off())
            .build()?
    } else {
        println!("GEMINI_API_KEY is not set: using the local Gemini simulator, with a quota of");
        println!("5 requests per (2-second) minute and injected 503, 500 and 429 errors.\n");
        let sim = Simulator::start(SimulatorConfig {
            models: vec![SimModel {
                rpm: Some(5),
                ..SimModel::new(MODEL)
            }],
            faults: Faults {
                overloaded: 0.2,
                internal: 0.1,
                ..Faults::default()
            },
            minute: Duration::from_secs(2),
            seed: 4,
            ..SimulatorConfig::default()
        })
        .await?;
        let client = sim.client_with(ClientPolicy::off())?;
        _simulator = Some(sim);
        client
    };

    let questions = [
        "Why is the sky blue?",
        "What is a retry budget?",
        "Name a prime number.",
        "What does HTTP 429 mean?",
        "What is jitter?",
        "Why cap backoff delays?",
        "What is a circuit breaker?",
        "What is a deadline?",
        "What is GCRA?",
        "Why honour Retry-After?",
        "What is idempotency?",
        "Say goodbye.",
    ];
    let start = Instant::now();
    let mut answered = 0;
    for (i, question) in questions.iter().enumerate() {
        println!("[{:>2}] {question}", i + 1);
        match ask(&client, question).await {
            Ok(answer) => {
                answered += 1;
                println!("    <- {}", answer.lines().next().unwrap_or_default());
            }
            Err(e) => println!("    !! gave up: {e}"),
        }
    }
    println!(
        "\n{answered} of {} answered with {} requests in {:.1?}.",
        questions.len(),
        ATTEMPTS.load(Ordering::Relaxed),
        start.elapsed()
    );
    Ok(())
}
