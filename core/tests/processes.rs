//! Four OS processes share one `RedisRateLimit` quota exactly (needs `redis-server`; about 6 s of
//! real time). A test target without libtest's harness (`harness = false` in Cargo.toml): the
//! same binary is the parent, which starts Redis and four copies of itself, and each child,
//! which acquires for 5 s and prints its grants. So no child side counts as a test that passed.

#![allow(clippy::unwrap_used)]

#[path = "it/common.rs"]
mod common;

use common::{PACED_20, busiest, hammer, utilisation};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use steadfast::limit::RedisRateLimit;
use steadfast_testkit::redis::RedisServer;

const CHILD: &str = "STEADFAST_REDIS_CHILD_URL";

fn main() -> ExitCode {
    if let Ok(url) = std::env::var(CHILD) {
        child(&url);
        return ExitCode::SUCCESS;
    }
    // `cargo test -- --list` and filters: this target has one test.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("four_processes_share_one_quota_exactly: test");
        return ExitCode::SUCCESS;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty()
        && !filters
            .iter()
            .any(|f| "four_processes_share_one_quota_exactly".contains(f.as_str()))
    {
        println!("running 0 tests");
        return ExitCode::SUCCESS;
    }
    four_processes_share_one_quota_exactly();
    println!("test four_processes_share_one_quota_exactly ... ok");
    ExitCode::SUCCESS
}

/// The child: 25 tasks acquire from the shared limiter for 5 s; one `GRANT µs` line per grant.
fn child(url: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let limit = Arc::new(
            RedisRateLimit::builder(url, "processes")
                .per_second(20)
                .connect()
                .await
                .unwrap(),
        );
        let times = hammer(limit, 25, Duration::from_secs(5)).await;
        let lines: Vec<String> = times.iter().map(|t| format!("GRANT {t}")).collect();
        println!("{}", lines.join("\n"));
    });
}

fn four_processes_share_one_quota_exactly() {
    let redis = RedisServer::start();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(&exe)
                .env(CHILD, redis.url())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut times = Vec::new();
    let mut per_child = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let mine: Vec<u64> = text
            .lines()
            .filter_map(|l| l.strip_prefix("GRANT "))
            .map(|t| t.parse().unwrap())
            .collect();
        per_child.push(mine.len());
        times.extend(mine);
    }
    assert!(
        per_child.iter().all(|n| *n > 0),
        "every process got slots: {per_child:?}"
    );
    let most = busiest(&mut times, Duration::from_secs(1));
    assert!(most <= 20, "{most} grants in one second across 4 processes");
    let u = utilisation(&mut times, PACED_20);
    let mut gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_unstable();
    gaps.reverse();
    gaps.truncate(5);
    assert!(
        u >= 0.97,
        "utilisation {u:.3} ({} grants, {per_child:?}; longest gaps {gaps:?} µs)",
        times.len()
    );
}
