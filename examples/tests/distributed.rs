//! Three OS processes call one local Gemini simulator through one Redis-backed quota: the
//! simulator answers no 429 and every call succeeds. Needs `redis-server` (`.ci/run` installs
//! it). Real time: about 2 s.

#![allow(clippy::unwrap_used)]

use steadfast_examples::distributed::{RedisProcess, simulator, worker};

/// The worker side: runs only when the parent sets the variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_worker_process() {
    let Ok(spec) = std::env::var("STEADFAST_DISTRIBUTED_WORKER") else {
        return;
    };
    let parts: Vec<&str> = spec.split(' ').collect();
    let report = worker(parts[0].parse().unwrap(), parts[1], parts[2], 29, 20, 8)
        .await
        .unwrap();
    println!("{}", report.line());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_one_quota_and_the_simulator_refuses_none() {
    let redis = RedisProcess::start().unwrap();
    let sim = simulator(30).await.unwrap();
    let exe = std::env::current_exe().unwrap();
    let (redis_url, sim_url) = (redis.url.clone(), sim.base_url());
    let reports = tokio::task::spawn_blocking(move || {
        // The test binary itself is the worker program; the filter runs only the worker test.
        let spec = |id: u32| format!("{id} {redis_url} {sim_url}");
        let children: Vec<_> = (0..3)
            .map(|id| {
                std::process::Command::new(&exe)
                    .args(["--exact", "distributed_worker_process", "--nocapture"])
                    .env("STEADFAST_DISTRIBUTED_WORKER", spec(id))
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        children
            .into_iter()
            .map(|c| {
                let out = c.wait_with_output().unwrap();
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .find_map(steadfast_examples::distributed::WorkerReport::parse)
                    .unwrap()
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert_eq!(reports.len(), 3);
    assert!(
        reports.iter().all(|r| r.ok == 20 && r.failed == 0),
        "{reports:?}"
    );
    let stats = sim.stats();
    assert_eq!(stats.rate_limited, 0, "{stats:?}");
    assert!(stats.requests >= 60);
}
