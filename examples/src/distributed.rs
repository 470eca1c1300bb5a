//! Several worker processes sharing one quota through Redis: the code behind the `distributed`
//! example and its end-to-end test.
//!
//! The coordinator starts a `redis-server` (on a free port, in a temporary directory, no
//! persistence) and a local Gemini simulator whose server-side quota is `server_rate` requests
//! per (one-second) minute for the one key every worker uses. It then starts `workers` copies
//! of a program (the example itself, or the test binary) as OS processes. Each worker calls the
//! simulator through a `RedisRateLimit` of `client_rate` per second named the same in every
//! process, so together they behave as one client, and prints one line of what it did.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use steadfast::Policy;
use steadfast::limit::RedisRateLimit;
use steadfast_gemini::simulator::{SIM_KEY, SimModel, Simulator, SimulatorConfig};
use steadfast_gemini::{Client, ClientPolicy};

/// The model every worker asks.
pub const MODEL: &str = "gemini-2.5-flash";

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
    /// Attempts that waited for the shared limiter.
    pub waits: u64,
    /// Time spent waiting for it.
    pub waited: Duration,
}

impl WorkerReport {
    /// The one line a worker prints.
    pub fn line(&self) -> String {
        format!(
            "WORKER {} ok={} failed={} waits={} waited_ms={}",
            self.id,
            self.ok,
            self.failed,
            self.waits,
            self.waited.as_millis()
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
        })
    }
}

/// One worker: `calls` calls to the simulator at `sim_url`, `tasks` at a time, through the
/// shared limiter `name` at `rate` per second in the Redis at `redis_url`.
pub async fn worker(
    id: u32,
    redis_url: &str,
    sim_url: &str,
    rate: u32,
    calls: u64,
    tasks: u64,
) -> Result<WorkerReport, String> {
    let limit = RedisRateLimit::builder(redis_url, "distributed-demo")
        .per_second(rate)
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let policy = Arc::new(
        Policy::builder()
            .name("distributed::ask")
            .limiter(Arc::new(limit))
            .build()
            .map_err(|e| e.to_string())?,
    );
    // The client sends each call once: the shared policy is the one that retries and paces.
    let client = Client::builder()
        .base_url(sim_url)
        .key(SIM_KEY)
        .policy(ClientPolicy::off())
        .build()
        .map_err(|e| e.to_string())?;
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (policy, client, next) = (policy.clone(), client.clone(), next.clone());
        handles.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0, 0);
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < calls {
                let answer = policy
                    .call(|| client.generate(MODEL, "Say hello in one word."))
                    .await;
                if answer.is_ok() {
                    ok += 1;
                } else {
                    failed += 1;
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
    let stats = policy.stats();
    Ok(WorkerReport {
        id,
        ok,
        failed,
        waits: stats.rate_limit_waits,
        waited: stats.rate_limit_waited,
    })
}

/// The simulator with a server-side quota of `rate` requests per one-second "minute".
pub async fn simulator(rate: u32) -> std::io::Result<Simulator> {
    let mut model = SimModel::new(MODEL);
    model.rpm = Some(rate);
    let config = SimulatorConfig {
        models: vec![model],
        minute: Duration::from_secs(1),
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
