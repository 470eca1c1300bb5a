//! What the relay's tests share: a relay key, a prompt, a relay in front of an upstream.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use steadfast_relay::{Config, Relay, RelayKeyConfig};
use steadfast_sim::Simulator;

/// The relay key of the tests (made up).
pub(crate) const RELAY_KEY: &str = "relay-secret-not-real-0001";
/// A prompt with a field no version of ours knows.
pub(crate) const PROMPT: &str =
    r#"{"contents":[{"parts":[{"text":"hello there"}]}],"fieldOfTomorrow":{"kept":true}}"#;

/// The relay key `tests`.
pub(crate) fn relay_key() -> RelayKeyConfig {
    RelayKeyConfig::new("tests", RELAY_KEY)
}

/// A relay on a free port in front of `upstream` with `keys`, each a project of its own.
pub(crate) async fn relay_in_front_of(upstream: String, keys: Vec<String>) -> Relay {
    Relay::start(Config {
        port: 0,
        upstream,
        keys,
        relay_keys: vec![relay_key()],
        ..Config::default()
    })
    .await
    .unwrap()
}

/// The configuration of a relay on a free port in front of `sim` (its keys, each a project of
/// its own), with the relay key `tests`.
pub(crate) fn config_for(sim: &Simulator) -> Config {
    Config {
        port: 0,
        upstream: sim.base_url(),
        keys: sim.keys().to_vec(),
        relay_keys: vec![relay_key()],
        ..Config::default()
    }
}

/// A relay in front of `sim`, its configuration ([`config_for`]) changed by `change`.
pub(crate) async fn relay_for(sim: &Simulator, change: impl FnOnce(&mut Config)) -> Relay {
    let mut config = config_for(sim);
    change(&mut config);
    Relay::start(config).await.unwrap()
}

/// Starts a resumable upload of `size` bytes of text through the relay at `base`: the project
/// that took it and the session's URL (on the relay).
pub(crate) async fn start_upload(base: &str, size: usize) -> (String, String) {
    let start = reqwest::Client::new()
        .post(format!("{base}/upload/v1beta/files"))
        .header("x-goog-api-key", RELAY_KEY)
        .header("x-goog-upload-protocol", "resumable")
        .header("x-goog-upload-command", "start")
        .header("x-goog-upload-header-content-length", size.to_string())
        .header("x-goog-upload-header-content-type", "text/plain")
        .header("content-type", "application/json")
        .body(r#"{"file":{"display_name":"notes"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 200);
    let header = |name: &str| start.headers()[name].to_str().unwrap().to_owned();
    (header("x-steadfast-project"), header("x-goog-upload-url"))
}

/// A simulator serving `gemini-2.5-flash` with `rpd` requests a day per project, and
/// `gemini-2.0-flash` without limits.
pub(crate) async fn sim_with_daily(rpd: u32) -> Simulator {
    let mut daily = steadfast_sim::SimModel::new("gemini-2.5-flash");
    daily.rpd = Some(rpd);
    Simulator::start(steadfast_sim::SimulatorConfig {
        models: vec![daily, steadfast_sim::SimModel::new("gemini-2.0-flash")],
        ..steadfast_sim::SimulatorConfig::default()
    })
    .await
    .unwrap()
}

/// The relay's configured limits: `rpm` requests a minute on `gemini-2.5-flash`.
pub(crate) fn flash_rpm(
    rpm: u32,
) -> std::collections::BTreeMap<String, steadfast_relay::LimitsConfig> {
    [(
        "gemini-2.5-flash".to_owned(),
        steadfast_relay::LimitsConfig {
            rpm: Some(rpm),
            ..Default::default()
        },
    )]
    .into()
}

/// A folder of its own under the system's temporary one, empty.
pub(crate) fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("relay-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A POST of `body` with `key` in `x-goog-api-key`.
pub(crate) async fn post(url: String, key: Option<&str>, body: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(url).body(body.to_owned());
    if let Some(key) = key {
        request = request.header("x-goog-api-key", key);
    }
    request.send().await.unwrap()
}

/// A plain prompt.
pub(crate) const PROMPT_PLAIN: &str = r#"{"contents":[{"parts":[{"text":"hello there"}]}]}"#;

/// The `gemini-relay` command, killed when dropped.
pub(crate) struct RelayProcess(pub(crate) Child);

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `gemini-relay` with `args` and reads its address from its first line.
pub(crate) fn start_command(
    args: &[&str],
) -> (RelayProcess, String, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gemini-relay"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    for out in [
        Box::new(stdout) as Box<dyn std::io::Read + Send>,
        Box::new(stderr),
    ] {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
    }
    let first = received.recv_timeout(Duration::from_secs(30)).unwrap();
    let base = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    (RelayProcess(child), base, received)
}

/// Sends signal `name` (`HUP`, `TERM`) to the process.
pub(crate) fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for a line containing `needle`.
pub(crate) fn line_with(lines: &std::sync::mpsc::Receiver<String>, needle: &str) -> String {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no line with {needle:?}"));
        if line.contains(needle) {
            return line;
        }
    }
}
