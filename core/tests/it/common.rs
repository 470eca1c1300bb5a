//! Helpers of the Redis limiter's tests (`it/redis_limit.rs`, and `processes.rs` by path): windows, utilisation, and many tasks
//! acquiring at once.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use steadfast::limit::RedisRateLimit;

/// Microseconds since the epoch.
pub fn micros(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// The most grants inside any half-open window `[t, t + window)`.
pub fn busiest(times: &mut [u64], window: Duration) -> usize {
    times.sort_unstable();
    let w = window.as_micros() as u64;
    let mut first = 0;
    let mut most = 0;
    for (last, t) in times.iter().enumerate() {
        while t - times[first] >= w {
            first += 1;
        }
        most = most.max(last + 1 - first);
    }
    most
}

/// Grants per second achieved over the span of the grants, against the limit's ideal.
pub fn utilisation(times: &mut [u64], per_second: f64) -> f64 {
    times.sort_unstable();
    let span = (times[times.len() - 1] - times[0]) as f64 / 1e6;
    let ideal = span * per_second + 1.0;
    times.len() as f64 / ideal
}

/// The pace of `per_second(20)` with the default guard (2 ms beyond each 50 ms): what the
/// limiter aims for, and what utilisation is measured against.
pub const PACED_20: f64 = 1.0 / 0.052;

/// `tasks` tasks acquire from `limit` until `run_for` has passed; the server time of each grant.
pub async fn hammer(limit: Arc<RedisRateLimit>, tasks: usize, run_for: Duration) -> Vec<u64> {
    let until = tokio::time::Instant::now() + run_for;
    let times = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let limit = limit.clone();
            let times = times.clone();
            tokio::spawn(async move {
                // No cancellation at the end: a cancelled waiter may leave the slot it had
                // reserved unused (documented), which is not what this measures.
                while tokio::time::Instant::now() < until {
                    match limit.grant(1).await {
                        Ok(g) => times.lock().unwrap().push(micros(g.at)),
                        Err(e) => panic!("refused: {e}"),
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    std::mem::take(&mut *times.lock().unwrap())
}
