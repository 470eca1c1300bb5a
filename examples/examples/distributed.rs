//! distributed: three worker processes share one quota of the local Gemini simulator through
//! Redis, and the simulator refuses none of their requests.
//!
//! The simulator allows 30 requests per (one-second) minute for the key all workers use. Each
//! worker's Gemini client keeps its quotas in Redis (`SharedQuotas`, namespace
//! `distributed-demo`) and is told a limit of 27 a minute for the model: the count lives in
//! Redis, so three processes together send no more than one would (a margin below the server's
//! quota for the delay between Redis and the server, which is a large share of a one-second
//! minute; with real minutes the client's own margin of 1 % suffices). Each worker prints its
//! share, its waits and the 429s it saw; the coordinator prints the simulator's count of 429
//! answers, which is 0.
//!
//! Run (needs `redis-server` on PATH; the example starts and stops its own):
//! `cargo run -p steadfast-examples --example distributed`

use steadfast_examples::distributed::{RedisProcess, run_workers, simulator, worker};

const SERVER_RATE: u32 = 30;
const CLIENT_RATE: u32 = 27;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("worker") {
        let id: u32 = args[2].parse()?;
        let calls: u64 = args[5].parse()?;
        let report = worker(id, &args[3], &args[4], Some(CLIENT_RATE), calls, 8).await?;
        println!("{}", report.line());
        return Ok(());
    }
    let calls_per_worker: u64 = if steadfast_examples::quick() { 20 } else { 60 };
    let redis = RedisProcess::start()?;
    let sim = simulator(SERVER_RATE).await?;
    println!(
        "simulator at {} allows {SERVER_RATE} requests a (one-second) minute; 3 workers share a client quota of {CLIENT_RATE} through {}",
        sim.base_url(),
        redis.url
    );
    let program = std::env::current_exe()?;
    let (redis_url, sim_url) = (redis.url.clone(), sim.base_url());
    let reports = tokio::task::spawn_blocking(move || {
        run_workers(&program, 3, |id| {
            vec![
                "worker".into(),
                id.to_string(),
                redis_url.clone(),
                sim_url.clone(),
                calls_per_worker.to_string(),
            ]
        })
    })
    .await??;
    for r in &reports {
        println!(
            "worker {}: {} answered, {} failed, {} waits for the shared quota ({:.1?} summed over its tasks), {} answered 429",
            r.id, r.ok, r.failed, r.waits, r.waited, r.refused
        );
    }
    let stats = sim.stats();
    println!(
        "simulator: {} requests, {} answered 429",
        stats.requests, stats.rate_limited
    );
    assert_eq!(
        stats.rate_limited, 0,
        "the shared quota kept every worker under the server's"
    );
    Ok(())
}
