//! config_file: a policy read from a TOML file, used by the attribute with `policy = ...`.
//!
//! Operators can tune retries, limits and timeouts without a rebuild. The file is
//! `examples/policy.toml`; a mistake in it (an unknown key, `jitter = "sometimes"`, a duration
//! like `"5 sec"`) is a clear error at start-up, shown at the end of this example.
//!
//! Run: `cargo run -p steadfast-examples --example config_file`

use std::sync::atomic::{AtomicU32, Ordering};
use steadfast::policy::PolicyConfig;
use steadfast::{Policy, resilient};

/// The policy, read once. A bad file is reported when the program starts (see `main`), so
/// this is only ever called with a file that has already parsed.
fn file_policy() -> Policy {
    load(&std::fs::read_to_string(path()).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"))
}

fn path() -> String {
    format!("{}/policy.toml", env!("CARGO_MANIFEST_DIR"))
}

fn load(text: &str) -> Result<Policy, String> {
    let config: PolicyConfig = toml::from_str(text).map_err(|e| format!("policy.toml: {e}"))?;
    config.build().map_err(|e| format!("policy.toml: {e}"))
}

static CALLS: AtomicU32 = AtomicU32::new(0);

/// Fails twice with a 503 status, then answers.
#[resilient(policy = file_policy())]
async fn fetch() -> Result<http::StatusCode, std::io::Error> {
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    println!("  attempt {}", n + 1);
    Ok(if n < 2 {
        http::StatusCode::SERVICE_UNAVAILABLE
    } else {
        http::StatusCode::OK
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Validate the file before anything runs, so a typo stops the program with a clear message.
    let text = std::fs::read_to_string(path())?;
    load(&text)?;
    println!("Loaded {}:\n{text}", path());
    println!("Calling a function that fails twice with 503:");
    println!("  -> {:?}\n", fetch().await?);

    println!("What a broken file reports:");
    for broken in [
        "jitter = \"sometimes\"",
        "base = \"5 sec\"",
        "atempts = 3",
        "rpm = 0",
        "timeout = \"10s\"\ndeadline = \"5s\"",
    ] {
        let message = load(broken).err().unwrap_or_default();
        // A TOML error quotes the offending line and ends with the explanation.
        let explanation = message.lines().last().unwrap_or_default().trim();
        println!("  {:<32} -> {}", broken.replace('\n', "; "), explanation);
    }
    Ok(())
}
