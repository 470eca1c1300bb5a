//! Three OS processes call one local Gemini simulator through one Gemini client quota kept in
//! Redis (`SharedQuotas`): told the quota, the simulator answers no 429; not told, the first
//! 429 any process gets teaches every process. Every call succeeds. Needs `redis-server`
//! (`scripts/test` installs it). Real time: about 5 s.
//!
//! A test target without libtest's harness (`harness = false`): this binary is the parent,
//! which runs the scenarios one after the other, and each worker process, so that no worker
//! side counts as a test that passed.

#![allow(clippy::unwrap_used)]

use steadfast_examples::distributed::{RedisProcess, WorkerReport, simulator, worker};

/// One scenario of this target.
type Scenario = fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

const WORKER: &str = "STEADFAST_DISTRIBUTED_WORKER";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Ok(spec) = std::env::var(WORKER) {
        runtime.block_on(distributed_worker_process(&spec));
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tests: [(&str, Scenario); 2] = [
        (
            "three_processes_share_one_quota_and_the_simulator_refuses_none",
            || Box::pin(three_processes_share_one_quota_and_the_simulator_refuses_none()),
        ),
        ("a_quota_one_process_learns_binds_all_three", || {
            Box::pin(a_quota_one_process_learns_binds_all_three())
        }),
    ];
    if args.iter().any(|a| a == "--list") {
        for (name, _) in &tests {
            println!("{name}: test");
        }
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    for (name, test) in tests {
        if filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())) {
            runtime.block_on(test());
            println!("test {name} ... ok");
        }
    }
}

/// The worker side: `id redis_url sim_url rate`, set by the parent.
async fn distributed_worker_process(spec: &str) {
    let parts: Vec<&str> = spec.split(' ').collect();
    let rate = parts[3].parse().ok().filter(|r| *r > 0);
    let report = worker(parts[0].parse().unwrap(), parts[1], parts[2], rate, 20, 8)
        .await
        .unwrap();
    println!("{}", report.line());
}

/// Runs three worker processes (this test binary, told it is a worker) against a fresh
/// Redis and a simulator allowing 30 requests a minute; `rate` is the client quota (0: none).
async fn three_workers(rate: u32) -> (Vec<WorkerReport>, steadfast_sim::SimStats) {
    let redis = RedisProcess::start().unwrap();
    let sim = simulator(30).await.unwrap();
    let exe = std::env::current_exe().unwrap();
    let (redis_url, sim_url) = (redis.url.clone(), sim.base_url());
    let reports = tokio::task::spawn_blocking(move || {
        let spec = |id: u32| format!("{id} {redis_url} {sim_url} {rate}");
        let children: Vec<_> = (0..3)
            .map(|id| {
                std::process::Command::new(&exe)
                    .env(WORKER, spec(id))
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
                    .find_map(WorkerReport::parse)
                    .unwrap()
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert_eq!(reports.len(), 3);
    (reports, sim.stats())
}

async fn three_processes_share_one_quota_and_the_simulator_refuses_none() {
    // 27 of the server's 30: the simulated minute is one second, so a scheduling delay of a
    // loaded machine is a sixty times larger share of it than of a real minute.
    let (reports, stats) = three_workers(27).await;
    assert!(
        reports.iter().all(|r| r.ok == 20 && r.failed == 0),
        "{reports:?}"
    );
    assert_eq!(stats.rate_limited, 0, "{stats:?}");
    assert_eq!(stats.generate_requests, 60, "{stats:?}");
}

async fn a_quota_one_process_learns_binds_all_three() {
    let (reports, stats) = three_workers(0).await;
    assert!(
        reports.iter().all(|r| r.ok == 20 && r.failed == 0),
        "{reports:?}"
    );
    let refused: u64 = reports.iter().map(|r| r.refused).sum();
    println!("{reports:?} {stats:?}");
    // Before the first 429 nobody knows the quota: the requests in flight then (8 tasks per
    // process) can be refused. After it, every process paces by the limit it taught.
    assert!(refused <= 24, "{refused} refusals: {reports:?}");
}
