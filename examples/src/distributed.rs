//! Several worker processes sharing one quota through Redis: the code behind the `distributed`
//! example and its end-to-end test.
//!
//! The coordinator starts a `redis-server` (on a free port, in a temporary directory, no
//! persistence) and a local Gemini simulator whose server-side quota is `server_rate` requests
//! per (one-second) minute for the one key every worker uses. It then starts `workers` copies
//! of a program (the example itself, or the test binary) as OS processes. Each worker calls the
//! simulator through a Gemini client whose quotas live in Redis (`SharedQuotas`, the same
//! namespace in every process), so together they behave as one client, and prints one line of
//! what it did.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use steadfast_gemini::{Client, ClientPolicy, ModelLimits, SharedQuotas};
use steadfast_sim::{SIM_KEY, SimModel, Simulator, SimulatorConfig};

/// The model every worker asks.
pub const MODEL: &str = "gemini-2.5-flash";

/// The simulated minute: one second, so that a run takes seconds.
pub const MINUTE: Duration = Duration::from_secs(1);

/// A `redis-server` for one run, stopped when dropped.
#[derive(Debug)]
pub struct RedisProcess {
    child: Child,
    dir: PathBuf,
    /// Its URL.
    pub url: String,
}

impl RedisProcess {
    /// Starts `redis-server` on a free port; an error that says how to install it when it is
    /// missing.
    pub fn start() -> Result<RedisProcess, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let dir = std::env::temp_dir().join(format!("steadfast-distributed-{port}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("cannot start redis-server ({e}): install it, e.g. `apt-get install redis-server`")
            })?;
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(10) {
                return Err("redis-server did not start in 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(RedisProcess {
            child,
            dir,
            url: format!("redis://127.0.0.1:{port}"),
        })
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What one worker reports.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerReport {
    /// Its number.
    pub id: u32,
    /// Calls answered.
    pub ok: u64,
    /// Calls that failed.
    pub failed: u64,
    /// Times a request waited for room in the shared quota.
    pub waits: u64,
    /// Time spent waiting for it.
    pub waited: Duration,
    /// 429 answers this worker received.
    pub refused: u64,
}

impl WorkerReport {
    /// The one line a worker prints.
    pub fn line(&self) -> String {
        format!(
            "WORKER {} ok={} failed={} waits={} waited_ms={} refused={}",
            self.id,
            self.ok,
            self.failed,
            self.waits,
            self.waited.as_millis(),
            self.refused
        )
    }

    /// Reads a line printed by [`line`](WorkerReport::line).
    pub fn parse(line: &str) -> Option<WorkerReport> {
        let rest = line.strip_prefix("WORKER ")?;
        let mut parts = rest.split(' ');
        let id = parts.next()?.parse().ok()?;
        let mut field = |name: &str| -> Option<u64> {
            parts
                .next()?
                .strip_prefix(name)?
                .strip_prefix('=')?
                .parse()
                .ok()
        };
        Some(WorkerReport {
            id,
            ok: field("ok")?,
            failed: field("failed")?,
            waits: field("waits")?,
            waited: Duration::from_millis(field("waited_ms")?),
            refused: field("refused")?,
        })
    }
}

/// One worker: `calls` calls to the simulator at `sim_url`, `tasks` at a time, through a client
/// whose quotas live in the Redis at `redis_url` under the namespace `distributed-demo`, shared
/// with every other worker. With `rate`, the client is told the quota (`rate` requests per
/// one-second minute); without it, the client learns it from the first 429 any worker gets.
pub async fn worker(
    id: u32,
    redis_url: &str,
    sim_url: &str,
    rate: Option<u32>,
    calls: u64,
    tasks: u64,
) -> Result<WorkerReport, String> {
    let shared = SharedQuotas::redis(redis_url, "distributed-demo")
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let mut policy = ClientPolicy::default().quota_minute(MINUTE);
    if let Some(rate) = rate {
        policy = policy.limits(
            MODEL,
            ModelLimits {
                rpm: Some(rate),
                ..ModelLimits::default()
            },
        );
    }
    let client = Client::builder()
        .base_url(sim_url)
        .key(SIM_KEY)
        .policy(policy)
        .shared_quotas(shared)
        .build()
        .map_err(|e| e.to_string())?;
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (client, next) = (client.clone(), next.clone());
        handles.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0, 0);
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < calls {
                match client.generate(MODEL, "Say hello in one word.").await {
                    Ok(_) => ok += 1,
                    Err(_) => failed += 1,
                }
            }
            (ok, failed)
        }));
    }
    let (mut ok, mut failed) = (0, 0);
    for h in handles {
        let (o, f) = h.await.map_err(|e| e.to_string())?;
        ok += o;
        failed += f;
    }
    let stats = client.stats().total();
    Ok(WorkerReport {
        id,
        ok,
        failed,
        waits: stats.quota_waits,
        waited: stats.quota_waited,
        refused: stats.rate_limited(),
    })
}

/// The simulator with a server-side quota of `rate` requests per one-second "minute".
pub async fn simulator(rate: u32) -> std::io::Result<Simulator> {
    let mut model = SimModel::new(MODEL);
    model.rpm = Some(rate);
    let config = SimulatorConfig {
        models: vec![model],
        minute: MINUTE,
        ..SimulatorConfig::default()
    };
    Simulator::start(config).await
}

/// Starts `workers` copies of `program` with `args(id)` and collects their reports.
pub fn run_workers(
    program: &std::path::Path,
    workers: u32,
    args: impl Fn(u32) -> Vec<String>,
) -> Result<Vec<WorkerReport>, String> {
    let children: Vec<Child> = (0..workers)
        .map(|id| {
            Command::new(program)
                .args(args(id))
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|e| format!("cannot start worker {id}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let mut reports = Vec::new();
    for child in children {
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout);
        let report = text
            .lines()
            .find_map(WorkerReport::parse)
            .ok_or_else(|| format!("a worker printed no report: {text}"))?;
        reports.push(report);
    }
    Ok(reports)
}
