//! Redis-backed limiter: acquisition latency (p50, p99) on loopback against the in-process
//! limiter, and throughput with 1 and 4 processes. Starts its own `redis-server`.
//!
//! `cargo bench -p steadfast --features redis --bench redis_limiter`

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};
use steadfast::limit::{RateLimit, RedisRateLimit};
use steadfast_testkit::redis::RedisServer;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Grants per second from `tasks` tasks hammering a limit too high to bind, for `secs`.
async fn throughput(url: &str, tasks: usize, secs: u64) -> u64 {
    let limit = Arc::new(
        RedisRateLimit::builder(url, "bench-throughput")
            .per_second(10_000_000)
            .burst(1_000_000)
            .connect()
            .await
            .unwrap(),
    );
    let until = Instant::now() + Duration::from_secs(secs);
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let limit = limit.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < until {
                    limit.try_grant(1).await.unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    total / secs
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Ok(url) = std::env::var("STEADFAST_BENCH_CHILD_URL") {
        let per_second = rt.block_on(throughput(&url, 16, 3));
        println!("CHILD {per_second}");
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let redis = RedisServer::start();
    let url = redis.url();
    rt.block_on(async {
        // Latency of one uncontended acquisition, one at a time.
        let remote = RedisRateLimit::builder(&url, "bench-latency")
            .per_second(10_000_000)
            .burst(1_000_000)
            .connect()
            .await
            .unwrap();
        for _ in 0..1_000 {
            remote.try_grant(1).await.unwrap();
        }
        let mut samples = Vec::with_capacity(20_000);
        for _ in 0..20_000 {
            let t = Instant::now();
            remote.try_grant(1).await.unwrap();
            samples.push(t.elapsed());
        }
        samples.sort_unstable();
        println!(
            "redis try_acquire (sliding-window log, burst > 1): p50 {:?}, p99 {:?}, max {:?}",
            percentile(&samples, 0.5),
            percentile(&samples, 0.99),
            samples[samples.len() - 1]
        );
        let paced_only = RedisRateLimit::builder(&url, "bench-paced")
            .per_second(10_000_000)
            .connect()
            .await
            .unwrap();
        let mut samples = Vec::with_capacity(20_000);
        for _ in 0..20_000 {
            let t = Instant::now();
            let _ = paced_only.try_grant(1).await;
            samples.push(t.elapsed());
        }
        samples.sort_unstable();
        println!(
            "redis try_acquire (pace only): p50 {:?}, p99 {:?}",
            percentile(&samples, 0.5),
            percentile(&samples, 0.99)
        );
        let local = RateLimit::builder()
            .per_second(1_000_000_000)
            .build()
            .unwrap();
        let mut samples = Vec::with_capacity(20_000);
        for _ in 0..20_000 {
            let t = Instant::now();
            let _ = local.try_acquire(1);
            samples.push(t.elapsed());
        }
        samples.sort_unstable();
        println!(
            "in-process try_acquire: p50 {:?}, p99 {:?}",
            percentile(&samples, 0.5),
            percentile(&samples, 0.99)
        );
        let one = throughput(&url, 16, 3).await;
        println!("throughput, 1 process x 16 tasks: {one} grants/s");
    });
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(&exe)
                .env("STEADFAST_BENCH_CHILD_URL", &url)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut total = 0u64;
    for c in children {
        let out = c.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines() {
            if let Some(n) = line.strip_prefix("CHILD ") {
                total += n.trim().parse::<u64>().unwrap();
            }
        }
    }
    println!("throughput, 4 processes x 16 tasks: {total} grants/s");
}
