//! The simulator's HTTP server under well-behaved and hostile clients, spoken to byte by byte
//! over real sockets (real clock; short timeouts where a timeout is the point). Each test
//! asserts on what the server answered and on its own counters (connections, tracked keys), and
//! waits for a counter rather than for a fixed time.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;
use steadfast_sim::{OTHER, SIM_KEY, ServerLimits, SimModel, SimStats, Simulator, SimulatorConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(config: SimulatorConfig) -> (Simulator, SocketAddr) {
    let sim = Simulator::start(config).await.unwrap();
    let addr = sim.local_addr();
    (sim, addr)
}

/// Sends `bytes` on a new connection and reads until the server closes it.
async fn exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(bytes).await.unwrap();
    read_to_close(&mut socket).await
}

async fn read_to_close(socket: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), socket.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits (at most 20 s) until `done` holds for the simulator's stats.
async fn until(sim: &Simulator, what: &str, done: impl Fn(&SimStats) -> bool) {
    for _ in 0..2000 {
        if done(&sim.stats()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}: never happened; stats {:?}", sim.stats());
}

fn get_models(close: bool) -> String {
    format!(
        "GET /v1beta/models HTTP/1.1\r\nHost: sim\r\nx-goog-api-key: {SIM_KEY}\r\n{}\r\n",
        if close { "Connection: close\r\n" } else { "" }
    )
}

fn count_tokens_head(extra: &str) -> String {
    format!(
        "POST /v1beta/models/gemini-2.5-flash:countTokens HTTP/1.1\r\nHost: sim\r\nx-goog-api-key: {SIM_KEY}\r\nContent-Type: application/json\r\n{extra}\r\n"
    )
}

#[tokio::test]
async fn pipelined_requests_on_one_kept_alive_connection_are_all_answered_in_order() {
    let (sim, addr) = start(SimulatorConfig::default()).await;
    let body = r#"{"contents":[{"parts":[{"text":"one two three"}]}]}"#;
    let pipelined = format!(
        "{}{}{body}{}",
        get_models(false),
        count_tokens_head(&format!("Content-Length: {}\r\n", body.len())),
        get_models(true)
    );
    let answer = exchange(addr, pipelined.as_bytes()).await;
    assert_eq!(answer.matches("HTTP/1.1 200 OK\r\n").count(), 3, "{answer}");
    let tokens = answer.find("\"totalTokens\":3").unwrap();
    assert!(
        answer[..tokens].matches("HTTP/1.1 200 OK").count() == 2,
        "{answer}"
    );
    let stats = sim.stats();
    assert_eq!(stats.connections_accepted, 1);
    assert_eq!(stats.requests, 3);
}

#[tokio::test]
async fn a_chunked_body_is_read_whole() {
    let (_sim, addr) = start(SimulatorConfig::default()).await;
    let body = r#"{"contents":[{"parts":[{"text":"a b c d e"}]}]}"#;
    let (first, second) = body.split_at(10);
    let request = format!(
        "{}{:x}\r\n{first}\r\n{:x}\r\n{second}\r\n0\r\n\r\n",
        count_tokens_head("Transfer-Encoding: chunked\r\nConnection: close\r\n"),
        first.len(),
        second.len()
    );
    let answer = exchange(addr, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("\"totalTokens\":5"), "{answer}");
}

#[tokio::test]
async fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let (_sim, addr) = start(SimulatorConfig::default()).await;
    let body = r#"{"contents":[{"parts":[{"text":"x y"}]}]}"#;
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let head = count_tokens_head(&format!(
        "Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n",
        body.len()
    ));
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut interim = [0u8; 25];
    socket.read_exact(&mut interim).await.unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    socket.write_all(body.as_bytes()).await.unwrap();
    let answer = read_to_close(&mut socket).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("\"totalTokens\":2"), "{answer}");
}

#[tokio::test]
async fn oversized_requests_get_414_431_and_413_and_the_server_keeps_serving() {
    let (sim, addr) = start(SimulatorConfig {
        server: ServerLimits {
            max_body: 1024,
            ..ServerLimits::default()
        },
        ..SimulatorConfig::default()
    })
    .await;
    // Request targets over the 16 KiB limit, and over hyper's own 64 KiB limit.
    for len in [20_000, 60_000, 100_000] {
        let line = format!(
            "GET /v1beta/models?pageToken={} HTTP/1.1\r\n",
            "a".repeat(len)
        );
        let answer = exchange(addr, format!("{line}Host: sim\r\n\r\n").as_bytes()).await;
        assert!(
            answer.starts_with("HTTP/1.1 414 URI Too Long\r\n"),
            "{len}: {answer}"
        );
    }
    // A header block over 32 KiB.
    let answer = exchange(
        addr,
        format!(
            "GET /v1beta/models HTTP/1.1\r\nHost: sim\r\nX-Junk: {}\r\n\r\n",
            "j".repeat(40_000)
        )
        .as_bytes(),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{answer}"
    );
    // A head over hyper's 128 KiB read buffer.
    let answer = exchange(
        addr,
        format!(
            "GET /v1beta/models HTTP/1.1\r\nX-Junk: {}\r\n\r\n",
            "j".repeat(300_000)
        )
        .as_bytes(),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{answer}"
    );
    // A body announced too large is refused before it is sent.
    let answer = exchange(
        addr,
        count_tokens_head("Content-Length: 30000000\r\nExpect: 100-continue\r\n").as_bytes(),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
        "{answer}"
    );
    assert!(!answer.contains("100 Continue"), "{answer}");
    // A chunked body that grows past the limit.
    let chunk = "z".repeat(900);
    let request = format!(
        "{}{:x}\r\n{chunk}\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        count_tokens_head("Transfer-Encoding: chunked\r\n"),
        chunk.len(),
        chunk.len()
    );
    let answer = exchange(addr, request.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
        "{answer}"
    );
    // Still serving.
    let answer = exchange(addr, get_models(true).as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    until(&sim, "every connection closed", |s| s.connections_open == 0).await;
}

#[tokio::test]
async fn statuses_carry_their_canonical_reason_phrase() {
    let (_sim, addr) = start(SimulatorConfig::default()).await;
    let cases = [
        ("[sim:deadline]", "504 Gateway Timeout"),
        ("[sim:exhausted]", "429 Too Many Requests"),
        ("[sim:permission]", "403 Forbidden"),
        ("[sim:invalid]", "400 Bad Request"),
    ];
    for (prompt, status) in cases {
        let body = format!(r#"{{"contents":[{{"parts":[{{"text":"{prompt}"}}]}}]}}"#);
        let request = format!(
            "POST /v1beta/models/gemini-2.5-flash:generateContent HTTP/1.1\r\nHost: sim\r\nx-goog-api-key: {SIM_KEY}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let answer = exchange(addr, request.as_bytes()).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}\r\n")),
            "{prompt}: {answer}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed_while_others_are_served() {
    let (sim, addr) = start(SimulatorConfig {
        server: ServerLimits {
            header_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_secs(60),
            ..ServerLimits::default()
        },
        ..SimulatorConfig::default()
    })
    .await;
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        socket
            .write_all(b"POST /v1beta/models/gemini-2.5-flash:generateContent HTTP/1.1\r\nHost: s")
            .await
            .unwrap();
        slow.push(socket);
    }
    until(&sim, "200 slow connections open", |s| {
        s.connections_open >= 200
    })
    .await;
    // A well-behaved client is served meanwhile.
    let answer = exchange(addr, get_models(true).as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    // Dribbling one more byte does not restart the clock.
    for socket in &mut slow {
        let _ = socket.write_all(b"i").await;
    }
    until(&sim, "the slow connections closed", |s| {
        s.connections_open == 0 && s.connections_timed_out == 200
    })
    .await;
    for mut socket in slow {
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "the server closed its side");
    }
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let (sim, addr) = start(SimulatorConfig {
        server: ServerLimits {
            idle_timeout: Duration::from_millis(200),
            ..ServerLimits::default()
        },
        ..SimulatorConfig::default()
    })
    .await;
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(get_models(false).as_bytes())
        .await
        .unwrap();
    let answer = read_to_close(&mut socket).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(!answer.to_ascii_lowercase().contains("connection: close"));
    let stats = sim.stats();
    assert_eq!(
        (stats.connections_open, stats.connections_timed_out),
        (0, 1)
    );
}

#[tokio::test]
async fn a_client_that_stops_reading_its_stream_is_disconnected() {
    let (sim, addr) = start(SimulatorConfig {
        models: vec![SimModel {
            input_token_limit: u32::MAX,
            ..SimModel::new("gemini-2.5-flash")
        }],
        server: ServerLimits {
            idle_timeout: Duration::from_millis(300),
            body_timeout: Duration::from_millis(300),
            ..ServerLimits::default()
        },
        ..SimulatorConfig::default()
    })
    .await;
    // An answer of ~8 MB (it echoes the prompt), more than the socket buffers hold, and a
    // client with a small receive buffer that reads nothing.
    let word = "w".repeat(99);
    let body = format!(
        r#"{{"contents":[{{"parts":[{{"text":"{}"}}]}}]}}"#,
        format!("{word} ").repeat(80_000)
    );
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let head = format!(
        "POST /v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse HTTP/1.1\r\nHost: sim\r\nx-goog-api-key: {SIM_KEY}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    until(&sim, "the stalled connection closed", |s| {
        s.connections_open == 0 && s.connections_timed_out == 1
    })
    .await;
    assert_eq!(sim.stats().answered, 1);
    drop(stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_connections_are_all_served() {
    let (sim, addr) = start(SimulatorConfig::default()).await;
    let mut sockets = Vec::new();
    for _ in 0..500 {
        sockets.push(TcpStream::connect(addr).await.unwrap());
    }
    until(&sim, "500 connections open", |s| s.connections_open == 500).await;
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, mut socket)| {
            tokio::spawn(async move {
                let body = format!(r#"{{"contents":[{{"parts":[{{"text":"question {i}"}}]}}]}}"#);
                let request = format!(
                    "POST /v1beta/models/gemini-2.5-flash:generateContent HTTP/1.1\r\nHost: sim\r\nx-goog-api-key: {SIM_KEY}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(request.as_bytes()).await.unwrap();
                read_to_close(&mut socket).await
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let answer = task.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{i}: {answer}");
        assert!(answer.contains(&format!("question {i}")), "{i}: {answer}");
    }
    until(&sim, "every connection closed", |s| s.connections_open == 0).await;
    let stats = sim.stats();
    assert_eq!(stats.answered, 500);
    assert_eq!(stats.connections_refused, 0);
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_and_counted() {
    let (sim, addr) = start(SimulatorConfig {
        server: ServerLimits {
            max_connections: 4,
            ..ServerLimits::default()
        },
        ..SimulatorConfig::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    until(&sim, "4 connections open", |s| s.connections_open == 4).await;
    let refused = exchange(addr, get_models(true).as_bytes()).await;
    assert_eq!(refused, "", "closed without an answer");
    assert_eq!(sim.stats().connections_refused, 1);
    drop(held.pop());
    until(&sim, "a slot freed", |s| s.connections_open == 3).await;
    let answer = exchange(addr, get_models(true).as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
}

#[tokio::test]
async fn abrupt_closes_mid_body_and_mid_stream_leave_nothing_behind() {
    let (sim, addr) = start(SimulatorConfig {
        stream_pause: Duration::from_millis(30),
        ..SimulatorConfig::default()
    })
    .await;
    // Mid-body: 10 of the 1000 announced bytes, then gone.
    for _ in 0..20 {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        let head = count_tokens_head("Content-Length: 1000\r\n");
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(b"{\"content").await.unwrap();
        drop(socket);
    }
    // Mid-stream: the first event read, then gone.
    let body = format!(
        r#"{{"contents":[{{"parts":[{{"text":"{}"}}]}}]}}"#,
        "word ".repeat(50)
    );
    for _ in 0..20 {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "POST /v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse HTTP/1.1\r\nHost: sim\r\nx-goog-api-key: {SIM_KEY}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut first = vec![0u8; 256];
        let n = socket.read(&mut first).await.unwrap();
        assert!(first[..n].starts_with(b"HTTP/1.1 200 OK\r\n"));
        drop(socket);
    }
    until(&sim, "every connection closed", |s| s.connections_open == 0).await;
    let answer = exchange(addr, get_models(true).as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert_eq!(sim.stats().answered, 20, "the streams started were counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_unique_junk_keys_are_counted_in_bounded_state() {
    let (sim, addr) = start(SimulatorConfig::default()).await;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/v1beta/models/gemini-2.5-flash:generateContent");
    for i in 0..1000 {
        // Long junk keys (up to 30 KB), each different.
        let key = format!(
            "junk-{i}-{}",
            "k".repeat(if i % 50 == 0 { 30_000 } else { 40 })
        );
        let answer = client
            .post(&url)
            .header("x-goog-api-key", key)
            .body(r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400);
        let text = answer.text().await.unwrap();
        assert!(text.contains("API_KEY_INVALID"), "{text}");
    }
    let stats = sim.stats();
    assert_eq!(stats.requests, 1000);
    assert_eq!(
        stats.by_key.keys().collect::<Vec<_>>(),
        [OTHER],
        "every unknown key shares one entry"
    );
    assert_eq!(stats.by_key[OTHER], 1000);
    assert_eq!(
        stats.quota_records, 0,
        "no quota is kept for a key never admitted"
    );
    // Junk model names are bounded the same way.
    for i in 0..100 {
        let answer = client
            .post(format!(
                "http://{addr}/v1beta/models/junk-{i}:generateContent"
            ))
            .header("x-goog-api-key", SIM_KEY)
            .body(r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 404);
    }
    let stats = sim.stats();
    assert_eq!(
        stats.by_model.keys().collect::<Vec<_>>(),
        [OTHER],
        "every unknown model shares one entry"
    );
    assert_eq!(stats.by_model[OTHER], 100);
}

#[tokio::test]
async fn dropping_the_simulator_finishes_the_stream_in_flight_then_stops_listening() {
    let (sim, addr) = start(SimulatorConfig {
        stream_pause: Duration::from_millis(40),
        ..SimulatorConfig::default()
    })
    .await;
    let body = format!(
        r#"{{"contents":[{{"parts":[{{"text":"{}"}}]}}]}}"#,
        "word ".repeat(20)
    );
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse HTTP/1.1\r\nHost: sim\r\nx-goog-api-key: {SIM_KEY}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut first = vec![0u8; 64];
    let n = socket.read(&mut first).await.unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.1 200 OK\r\n"));
    drop(sim);
    // The stream in flight ends normally; then the connection closes.
    let rest = read_to_close(&mut socket).await;
    assert!(rest.contains("\"finishReason\":\"STOP\""), "{rest}");
    // Nobody listens any more.
    let mut refused = false;
    for _ in 0..200 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the listener closed");
}

#[tokio::test]
async fn shutdown_waits_for_every_connection_to_close() {
    let (sim, addr) = start(SimulatorConfig::default()).await;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(get_models(false).as_bytes()).await.unwrap();
    let mut buf = [0u8; 17];
    idle.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200 OK\r\n");
    tokio::time::timeout(Duration::from_secs(10), sim.shutdown())
        .await
        .unwrap();
    // The kept-alive connection was closed by the shutdown.
    let rest = read_to_close(&mut idle).await;
    assert!(rest.contains("models/"), "{rest}");
}
