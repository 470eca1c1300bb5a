//! The Files API and cached content, end to end: the client against the simulator on a socket
//! (real clock, millisecond TTLs: tokio's paused clock would advance while the runtime waits on
//! a socket), plus raw servers that hand out hostile upload URLs.

#![allow(clippy::unwrap_used)]

use crate::common::{SimClient, fast};
use futures_util::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use steadfast_gemini::types::{CachedContent, Content, FileState, GenerateContentRequest, Part};
use steadfast_gemini::{Client, ClientPolicy, ErrorKind};
use steadfast_sim::{CacheLimits, Faults, FileLimits, Simulator, SimulatorConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const MODEL: &str = "gemini-2.5-flash";

/// A prompt whose first turn holds `parts`.
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

#[tokio::test]
async fn a_file_is_uploaded_read_listed_used_in_a_prompt_and_deleted() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let client = sim.client_with(fast()).unwrap();
    let file = client
        .upload_file(
            "text/plain",
            b"five words in this file".to_vec(),
            Some("notes"),
        )
        .await
        .unwrap();
    assert!(file.name.starts_with("files/"), "{}", file.name);
    assert_eq!(file.size_bytes, Some(23));
    assert_eq!(file.display_name.as_deref(), Some("notes"));
    assert_eq!(file.state, Some(FileState::Active));
    let uri = file.uri.clone().unwrap();
    assert_eq!(uri, format!("{}/v1beta/{}", sim.base_url(), file.name));
    assert!(file.expiration_time.is_some());

    assert_eq!(client.get_file(&file.name).await.unwrap(), file);
    let id = file.name.trim_start_matches("files/");
    assert_eq!(client.get_file(id).await.unwrap(), file);
    let listed: Vec<_> = client.list_files().collect().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].as_ref().unwrap(), &file);

    // The file's five words count as prompt tokens, with the one word of text.
    let answer = client
        .generate_content(MODEL, &prompt(vec![file.part(), Part::text("Summarise")]))
        .await
        .unwrap();
    assert!(answer.text().contains("Summarise"), "{}", answer.text());
    assert_eq!(answer.usage_metadata.unwrap().prompt_token_count, Some(6));

    client.delete_file(&file.name).await.unwrap();
    let e = client.get_file(&file.name).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert_eq!(e.http_status(), Some(403));
    assert!(e.to_string().contains("may not exist"), "{e}");
    let e = client
        .generate_content(MODEL, &prompt(vec![file.part(), Part::text("again")]))
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::PermissionDenied, "{e}");
    let e = client.delete_file(&file.name).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(client.list_files().collect::<Vec<_>>().await.is_empty());
}

#[tokio::test]
async fn a_large_binary_file_goes_up_in_chunks_and_counts_as_media() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let client = sim.client().unwrap();
    // More than one 8 MiB chunk.
    let bytes: Vec<u8> = (0..9 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let file = client.upload_file("image/png", bytes, None).await.unwrap();
    assert_eq!(file.size_bytes, Some(9 * 1024 * 1024));
    assert_eq!(file.display_name, None);
    let answer = client
        .generate_content(MODEL, &prompt(vec![file.part(), Part::text("describe it")]))
        .await
        .unwrap();
    // 258 tokens for the image (what the real service counts), 2 for the text.
    assert_eq!(answer.usage_metadata.unwrap().prompt_token_count, Some(260));
}

#[tokio::test]
async fn inline_bytes_reach_the_server_and_come_back_decoded() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let client = sim.client().unwrap();
    let request = prompt(vec![
        Part::inline_bytes("application/octet-stream", &[0, 1, 2, 254, 255]),
        Part::text("what is this"),
    ]);
    assert!(client.generate_content(MODEL, &request).await.is_ok());
    let blob = request.contents[0].parts[0].inline_data.clone().unwrap();
    assert_eq!(blob.bytes().unwrap(), [0, 1, 2, 254, 255]);
}

#[tokio::test]
async fn files_are_listed_page_by_page_and_only_for_their_project() {
    let config = SimulatorConfig {
        keys: vec![
            "sim-key-project-a-00001".into(),
            "sim-key-project-b-00002".into(),
        ],
        ..SimulatorConfig::default()
    };
    let sim = Simulator::start(config).await.unwrap();
    let a = Client::builder()
        .base_url(sim.base_url())
        .key("sim-key-project-a-00001")
        .build()
        .unwrap();
    let b = Client::builder()
        .base_url(sim.base_url())
        .key("sim-key-project-b-00002")
        .build()
        .unwrap();
    let mut names = Vec::new();
    for i in 0..12 {
        let f = a
            .upload_file("text/plain", format!("file number {i}").into_bytes(), None)
            .await
            .unwrap();
        names.push(f.name);
    }
    let listed: Vec<String> = a.list_files().map(|f| f.unwrap().name).collect().await;
    assert_eq!(listed, names);
    // By hand, five a page: three pages.
    let http = reqwest::Client::new();
    let mut token = String::new();
    let mut pages = 0;
    let mut seen = 0;
    loop {
        let text = http
            .get(format!(
                "{}/v1beta/files?pageSize=5&pageToken={token}",
                sim.base_url()
            ))
            .header("x-goog-api-key", "sim-key-project-a-00001")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let page: serde_json::Value = serde_json::from_str(&text).unwrap();
        pages += 1;
        seen += page["files"].as_array().unwrap().len();
        match page["nextPageToken"].as_str() {
            Some(t) => token = t.to_owned(),
            None => break,
        }
    }
    assert_eq!((pages, seen), (3, 12));
    // Another project sees nothing, and gets the 403 of a missing file.
    assert!(b.list_files().collect::<Vec<_>>().await.is_empty());
    let e = b.get_file(&names[0]).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::PermissionDenied, "{e}");
}

#[tokio::test]
async fn storage_limits_are_clear_400s_that_are_not_retried() {
    let config = SimulatorConfig {
        files: FileLimits {
            max_files: 2,
            max_file_bytes: 1000,
            max_total_bytes: 1500,
            ..FileLimits::default()
        },
        ..SimulatorConfig::default()
    };
    let sim = Simulator::start(config).await.unwrap();
    let client = sim.client().unwrap();
    let e = client
        .upload_file("text/plain", vec![b'x'; 1001], None)
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.to_string().contains("max_file_bytes"), "{e}");
    client
        .upload_file("text/plain", vec![b'x'; 1000], None)
        .await
        .unwrap();
    let e = client
        .upload_file("text/plain", vec![b'x'; 600], None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("max_total_bytes"), "{e}");
    client
        .upload_file("text/plain", vec![b'x'; 10], None)
        .await
        .unwrap();
    let e = client
        .upload_file("text/plain", vec![b'x'; 10], None)
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.to_string().contains("max_files"), "{e}");
    // Each refusal was sent once: a 400 is not retried.
    let stats = sim.stats();
    assert_eq!(stats.requests, 3 + 2 * 2, "{stats:?}");
}

#[tokio::test]
async fn names_and_types_are_checked_before_sending() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let client = sim.client().unwrap();
    for bad in ["../models", "files/A", "x?key=1"] {
        let e = client.get_file(bad).await.unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::Configuration, "{bad}");
    }
    let e = client
        .upload_file("", b"x".to_vec(), None)
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::Configuration);
    let e = client.get_cached_content("a/b").await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::Configuration);
    assert_eq!(sim.stats().requests, 0);
}

/// `n` words of a document.
fn document(n: usize) -> Content {
    let words: Vec<String> = (0..n).map(|i| format!("w{i}")).collect();
    Content::user(words.join(" "))
}

#[tokio::test]
async fn a_cache_is_created_used_extended_expires_and_is_deleted() {
    let config = SimulatorConfig {
        caches: CacheLimits {
            min_tokens: Some(10),
            ..CacheLimits::default()
        },
        ..SimulatorConfig::default()
    };
    let sim = Simulator::start(config).await.unwrap();
    let client = sim.client().unwrap();
    let file = client
        .upload_file("text/plain", b"three more words".to_vec(), None)
        .await
        .unwrap();
    let mut doc = document(50);
    doc.parts.push(file.part());
    let cache = client
        .create_cached_content(
            &CachedContent::new(MODEL, vec![doc])
                .with_system_instruction(Content::system("be brief"))
                .with_display_name("manual")
                .with_ttl(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let name = cache.name.clone().unwrap();
    assert!(name.starts_with("cachedContents/"), "{name}");
    assert_eq!(cache.model.as_deref(), Some("models/gemini-2.5-flash"));
    assert_eq!(cache.display_name.as_deref(), Some("manual"));
    // 50 words, 3 from the file, 2 of system instruction.
    assert_eq!(
        cache.usage_metadata.as_ref().unwrap().total_token_count,
        Some(55)
    );
    assert!(
        cache.contents.is_empty(),
        "the cached members are not echoed"
    );
    let first_expiry = cache.expire_time.clone().unwrap();

    let mut request = GenerateContentRequest::prompt("what does it say");
    request.cached_content = Some(name.clone());
    let answer = client.generate_content(MODEL, &request).await.unwrap();
    let usage = answer.usage_metadata.clone().unwrap();
    assert_eq!(usage.cached_content_token_count, Some(55));
    assert_eq!(usage.prompt_token_count, Some(55 + 4));
    assert_eq!(usage.cache_tokens_details[0].token_count, Some(55));
    // The stream reports it in every chunk, countTokens too.
    let chunks: Vec<_> = client
        .stream_generate_content(MODEL, &request)
        .await
        .unwrap()
        .collect()
        .await;
    let last = chunks.last().unwrap().as_ref().unwrap();
    assert_eq!(
        last.usage_metadata
            .as_ref()
            .unwrap()
            .cached_content_token_count,
        Some(55)
    );

    // With its own system instruction, or for another model: 400.
    let mut own = request.clone();
    own.system_instruction = Some(Content::system("other"));
    let e = client.generate_content(MODEL, &own).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(
        e.to_string()
            .contains("system_instruction, tools or tool_config"),
        "{e}"
    );
    let e = client
        .generate_content("gemini-2.0-flash", &request)
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::InvalidArgument, "{e}");

    assert_eq!(
        client.get_cached_content(&name).await.unwrap().name,
        cache.name
    );
    let listed: Vec<_> = client.list_cached_contents().collect().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].as_ref().unwrap().name, cache.name);

    // A shorter TTL: it expires, and is then gone for reads and for use.
    let updated = client
        .update_cached_content_ttl(&name, Duration::from_millis(300))
        .await
        .unwrap();
    assert_ne!(updated.expire_time.unwrap(), first_expiry);
    assert!(client.generate_content(MODEL, &request).await.is_ok());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let e = client.generate_content(MODEL, &request).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains("CachedContent not found"), "{e}");
    let e = client.get_cached_content(&name).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(
        client
            .list_cached_contents()
            .collect::<Vec<_>>()
            .await
            .is_empty()
    );

    // Deleted: gone too.
    let again = client
        .create_cached_content(&CachedContent::new(MODEL, vec![document(20)]))
        .await
        .unwrap();
    let again_name = again.name.unwrap();
    client.delete_cached_content(&again_name).await.unwrap();
    let e = client.get_cached_content(&again_name).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::PermissionDenied, "{e}");
    let e = client.delete_cached_content(&again_name).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::PermissionDenied, "{e}");
}

#[tokio::test]
async fn bad_caches_are_typed_errors() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let client = sim.client().unwrap();
    // Below the real minimum of 1 024 tokens.
    let e = client
        .create_cached_content(&CachedContent::new(MODEL, vec![document(16)]))
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.to_string().contains("Cached content is too small"), "{e}");
    // A TTL that is not a duration, or not positive.
    for ttl in ["abc", "-5s", "0s"] {
        let mut cache = CachedContent::new(MODEL, vec![document(1100)]);
        cache.ttl = Some(ttl.into());
        let e = client.create_cached_content(&cache).await.unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::InvalidArgument, "{ttl}: {e}");
    }
    let cache = client
        .create_cached_content(&CachedContent::new(MODEL, vec![document(1100)]))
        .await
        .unwrap();
    let e = client
        .update_cached_content_ttl(cache.name.as_deref().unwrap(), Duration::ZERO)
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::InvalidArgument, "{e}");
    // An unknown model, and a cache nobody created.
    let e = client
        .create_cached_content(&CachedContent::new("gemini-0.1-nope", vec![document(1100)]))
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::ModelNotFound, "{e}");
    let mut request = GenerateContentRequest::prompt("hi");
    request.cached_content = Some("cachedContents/nothing".into());
    let e = client.generate_content(MODEL, &request).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::PermissionDenied, "{e}");
}

#[tokio::test]
async fn files_and_caches_calls_are_retried_under_the_client_policy() {
    let config = SimulatorConfig {
        faults: Faults {
            internal: 0.4,
            ..Faults::default()
        },
        caches: CacheLimits {
            min_tokens: Some(1),
            ..CacheLimits::default()
        },
        seed: 11,
        ..SimulatorConfig::default()
    };
    let sim = Simulator::start(config).await.unwrap();
    let client = sim
        .client_with(fast().retry_with(|r| r.budget(None)).breaker(None))
        .unwrap();
    for i in 0..4 {
        let f = client
            .upload_file("text/plain", format!("file {i}").into_bytes(), None)
            .await
            .unwrap();
        client.get_file(&f.name).await.unwrap();
        let c = client
            .create_cached_content(&CachedContent::new(MODEL, vec![document(3)]))
            .await
            .unwrap();
        client
            .delete_cached_content(c.name.as_deref().unwrap())
            .await
            .unwrap();
        client.delete_file(&f.name).await.unwrap();
    }
    assert!(sim.stats().faults > 0, "the run met 500s");
}

/// Collects what is written to it.
const SECRET: &str = concat!("AIza", "SyFAKE-files-caches-key-0000000000");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_is_in_no_url_log_debug_or_error() {
    // The binary's one global log: every test's events, this one's among them.
    let sink = crate::common::global_log();
    let config = SimulatorConfig {
        keys: vec![SECRET.into()],
        caches: CacheLimits {
            min_tokens: Some(1),
            ..CacheLimits::default()
        },
        faults: Faults {
            internal: 0.2,
            ..Faults::default()
        },
        ..SimulatorConfig::default()
    };
    let sim = Simulator::start(config).await.unwrap();
    let client = sim.client_with(fast()).unwrap();
    let mut seen: Vec<String> = vec![format!("{client:?}")];
    let file = client
        .upload_file("text/plain", b"secret-free".to_vec(), Some("n"))
        .await
        .unwrap();
    seen.push(format!("{file:?}"));
    seen.push(serde_json::to_string(&file).unwrap());
    let cache = client
        .create_cached_content(&CachedContent::new(MODEL, vec![document(3)]))
        .await
        .unwrap();
    seen.push(format!("{cache:?}"));
    let errors = [
        client.get_file("files/missing").await.unwrap_err(),
        client.get_cached_content("missing").await.unwrap_err(),
        client
            .upload_file("text/plain", vec![0; 17 * 1024 * 1024], None)
            .await
            .unwrap_err(),
        client
            .update_cached_content_ttl(cache.name.as_deref().unwrap(), Duration::ZERO)
            .await
            .unwrap_err(),
    ];
    for e in &errors {
        seen.extend([e.to_string(), format!("{e:?}")]);
    }
    // A server that echoes the key into the upload URL: the client drops it before using the
    // URL, and sends no key there.
    let raw = RawUpload::start(|origin| {
        format!("{origin}/upload/v1beta/files?key={SECRET}&upload_id=u1")
    })
    .await;
    let hostile = Client::builder()
        .base_url(&raw.url)
        .key(SECRET)
        .build()
        .unwrap();
    let uploaded = hostile
        .upload_file("text/plain", b"abc".to_vec(), None)
        .await
        .unwrap();
    assert_eq!(uploaded.name, "files/raw");
    let heads = raw.heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 2, "{heads:?}");
    assert!(
        heads[0].to_ascii_lowercase().contains("x-goog-api-key"),
        "the start carries the key"
    );
    assert!(
        !heads[0].lines().next().unwrap().contains("key="),
        "{}",
        heads[0]
    );
    assert!(
        heads[1].starts_with("POST /upload/v1beta/files?upload_id=u1 "),
        "{}",
        heads[1]
    );
    assert!(!heads[1].contains(SECRET), "the upload URL lost the key");
    assert!(!heads[1].to_ascii_lowercase().contains("x-goog-api-key"));
    // One that points elsewhere: refused, nothing sent there.
    let elsewhere = RawUpload::start(|_| "http://127.0.0.1:9/unused".to_owned()).await;
    let redirected = Client::builder()
        .base_url(&elsewhere.url)
        .key(SECRET)
        .policy(ClientPolicy::off())
        .build()
        .unwrap();
    let e = redirected
        .upload_file("text/plain", b"abc".to_vec(), None)
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::Redirect, "{e}");
    seen.extend([e.to_string(), format!("{e:?}")]);
    assert_eq!(elsewhere.heads.lock().unwrap().len(), 1);

    let logs = sink.text();
    for needle in [SECRET, &SECRET[..14], &SECRET[10..30]] {
        assert!(!logs.contains(needle), "key in logs");
        for s in &seen {
            assert!(!s.contains(needle), "key in: {s}");
        }
    }
}

/// A raw server for the upload protocol: the start answer's upload URL is
/// `upload_url(its own origin)`, and the upload answer is a file named `files/raw`.
struct RawUpload {
    url: String,
    heads: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RawUpload {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawUpload {
    async fn start(upload_url: impl Fn(&str) -> String + Send + 'static) -> RawUpload {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (log, origin) = (Arc::clone(&heads), url.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                // One request per connection: read the head and the body it declares.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break None;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break Some(i + 4);
                    }
                };
                let Some(head_end) = head_end else { continue };
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let first = log.lock().unwrap().is_empty();
                log.lock().unwrap().push(head);
                let answer = if first {
                    format!(
                        "HTTP/1.1 200 OK\r\nX-Goog-Upload-URL: {}\r\nX-Goog-Upload-Status: active\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        upload_url(&origin)
                    )
                } else {
                    let body = r#"{"file":{"name":"files/raw","sizeBytes":"3","state":"ACTIVE"}}"#;
                    format!(
                        "HTTP/1.1 200 OK\r\nX-Goog-Upload-Status: final\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
        });
        RawUpload { url, heads, task }
    }
}
