//! The `gemini-sim` command line (clap), turned into a [`SimulatorConfig`]. Every flag and every
//! error message is unit-tested below.

use clap::Parser;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use steadfast::policy::parse_duration;
use steadfast_sim::{SimModel, SimulatorConfig};

const AFTER_HELP: &str = "\
DURATION is a number and a unit: 250ms, 2s, 1.5s, 1m, 1h.

Example:
  gemini-sim --port 8089 --rpm gemini-2.5-flash=10 --fault 503=0.2 --seed 7";

/// The flags of `gemini-sim`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "gemini-sim",
    version,
    about = "A local Gemini API (v1beta and v1) for tests and SDKs",
    after_help = AFTER_HELP
)]
pub(crate) struct CommandLine {
    /// IP address to listen on (0.0.0.0 or :: to serve other machines or containers: it has no
    /// authentication beyond its made-up keys)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1", value_parser = ip_address)]
    pub(crate) host: IpAddr,
    /// Port to listen on (0 picks a free one)
    #[arg(long, value_name = "N", default_value_t = 8089)]
    pub(crate) port: u16,
    /// An API key it accepts (repeat for several; default sim-key-0000000000000001)
    #[arg(long = "key", value_name = "KEY", value_parser = key)]
    keys: Vec<String>,
    /// Keys of one project: they share its quotas (repeat for several)
    #[arg(long = "project", value_name = "KEY1,KEY2", value_parser = project)]
    projects: Vec<Project>,
    /// A model it serves (repeat; default: the built-in list)
    #[arg(long = "model", value_name = "NAME", value_parser = model_id)]
    models: Vec<String>,
    /// Requests per minute per project (every model, or MODEL only)
    #[arg(long, value_name = "[MODEL=]N", allow_hyphen_values = true, value_parser = at_least_one)]
    rpm: Vec<PerModel>,
    /// Input tokens per minute per project
    #[arg(long, value_name = "[MODEL=]N", allow_hyphen_values = true, value_parser = at_least_one)]
    tpm: Vec<PerModel>,
    /// Requests per day per project (0: no quota on this tier)
    #[arg(long, value_name = "[MODEL=]N", allow_hyphen_values = true, value_parser = any_count)]
    rpd: Vec<PerModel>,
    /// Input token limit of a prompt
    #[arg(long = "input-limit", value_name = "[MODEL=]N", allow_hyphen_values = true, value_parser = at_least_one)]
    input_limit: Vec<PerModel>,
    /// Length of a simulated minute
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = positive)]
    minute: Duration,
    /// Length of a simulated day; per-day quotas reset at its midnight, Pacific time (24h: the
    /// real midnight)
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = positive)]
    day: Duration,
    /// Inject a fault in a share of answers (repeat); KIND is 500, 503, slow, drop, garbage or
    /// stream; RATE in 0..=1
    #[arg(long = "fault", value_name = "KIND=RATE", value_parser = fault)]
    faults: Vec<Fault>,
    /// Delay of a `slow` fault
    #[arg(long = "slow-by", value_name = "DURATION", default_value = "5s", value_parser = duration)]
    slow_by: Duration,
    /// Delay before every answer
    #[arg(long, value_name = "DURATION", default_value = "0ms", value_parser = duration)]
    latency: Duration,
    /// Seed of the fault draws and generated content
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// Models per page of models.list, at most
    #[arg(long = "page-size", value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
    page_size: u64,
    /// Connections open at once
    #[arg(long = "max-connections", value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
}

/// The keys of one `--project`.
#[derive(Debug, Clone)]
struct Project(Vec<String>);

/// A per-model limit flag's value: for which model (`None`: every model), and the value.
#[derive(Debug, Clone)]
struct PerModel {
    model: Option<String>,
    value: u32,
}

/// Which fault `--fault` sets, and its rate.
#[derive(Debug, Clone, Copy)]
struct Fault {
    kind: FaultKind,
    rate: f64,
}

#[derive(Debug, Clone, Copy)]
enum FaultKind {
    Internal,
    Overloaded,
    Slow,
    Dropped,
    Garbage,
    Stream,
}

fn ip_address(value: &str) -> Result<IpAddr, String> {
    value
        .parse()
        .map_err(|_| "not an IP address (such as 127.0.0.1, 0.0.0.0 or ::1)".to_owned())
}

fn key(value: &str) -> Result<String, String> {
    if value.is_empty() || value.chars().any(char::is_whitespace) {
        return Err("a key is needed, without spaces".to_owned());
    }
    Ok(value.to_owned())
}

fn project(value: &str) -> Result<Project, String> {
    let keys: Vec<String> = value.split(',').map(str::to_owned).collect();
    if keys
        .iter()
        .any(|k| k.is_empty() || k.chars().any(char::is_whitespace))
    {
        return Err("write keys separated by commas, without spaces: KEY1,KEY2".to_owned());
    }
    Ok(Project(keys))
}

fn model_id(value: &str) -> Result<String, String> {
    let name = value.strip_prefix("models/").unwrap_or(value);
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
    {
        return Err("a model id has letters, digits, `-`, `.` and `_`".to_owned());
    }
    Ok(name.to_owned())
}

fn per_model(value: &str, least: u32) -> Result<PerModel, String> {
    let (model, n) = match value.rsplit_once('=') {
        Some((m, n)) => (Some(model_id(m)?), n),
        None => (None, value),
    };
    let value: u32 = n
        .parse()
        .map_err(|_| format!("`{n}` is not a whole number from {least} to {}", u32::MAX))?;
    if value < least {
        return Err(format!("must be at least {least}"));
    }
    Ok(PerModel { model, value })
}

fn at_least_one(value: &str) -> Result<PerModel, String> {
    per_model(value, 1)
}

fn any_count(value: &str) -> Result<PerModel, String> {
    per_model(value, 0)
}

fn duration(value: &str) -> Result<Duration, String> {
    parse_duration(value).map_err(|_| {
        "not a duration: write a number and a unit, such as 250ms, 2s or 1m".to_owned()
    })
}

fn positive(value: &str) -> Result<Duration, String> {
    let d = duration(value)?;
    if d < Duration::from_millis(1) {
        return Err("must be at least 1ms".to_owned());
    }
    Ok(d)
}

fn fault(value: &str) -> Result<Fault, String> {
    let (kind, rate) = value
        .split_once('=')
        .ok_or_else(|| "write KIND=RATE, such as 503=0.2".to_owned())?;
    let kind = match kind {
        "500" | "internal" => FaultKind::Internal,
        "503" | "overloaded" => FaultKind::Overloaded,
        "slow" => FaultKind::Slow,
        "drop" | "dropped" => FaultKind::Dropped,
        "garbage" => FaultKind::Garbage,
        "stream" | "stream_error" => FaultKind::Stream,
        _ => {
            return Err(format!(
                "`{kind}` is not a fault: the kinds are 500, 503, slow, drop, garbage and stream"
            ));
        }
    };
    let rate: f64 = rate
        .parse()
        .ok()
        .filter(|r: &f64| (0.0..=1.0).contains(r))
        .ok_or_else(|| format!("the rate `{rate}` is not in 0..=1"))?;
    Ok(Fault { kind, rate })
}

impl CommandLine {
    /// Where to listen.
    pub(crate) fn address(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// The simulator these flags describe; an error names a limit given for a model that is
    /// not served.
    pub(crate) fn config(&self) -> Result<SimulatorConfig, String> {
        let mut config = SimulatorConfig {
            projects: self.projects.iter().map(|p| p.0.clone()).collect(),
            seed: self.seed,
            page_size: usize::try_from(self.page_size).unwrap_or(usize::MAX),
            minute: self.minute,
            day: self.day,
            latency: self.latency,
            ..SimulatorConfig::default()
        };
        config.server.max_connections = usize::try_from(self.max_connections).unwrap_or(usize::MAX);
        config.faults.slow_by = self.slow_by;
        if !self.keys.is_empty() {
            config.keys = self.keys.clone();
        }
        // A key named in a project is accepted too.
        for key in config.projects.iter().flatten() {
            if !config.keys.contains(key) {
                config.keys.push(key.clone());
            }
        }
        if !self.models.is_empty() {
            config.models = self.models.iter().map(SimModel::new).collect();
        }
        for fault in &self.faults {
            let f = &mut config.faults;
            let slot = match fault.kind {
                FaultKind::Internal => &mut f.internal,
                FaultKind::Overloaded => &mut f.overloaded,
                FaultKind::Slow => &mut f.slow,
                FaultKind::Dropped => &mut f.dropped,
                FaultKind::Garbage => &mut f.garbage,
                FaultKind::Stream => &mut f.stream_error,
            };
            *slot = fault.rate;
        }
        let flags: [(&str, &[PerModel]); 4] = [
            ("--rpm", &self.rpm),
            ("--tpm", &self.tpm),
            ("--rpd", &self.rpd),
            ("--input-limit", &self.input_limit),
        ];
        for (flag, limits) in flags {
            for limit in limits {
                let mut matched = false;
                for model in &mut config.models {
                    if limit.model.as_deref().is_some_and(|m| m != model.name) {
                        continue;
                    }
                    matched = true;
                    match flag {
                        "--rpm" => model.rpm = Some(limit.value),
                        "--tpm" => model.tpm = Some(limit.value),
                        "--rpd" => model.rpd = Some(limit.value),
                        _ => model.input_token_limit = limit.value,
                    }
                }
                if !matched {
                    let name = limit.model.as_deref().unwrap_or_default();
                    return Err(format!(
                        "{flag} {name}=…: `{name}` is not served; add it with --model {name}"
                    ));
                }
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(args: &[&str]) -> Result<(CommandLine, SimulatorConfig), String> {
        let line =
            CommandLine::try_parse_from(std::iter::once("gemini-sim").chain(args.iter().copied()))
                .map_err(|e| e.to_string())?;
        let config = line.config()?;
        Ok((line, config))
    }

    fn message(args: &[&str]) -> String {
        match parse(args) {
            Ok(parsed) => panic!("{args:?} parsed: {parsed:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn the_clap_definition_is_consistent() {
        use clap::CommandFactory;
        CommandLine::command().debug_assert();
    }

    #[test]
    fn projects_group_keys_and_accept_them() {
        let (_, config) = parse(&["--project", "a1,a2", "--project=b1", "--key", "c1"]).unwrap();
        assert_eq!(
            config.projects,
            vec![
                vec!["a1".to_owned(), "a2".to_owned()],
                vec!["b1".to_owned()]
            ]
        );
        for key in ["a1", "a2", "b1", "c1"] {
            assert!(config.keys.iter().any(|k| k == key), "{key}");
        }
        assert!(parse(&["--project", "a1,,a2"]).is_err());
        assert!(parse(&["--project", "a 1"]).is_err());
    }

    #[test]
    fn every_flag_lands_in_the_config() {
        let (line, c) = parse(&[
            "--port=0",
            "--key",
            "k1",
            "--key",
            "k2",
            "--model",
            "a",
            "--model",
            "models/b",
            "--rpm",
            "5",
            "--tpm",
            "b=100",
            "--rpd",
            "a=0",
            "--input-limit",
            "a=7",
            "--minute",
            "500ms",
            "--day",
            "10s",
            "--fault",
            "500=0.1",
            "--fault",
            "503=0.2",
            "--fault",
            "slow=0.3",
            "--fault",
            "drop=0.05",
            "--fault",
            "garbage=0.01",
            "--fault",
            "stream=0.5",
            "--slow-by",
            "2s",
            "--latency",
            "15ms",
            "--seed",
            "9",
            "--page-size",
            "1",
            "--max-connections",
            "8",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(line.port, 0);
        assert_eq!(line.host, IpAddr::from([127, 0, 0, 1]));
        let host = |h: &str| parse(&["--host", h]).map(|p| p.0.host.to_string());
        assert_eq!(host("0.0.0.0").as_deref(), Ok("0.0.0.0"));
        assert_eq!(host("::1").as_deref(), Ok("::1"));
        assert_eq!(c.keys, ["k1", "k2"]);
        let names: Vec<&str> = c.models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(
            (c.models[0].rpm, c.models[0].rpd, c.models[0].tpm),
            (Some(5), Some(0), None)
        );
        assert_eq!(c.models[0].input_token_limit, 7);
        assert_eq!((c.models[1].rpm, c.models[1].tpm), (Some(5), Some(100)));
        assert_eq!(c.minute, Duration::from_millis(500));
        assert_eq!(c.day, Duration::from_secs(10));
        let f = &c.faults;
        assert_eq!(
            (
                f.internal,
                f.overloaded,
                f.slow,
                f.dropped,
                f.garbage,
                f.stream_error
            ),
            (0.1, 0.2, 0.3, 0.05, 0.01, 0.5)
        );
        assert_eq!(f.slow_by, Duration::from_secs(2));
        assert_eq!(c.latency, Duration::from_millis(15));
        assert_eq!((c.seed, c.page_size), (9, 1));
        assert_eq!(c.server.max_connections, 8);
    }

    #[test]
    fn no_flags_is_the_default_simulator_on_8089() {
        let (line, config) = parse(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(line.port, 8089);
        assert_eq!(config.keys, [steadfast_sim::SIM_KEY]);
        assert!(config.models.len() >= 4);
        assert_eq!(config.minute, Duration::from_secs(60));
        assert_eq!(config.day, Duration::from_secs(86_400));
        assert_eq!(config.faults.slow_by, Duration::from_secs(5));
        assert_eq!(config.page_size, 50);
        let help = message(&["-h"]);
        for flag in ["--host", "--rpm", "--fault", "--input-limit", "DURATION is"] {
            assert!(help.contains(flag), "{flag} in {help}");
        }
    }

    #[test]
    fn every_bad_flag_is_a_clear_error() {
        let cases: &[(&[&str], &str)] = &[
            (&["--prot", "1"], "unexpected argument '--prot'"),
            (&["serve"], "unexpected argument 'serve'"),
            (&["--port"], "a value is required for '--port <N>'"),
            (
                &["--host", "localhost"],
                "not an IP address (such as 127.0.0.1, 0.0.0.0 or ::1)",
            ),
            (
                &["--port", "70000"],
                "invalid value '70000' for '--port <N>'",
            ),
            (&["--rpm", "0"], "must be at least 1"),
            (
                &["--tpm", "x=1"],
                "`x` is not served; add it with --model x",
            ),
            (&["--rpd", "-1"], "`-1` is not a whole number"),
            (
                &["--minute", "5"],
                "'5' for '--minute <DURATION>': not a duration",
            ),
            (&["--day", "0s"], "must be at least 1ms"),
            (&["--fault", "503"], "write KIND=RATE"),
            (&["--fault", "418=0.1"], "the kinds are 500, 503"),
            (&["--fault", "503=1.5"], "the rate `1.5` is not in 0..=1"),
            (&["--key", ""], "a key is needed"),
            (&["--model", "a/b"], "a model id has letters"),
            (&["--page-size", "0"], "'0' for '--page-size <N>'"),
            (
                &["--max-connections", "0"],
                "'0' for '--max-connections <N>'",
            ),
            (&["--seed", "x"], "invalid value 'x' for '--seed <N>'"),
        ];
        for (args, expected) in cases {
            let got = message(args);
            assert!(got.contains(expected), "{args:?}: {got}");
        }
    }
}
