//! The `gemini-sim` command: it prints where it listens, serves what its flags say, stops
//! cleanly on SIGTERM, and refuses a bad flag with a clear message and exit code 2.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_gemini-sim");

/// Starts the command and returns it with the base URL it printed.
fn start(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://"), "{url}");
    (child, url)
}

#[tokio::test]
async fn host_picks_the_address_it_listens_on() {
    // 0.0.0.0 listens on every interface, so loopback reaches it too.
    let (mut child, url) = start(&["--host", "0.0.0.0", "--port", "0"]);
    assert!(url.starts_with("http://0.0.0.0:"), "{url}");
    let port = url.rsplit(':').next().unwrap();
    let answer = reqwest::get(format!(
        "http://127.0.0.1:{port}/v1beta/models?key=sim-key-0000000000000001"
    ))
    .await
    .unwrap();
    assert_eq!(answer.status(), 200);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn it_serves_its_flags_and_stops_cleanly_on_sigterm() {
    let (mut child, url) = start(&[
        "--port",
        "0",
        "--key",
        "cli-key-1",
        "--rpm",
        "gemini-2.5-flash=1",
        "--seed",
        "3",
    ]);
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "loopback by default: {url}"
    );
    let http = reqwest::Client::new();
    let generate = |key: &'static str| {
        http.post(format!(
            "{url}/v1beta/models/gemini-2.5-flash:generateContent"
        ))
        .header("x-goog-api-key", key)
        .body(r#"{"contents":[{"parts":[{"text":"hello"}]}]}"#)
        .send()
    };
    assert_eq!(generate("cli-key-1").await.unwrap().status(), 200);
    let limited = generate("cli-key-1").await.unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.text().await.unwrap().contains("RetryInfo"));
    assert_eq!(generate("other-key").await.unwrap().status(), 400);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut waited = None;
    for _ in 0..500 {
        if let Some(exit) = child.try_wait().unwrap() {
            waited = Some(exit);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let Some(exit) = waited else {
        child.kill().unwrap();
        panic!("gemini-sim did not stop on SIGTERM");
    };
    assert!(exit.success(), "{exit:?}");
    let mut rest = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut rest)
        .unwrap();
    assert!(rest.contains("shutting down"), "{rest}");
}

#[test]
fn a_bad_flag_is_refused_with_a_clear_message_and_exit_code_2() {
    for (args, expected) in [
        (&["--fault", "503=2"][..], "the rate `2` is not in 0..=1"),
        (&["--bogus"][..], "unexpected argument '--bogus'"),
        (
            &["--minute", "soon"][..],
            "invalid value 'soon' for '--minute <DURATION>': not a duration",
        ),
        (
            &["--tpm", "x=1"][..],
            "`x` is not served; add it with --model x",
        ),
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            (stderr.starts_with("gemini-sim: ") || stderr.starts_with("error: "))
                && stderr.contains(expected),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty());
    }
    let help = Command::new(BIN).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--fault <KIND=RATE>"));
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(BIN).args(["--port", &port]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
}
