//! `gemini-sim`: the local Gemini simulator as a command, for any SDK in any language.
//!
//! ```text
//! cargo run -p steadfast-sim -- --port 8089
//! ```
//!
//! It prints `listening on http://127.0.0.1:PORT` (or the `--host` address) once it accepts
//! connections, serves until interrupted (Ctrl-C or SIGTERM), then shuts down gracefully.
//! `--help` lists the flags; a bad flag is an error that names it, with exit code 2.

mod cli;

use clap::Parser;
use std::process::ExitCode;
use steadfast_sim::Simulator;

fn main() -> ExitCode {
    let line = cli::CommandLine::parse();
    let config = match line.config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("gemini-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("gemini-sim: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(line.address(), config))
}

async fn run(address: std::net::SocketAddr, config: steadfast_sim::SimulatorConfig) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("gemini-sim: cannot listen on {address}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sim = match Simulator::serve(config, listener) {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("gemini-sim: cannot serve on {address}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {}", sim.base_url());
    interrupted().await;
    println!("shutting down");
    sim.shutdown().await;
    ExitCode::SUCCESS
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
