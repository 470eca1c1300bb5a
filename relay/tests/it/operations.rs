//! Operations: a reload under load loses no request; the command reloads on SIGHUP and when
//! its file changes; SIGTERM lets a stream in flight finish.

use crate::common::*;
use std::process::Command;
use std::time::Duration;
use steadfast_relay::{Config, Relay, RelayKeyConfig};
use steadfast_sim::{Simulator, SimulatorConfig};

const NEW_KEY: &str = "relay-secret-not-real-0003";

fn url(base: &str) -> String {
    format!("{base}/v1beta/models/gemini-2.5-flash:generateContent")
}

#[tokio::test]
async fn a_reload_under_load_loses_no_request() {
    let sim = Simulator::start(SimulatorConfig {
        latency: Duration::from_millis(5),
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let config = config_for(&sim);
    let relay = Relay::start(config.clone()).await.unwrap();
    let base = relay.base_url();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (base, stop) = (base.clone(), stop.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    statuses.push(
                        post(url(&base), Some(RELAY_KEY), PROMPT_PLAIN)
                            .await
                            .status()
                            .as_u16(),
                    );
                }
                statuses
            })
        })
        .collect();
    // Ten reloads: a new relay key each time, and every other time new limits and a new
    // client (the fallback changes), while requests keep coming.
    for i in 0..10 {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let mut next = config.clone();
        next.relay_keys.push(RelayKeyConfig::new("new", NEW_KEY));
        if i % 2 == 0 {
            next.fallback = vec!["gemini-2.0-flash".into()];
        }
        // Half of them on the blocking threads, as the command and the admin API reload.
        if i % 2 == 1 {
            relay.reload_in_background(move || Ok(next)).await.unwrap();
        } else {
            relay.reload(next).unwrap();
        }
    }
    // A bad configuration is refused and leaves the running one in place.
    let mut bad = config.clone();
    bad.relay_keys.clear();
    assert!(relay.reload(bad).is_err());
    tokio::time::sleep(Duration::from_millis(30)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut all = Vec::new();
    for task in load {
        all.extend(task.await.unwrap());
    }
    assert!(all.len() > 20, "{} requests", all.len());
    assert!(
        all.iter().all(|s| *s == 200),
        "every request answered: {all:?}"
    );
    assert_eq!(sim.stats().generate_requests, all.len() as u64);
    // The new key works; removing it refuses it.
    assert_eq!(
        post(url(&base), Some(NEW_KEY), PROMPT_PLAIN).await.status(),
        200
    );
    relay.reload(config).unwrap();
    assert_eq!(
        post(url(&base), Some(NEW_KEY), PROMPT_PLAIN).await.status(),
        400
    );
}

/// With `threads = 2` in its file, so that the multi-thread runtime the command then builds
/// serves a load, reloads, watches its file and ends on SIGTERM like the default
/// current-thread one (the other tests of the command).
/// Regression (found by a review): two reloads at once (SIGHUP and `POST /admin/reload`, say)
/// both started from the same configuration and the slower one was put in use last, though it
/// had read the older file. Reloads now take turns, each reading when its turn comes.
#[tokio::test]
async fn concurrent_reloads_leave_the_last_read_in_use() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let config = config_for(&sim);
    let relay = std::sync::Arc::new(Relay::start(config.clone()).await.unwrap());
    let base = relay.base_url();
    const FIRST: &str = "relay-secret-not-real-0005";
    const SECOND: &str = "relay-secret-not-real-0006";
    let with = |name: &str, secret: &str| {
        let mut next = config.clone();
        next.relay_keys.push(RelayKeyConfig::new(name, secret));
        next
    };
    // The first reload reads first; its build is slow (the pause stands for reading the
    // system's certificates or opening the log).
    let (slow, first) = (relay.clone(), with("first", FIRST));
    let started = std::sync::Arc::new(std::sync::Barrier::new(2));
    let reading = started.clone();
    let one = tokio::spawn(async move {
        slow.reload_in_background(move || {
            reading.wait();
            std::thread::sleep(Duration::from_millis(200));
            Ok(first)
        })
        .await
    });
    tokio::task::spawn_blocking(move || started.wait())
        .await
        .unwrap();
    // The second starts while the first is reading, and reads the newer configuration.
    let second = with("second", SECOND);
    relay
        .reload_in_background(move || Ok(second))
        .await
        .unwrap();
    one.await.unwrap().unwrap();
    assert_eq!(
        post(url(&base), Some(SECOND), PROMPT_PLAIN).await.status(),
        200,
        "the configuration read last is the one in use"
    );
    assert_eq!(
        post(url(&base), Some(FIRST), PROMPT_PLAIN).await.status(),
        400
    );
}

/// Regression (found by a probe): once the upstream had refused the pool's keys, a reload
/// with the same keys kept the client and its refused keys: every request stayed a 503 until
/// a restart. A reload now tries them again.
#[tokio::test]
async fn a_reload_tries_refused_keys_again() {
    let refusing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = refusing.clone();
    let upstream = steadfast_testkit::raw::Raw::start(move |_, _| {
        let body: &[u8] = if flag.load(std::sync::atomic::Ordering::SeqCst) {
            br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#
        } else {
            br#"{"candidates":[{"content":{"parts":[{"text":"hi"}]}}]}"#
        };
        let status = if body.starts_with(br#"{"error""#) {
            "400 Bad Request"
        } else {
            "200 OK"
        };
        vec![steadfast_testkit::raw::write(steadfast_testkit::raw::answer(
            status, "", body,
        ))]
    })
    .await;
    let config = Config {
        port: 0,
        upstream: upstream.url.clone(),
        keys: vec!["upstream-key-not-real-0007".into()],
        relay_keys: vec![relay_key()],
        ..Config::default()
    };
    let relay = Relay::start(config.clone()).await.unwrap();
    let base = relay.base_url();
    assert_eq!(
        post(url(&base), Some(RELAY_KEY), PROMPT_PLAIN)
            .await
            .status(),
        503,
        "the pool's only key refused"
    );
    // The key is mended upstream; without a reload it stays out of the pool.
    refusing.store(false, std::sync::atomic::Ordering::SeqCst);
    let sent = upstream.seen().len();
    assert_eq!(
        post(url(&base), Some(RELAY_KEY), PROMPT_PLAIN)
            .await
            .status(),
        503
    );
    assert_eq!(upstream.seen().len(), sent, "a refused key is not tried");
    relay.reload(config).unwrap();
    assert_eq!(
        post(url(&base), Some(RELAY_KEY), PROMPT_PLAIN)
            .await
            .status(),
        200
    );
}

/// Regression (found by a probe): `threads = 0` in the file panicked while the runtime was
/// built, before the configuration was checked. It is the configuration's clear error now.
#[test]
fn threads_out_of_range_are_an_error_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("relay-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("relay.toml");
    for threads in ["0", "5000"] {
        std::fs::write(
            &file,
            format!("threads = {threads}\nkeys = [\"upstream-key-not-real-0001\"]\n[[relay_keys]]\nname = \"me\"\nsecret = \"{RELAY_KEY}\"\n"),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_gemini-relay"))
            .args(["--config", file.to_str().unwrap()])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{said}");
        assert!(
            said.contains("threads") && !said.contains("panicked"),
            "{said}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `POST /admin/reload` (untested before): reads the configuration from the source the
/// embedder gave, in the background; a source that fails or a configuration that does not
/// check is a 422 that leaves the running one; no source is a 409; the admin token is needed.
#[tokio::test]
async fn the_admin_api_reloads_from_its_source() {
    const ADMIN: &str = "admin-token-not-real-000000002";
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let mut config = config_for(&sim);
    config.admin_token = Some(ADMIN.into());
    let relay = Relay::start(config.clone()).await.unwrap();
    let base = relay.base_url();
    let reload = |token: Option<&'static str>| {
        let base = base.clone();
        async move {
            let mut request = reqwest::Client::new().post(format!("{base}/admin/reload"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.text().await.unwrap())
        }
    };
    let (status, body) = reload(Some(ADMIN)).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("no configuration file"), "{body}");
    // The source: the new key while `good` says so, a broken file otherwise.
    let good = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(1));
    let (source_config, flag) = (config.clone(), good.clone());
    relay.reload_from(
        move || match flag.load(std::sync::atomic::Ordering::SeqCst) {
            1 => {
                let mut next = source_config.clone();
                next.relay_keys.push(RelayKeyConfig::new("new", NEW_KEY));
                Ok(next)
            }
            2 => {
                let mut bad = source_config.clone();
                bad.relay_keys.clear();
                Ok(bad)
            }
            _ => Err("line 1: not a configuration".into()),
        },
    );
    for token in [None, Some("not-the-admin-token-000000")] {
        assert_eq!(reload(token).await.0, 401);
    }
    assert_eq!(
        post(url(&base), Some(NEW_KEY), PROMPT_PLAIN).await.status(),
        400,
        "no reload yet"
    );
    let (status, body) = reload(Some(ADMIN)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""reloaded":true"#), "{body}");
    assert_eq!(
        post(url(&base), Some(NEW_KEY), PROMPT_PLAIN).await.status(),
        200
    );
    for (flag, says) in [(2, "relay"), (0, "not a configuration")] {
        good.store(flag, std::sync::atomic::Ordering::SeqCst);
        let (status, body) = reload(Some(ADMIN)).await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body.contains(r#""reloaded":false"#) && body.contains(says),
            "{body}"
        );
        assert!(!body.contains(ADMIN) && !body.contains(RELAY_KEY), "{body}");
        // The running configuration stays.
        assert_eq!(
            post(url(&base), Some(NEW_KEY), PROMPT_PLAIN).await.status(),
            200
        );
    }
    relay.shutdown().await;
}

#[tokio::test]
async fn the_command_reloads_on_sighup_and_when_its_file_changes() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let dir = std::env::temp_dir().join(format!("relay-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("relay.toml");
    let write = |extra: &str| {
        std::fs::write(
            &file,
            format!(
                "port = 0\nthreads = 2\nupstream = \"{}\"\nkeys = [\"{}\"]\n[[relay_keys]]\nname = \"tests\"\nsecret = \"{RELAY_KEY}\"\n{extra}",
                sim.base_url(),
                sim.keys()[0]
            ),
        )
        .unwrap();
    };
    write("");
    let (command, base, lines) = start_command(&["--config", file.to_str().unwrap()]);
    assert_eq!(
        post(url(&base), Some(NEW_KEY), PROMPT_PLAIN).await.status(),
        400
    );
    // A new key in the file, then SIGHUP, while requests keep coming: none is lost.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (base, stop) = (base.clone(), stop.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let answer = post(url(&base), Some(RELAY_KEY), PROMPT_PLAIN).await;
                    statuses.push(answer.status().as_u16());
                }
                statuses
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    write(&format!(
        "[[relay_keys]]\nname = \"new\"\nsecret = \"{NEW_KEY}\"\n"
    ));
    signal(&command.0, "HUP");
    line_with(&lines, "reloaded");
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut all = Vec::new();
    for task in load {
        all.extend(task.await.unwrap());
    }
    assert!(all.len() > 8 && all.iter().all(|s| *s == 200), "{all:?}");
    assert_eq!(
        post(url(&base), Some(NEW_KEY), PROMPT_PLAIN).await.status(),
        200
    );
    // A broken file: said, and the running configuration stays.
    std::fs::write(&file, "port = \"not a number\"").unwrap();
    signal(&command.0, "HUP");
    line_with(&lines, "not reloaded");
    assert_eq!(
        post(url(&base), Some(NEW_KEY), PROMPT_PLAIN).await.status(),
        200
    );
    // The file changes again, without a signal: read within the 2 s check.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    write("");
    line_with(&lines, "the file changed");
    assert_eq!(
        post(url(&base), Some(NEW_KEY), PROMPT_PLAIN).await.status(),
        400
    );
    assert_eq!(
        post(url(&base), Some(RELAY_KEY), PROMPT_PLAIN)
            .await
            .status(),
        200
    );
    signal(&command.0, "TERM");
    let mut command = command;
    let status = command.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sighup_ends_nothing_and_sigterm_lets_a_stream_in_flight_finish() {
    let sim = Simulator::start(SimulatorConfig {
        stream_pause: Duration::from_millis(100),
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let relay_key = format!("tests={RELAY_KEY}");
    let (mut command, base, lines) = start_command(&[
        "--port",
        "0",
        "--upstream",
        &sim.base_url(),
        "--key",
        &sim.keys()[0],
        "--relay-key",
        &relay_key,
    ]);
    let long = "word ".repeat(60);
    let mut stream = post(
        format!("{base}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"),
        Some(RELAY_KEY),
        &format!(
            r#"{{"contents":[{{"parts":[{{"text":"{}"}}]}}]}}"#,
            long.trim_end()
        ),
    )
    .await;
    assert_eq!(stream.status(), 200);
    let mut text = String::from_utf8(stream.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    // A SIGHUP without a config file changes nothing and ends nothing (its default action
    // would end the process).
    signal(&command.0, "HUP");
    line_with(&lines, "no --config file");
    signal(&command.0, "TERM");
    line_with(&lines, "shutting down");
    // New connections are refused once the listener is closed.
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
            .await
            .is_err()
        {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "the listener still accepts after SIGTERM");
    // The stream in flight runs to its end.
    while let Some(chunk) = stream.chunk().await.unwrap() {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(
        text.contains("\"finishReason\": \"STOP\"") || text.contains("\"finishReason\":\"STOP\""),
        "{text}"
    );
    assert!(!text.contains("\"error\""), "{text}");
    let status = command.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// Regression (found by a review): a mistyped `--relay-key` and a config file with a mistake
/// printed the secret in their error (clap quoted the value; toml quoted the line).
#[test]
fn a_mistaken_flag_or_file_never_prints_the_secret_it_holds() {
    let secret = "relay-secret-not-real-0042";
    let out = Command::new(env!("CARGO_BIN_EXE_gemini-relay"))
        .args([
            "--key",
            "upstream-key-not-real-0001",
            "--relay-key",
            &format!("me:{secret}"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("NAME=SECRET") && !said.contains(secret),
        "{said}"
    );
    let dir = std::env::temp_dir().join(format!("relay-bad-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("relay.toml");
    std::fs::write(&file, format!("keys = [\"upstream-key-not-real-0001\"]\n[[relay_keys]]\nname = \"me\"\nsecert = \"{secret}\"\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gemini-relay"))
        .args(["--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("line 4") && !said.contains(secret), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}
