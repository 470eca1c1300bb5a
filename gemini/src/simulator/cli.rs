//! The `gemini-sim` command line, parsed into a [`SimulatorConfig`]. It lives in the library so
//! that every flag and every error message is unit-tested.

use super::{SimModel, SimulatorConfig};
use std::time::Duration;
use steadfast::policy::parse_duration;

/// `gemini-sim --help`.
pub const USAGE: &str = "\
gemini-sim: a local Gemini API (v1beta and v1) for tests and SDKs

USAGE:
    gemini-sim [FLAGS]

FLAGS:
    --host ADDR              IP address to listen on (default 127.0.0.1; 0.0.0.0 or :: to
                             serve other machines or containers: it has no authentication
                             beyond its made-up keys)
    --port N                 port to listen on (default 8089; 0 picks a free one)
    --key KEY                an API key it accepts (repeat for several; default sim-key-0000000000000001)
    --project KEY1,KEY2      keys of one project: they share its quotas (repeat for several)
    --model NAME             a model it serves (repeat; default: the built-in list)
    --rpm [MODEL=]N          requests per minute per project (every model, or MODEL only)
    --tpm [MODEL=]N          input tokens per minute per project
    --rpd [MODEL=]N          requests per day per project (0: no quota on this tier)
    --input-limit [MODEL=]N  input token limit of a prompt
    --minute DURATION        length of a simulated minute (default 60s)
    --day DURATION           length of a simulated day; per-day quotas reset at its
                             midnight, Pacific time (default 24h: the real midnight)
    --fault KIND=RATE        inject a fault in a share of answers (repeat); KIND is
                             500, 503, slow, drop, garbage or stream; RATE in 0..=1
    --slow-by DURATION       delay of a `slow` fault (default 5s)
    --latency DURATION       delay before every answer (default 0ms)
    --seed N                 seed of the fault draws and generated content (default 0)
    --page-size N            models per page of models.list, at most (default 50)
    --max-connections N      connections open at once (default 1024)
    -h, --help               print this text

DURATION is a number and a unit: 250ms, 2s, 1.5s, 1m, 1h.

EXAMPLE:
    gemini-sim --port 8089 --rpm gemini-2.5-flash=10 --fault 503=0.2 --seed 7
";

/// The parsed command line.
#[derive(Debug, Clone)]
pub struct CommandLine {
    /// `--host` (default `127.0.0.1`).
    pub host: std::net::IpAddr,
    /// `--port`.
    pub port: u16,
    /// Everything else.
    pub config: SimulatorConfig,
    /// `--help` was given: print [`USAGE`] and exit.
    pub help: bool,
}

/// A flag the command cannot use; its message names the flag and what it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLineError(String);

impl std::fmt::Display for CommandLineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CommandLineError {}

fn error(message: impl Into<String>) -> CommandLineError {
    CommandLineError(message.into())
}

/// A per-model limit flag: which limit, for which model (`None`: every model), and its value.
struct Limit {
    flag: &'static str,
    model: Option<String>,
    value: u32,
}

impl CommandLine {
    /// Parses the arguments after the program name.
    ///
    /// ```
    /// use steadfast_gemini::simulator::CommandLine;
    /// let args = ["--port", "0", "--rpm", "gemini-2.5-flash=10", "--fault", "503=0.2"];
    /// let parsed = CommandLine::parse(args.map(String::from))?;
    /// assert_eq!(parsed.port, 0);
    /// assert_eq!(parsed.config.faults.overloaded, 0.2);
    /// let flash = parsed.config.models.iter().find(|m| m.name == "gemini-2.5-flash").unwrap();
    /// assert_eq!(flash.rpm, Some(10));
    /// # Ok::<(), steadfast_gemini::simulator::CommandLineError>(())
    /// ```
    pub fn parse<I>(args: I) -> Result<CommandLine, CommandLineError>
    where
        I: IntoIterator<Item = String>,
    {
        let mut config = SimulatorConfig {
            page_size: 50,
            ..SimulatorConfig::default()
        };
        let mut port = 8089;
        let mut host = std::net::IpAddr::from([127, 0, 0, 1]);
        let mut help = false;
        let mut keys: Vec<String> = Vec::new();
        let mut models: Vec<String> = Vec::new();
        let mut limits: Vec<Limit> = Vec::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "-h" || arg == "--help" {
                help = true;
                continue;
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value)),
                _ => (arg.clone(), None),
            };
            let known = [
                "--host",
                "--port",
                "--key",
                "--project",
                "--model",
                "--rpm",
                "--tpm",
                "--rpd",
                "--input-limit",
                "--minute",
                "--day",
                "--fault",
                "--slow-by",
                "--latency",
                "--seed",
                "--page-size",
                "--max-connections",
            ];
            let Some(&flag) = known.iter().find(|k| **k == flag) else {
                return Err(error(format!(
                    "unknown argument `{arg}`; see `gemini-sim --help` for the flags"
                )));
            };
            let value = match inline {
                Some(v) => v.to_owned(),
                None => args
                    .next()
                    .ok_or_else(|| error(format!("{flag} needs a value")))?,
            };
            match flag {
                "--port" => port = number(flag, &value)?,
                "--host" => {
                    host = value.parse().map_err(|_| {
                        error(format!(
                            "--host `{value}` is not an IP address (such as 127.0.0.1, 0.0.0.0 or ::1)"
                        ))
                    })?;
                }
                "--key" => {
                    if value.is_empty() || value.chars().any(|c| c.is_whitespace()) {
                        return Err(error("--key needs a key without spaces"));
                    }
                    keys.push(value);
                }
                "--project" => {
                    let group: Vec<String> = value.split(',').map(str::to_owned).collect();
                    if group
                        .iter()
                        .any(|k| k.is_empty() || k.chars().any(|c| c.is_whitespace()))
                    {
                        return Err(error(
                            "--project needs keys separated by commas, without spaces: KEY1,KEY2",
                        ));
                    }
                    config.projects.push(group);
                }
                "--model" => {
                    let name = value.strip_prefix("models/").unwrap_or(&value);
                    if name.is_empty()
                        || !name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
                    {
                        return Err(error(format!(
                            "--model `{value}`: a model id has letters, digits, `-`, `.` and `_`"
                        )));
                    }
                    models.push(name.to_owned());
                }
                "--rpm" | "--tpm" | "--rpd" | "--input-limit" => {
                    let (model, n) = match value.rsplit_once('=') {
                        Some((m, n)) => (Some(m.strip_prefix("models/").unwrap_or(m)), n),
                        None => (None, value.as_str()),
                    };
                    let value: u32 = number(flag, n)?;
                    if value == 0 && flag != "--rpd" {
                        return Err(error(format!("{flag} must be at least 1")));
                    }
                    limits.push(Limit {
                        flag,
                        model: model.map(str::to_owned),
                        value,
                    });
                }
                "--minute" => config.minute = positive(flag, &value)?,
                "--day" => config.day = positive(flag, &value)?,
                "--slow-by" => config.faults.slow_by = duration(flag, &value)?,
                "--latency" => config.latency = duration(flag, &value)?,
                "--fault" => {
                    let (kind, rate) = value.split_once('=').ok_or_else(|| {
                        error(format!(
                            "--fault `{value}`: write KIND=RATE, such as 503=0.2"
                        ))
                    })?;
                    let rate: f64 = rate
                        .parse()
                        .ok()
                        .filter(|r: &f64| (0.0..=1.0).contains(r))
                        .ok_or_else(|| {
                            error(format!("--fault {kind}: the rate `{rate}` is not in 0..=1"))
                        })?;
                    let faults = &mut config.faults;
                    let slot = match kind {
                        "500" | "internal" => &mut faults.internal,
                        "503" | "overloaded" => &mut faults.overloaded,
                        "slow" => &mut faults.slow,
                        "drop" | "dropped" => &mut faults.dropped,
                        "garbage" => &mut faults.garbage,
                        "stream" | "stream_error" => &mut faults.stream_error,
                        _ => {
                            return Err(error(format!(
                                "--fault `{kind}`: the kinds are 500, 503, slow, drop, garbage and stream"
                            )));
                        }
                    };
                    *slot = rate;
                }
                "--seed" => config.seed = number(flag, &value)?,
                "--page-size" => {
                    config.page_size = number(flag, &value)?;
                    if config.page_size == 0 {
                        return Err(error("--page-size must be at least 1"));
                    }
                }
                "--max-connections" => {
                    config.server.max_connections = number(flag, &value)?;
                    if config.server.max_connections == 0 {
                        return Err(error("--max-connections must be at least 1"));
                    }
                }
                _ => unreachable!("every known flag is matched above"),
            }
        }
        if !keys.is_empty() {
            config.keys = keys;
        }
        // A key named in a project is accepted too.
        for key in config.projects.iter().flatten() {
            if !config.keys.contains(key) {
                config.keys.push(key.clone());
            }
        }
        if !models.is_empty() {
            config.models = models.into_iter().map(SimModel::new).collect();
        }
        for limit in limits {
            let mut matched = false;
            for model in &mut config.models {
                if limit.model.as_deref().is_some_and(|m| m != model.name) {
                    continue;
                }
                matched = true;
                match limit.flag {
                    "--rpm" => model.rpm = Some(limit.value),
                    "--tpm" => model.tpm = Some(limit.value),
                    "--rpd" => model.rpd = Some(limit.value),
                    _ => model.input_token_limit = limit.value,
                }
            }
            if !matched {
                let name = limit.model.unwrap_or_default();
                return Err(error(format!(
                    "{} {name}=…: `{name}` is not served; add it with --model {name}",
                    limit.flag
                )));
            }
        }
        Ok(CommandLine {
            host,
            port,
            config,
            help,
        })
    }
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, CommandLineError> {
    value.parse().map_err(|_| {
        error(format!(
            "{flag} `{value}` is not a whole number in the accepted range"
        ))
    })
}

fn duration(flag: &str, value: &str) -> Result<Duration, CommandLineError> {
    parse_duration(value).map_err(|_| {
        error(format!(
            "{flag} `{value}` is not a duration: write a number and a unit, such as 250ms, 2s or 1m"
        ))
    })
}

fn positive(flag: &str, value: &str) -> Result<Duration, CommandLineError> {
    let d = duration(flag, value)?;
    if d < Duration::from_millis(1) {
        return Err(error(format!("{flag} must be at least 1ms")));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<CommandLine, CommandLineError> {
        CommandLine::parse(args.iter().map(|s| (*s).to_owned()))
    }

    fn message(args: &[&str]) -> String {
        match parse(args) {
            Ok(parsed) => panic!("{args:?} parsed: {parsed:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn projects_group_keys_and_accept_them() {
        let parsed = parse(&["--project", "a1,a2", "--project=b1", "--key", "c1"]).unwrap();
        assert_eq!(
            parsed.config.projects,
            vec![
                vec!["a1".to_owned(), "a2".to_owned()],
                vec!["b1".to_owned()]
            ]
        );
        for key in ["a1", "a2", "b1", "c1"] {
            assert!(parsed.config.keys.iter().any(|k| k == key), "{key}");
        }
        assert!(parse(&["--project", "a1,,a2"]).is_err());
        assert!(parse(&["--project", "a 1"]).is_err());
    }

    #[test]
    fn every_flag_lands_in_the_config() {
        let parsed = parse(&[
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
        assert_eq!(parsed.port, 0);
        assert_eq!(parsed.host, std::net::IpAddr::from([127, 0, 0, 1]));
        let host = |h: &str| parse(&["--host", h]).map(|p| p.host.to_string());
        assert_eq!(host("0.0.0.0").as_deref(), Ok("0.0.0.0"));
        assert_eq!(host("::1").as_deref(), Ok("::1"));
        let c = &parsed.config;
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
        assert!(!parsed.help);
    }

    #[test]
    fn no_flags_is_the_default_simulator_on_8089() {
        let parsed = parse(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.port, 8089);
        assert_eq!(parsed.config.keys, [super::super::SIM_KEY]);
        assert!(parsed.config.models.len() >= 4);
        assert!(parse(&["-h"]).is_ok_and(|p| p.help));
    }

    #[test]
    fn every_bad_flag_is_a_clear_error() {
        let cases: &[(&[&str], &str)] = &[
            (&["--prot", "1"], "unknown argument `--prot`"),
            (&["serve"], "unknown argument `serve`"),
            (&["--port"], "--port needs a value"),
            (
                &["--host", "localhost"],
                "--host `localhost` is not an IP address (such as 127.0.0.1, 0.0.0.0 or ::1)",
            ),
            (&["--port", "70000"], "--port `70000` is not a whole number"),
            (&["--rpm", "0"], "--rpm must be at least 1"),
            (
                &["--tpm", "x=1"],
                "`x` is not served; add it with --model x",
            ),
            (&["--rpd", "-1"], "--rpd `-1`"),
            (&["--minute", "5"], "--minute `5` is not a duration"),
            (&["--day", "0s"], "--day must be at least 1ms"),
            (&["--fault", "503"], "write KIND=RATE"),
            (&["--fault", "418=0.1"], "the kinds are 500, 503"),
            (&["--fault", "503=1.5"], "the rate `1.5` is not in 0..=1"),
            (&["--key", ""], "--key needs a key"),
            (&["--model", "a/b"], "a model id has letters"),
            (&["--page-size", "0"], "--page-size must be at least 1"),
            (
                &["--max-connections", "0"],
                "--max-connections must be at least 1",
            ),
            (&["--seed", "x"], "--seed `x`"),
        ];
        for (args, expected) in cases {
            let got = message(args);
            assert!(got.contains(expected), "{args:?}: {got}");
        }
    }
}
