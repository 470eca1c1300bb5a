//! quickstart: the main job in one screen.
//!
//! A `#[resilient(...)]` function calls Gemini a dozen times. Without `GEMINI_API_KEY` it talks to
//! the local Gemini simulator, started in-process with a small quota (5 requests per 2-second
//! "minute") and injected 503, 500 and 429 errors; with the key set, it makes the same calls to
//! the real API. Each attempt, each wait and its reason (rate limit, server hint, backoff) and
//! each answer are printed as they happen.
//!
//! The client keeps its default policy. Inside the attribute's attempt it makes one attempt per
//! call and hands failures up: the attribute is the one layer that retries, so each attempt is
//! one request. The client still learns the quota from the server's first 429 and, from then
//! on, holds requests back until the quota has room instead of being refused again; those waits
//! are printed too.
//!
//! Run: `cargo run -p steadfast-examples --example quickstart`

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use steadfast::observe::{Event, WaitReason};
use steadfast::resilient;
use steadfast_gemini::{Client, ClientPolicy, LimitSource};
use steadfast_sim::{Faults, SimModel, Simulator, SimulatorConfig};

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
    println!("    -> attempt #{n}");
    let waited = client.stats().total().quota_waited;
    let answer = client.generate(MODEL, prompt).await;
    let held = client.stats().total().quota_waited - waited;
    if !held.is_zero() {
        println!(
            "      the client held the request {held:.2?}: {}",
            learned(client)
        );
    }
    answer
}

/// What the client learned about the quota, from `Client::quotas()`.
fn learned(client: &Client) -> String {
    let quotas = client.quotas();
    let limit = quotas
        .projects
        .iter()
        .flat_map(|p| &p.models)
        .filter(|m| m.model == MODEL)
        .flat_map(|m| &m.limits)
        .find(|l| l.source == LimitSource::Learned);
    match limit {
        Some(l) => format!(
            "the server allows {} {} per {:.0?}, a limit it named in an earlier 429",
            l.value, l.metric, l.window
        ),
        None => "waiting for the quota to have room".to_owned(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Keep the simulator alive for the whole run.
    let mut _simulator = None;
    let client = if std::env::var("GEMINI_API_KEY").is_ok() {
        println!("Using the real Gemini API (GEMINI_API_KEY is set).\n");
        Client::from_env()?
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
        // The default policy; its minute is the simulator's (2 s), for the quota it learns.
        let client = steadfast_examples::sim_client(
            &sim,
            ClientPolicy::default().quota_minute(Duration::from_secs(2)),
        )?;
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
    let stats = client.stats().total();
    println!(
        "\n{answered} of {} answered in {:.1?}: {} attempts, {} HTTP requests (the client's one",
        questions.len(),
        start.elapsed(),
        ATTEMPTS.load(Ordering::Relaxed),
        stats.requests,
    );
    println!(
        "look-up of the model's token limit included), {} retries by the client itself.",
        stats.retries
    );
    Ok(())
}
