//! Reading the running totals of `#[resilient]` functions.

#![allow(clippy::unwrap_used)]

use steadfast::resilient;

#[resilient(base = "1ms", budget = false)]
async fn flaky(
    fail_first: bool,
    tries: &std::sync::atomic::AtomicU32,
) -> Result<u32, std::io::Error> {
    let n = tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    if fail_first && n == 0 {
        Err(std::io::ErrorKind::ConnectionReset.into())
    } else {
        Ok(n)
    }
}

mod api {
    #[steadfast::resilient]
    pub(crate) async fn ping() -> Result<(), std::io::Error> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn stats_of_an_annotated_function_count_calls_attempts_and_retries() {
    assert!(steadfast::stats!(flaky).is_none(), "not called yet");
    let tries = std::sync::atomic::AtomicU32::new(0);
    flaky(true, &tries).await.unwrap();
    flaky(false, &tries).await.unwrap();
    let s = steadfast::stats!(flaky).unwrap();
    assert_eq!(
        (s.calls, s.attempts, s.retries, s.successes, s.give_ups),
        (2, 3, 1, 2, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn stats_by_path_and_the_list_of_every_function() {
    api::ping().await.unwrap();
    api::ping().await.unwrap();
    let here = steadfast::stats!(api::ping).unwrap();
    assert_eq!(here.successes, 2);
    let from_crate = steadfast::stats!(crate::stats::api::ping).unwrap();
    assert_eq!(from_crate, here);
    let by_string = steadfast::observe::stats_of("it::stats::api::ping").unwrap();
    assert_eq!(by_string, here);
    let all = steadfast::observe::all_stats();
    assert!(
        all.iter()
            .any(|(name, s)| *name == "it::stats::api::ping" && s.calls == 2)
    );
    assert!(steadfast::observe::stats_of("stats::nothing").is_none());
}
