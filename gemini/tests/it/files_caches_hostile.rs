//! The Files API, cachedContents, the `extra` round trips and the base64 helpers, used from
//! outside as a demanding user would: odd sizes and names, limits, paging, TTL edge cases,
//! hostile JSON, key secrecy. Each test asserts what a user should be able to rely on; several
//! pin defects found by a probe of this surface (a huge TTL that panicked the simulator, a
//! repeated page token that listed forever, TTLs past `google.protobuf.Duration` sent as is,
//! answers that did not round-trip, `fileData` URIs of other hosts resolved to local files, a
//! base URL with a query accepted).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::SimClient;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use steadfast_gemini::types::{
    Blob, CachedContent, Content, CountTokensRequest, GenerateContentRequest,
    GenerateContentResponse, MAX_PROTO_DURATION, Part, duration_string,
};
use steadfast_gemini::{Client, ClientPolicy, ErrorKind};
use steadfast_sim::{CacheLimits, FileLimits, SIM_KEY, Simulator, SimulatorConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const MODEL: &str = "gemini-2.5-flash";
/// A made-up key shaped like a Google one (never a real credential).
const KEY: &str = concat!("AIza", "SyProbeProbeProbeProbeProbeProbe12345");

fn fast() -> ClientPolicy {
    crate::common::fast().retry_with(|r| r.attempts(3))
}

fn prompt(parts: Vec<Part>) -> GenerateContentRequest {
    GenerateContentRequest {
        contents: vec![Content {
            role: Some("user".into()),
            parts,
            ..Content::default()
        }],
        ..GenerateContentRequest::default()
    }
}

/// A simulator with small caches allowed (min 1 token).
async fn sim() -> Simulator {
    Simulator::start(SimulatorConfig {
        caches: CacheLimits {
            min_tokens: Some(1),
            ..CacheLimits::default()
        },
        ..SimulatorConfig::default()
    })
    .await
    .unwrap()
}

fn cache(ttl: Option<&str>) -> CachedContent {
    let mut c = CachedContent::new(MODEL, vec![Content::user("a cached document of words")]);
    c.ttl = ttl.map(str::to_owned);
    c
}

// ---------------------------------------------------------------------------------------------
// Uploads
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_zero_byte_upload_is_a_file_of_size_zero() {
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    let file = client
        .upload_file("text/plain", Vec::<u8>::new(), None)
        .await
        .unwrap();
    assert_eq!(file.size_bytes, Some(0));
    assert_eq!(client.get_file(&file.name).await.unwrap(), file);
    let answer = client
        .generate_content(MODEL, &prompt(vec![file.part(), Part::text("hi")]))
        .await
        .unwrap();
    assert_eq!(answer.usage_metadata.unwrap().prompt_token_count, Some(1));
}

#[tokio::test]
async fn uploads_of_exactly_one_chunk_and_one_chunk_plus_one_byte() {
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    for size in [8 * 1024 * 1024, 8 * 1024 * 1024 + 1, 8 * 1024 * 1024 - 1] {
        let bytes: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
        let file = client
            .upload_file("application/octet-stream", bytes, None)
            .await
            .unwrap_or_else(|e| panic!("{size}: {e}"));
        assert_eq!(file.size_bytes, Some(size as u64), "{size}");
        client.delete_file(&file.name).await.unwrap();
    }
}

#[tokio::test]
async fn a_text_file_of_non_utf8_bytes_can_be_used_in_a_prompt() {
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    let file = client
        .upload_file(
            "text/plain; charset=latin1",
            vec![0xff, 0xfe, b' ', 0xc3, 0x28, b' ', b'o', b'k'],
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        file.mime_type.as_deref(),
        Some("text/plain; charset=latin1")
    );
    assert_eq!(file.size_bytes, Some(8));
    let answer = client
        .generate_content(MODEL, &prompt(vec![file.part(), Part::text("read")]))
        .await
        .unwrap();
    assert!(answer.usage_metadata.unwrap().prompt_token_count.unwrap() >= 2);
}

#[tokio::test]
async fn display_names_with_quotes_newlines_and_unicode_come_back_unchanged() {
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    for name in [
        "\"quoted\" 'single' \\back\\slash",
        "line one\nline two\r\n\ttab",
        "naïve café — 日本語 🦀",
        "",
        "nul\u{0}byte",
        "{\"file\": {\"name\": \"files/injected\"}}",
    ] {
        let file = client
            .upload_file("text/plain", b"x".to_vec(), Some(name))
            .await
            .unwrap_or_else(|e| panic!("{name:?}: {e}"));
        assert_eq!(file.display_name.as_deref(), Some(name));
        assert_ne!(file.name, "files/injected");
        let again = client.get_file(&file.name).await.unwrap();
        assert_eq!(again.display_name.as_deref(), Some(name));
    }
    // 512 characters (not bytes) is the limit.
    let long: String = "é".repeat(512);
    assert!(
        client
            .upload_file("text/plain", b"x".to_vec(), Some(&long))
            .await
            .is_ok()
    );
    let e = client
        .upload_file("text/plain", b"x".to_vec(), Some(&format!("{long}é")))
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::InvalidArgument, "{e}");
}

#[tokio::test]
async fn bad_mime_types_are_configuration_errors_and_nothing_is_sent() {
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    let before = sim.stats().requests;
    for mime in ["", "   ", "tëxt/plain", "text/plain\u{7f}", "a\u{0}b"] {
        let e = client
            .upload_file(mime, b"x".to_vec(), None)
            .await
            .unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::Configuration, "{mime:?}: {e}");
    }
    assert_eq!(sim.stats().requests, before);
}

#[tokio::test]
async fn file_count_limit_is_a_typed_400_not_retried_and_freed_by_deletion() {
    let sim = Simulator::start(SimulatorConfig {
        files: FileLimits {
            max_files: 3,
            ..FileLimits::default()
        },
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let client = sim.client_with(fast()).unwrap();
    let mut files = Vec::new();
    for i in 0..3 {
        files.push(
            client
                .upload_file("text/plain", format!("f{i}").into_bytes(), None)
                .await
                .unwrap(),
        );
    }
    let before = sim.stats().requests;
    let e = client
        .upload_file("text/plain", b"one too many".to_vec(), None)
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.to_string().contains("max_files"), "{e}");
    assert_eq!(sim.stats().requests, before + 1, "not retried");
    client.delete_file(&files[0].name).await.unwrap();
    client
        .upload_file("text/plain", b"room again".to_vec(), None)
        .await
        .unwrap();
    assert_eq!(client.list_files().collect::<Vec<_>>().await.len(), 3);
}

#[tokio::test]
async fn a_file_over_the_simulators_size_limit_is_refused_before_its_bytes_go() {
    let sim = Simulator::start(SimulatorConfig {
        files: FileLimits {
            max_file_bytes: 1000,
            ..FileLimits::default()
        },
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let client = sim.client_with(fast()).unwrap();
    assert!(
        client
            .upload_file("text/plain", vec![b'a'; 1000], None)
            .await
            .is_ok()
    );
    let before = sim.stats().requests;
    let e = client
        .upload_file("text/plain", vec![b'a'; 1001], None)
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert_eq!(sim.stats().requests, before + 1, "only the start was sent");
}

#[tokio::test]
async fn deleting_twice_and_using_a_deleted_file_are_permission_denied() {
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    let file = client
        .upload_file("text/plain", b"short lived".to_vec(), None)
        .await
        .unwrap();
    client.delete_file(&file.name).await.unwrap();
    let e = client.delete_file(&file.name).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::PermissionDenied, "{e}");
    let e = client
        .count_tokens(
            MODEL,
            &CountTokensRequest {
                contents: prompt(vec![file.part(), Part::text("x")]).contents,
                ..CountTokensRequest::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::PermissionDenied, "{e}");
    // A cache that names the deleted file.
    let mut c = cache(None);
    c.contents[0].parts.push(file.part());
    let e = client.create_cached_content(&c).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::PermissionDenied, "{e}");
}

#[tokio::test]
async fn invalid_file_names_are_configuration_errors_before_sending() {
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    let before = sim.stats().requests;
    for name in [
        "",
        "files/",
        "files/../models",
        "files/a?b",
        "files/a b",
        "FILES/x",
    ] {
        let e = client.get_file(name).await.unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::Configuration, "{name:?}: {e}");
        let e = client.delete_file(name).await.unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::Configuration, "{name:?}: {e}");
    }
    assert_eq!(sim.stats().requests, before);
}

// ---------------------------------------------------------------------------------------------
// fileData URIs the simulator is asked about
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_gs_uri_that_contains_files_is_not_checked_as_an_uploaded_file() {
    // The simulator's docs: "URIs of other kinds (`gs://`, YouTube) count 258 tokens and are
    // not checked."
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    let request = prompt(vec![
        Part::file_data("application/pdf", "gs://my-bucket/files/report"),
        Part::text("x"),
    ]);
    let result = client.generate_content(MODEL, &request).await;
    assert!(result.is_ok(), "{:?}", result.err().map(|e| e.to_string()));
}

#[tokio::test]
async fn an_empty_file_uri_is_a_400() {
    // `File::part()` on a File without `uri` gives `fileUri: ""`; the real service answers 400.
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    let part = steadfast_gemini::types::File::default().part();
    assert_eq!(part.file_data.as_ref().unwrap().file_uri, "");
    let result = client
        .generate_content(MODEL, &prompt(vec![part, Part::text("x")]))
        .await;
    let e = result.expect_err("an empty fileUri was accepted");
    assert_eq!(*e.kind(), ErrorKind::InvalidArgument, "{e}");
}

#[tokio::test]
async fn a_file_uri_on_another_host_is_not_resolved_to_a_local_file() {
    // A file uploaded here, named through another host's URI: not an uploaded file of this
    // simulator, so not checked, and counted as media (258 tokens), not as the local file's
    // three words.
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    let file = client
        .upload_file("text/plain", b"three words here".to_vec(), None)
        .await
        .unwrap();
    for elsewhere in [
        format!("https://attacker.example/whatever/{}", file.name),
        format!("https://attacker.example/v1beta/{}", file.name),
    ] {
        let answer = client
            .generate_content(
                MODEL,
                &prompt(vec![
                    Part::file_data("text/plain", &elsewhere),
                    Part::text("x"),
                ]),
            )
            .await
            .unwrap_or_else(|e| panic!("{elsewhere}: {e}"));
        assert_eq!(
            answer.usage_metadata.unwrap().prompt_token_count,
            Some(258 + 1),
            "{elsewhere}"
        );
    }
}

#[tokio::test]
async fn file_uris_of_the_simulators_own_host_resolve_under_v1beta_and_v1() {
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    let file = client
        .upload_file("text/plain", b"three words here".to_vec(), None)
        .await
        .unwrap();
    let port = sim.local_addr().port();
    for uri in [
        file.uri.clone().unwrap(),
        format!("{}/v1/{}", sim.base_url(), file.name),
        format!("http://localhost:{port}/v1beta/{}", file.name),
    ] {
        let answer = client
            .generate_content(
                MODEL,
                &prompt(vec![Part::file_data("text/plain", &uri), Part::text("x")]),
            )
            .await
            .unwrap_or_else(|e| panic!("{uri}: {e}"));
        assert_eq!(
            answer.usage_metadata.unwrap().prompt_token_count,
            Some(3 + 1),
            "{uri}"
        );
    }
    // A file of this host that does not exist is still the 403 of the real service.
    let missing = format!("{}/v1beta/files/nope", sim.base_url());
    let e = client
        .generate_content(
            MODEL,
            &prompt(vec![
                Part::file_data("text/plain", missing),
                Part::text("x"),
            ]),
        )
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::PermissionDenied, "{e}");
}

// ---------------------------------------------------------------------------------------------
// Listing, raw (the client always asks for 100 a page)
// ---------------------------------------------------------------------------------------------

async fn raw_get(sim: &Simulator, path_and_query: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path_and_query}", sim.base_url()))
        .header("x-goog-api-key", SIM_KEY)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn listing_with_odd_page_sizes_and_tokens() {
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    for i in 0..12 {
        client
            .upload_file("text/plain", format!("f {i}").into_bytes(), None)
            .await
            .unwrap();
        client.create_cached_content(&cache(None)).await.unwrap();
    }
    // 0 means the default (10 for files).
    let (s, page) = raw_get(&sim, "/v1beta/files?pageSize=0").await;
    assert_eq!(s, 200);
    assert_eq!(page["files"].as_array().unwrap().len(), 10);
    // 1, then every token in turn: each file once.
    let mut token: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let q = match &token {
            Some(t) => format!("/v1beta/files?pageSize=1&pageToken={t}"),
            None => "/v1beta/files?pageSize=1".to_owned(),
        };
        let (s, page) = raw_get(&sim, &q).await;
        assert_eq!(s, 200, "{page}");
        let files = page["files"].as_array().unwrap();
        assert_eq!(files.len(), 1);
        seen.push(files[0]["name"].as_str().unwrap().to_owned());
        match page["nextPageToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 12);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 12);
    // Huge: capped, no error.
    let (s, page) = raw_get(&sim, "/v1beta/files?pageSize=2147483647").await;
    assert_eq!(s, 200);
    assert_eq!(page["files"].as_array().unwrap().len(), 12);
    let (s, page) = raw_get(&sim, "/v1beta/cachedContents?pageSize=1000000").await;
    assert_eq!(s, 200);
    assert_eq!(page["cachedContents"].as_array().unwrap().len(), 12);
    // Bad sizes and tokens: 400 INVALID_ARGUMENT, never 500.
    for q in [
        "/v1beta/files?pageSize=-1",
        "/v1beta/files?pageSize=abc",
        "/v1beta/files?pageSize=1e3",
        "/v1beta/files?pageSize=99999999999999999999999",
        "/v1beta/files?pageToken=garbage",
        "/v1beta/files?pageToken=CfSim",
        "/v1beta/files?pageToken=Cfzz%00Sim",
        "/v1beta/cachedContents?pageToken=%FF%FE",
    ] {
        let (s, body) = raw_get(&sim, q).await;
        assert_eq!(s, 400, "{q}: {body}");
        assert_eq!(body["error"]["status"], "INVALID_ARGUMENT", "{q}: {body}");
    }
    // A token past the end: an empty page.
    let (s, page) = raw_get(&sim, "/v1beta/files?pageToken=Cfffffffffffffffffff Sim").await;
    assert!(s == 200 || s == 400, "{s} {page}");
    let (s, page) = raw_get(&sim, "/v1beta/files?pageToken=CfffffffffffffffffSim").await;
    assert_eq!(s, 200, "{page}");
    assert!(page.get("files").is_none(), "{page}");
    // Through the client: every one, once.
    assert_eq!(client.list_files().collect::<Vec<_>>().await.len(), 12);
    assert_eq!(
        client
            .list_cached_contents()
            .collect::<Vec<_>>()
            .await
            .len(),
        12
    );
}

/// A server that answers every request with `body` (200, JSON), counting requests.
async fn always(body: &'static str) -> (String, Arc<AtomicUsize>) {
    let (base, count, _) = always_seen(body).await;
    (base, count)
}

/// [`always`], also keeping the request lines it received.
async fn always_seen(
    body: &'static str,
) -> (String, Arc<AtomicUsize>, Arc<std::sync::Mutex<Vec<String>>>) {
    let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = lines.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    // One request per connection, then close.
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    if buffer.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                seen.fetch_add(1, Ordering::SeqCst);
                let head = String::from_utf8_lossy(&buffer).into_owned();
                kept.lock()
                    .unwrap()
                    .push(head.lines().next().unwrap_or("").to_owned());
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (base, count, lines)
}

#[tokio::test]
async fn a_server_that_repeats_its_page_token_ends_the_list_with_an_error() {
    let (base, count) = always(r#"{"nextPageToken": "same-token-again"}"#).await;
    let client = Client::builder()
        .base_url(base)
        .key(SIM_KEY)
        .policy(fast())
        .build()
        .unwrap();
    let mut list = Box::pin(client.list_files());
    let first = tokio::time::timeout(Duration::from_secs(3), list.next()).await;
    let first = first.unwrap_or_else(|_| {
        panic!(
            "list_files() yielded nothing in 3 s and sent {} requests: a repeated page token loops forever",
            count.load(Ordering::SeqCst)
        )
    });
    let e = first.expect("an item").unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::Undecodable, "{e}");
    assert!(e.to_string().contains("repeated a page token"), "{e}");
    assert!(list.next().await.is_none(), "the error ends the stream");
    // The first page, then the one whose token repeats: two requests.
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

// ---------------------------------------------------------------------------------------------
// Caches
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn cache_ttls_zero_negative_fractional_and_malformed() {
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    for ttl in [
        "0s",
        "-1s",
        "-0.5s",
        "0.000000000s",
        "1.5",
        "1.5 s",
        " 60s",
        "60S",
        "1e3s",
        "1.0000000001s",
        "",
    ] {
        let e = client
            .create_cached_content(&cache(Some(ttl)))
            .await
            .unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::InvalidArgument, "{ttl:?}: {e}");
    }
    let c = client
        .create_cached_content(&cache(Some("1.5s")))
        .await
        .unwrap();
    assert!(c.expire_time.is_some());
    let c = client
        .create_cached_content(&cache(Some("0.000000001s")))
        .await;
    // A one-nanosecond cache: created (and gone at once) or refused; never a 500.
    if let Err(e) = c {
        assert_eq!(*e.kind(), ErrorKind::InvalidArgument, "{e}");
    }
}

/// A request sent by hand, past the client's own checks: the status and JSON body.
async fn raw(
    sim: &Simulator,
    method: reqwest::Method,
    path_and_query: &str,
    body: Value,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .request(method, format!("{}{path_and_query}", sim.base_url()))
        .header("x-goog-api-key", SIM_KEY)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("the simulator answers (a panic in it would drop the connection)");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn cache_json(ttl: &str) -> Value {
    json!({"model": format!("models/{MODEL}"), "ttl": ttl,
           "contents": [{"role": "user", "parts": [{"text": "a cached document of words"}]}]})
}

#[tokio::test]
async fn a_huge_ttl_is_refused_by_the_client_before_sending_and_by_the_simulator_with_a_400() {
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    // `with_ttl` keeps what it is given; the client refuses it before sending.
    let huge = cache(None).with_ttl(Duration::MAX);
    assert_eq!(huge.ttl.as_deref(), Some("18446744073709551615.999999999s"));
    let before = sim.stats().requests;
    let e = client.create_cached_content(&huge).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::Configuration, "{e}");
    assert_eq!(sim.stats().requests, before, "nothing sent");
    // Sent anyway (another client): a typed 400, not a panic and a dropped connection.
    for ttl in [
        "18446744073709551615.999999999s",
        "315576000001s",
        "99999999999999999999s",
    ] {
        let (status, body) = raw(
            &sim,
            reqwest::Method::POST,
            "/v1beta/cachedContents",
            cache_json(ttl),
        )
        .await;
        assert_eq!(status, 400, "{ttl}: {body}");
        assert_eq!(body["error"]["status"], "INVALID_ARGUMENT", "{ttl}: {body}");
    }
    // The simulator still serves.
    assert!(client.create_cached_content(&cache(None)).await.is_ok());
}

#[tokio::test]
async fn a_huge_ttl_update_is_refused_and_leaves_the_cache_unchanged() {
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    let c = client.create_cached_content(&cache(None)).await.unwrap();
    let name = c.name.clone().unwrap();
    let before = sim.stats().requests;
    let e = client
        .update_cached_content_ttl(&name, Duration::MAX)
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::Configuration, "{e}");
    assert_eq!(sim.stats().requests, before, "nothing sent");
    // Sent by hand: a 400, and the cache keeps its expiry.
    for ttl in ["18446744073709551615.999999999s", "315576000001s"] {
        let (status, body) = raw(
            &sim,
            reqwest::Method::PATCH,
            &format!("/v1beta/{name}?updateMask=ttl"),
            json!({"ttl": ttl}),
        )
        .await;
        assert_eq!(status, 400, "{ttl}: {body}");
        assert_eq!(body["error"]["status"], "INVALID_ARGUMENT", "{ttl}: {body}");
    }
    assert_eq!(
        client.get_cached_content(&name).await.unwrap().expire_time,
        c.expire_time
    );
}

#[tokio::test]
async fn a_ttl_update_whose_expiry_has_no_wall_time_does_not_break_the_cache_for_good() {
    // A TTL that fits tokio's Instant (seconds since boot) but not SystemTime (seconds since
    // 1970) once stored the expiry, then panicked writing it as a time, so every later read of
    // the cache panicked too. Now such a TTL is a 400, and the longest one taken
    // (315,576,000,000 s) leaves a cache that reads, lists and is used like any other.
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    let c = client.create_cached_content(&cache(None)).await.unwrap();
    let name = c.name.clone().unwrap();
    let path = format!("/v1beta/{name}?updateMask=ttl");
    let ttl = format!("{}s", i64::MAX as u64 - 1_000_000_000);
    let (status, body) = raw(&sim, reqwest::Method::PATCH, &path, json!({"ttl": ttl})).await;
    assert_eq!(
        (status, &body["error"]["status"]),
        (400, &json!("INVALID_ARGUMENT")),
        "{body}"
    );
    let longest = client
        .update_cached_content_ttl(&name, Duration::from_secs(315_576_000_000))
        .await
        .unwrap();
    assert!(longest.expire_time.is_some());
    assert!(client.get_cached_content(&name).await.is_ok());
    let listed: Vec<_> = client.list_cached_contents().collect().await;
    assert!(listed.iter().all(Result::is_ok), "{listed:?}");
    let mut ask = GenerateContentRequest::prompt("x");
    ask.cached_content = Some(name);
    assert!(client.generate_content(MODEL, &ask).await.is_ok());
    assert!(client.create_cached_content(&cache(None)).await.is_ok());
}

#[tokio::test]
async fn a_ttl_past_the_proto_duration_range_is_a_configuration_error_before_sending() {
    // google.protobuf.Duration holds at most 315,576,000,000 s (10,000 years).
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    let before = sim.stats().requests;
    let e = client
        .create_cached_content(&cache(Some("315576000001s")))
        .await;
    let e = e.expect_err("a ttl past Duration's range was accepted");
    assert_eq!(*e.kind(), ErrorKind::Configuration, "{e}");
    assert_eq!(sim.stats().requests, before, "nothing sent");
    // The longest one is taken.
    assert!(
        client
            .create_cached_content(&cache(Some("315576000000s")))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn expire_times_far_future_past_and_malformed() {
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    let mut c = cache(None);
    c.expire_time = Some("9999-12-31T23:59:59.999999999Z".into());
    let made = client.create_cached_content(&c).await.unwrap();
    assert!(made.expire_time.unwrap().starts_with("9999-12-31T23:59:59"));
    for bad in [
        "2000-01-01T00:00:00Z",
        "not a time",
        "2026-02-30T00:00:00Z",
        "2026-01-01T25:00:00Z",
        "2026-01-01T00:00:00",
        "99999-01-01T00:00:00Z",
        "2026-01-01T00:00:00.Z",
        "2026-01-01T00:00:00+5",
        "2026-01-01T00:00:00é00:00",
    ] {
        let mut c = cache(None);
        c.expire_time = Some(bad.into());
        let e = client.create_cached_content(&c).await.unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::InvalidArgument, "{bad}: {e}");
    }
    let mut both = cache(Some("60s"));
    both.expire_time = Some("9999-01-01T00:00:00Z".into());
    let e = client.create_cached_content(&both).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::InvalidArgument, "{e}");
}

#[tokio::test]
async fn updating_the_ttl_of_an_expired_cache_is_permission_denied() {
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    let c = client
        .create_cached_content(&cache(None).with_ttl(Duration::from_millis(200)))
        .await
        .unwrap();
    let name = c.name.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let e = client
        .update_cached_content_ttl(&name, Duration::from_secs(60))
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::PermissionDenied, "{e}");
    let e = client.delete_cached_content(&name).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::PermissionDenied, "{e}");
    let mut ask = GenerateContentRequest::prompt("x");
    ask.cached_content = Some(name.clone());
    let e = client.generate_content(MODEL, &ask).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(
        client
            .list_cached_contents()
            .collect::<Vec<_>>()
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_zero_ttl_update_is_refused_and_leaves_the_cache_alive() {
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    let c = client.create_cached_content(&cache(None)).await.unwrap();
    let name = c.name.clone().unwrap();
    let e = client
        .update_cached_content_ttl(&name, Duration::ZERO)
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert_eq!(
        client.get_cached_content(&name).await.unwrap().expire_time,
        c.expire_time
    );
}

#[tokio::test]
async fn caches_for_models_that_do_not_exist_or_cannot_cache() {
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    for model in [
        "gemini-9.9-imaginary",
        "models/",
        "gemini-embedding-001",
        "models/../files",
    ] {
        let c = CachedContent::new(model, vec![Content::user("some words")]);
        let e = client.create_cached_content(&c).await.unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::ModelNotFound | ErrorKind::InvalidArgument
            ),
            "{model}: {e}"
        );
    }
    let mut no_model = cache(None);
    no_model.model = None;
    let e = client.create_cached_content(&no_model).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::InvalidArgument, "{e}");
}

#[tokio::test]
async fn a_cache_used_with_another_model_or_an_empty_name() {
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    let c = client.create_cached_content(&cache(None)).await.unwrap();
    let mut ask = GenerateContentRequest::prompt("x");
    ask.cached_content = c.name.clone();
    let e = client
        .generate_content("gemini-2.0-flash", &ask)
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::InvalidArgument, "{e}");
    let answer = client.generate_content(MODEL, &ask).await.unwrap();
    assert!(
        answer
            .usage_metadata
            .unwrap()
            .cached_content_token_count
            .unwrap()
            > 0
    );
    // An empty or malformed name is not a permission problem: it is a bad request.
    for bad in ["", "cachedContents/", "cachedContents/a/b"] {
        ask.cached_content = Some(bad.into());
        let e = client.generate_content(MODEL, &ask).await.unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::InvalidArgument | ErrorKind::PermissionDenied | ErrorKind::Configuration
            ),
            "{bad:?}: {e}"
        );
    }
}

#[tokio::test]
async fn cache_display_names_are_kept_and_bounded() {
    let sim = sim().await;
    let client = sim.client_with(fast()).unwrap();
    let name = "\"quoted\"\nnew line — 日本語 🦀";
    let c = client
        .create_cached_content(&cache(None).with_display_name(name))
        .await
        .unwrap();
    assert_eq!(c.display_name.as_deref(), Some(name));
    let long = "é".repeat(129);
    let e = client
        .create_cached_content(&cache(None).with_display_name(long))
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::InvalidArgument, "{e}");
}

#[test]
fn duration_strings_are_proto_durations_up_to_the_proto_range() {
    assert_eq!(duration_string(Duration::ZERO), "0s");
    assert_eq!(duration_string(Duration::from_nanos(1)), "0.000000001s");
    assert_eq!(duration_string(Duration::from_micros(1500)), "0.001500s");
    assert_eq!(
        duration_string(MAX_PROTO_DURATION),
        "315576000000.999999999s"
    );
    // Past the range the string is written as is (the client refuses it as a ttl, see the
    // cache tests above).
    assert_eq!(
        duration_string(Duration::MAX),
        "18446744073709551615.999999999s"
    );
}

// ---------------------------------------------------------------------------------------------
// base64 helpers
// ---------------------------------------------------------------------------------------------

#[test]
fn base64_helpers_never_panic_and_refuse_garbage() {
    let blob = |data: &str| Blob {
        mime_type: "application/octet-stream".into(),
        data: data.into(),
        ..Blob::default()
    };
    assert_eq!(blob("").bytes().unwrap(), Vec::<u8>::new());
    assert_eq!(Part::inline_bytes("x/y", &[]).inline_data.unwrap().data, "");
    for bad in [
        "=",
        "==",
        "===",
        "====",
        "A",
        "A=",
        "A==",
        "A===",
        "AAAAA",
        "Zg=",
        "Zg===",
        "Z g=",
        " Zg==",
        "Zg==\n",
        "Zg==Zg==",
        "é",
        "Zgé=",
        "Zm9v\u{0}",
        "Zm9v!",
        "Zm9v=A==",
        "\u{1F980}",
        "Zm9vYmFy=",
        "Zm9=vYmFy",
    ] {
        let r = std::panic::catch_unwind(|| blob(bad).bytes());
        let r = r.unwrap_or_else(|_| panic!("{bad:?} panicked"));
        assert!(r.is_err(), "{bad:?} decoded to {r:?}");
        let e = r.unwrap_err();
        assert!(e.offset <= bad.len(), "{bad:?}: offset {}", e.offset);
        assert!(!e.to_string().is_empty());
    }
    // Every length round-trips, and the URL-safe, unpadded form decodes the same.
    for n in 0..70usize {
        let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + 255) as u8).collect();
        let part = Part::inline_bytes("application/octet-stream", &bytes);
        let data = part.inline_data.as_ref().unwrap().data.clone();
        assert_eq!(part.inline_data.unwrap().bytes().unwrap(), bytes, "{n}");
        let url_safe = data.replace('+', "-").replace('/', "_");
        assert_eq!(blob(url_safe.trim_end_matches('=')).bytes().unwrap(), bytes);
    }
    // A large input.
    let big = vec![0xa5u8; 3 * 1024 * 1024 + 1];
    let part = Part::inline_bytes("application/octet-stream", &big);
    assert_eq!(part.inline_data.unwrap().bytes().unwrap(), big);
}

#[test]
fn base64_with_non_canonical_trailing_bits() {
    // "Zh==" has non-zero bits after the last byte: strict decoders refuse, lenient ones
    // accept; either way no panic and the first byte is 'f'.
    let b = Blob {
        data: "Zh==".into(),
        ..Blob::default()
    };
    if let Ok(bytes) = b.bytes() {
        assert_eq!(bytes, b"f");
    }
}

// ---------------------------------------------------------------------------------------------
// JSON round trips
// ---------------------------------------------------------------------------------------------

fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(text: &str) -> Value {
    let decoded: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    serde_json::to_value(&decoded).unwrap()
}

#[test]
fn unknown_nested_fields_survive_a_round_trip() {
    let text = r#"{
      "candidates": [{
        "content": {"role": "model", "parts": [
          {"text": "Hi", "newPartField": {"deep": [1, {"deeper": null}]}},
          {"someFuturePart": {"x": 1}},
          {"inlineData": {"mimeType": "image/png", "data": "iVBORw==", "blobExtra": true}},
          {"fileData": {"fileUri": "https://x/v1beta/files/a", "fileExtra": "y"}}
        ], "contentExtra": "z"},
        "finishReason": "STOP",
        "groundingMetadata": {"webSearchQueries": ["q"], "futureGrounding": {"a": 1}},
        "citationMetadata": {"citationSources": [{"uri": "https://a", "future": 1}]},
        "candidateExtra": [1, 2, 3]
      }],
      "usageMetadata": {"promptTokenCount": 3, "futureCount": 9,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 3, "more": "m"}]},
      "modelVersion": "gemini-2.5-flash",
      "responseId": "abc",
      "topLevelExtra": {"nested": {"unknown": ["a", null, 1.5, -7]}}
    }"#;
    let original: Value = serde_json::from_str(text).unwrap();
    assert_eq!(round_trip::<GenerateContentResponse>(text), original);
}

#[test]
fn a_candidate_whose_content_has_no_parts_round_trips_unchanged() {
    // The API answers `"content": {"role": "model"}` when thinking used every output token
    // (finishReason MAX_TOKENS).
    let text = r#"{"candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS", "index": 0}]}"#;
    let original: Value = serde_json::from_str(text).unwrap();
    assert_eq!(round_trip::<GenerateContentResponse>(text), original);
}

#[test]
fn inline_data_without_a_mime_type_round_trips_unchanged() {
    let text = r#"{"candidates": [{"content": {"role": "model", "parts": [{"inlineData": {"data": "AAEC"}}]}}]}"#;
    let original: Value = serde_json::from_str(text).unwrap();
    assert_eq!(round_trip::<GenerateContentResponse>(text), original);
}

#[test]
fn null_fields_decode_as_their_defaults() {
    // Proto JSON allows `null` for any field (it means the default).
    for text in [
        r#"{"candidates": null, "usageMetadata": null, "modelVersion": null}"#,
        r#"{"candidates": [{"content": {"role": null, "parts": null}, "finishReason": null}]}"#,
        r#"{"candidates": [{"content": {"parts": [{"text": null, "thought": null}]}}]}"#,
        r#"{"candidates": [{"content": {"parts": [{"functionCall": {"name": null, "args": null}}]}}]}"#,
        r#"{"candidates": [{"content": {"parts": [{"inlineData": {"mimeType": null, "data": null}}]}}]}"#,
    ] {
        let r = serde_json::from_str::<GenerateContentResponse>(text);
        assert!(r.is_ok(), "{text}: {}", r.unwrap_err());
    }
    let r = serde_json::from_str::<steadfast_gemini::types::File>(
        r#"{"name": null, "sizeBytes": null}"#,
    );
    assert!(r.is_ok(), "File with null name: {}", r.unwrap_err());
}

#[test]
fn counters_written_as_strings_decode() {
    // Proto3 JSON parsers accept int32 values as numbers or strings.
    let text = r#"{"usageMetadata": {"promptTokenCount": "12", "totalTokenCount": "15"}}"#;
    let r = serde_json::from_str::<GenerateContentResponse>(text);
    assert!(r.is_ok(), "{}", r.unwrap_err());
    assert_eq!(
        r.unwrap().usage_metadata.unwrap().prompt_token_count,
        Some(12)
    );
    let r = serde_json::from_str::<steadfast_gemini::types::CountTokensResponse>(
        r#"{"totalTokens": "7"}"#,
    );
    assert_eq!(r.unwrap().total_tokens, 7);
    assert!(
        serde_json::from_str::<GenerateContentResponse>(
            r#"{"usageMetadata": {"promptTokenCount": "many"}}"#
        )
        .is_err()
    );
}

#[test]
fn integers_past_u64_in_unknown_fields_come_back_as_floats_as_documented() {
    // serde_json without `arbitrary_precision` (not enabled: it would change every user's
    // serde_json) keeps integers up to u64 exactly and reads larger ones as f64; the types'
    // docs say so.
    let text = r#"{"candidates": [], "futureBig": 123456789012345678901234567890, "futureU64": 18446744073709551615, "futureI64": -9223372036854775808}"#;
    let back = round_trip::<GenerateContentResponse>(text);
    assert_eq!(back["futureU64"], json!(18446744073709551615u64));
    assert_eq!(back["futureI64"], json!(i64::MIN));
    assert_eq!(back["futureBig"].as_f64(), Some(1.2345678901234568e29));
}

#[test]
fn a_count_past_u32_does_not_lose_the_whole_answer() {
    // One counter past u32 (a future API with larger counts, or a proxy's bug): the text of the
    // answer is still wanted. Token counters are u64.
    let text = r#"{"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}, "tokenCount": 5000000000}],
        "usageMetadata": {"totalTokenCount": 5000000000}}"#;
    let r = serde_json::from_str::<GenerateContentResponse>(text);
    assert!(r.is_ok(), "{}", r.unwrap_err());
    let r = r.unwrap();
    assert_eq!(r.text(), "Hi");
    assert_eq!(r.candidates[0].token_count, Some(5_000_000_000));
    assert_eq!(
        r.usage_metadata.unwrap().total_token_count,
        Some(5_000_000_000)
    );
}

#[test]
fn integer_valued_floats_round_trip() {
    let text = r#"{"candidates": [{"avgLogprobs": -1, "index": 0}]}"#;
    let back = round_trip::<GenerateContentResponse>(text);
    // -1 and -1.0 are the same JSON number; serde_json's Value tells them apart.
    assert_eq!(back["candidates"][0]["avgLogprobs"].as_f64(), Some(-1.0));
}

#[test]
fn cached_content_and_file_answers_round_trip() {
    let cache = r#"{"name": "cachedContents/abc", "model": "models/gemini-2.5-flash",
        "displayName": "", "createTime": "2026-01-01T00:00:00.000000Z",
        "updateTime": "2026-01-01T00:00:00.000000Z", "expireTime": "2026-01-01T01:00:00.000000Z",
        "usageMetadata": {"totalTokenCount": 2000, "future": 1}, "futureTop": {"a": [1]}}"#;
    let original: Value = serde_json::from_str(cache).unwrap();
    assert_eq!(round_trip::<CachedContent>(cache), original);
    let file = r#"{"name": "files/a", "mimeType": "text/plain", "sizeBytes": "11",
        "state": "SOMETHING_NEW", "source": "UPLOADED", "futureFile": {"x": null}}"#;
    let original: Value = serde_json::from_str(file).unwrap();
    assert_eq!(round_trip::<steadfast_gemini::types::File>(file), original);
    // sizeBytes as a number decodes too; past u64 is an error, not a panic.
    let f: steadfast_gemini::types::File =
        serde_json::from_str(r#"{"name": "files/a", "sizeBytes": 11}"#).unwrap();
    assert_eq!(f.size_bytes, Some(11));
    assert!(
        serde_json::from_str::<steadfast_gemini::types::File>(
            r#"{"sizeBytes": "18446744073709551616"}"#
        )
        .is_err()
    );
    assert!(
        serde_json::from_str::<steadfast_gemini::types::File>(r#"{"sizeBytes": "-1"}"#).is_err()
    );
}

#[test]
fn an_extra_key_that_shadows_a_typed_field_is_dropped_when_encoding() {
    let mut part = Part::text("typed");
    part.extra.insert("text".into(), json!("extra"));
    part.extra
        .insert("inlineData".into(), json!({"data": "AA=="}));
    part.extra.insert("newField".into(), json!(1));
    let encoded = serde_json::to_string(&part).unwrap();
    assert_eq!(
        encoded.matches("\"text\"").count(),
        1,
        "duplicate key in {encoded}"
    );
    // The typed field wins; a typed field left unset is not filled from `extra`; unknown
    // keys stay.
    assert_eq!(encoded, r#"{"text":"typed","newField":1}"#);
    let mut c = CachedContent::new(MODEL, vec![]);
    c.extra.insert("model".into(), json!("models/other"));
    c.extra.insert("sizeBytes".into(), json!("1"));
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(
        v,
        json!({"model": format!("models/{MODEL}"), "sizeBytes": "1"})
    );
    let mut f = steadfast_gemini::types::File::default();
    f.extra.insert("sizeBytes".into(), json!("9"));
    assert_eq!(serde_json::to_value(&f).unwrap(), json!({"name": ""}));
}

// ---------------------------------------------------------------------------------------------
// Key secrecy
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_key_is_in_no_debug_display_or_error_of_files_and_caches() {
    let sim = Simulator::start(SimulatorConfig {
        keys: vec![KEY.to_owned()],
        caches: CacheLimits {
            min_tokens: Some(1),
            ..CacheLimits::default()
        },
        files: FileLimits {
            max_files: 1,
            ..FileLimits::default()
        },
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let client = Client::builder()
        .base_url(sim.base_url())
        .key(KEY)
        .policy(fast())
        .build()
        .unwrap();
    let mut texts = vec![format!("{client:?}")];
    let mut check = |e: steadfast_gemini::Error| {
        texts.push(format!("{e}"));
        texts.push(format!("{e:?}"));
        texts.push(e.message().unwrap_or_default().to_owned());
    };
    let f = client
        .upload_file("text/plain", KEY.as_bytes().to_vec(), Some(KEY))
        .await
        .unwrap();
    check(
        client
            .upload_file("text/plain", b"x".to_vec(), None)
            .await
            .unwrap_err(),
    );
    if let Err(e) = client.upload_file(KEY, b"x".to_vec(), None).await {
        check(e);
    }
    check(client.get_file("files/nope").await.unwrap_err());
    check(client.get_file(KEY).await.unwrap_err());
    check(client.get_cached_content(KEY).await.unwrap_err());
    check(
        client
            .delete_cached_content("cachedContents/nope")
            .await
            .unwrap_err(),
    );
    check(
        client
            .update_cached_content_ttl("cachedContents/nope", Duration::from_secs(1))
            .await
            .unwrap_err(),
    );
    let mut c = cache(Some("bad"));
    c.display_name = Some(KEY.into());
    check(client.create_cached_content(&c).await.unwrap_err());
    let mut ask = prompt(vec![Part::file_data(
        "text/plain",
        format!("{}/v1beta/files/{KEY}", sim.base_url()),
    )]);
    ask.cached_content = Some(KEY.into());
    check(client.generate_content(MODEL, &ask).await.unwrap_err());
    client.delete_file(&f.name).await.unwrap();
    // A key the simulator does not know, used for each call.
    let other = Client::builder()
        .base_url(sim.base_url())
        .key(concat!("AIza", "SyOtherOtherOtherOtherOtherOther99999"))
        .policy(fast())
        .build()
        .unwrap();
    check(
        other
            .upload_file("text/plain", b"x".to_vec(), None)
            .await
            .unwrap_err(),
    );
    check(
        Box::pin(other.list_files())
            .next()
            .await
            .unwrap()
            .unwrap_err(),
    );
    check(other.create_cached_content(&cache(None)).await.unwrap_err());
    for t in &texts {
        assert!(!t.contains(KEY), "key in: {t}");
        assert!(!t.contains("SyOtherOther"), "other key in: {t}");
    }
}

#[tokio::test]
async fn a_base_url_with_a_query_or_fragment_is_refused_without_echoing_it() {
    // A user who pastes `?key=` into the base URL: refused at build (request paths are appended
    // to the base URL, so the query would go out with every request), and the error does not
    // print the URL.
    let (base, count, _) = always_seen(r#"{"file": {"name": "files/x"}}"#).await;
    for url in [
        format!("{base}?key={KEY}"),
        format!("{base}/?key={KEY}"),
        format!("{base}#{KEY}"),
        format!("ftp://{KEY}@example.com"),
    ] {
        let e = Client::builder()
            .base_url(url.as_str())
            .key(KEY)
            .policy(fast())
            .build()
            .expect_err(&url);
        assert_eq!(*e.kind(), ErrorKind::Configuration, "{e}");
        assert!(!format!("{e} {e:?}").contains(KEY), "{e}");
    }
    assert_eq!(count.load(Ordering::SeqCst), 0);
}
