//! What this teaches: driving a `steadfast::Policy` by hand, without the attribute.
//!
//! A fake server fails twice with 503 and then answers; the policy retries with jittered
//! exponential backoff (shortened here so the example finishes at once) and the hook prints each
//! retry and why it waited.

use std::sync::Arc;
use std::time::Duration;
use steadfast::Policy;
use steadfast::classify::Verdict;
use steadfast::observe::{Event, FnHook};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let hook = FnHook::new(|event: &Event| {
        if let Event::Retry {
            attempt,
            delay,
            reason,
            failure,
            ..
        } = event
        {
            println!(
                "attempt {attempt} failed ({}), waiting {delay:?} ({})",
                failure.cause(),
                reason.as_str()
            );
        }
    });
    let policy = Policy::builder()
        .on("429, 500, 503".parse()?)
        .base(Duration::from_millis(20))
        .rpm(600)
        .hook(Arc::new(hook))
        .build()?;

    let mut answers = [503u16, 503, 200].into_iter();
    let status: Result<http::StatusCode, std::io::Error> = policy
        .call_with(Verdict::of_result, || {
            let status = answers.next().unwrap_or(200);
            async move { http::StatusCode::from_u16(status).map_err(std::io::Error::other) }
        })
        .await;
    println!("final status: {}", status?);
    println!("{:?}", policy.stats());
    Ok(())
}
