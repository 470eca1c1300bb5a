//! `gemini-relay`: the Gemini REST API in front of steadfast's key pool.
//!
//! ```text
//! gemini-relay --upstream http://127.0.0.1:8089 --key UPSTREAM_KEY --relay-key me=SECRET
//! gemini-relay --config relay.toml
//! gemini-relay --demo
//! gemini-relay report --log gemini-relay.sqlite --hours 24 [--json]
//! ```
//!
//! It prints `listening on http://127.0.0.1:PORT` once it accepts connections and serves until
//! Ctrl-C or SIGTERM, then drains the requests in flight. Its log lines (refusals, keys taken
//! out of the pool, reloads, the request log's troubles), with the request's id, go to
//! standard error: the `info` level of the relay and the client by default, or what
//! `GEMINI_RELAY_LOG` says in `RUST_LOG`'s syntax (`debug`, `steadfast_relay=debug,warn`). With `--config`, it reads the file
//! again on SIGHUP and when the file changes (checked every 2 s), keeping the flags given on
//! the command line; a file that does not check leaves the running configuration in place.

/// mimalloc (its version 2, without transparent huge pages) rather than glibc's allocator: a
/// forwarded request allocates and frees many small buffers, and glibc's free lists took about
/// a tenth of the relay's time. With one thread (the default) this build keeps the relay's
/// memory flat; with more, memory freed on another thread is kept a while (bounded: 29 MB at
/// most over 200 MB streams). mimalloc 3 held freed memory for a second: a 50 MB stream
/// raised the relay's peak by 25 MB.
/// BENCHMARKS.md, section 8. Feature `mimalloc`, on by default.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use steadfast_relay::{Config, LogConfig, Relay, RelayKeyConfig};

/// The Gemini REST API in front of a key pool with learned quotas, honest retries and model
/// fallback: point any Gemini client at it by changing its base URL.
#[derive(Debug, Clone, Parser)]
#[command(name = "gemini-relay", version, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// A TOML configuration file (relay/relay.example.toml shows every field)
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Port to listen on (0 picks a free one; default 8090)
    #[arg(long, value_name = "N")]
    port: Option<u16>,
    /// The Gemini API to forward to (default Google's)
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// An upstream API key (repeat for a pool; also GEMINI_API_KEYS=k1,k2)
    #[arg(
        long = "key",
        value_name = "KEY",
        env = "GEMINI_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    keys: Vec<String>,
    /// A key clients use: NAME=SECRET (repeat for several)
    #[arg(long = "relay-key", value_name = "NAME=SECRET")]
    relay_keys: Vec<String>,
    /// Start an embedded simulator upstream with small quotas and faults, and print a relay key
    /// and a curl line: the relay at work with no Google key
    #[arg(long)]
    demo: bool,
    /// Keep the request log in this SQLite file (also `[log] path` in the config)
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// The token of the dashboard and the admin API (also GEMINI_RELAY_ADMIN_TOKEN)
    #[arg(
        long,
        value_name = "TOKEN",
        env = "GEMINI_RELAY_ADMIN_TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
}

#[derive(Debug, Clone, clap::Subcommand)]
enum Command {
    /// The request log's analytics for the last hours: errors by kind and hour, 429s per model
    /// and project, the busiest relay keys, latency percentiles
    Report {
        /// The request log (an SQLite file the relay wrote)
        #[arg(long, value_name = "FILE")]
        log: PathBuf,
        /// How many hours back
        #[arg(long, value_name = "N", default_value_t = 24)]
        hours: u64,
        /// JSON instead of tables
        #[arg(long)]
        json: bool,
    },
}

/// `gemini-relay report`.
fn report(log: &std::path::Path, hours: u64, json: bool) -> ExitCode {
    if !log.exists() {
        eprintln!("gemini-relay report: {} does not exist", log.display());
        return ExitCode::from(2);
    }
    let read = rusqlite_open(log).and_then(|c| {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
            - (hours.min(100_000) * 3_600_000) as i64;
        steadfast_relay::stats::read(&c, since).map_err(|e| e.to_string())
    });
    match read {
        Ok(stats) if json => match serde_json::to_string_pretty(&stats) {
            Ok(text) => out(&format!("{text}\n")),
            Err(e) => {
                eprintln!("gemini-relay report: {e}");
                ExitCode::FAILURE
            }
        },
        Ok(stats) => out(&steadfast_relay::stats::table(&stats, hours)),
        Err(e) => {
            eprintln!("gemini-relay report: {}: {e}", log.display());
            ExitCode::from(2)
        }
    }
}

/// Writes `text` to standard output; a reader that stops early (`| head`) is no failure.
fn out(text: &str) -> ExitCode {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gemini-relay report: {e}");
            ExitCode::FAILURE
        }
    }
}

fn rusqlite_open(path: &std::path::Path) -> Result<rusqlite::Connection, String> {
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| e.to_string())?;
    c.busy_timeout(std::time::Duration::from_secs(2))
        .map_err(|e| e.to_string())?;
    Ok(c)
}

/// A relay key from `NAME=SECRET`; the error never quotes what was given (it may be a secret
/// typed with the wrong separator).
fn relay_key(text: &str) -> Result<RelayKeyConfig, String> {
    let (name, secret) = text
        .split_once('=')
        .ok_or_else(|| "--relay-key: write NAME=SECRET (the value given has no `=`)".to_owned())?;
    Ok(RelayKeyConfig::new(name, secret))
}

/// Log lines to standard error, filtered by `GEMINI_RELAY_LOG` (default: the relay's, the
/// client's and steadfast's `info`, other crates' warnings). A filter that does not parse is
/// said, and the default used.
fn log_lines() {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    const DEFAULT: &str = "warn,steadfast_relay=info,steadfast_gemini=info,steadfast=info";
    let asked = std::env::var("GEMINI_RELAY_LOG").ok();
    let targets = match asked.as_deref().map(str::parse::<Targets>) {
        Some(Ok(targets)) => targets,
        Some(Err(e)) => {
            eprintln!("gemini-relay: GEMINI_RELAY_LOG: {e}; logging at the default levels");
            DEFAULT.parse().unwrap_or_default()
        }
        None => DEFAULT.parse().unwrap_or_default(),
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(targets)
        .try_init();
}

fn main() -> ExitCode {
    let args = Args::parse();
    log_lines();
    if let Some(Command::Report { log, hours, json }) = &args.command {
        return report(log, *hours, *json);
    }
    // The runtime's size is the configuration's (`threads`); a configuration that cannot be
    // read is reported by `run`, with the default runtime.
    // A configuration that does not check (`threads = 0` among others: a runtime of no thread
    // would panic) is reported by `run`, on the default runtime.
    let threads = configuration(&args)
        .ok()
        .filter(|c| c.check().is_ok())
        .and_then(|c| c.threads);
    // One thread (the default) is a current-thread runtime: every task on this thread, with
    // no work stealing and no wake-ups across threads to pay for.
    let mut builder = match threads.unwrap_or(1) {
        1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
    };
    builder.enable_all();
    let runtime = match builder.build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gemini-relay: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

/// The configuration: the file's, when one is given, with the command line's flags on top.
fn configuration(args: &Args) -> Result<Config, String> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    if let Some(port) = args.port {
        config.port = port;
    }
    if let Some(upstream) = &args.upstream {
        config.upstream = upstream.clone();
    }
    config
        .keys
        .extend(args.keys.iter().filter(|k| !k.trim().is_empty()).cloned());
    for given in &args.relay_keys {
        config.relay_keys.push(relay_key(given)?);
    }
    if let Some(path) = &args.log {
        config.log = Some(LogConfig::new(path));
    }
    if let Some(token) = &args.admin_token {
        config.admin_token = Some(token.clone());
        config.admin_token_sha256 = None;
    }
    Ok(config)
}

async fn run(args: Args) -> ExitCode {
    let mut config = match configuration(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gemini-relay: {e}");
            return ExitCode::from(2);
        }
    };
    let mut _demo = None;
    if args.demo {
        let mut model = steadfast_sim::SimModel::new("gemini-2.5-flash");
        model.rpm = Some(10);
        let sim = match steadfast_sim::Simulator::start(steadfast_sim::SimulatorConfig {
            models: vec![
                model,
                steadfast_sim::SimModel::new("gemini-2.0-flash"),
                steadfast_sim::SimModel::new("gemini-embedding-001"),
                steadfast_sim::SimModel::new("text-embedding-004"),
            ],
            faults: steadfast_sim::Faults {
                overloaded: 0.1,
                ..Default::default()
            },
            ..Default::default()
        })
        .await
        {
            Ok(sim) => sim,
            Err(e) => {
                eprintln!("gemini-relay: cannot start the demo simulator: {e}");
                return ExitCode::FAILURE;
            }
        };
        config.upstream = sim.base_url();
        config.keys = sim.keys().to_vec();
        config.fallback = vec!["gemini-2.0-flash".into()];
        // A request waits for a slot up to 15 s; past that it gets a 429 saying when.
        config.deadline = std::time::Duration::from_secs(15);
        if config.relay_keys.is_empty() {
            config.relay_keys.push(RelayKeyConfig::new(
                "demo",
                "demo-relay-key-0000000000000001",
            ));
        }
        if config.log.is_none() {
            config.log = Some(LogConfig::new(
                std::env::temp_dir().join("gemini-relay-demo.sqlite"),
            ));
        }
        if config.admin_token.is_none() && config.admin_token_sha256.is_none() {
            config.admin_token = Some("demo-admin-token-0000000000001".into());
        }
        _demo = Some(sim);
    }
    #[cfg(unix)]
    let _ = hangup_signal();
    let relay = match Relay::start(config.clone()).await {
        Ok(relay) => relay,
        Err(e) => {
            eprintln!("gemini-relay: {e}");
            return ExitCode::from(2);
        }
    };
    if args.config.is_some() {
        let args = Args {
            command: None,
            config: args.config.clone(),
            port: args.port,
            upstream: args.upstream.clone(),
            keys: args.keys.clone(),
            relay_keys: args.relay_keys.clone(),
            demo: false,
            log: args.log.clone(),
            admin_token: args.admin_token.clone(),
        };
        relay.reload_from(move || configuration(&args));
    }
    println!("listening on {}", relay.base_url());
    if args.demo {
        println!(
            "demo: an embedded simulator upstream (10 requests a minute on gemini-2.5-flash, 10 % of answers overloaded, falling back to gemini-2.0-flash; a request waits up to 15 s for a slot)"
        );
        println!("relay key: demo-relay-key-0000000000000001");
        if config.admin_token.as_deref() == Some("demo-admin-token-0000000000001") {
            println!(
                "dashboard: {}/dashboard (admin token: demo-admin-token-0000000000001)",
                relay.base_url()
            );
        }
        println!(
            "try: curl -H 'x-goog-api-key: demo-relay-key-0000000000000001' -H 'Content-Type: application/json' -d '{{\"contents\":[{{\"parts\":[{{\"text\":\"hi\"}}]}}]}}' {}/v1beta/models/gemini-2.5-flash:generateContent",
            relay.base_url()
        );
    }
    serve_until_interrupted(&relay, &args).await;
    println!("shutting down");
    relay.shutdown().await;
    ExitCode::SUCCESS
}

/// Serves until interrupted. With a config file, reloads it on SIGHUP and when it changes;
/// without one, a SIGHUP is logged and changes nothing (it never ends the process).
async fn serve_until_interrupted(relay: &Relay, args: &Args) {
    let stamp = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let path = args.config.as_deref();
    let mut seen = path.and_then(stamp);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    let interrupted = interrupted();
    tokio::pin!(interrupted);
    loop {
        let why = tokio::select! {
            () = &mut interrupted => return,
            () = hangup() => "SIGHUP",
            _ = tick.tick() => {
                let now = path.and_then(stamp);
                if now == seen {
                    continue;
                }
                seen = now;
                "the file changed"
            }
        };
        let Some(path) = path else {
            eprintln!("gemini-relay: SIGHUP: no --config file to reload");
            continue;
        };
        let args = args.clone();
        let reloaded = relay
            .reload_in_background(move || configuration(&args))
            .await
            .map_err(|e| e.to_string());
        match reloaded {
            Ok(()) => println!("reloaded {} ({why})", path.display()),
            Err(e) => eprintln!("gemini-relay: not reloaded ({why}): {e}"),
        }
    }
}

/// The process's SIGHUP stream, installed at start so that a SIGHUP never ends the process
/// (its default action) while requests are in flight.
#[cfg(unix)]
fn hangup_signal() -> Option<&'static tokio::sync::Mutex<tokio::signal::unix::Signal>> {
    use std::sync::OnceLock;
    use tokio::signal::unix::{Signal, SignalKind, signal};
    static HUP: OnceLock<Option<tokio::sync::Mutex<Signal>>> = OnceLock::new();
    HUP.get_or_init(|| {
        signal(SignalKind::hangup())
            .ok()
            .map(tokio::sync::Mutex::new)
    })
    .as_ref()
}

/// The next SIGHUP (never, where there is none).
async fn hangup() {
    #[cfg(unix)]
    if let Some(hup) = hangup_signal() {
        hup.lock().await.recv().await;
        return;
    }
    std::future::pending::<()>().await;
}

/// Ctrl-C, or SIGTERM on Unix.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
