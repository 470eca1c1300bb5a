//! The client against hostile servers: small raw HTTP servers on 127.0.0.1 written here, each one
//! a scenario from issue 9 turned into a named regression test. Real sockets, so real clock and
//! millisecond delays (tokio's paused clock would advance while the runtime waits on a socket).

#![allow(clippy::unwrap_used)]

use crate::common::fast;

use std::time::Duration;
use steadfast_gemini::{Client, ClientPolicy, ErrorKind};
use steadfast_testkit::raw::{Raw, Step, answer, write};

/// An obviously fake key.
const KEY: &str = "test-key-not-real-0000000000";

fn client(url: &str, policy: ClientPolicy) -> Client {
    Client::builder()
        .base_url(url)
        .key(KEY)
        .policy(policy)
        .build()
        .unwrap()
}

const OK_BODY: &str = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"fine"}]}}]}"#;

// ---------------------------------------------------------------------------------------------
// Item 5: the key never leaves for another host.

#[tokio::test]
async fn redirect_to_another_host_never_receives_the_key() {
    let elsewhere = Raw::start(|_, _| vec![write(answer("200 OK", "", OK_BODY.as_bytes()))]).await;
    for status in [
        "301 Moved Permanently",
        "302 Found",
        "303 See Other",
        "307 Temporary Redirect",
        "308 Permanent Redirect",
    ] {
        let target = format!(
            "{}/v1beta/models/gemini-2.5-flash:generateContent",
            elsewhere.url
        );
        let origin = Raw::start(move |_, _| {
            vec![write(answer(
                status,
                &format!("Location: {target}\r\n"),
                b"",
            ))]
        })
        .await;
        let e = client(&origin.url, fast())
            .generate("gemini-2.5-flash", "hi")
            .await
            .unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::Redirect, "{status}: {e}");
        assert!(e.to_string().contains("not followed"), "{e}");
        assert!(!e.to_string().contains(KEY), "{e}");
        // A redirect is terminal: one generate request, no retry.
        assert_eq!(origin.count(":generateContent"), 1, "{status}");
    }
    let seen = elsewhere.seen();
    assert!(
        seen.iter().all(|s| !s.has_key_header()),
        "the redirect target saw the key: {seen:?}"
    );
    assert!(
        seen.is_empty(),
        "the redirect target saw requests: {seen:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Item 10: secrets in text we did not write are redacted too.

/// Shaped like a Google API key (`AIza` + 35 characters), but made up.
/// Spelled in two pieces so that no key-shaped literal sits in the source.
const GOOGLE_SHAPED: &str = concat!("AIza", "FAKEFAKEFAKEFAKEFAKEFAKEFAKE_test-0");

#[tokio::test]
async fn keys_echoed_by_the_server_are_redacted_everywhere() {
    // The binary's one global log (a subscriber set for this thread only could miss events:
    // another test's thread may cache a callsite's interest without it).
    let sink = crate::common::global_log();

    let json = format!(
        r#"{{"error":{{"code":400,"status":"INVALID_ARGUMENT","message":"API key {KEY} and {GOOGLE_SHAPED} are not valid","details":[{{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"BAD","metadata":{{"key":"{KEY}"}}}}]}}}}"#
    );
    let html = format!("<html>proxy error for key={GOOGLE_SHAPED}&k={KEY}</html>");
    let event = format!(
        "data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"a\"}}]}}}}]}}\r\n\r\ndata: {{\"error\":{{\"code\":500,\"status\":\"INTERNAL\",\"message\":\"failed for {KEY}\"}}}}\r\n\r\n"
    );
    let server = Raw::start(move |line, _| {
        let reply = if line.contains("stream") {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n{event}"
            )
            .into_bytes()
        } else if line.contains("html") {
            answer("502 Bad Gateway", "", html.as_bytes())
        } else {
            answer("400 Bad Request", "", json.as_bytes())
        };
        vec![write(reply)]
    })
    .await;
    let client = client(&server.url, fast());
    let mut seen = Vec::new();
    let e = client.generate("json-model", "hi").await.unwrap_err();
    seen.extend([e.to_string(), format!("{e:?}"), format!("{:?}", e.status())]);
    assert!(e.message().unwrap().contains("[redacted key]"), "{e}");
    let e = client.generate("html-model", "hi").await.unwrap_err();
    seen.extend([e.to_string(), format!("{e:?}")]);
    assert!(e.to_string().contains("proxy error"), "{e}");
    let stream = client
        .stream_generate_content(
            "stream-model",
            &steadfast_gemini::types::GenerateContentRequest::prompt("hi"),
        )
        .await
        .unwrap();
    use futures_util::StreamExt;
    let items: Vec<_> = stream.collect().await;
    let e = items.last().unwrap().as_ref().unwrap_err();
    seen.extend([e.to_string(), format!("{e:?}")]);
    // The same body parsed outside the client: the Google-shaped key is redacted regardless.
    let outside =
        steadfast_gemini::Error::from_body(502, format!("<p>{GOOGLE_SHAPED}</p>").as_bytes());
    seen.extend([outside.to_string(), format!("{outside:?}")]);

    let logs = sink.text();
    for text in seen.iter().chain([&logs]) {
        for secret in [KEY, GOOGLE_SHAPED, &GOOGLE_SHAPED[..16], &KEY[..14]] {
            assert!(!text.contains(secret), "`{secret}` in: {text}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Item 6: `Retry-After` and `retry-after-ms` are honoured, together with the body's RetryInfo.

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), as `Retry-After` carries it.
fn http_date(at: std::time::SystemTime) -> String {
    let secs = at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(month - 1) as usize];
    format!(
        "{weekday}, {day:02} {month} {year} {:02}:{:02}:{:02} GMT",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

#[test]
fn http_dates_are_formatted_like_the_rfc() {
    let at = std::time::UNIX_EPOCH + Duration::from_secs(784_111_777);
    assert_eq!(http_date(at), "Sun, 06 Nov 1994 08:49:37 GMT");
}

const BARE_429: &str = r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"Resource has been exhausted (e.g. check quota)."}}"#;

#[tokio::test]
async fn retry_after_beyond_max_hint_ends_the_call_at_once() {
    let in_an_hour = http_date(std::time::SystemTime::now() + Duration::from_secs(3600));
    for header in [
        "Retry-After: 3600".to_owned(),
        format!("Retry-After: {in_an_hour}"),
        "retry-after-ms: 3600000".to_owned(),
    ] {
        let h = header.clone();
        let server = Raw::start(move |_, _| {
            vec![write(answer(
                "429 Too Many Requests",
                &format!("{h}\r\n"),
                BARE_429.as_bytes(),
            ))]
        })
        .await;
        let start = std::time::Instant::now();
        let e = client(&server.url, fast().preflight(false))
            .generate("gemini-2.5-flash", "hi")
            .await
            .unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::Policy(steadfast::Error::RetryDelayTooLong { requested, .. })
                    if *requested > Duration::from_secs(3590)
            ),
            "{header}: {e}"
        );
        assert_eq!(
            server.count(":generateContent"),
            1,
            "{header}: one request, no retry"
        );
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{header}: {:?}",
            start.elapsed()
        );
    }
}

#[tokio::test]
async fn the_longest_of_headers_and_retry_info_is_waited_for() {
    // RetryInfo says 20 ms, retry-after-ms 50 ms, Retry-After 0 s: the 50 ms wins.
    let body = r#"{"error":{"code":503,"status":"UNAVAILABLE","message":"The model is overloaded.","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"0.02s"}]}}"#;
    let server = Raw::start(move |_, i| {
        if i == 0 {
            vec![write(answer(
                "503 Service Unavailable",
                "retry-after-ms: 250\r\nRetry-After: 0\r\n",
                body.as_bytes(),
            ))]
        } else {
            vec![write(answer("200 OK", "", OK_BODY.as_bytes()))]
        }
    })
    .await;
    let start = std::time::Instant::now();
    let text = client(&server.url, fast().preflight(false))
        .generate("gemini-2.5-flash", "hi")
        .await
        .unwrap();
    assert_eq!(text, "fine");
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "waited only {:?}",
        start.elapsed()
    );
    assert_eq!(server.count(":generateContent"), 2);
}

// ---------------------------------------------------------------------------------------------
// Item 9: bounded, honest bodies.

#[tokio::test]
async fn a_200_without_candidates_or_prompt_feedback_is_undecodable() {
    let server =
        Raw::start(|_, _| vec![write(answer("200 OK", "", br#"{"unexpected":true}"#))]).await;
    let e = client(&server.url, fast().preflight(false))
        .generate("gemini-2.5-flash", "hi")
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::Undecodable, "{e}");
    assert!(
        e.to_string()
            .contains("neither candidates nor promptFeedback"),
        "{e}"
    );
    assert_eq!(server.count(":generateContent"), 1, "not retried");
}

#[tokio::test]
async fn huge_bodies_are_read_only_up_to_the_cap() {
    // A 5 MB error message: read up to 64 KiB, classified by its status, shown short.
    let huge = format!(
        r#"{{"error":{{"code":500,"status":"INTERNAL","message":"{}"}}}}"#,
        "x".repeat(5_000_000)
    );
    let server = Raw::start(move |line, _| {
        if line.contains("big-success") {
            let body = format!(r#"{{"candidates":[{{"content":{{"parts":[{{"text":"{}"}}]}}}}]}}"#, "y".repeat(2_000_000));
            vec![write(answer("200 OK", "", body.as_bytes()))]
        } else if line.contains("endless-event") {
            let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\ndata: ".to_vec();
            out.extend(std::iter::repeat_n(b'z', 2_000_000));
            vec![write(out)]
        } else {
            vec![write(answer("500 Internal Server Error", "", huge.as_bytes()))]
        }
    })
    .await;
    let client = Client::builder()
        .base_url(&server.url)
        .key(KEY)
        .policy(ClientPolicy::off())
        .max_response_bytes(1_000_000)
        .build()
        .unwrap();
    let e = client.generate("huge-error", "hi").await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::Internal, "{e}");
    assert!(e.to_string().len() < 2_000, "{} bytes", e.to_string().len());
    assert!(format!("{e:?}").len() < 2_000);

    let e = client.generate("big-success", "hi").await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::Undecodable, "{e}");
    assert!(e.to_string().contains("cap of 1000000 bytes"), "{e}");

    let Err(e) = client
        .stream_generate_content(
            "endless-event",
            &steadfast_gemini::types::GenerateContentRequest::prompt("hi"),
        )
        .await
    else {
        panic!("an event larger than the cap is an error");
    };
    assert_eq!(*e.kind(), ErrorKind::Undecodable, "{e}");
    assert!(e.to_string().contains("cap of 1000000 bytes"), "{e}");
}

#[tokio::test]
async fn a_long_server_message_is_truncated_in_display_but_kept_whole() {
    let message = "m".repeat(20_000);
    let body =
        format!(r#"{{"error":{{"code":400,"status":"INVALID_ARGUMENT","message":"{message}"}}}}"#);
    let server =
        Raw::start(move |_, _| vec![write(answer("400 Bad Request", "", body.as_bytes()))]).await;
    let e = client(&server.url, ClientPolicy::off())
        .generate("gemini-2.5-flash", "hi")
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().len() < 1_000, "{} bytes", e.to_string().len());
    assert!(e.to_string().contains("20000 bytes in all"), "{e}");
    assert_eq!(e.message().map(str::len), Some(20_000));
}

// ---------------------------------------------------------------------------------------------
// Item 13: transport errors keep their cause, and say what happened.

#[tokio::test]
async fn garbage_instead_of_http_is_not_a_connection_reset() {
    let server = Raw::start(|_, _| {
        vec![write(
            &b"SSH-2.0-OpenSSH_9.6\r\n\r\n garbage garbage\r\n"[..],
        )]
    })
    .await;
    let e = client(&server.url, ClientPolicy::off())
        .generate("gemini-2.5-flash", "hi")
        .await
        .unwrap_err();
    assert_ne!(
        *e.kind(),
        ErrorKind::Transport(steadfast::classify::Transport::Reset),
        "{e}"
    );
    assert!(e.to_string().contains("not HTTP"), "{e}");
    assert!(
        std::error::Error::source(&e).is_some_and(|s| s.is::<reqwest::Error>()),
        "the cause is kept"
    );
}

#[tokio::test]
async fn a_body_timeout_says_timeout_and_keeps_its_cause() {
    // Headers, half a body, then silence; the whole-exchange limit cuts it.
    let server = Raw::start(|_, _| {
        vec![
            write(&b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"candi"[..]),
            Step::Sleep(Duration::from_secs(5)),
        ]
    })
    .await;
    let client = Client::builder()
        .base_url(&server.url)
        .key(KEY)
        .policy(ClientPolicy::off())
        .request_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let e = client.generate("gemini-2.5-flash", "hi").await.unwrap_err();
    assert_eq!(
        *e.kind(),
        ErrorKind::Transport(steadfast::classify::Transport::Timeout),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("Gemini transport (timeout): timed out"),
        "{e}"
    );
    let source = std::error::Error::source(&e).unwrap();
    assert!(
        source
            .downcast_ref::<reqwest::Error>()
            .unwrap()
            .is_timeout()
    );
}

// ---------------------------------------------------------------------------------------------
// Item 8: pre-flight requests obey the policy.

/// A server whose `models.get` does `lookup`, and whose generate answers at once.
async fn with_lookup(lookup: Vec<Step>) -> Raw {
    Raw::start(move |line, _| {
        if line.starts_with("GET") {
            lookup.clone()
        } else {
            vec![write(answer("200 OK", "", OK_BODY.as_bytes()))]
        }
    })
    .await
}

#[tokio::test]
async fn a_stalled_model_lookup_stays_inside_the_deadline_and_is_not_repeated() {
    let server = with_lookup(vec![Step::Sleep(Duration::from_secs(3))]).await;
    let client = client(
        &server.url,
        fast().retry_with(|r| r.deadline(Duration::from_millis(400))),
    );
    let start = std::time::Instant::now();
    let first = client.generate("gemini-2.5-flash", "hi").await;
    assert!(
        start.elapsed() < Duration::from_millis(1_000),
        "the look-up ran past the 400 ms deadline: {:?} ({first:?})",
        start.elapsed()
    );
    // The abandoned look-up is remembered: later calls do not wait for it again.
    for _ in 0..3 {
        let start = std::time::Instant::now();
        assert_eq!(
            client.generate("gemini-2.5-flash", "hi").await.unwrap(),
            "fine"
        );
        // Not the 3 s stall again.
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }
    assert_eq!(server.count("GET"), 1);
}

#[tokio::test]
async fn a_failed_model_lookup_is_remembered_and_adds_no_request_per_call() {
    let body = r#"{"error":{"code":500,"status":"INTERNAL","message":"boom"}}"#;
    let server = with_lookup(vec![write(answer(
        "500 Internal Server Error",
        "",
        body.as_bytes(),
    ))])
    .await;
    let client = client(&server.url, fast());
    for _ in 0..5 {
        assert_eq!(
            client.generate("gemini-2.5-flash", "hi").await.unwrap(),
            "fine"
        );
    }
    assert_eq!(server.count("GET"), 1, "one look-up for five calls");
    assert_eq!(server.count(":generateContent"), 5);
}

#[tokio::test]
async fn the_model_lookup_takes_a_rate_limit_slot() {
    let server = with_lookup(vec![write(answer(
        "200 OK",
        "",
        br#"{"name":"models/gemini-2.5-flash","inputTokenLimit":1000}"#,
    ))])
    .await;
    // 600 a minute, one at a time: a request every 100 ms.
    let client = client(
        &server.url,
        fast().limits(
            "gemini-2.5-flash",
            steadfast_gemini::ModelLimits {
                rpm: Some(600),
                ..Default::default()
            },
        ),
    );
    let start = std::time::Instant::now();
    assert_eq!(
        client.generate("gemini-2.5-flash", "hi").await.unwrap(),
        "fine"
    );
    // The look-up took the first slot, so the generate request waited for the second.
    assert!(
        start.elapsed() >= Duration::from_millis(90),
        "the generate request did not wait: {:?}",
        start.elapsed()
    );
    assert_eq!(server.count("GET"), 1);
    assert_eq!(server.count(":generateContent"), 1);
}

// ---------------------------------------------------------------------------------------------
// Item 7: timeouts that fit streaming (scaled down: the defaults are 10 s / 60 s / 30 s; the
// 10-minute healthy stream runs in paused time in `endpoints::tests`).

fn timed_client(url: &str) -> Client {
    Client::builder()
        .base_url(url)
        .key(KEY)
        .policy(ClientPolicy::off())
        .first_byte_timeout(Duration::from_millis(300))
        .idle_timeout(Duration::from_millis(300))
        .build()
        .unwrap()
}

fn sse_head() -> Step {
    write(&b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"[..])
}

fn sse_event(text: &str) -> Step {
    write(format!(
        "data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"{text}\"}}]}}}}]}}\r\n\r\n"
    ))
}

#[tokio::test]
async fn a_stall_before_the_headers_is_a_first_byte_timeout() {
    let server = Raw::start(|_, _| vec![Step::Sleep(Duration::from_secs(5))]).await;
    let start = std::time::Instant::now();
    let e = timed_client(&server.url)
        .generate("gemini-2.5-flash", "hi")
        .await
        .unwrap_err();
    assert_eq!(
        *e.kind(),
        ErrorKind::Transport(steadfast::classify::Transport::Timeout),
        "{e}"
    );
    assert!(e.to_string().contains("first-byte timeout"), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_stall_after_the_headers_is_an_idle_timeout() {
    let server = Raw::start(|_, _| {
        vec![
            write(&b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"candidates\":"[..]),
            Step::Sleep(Duration::from_secs(5)),
        ]
    })
    .await;
    let start = std::time::Instant::now();
    let e = timed_client(&server.url)
        .generate("gemini-2.5-flash", "hi")
        .await
        .unwrap_err();
    assert_eq!(
        *e.kind(),
        ErrorKind::Transport(steadfast::classify::Transport::Timeout),
        "{e}"
    );
    assert!(e.to_string().contains("idle timeout"), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_stall_in_the_middle_of_a_stream_is_an_idle_timeout() {
    let server = Raw::start(|_, _| {
        vec![
            sse_head(),
            sse_event("first"),
            Step::Sleep(Duration::from_secs(5)),
        ]
    })
    .await;
    use futures_util::StreamExt;
    let stream = timed_client(&server.url)
        .stream_generate_content(
            "gemini-2.5-flash",
            &steadfast_gemini::types::GenerateContentRequest::prompt("hi"),
        )
        .await
        .unwrap();
    let start = std::time::Instant::now();
    let items: Vec<_> = stream.collect().await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap().text(), "first");
    let e = items[1].as_ref().unwrap_err();
    assert_eq!(
        *e.kind(),
        ErrorKind::Transport(steadfast::classify::Transport::Timeout),
        "{e}"
    );
    assert!(e.to_string().contains("idle timeout"), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_healthy_stream_outlives_every_timeout() {
    // A chunk every 200 ms for 3 s: three times the 1 s idle and first-byte timeouts.
    let server = Raw::start(|_, _| {
        let mut steps = vec![sse_head()];
        for i in 0..15 {
            steps.push(sse_event(&i.to_string()));
            steps.push(Step::Sleep(Duration::from_millis(200)));
        }
        steps
    })
    .await;
    use futures_util::StreamExt;
    let client = Client::builder()
        .base_url(&server.url)
        .key(KEY)
        .policy(ClientPolicy::off())
        .first_byte_timeout(Duration::from_secs(1))
        .idle_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let start = std::time::Instant::now();
    let stream = client
        .stream_generate_content(
            "gemini-2.5-flash",
            &steadfast_gemini::types::GenerateContentRequest::prompt("hi"),
        )
        .await
        .unwrap();
    let texts: Vec<String> = stream.map(|c| c.unwrap().text()).collect().await;
    assert_eq!(texts.len(), 15);
    assert!(
        start.elapsed() >= Duration::from_millis(2_800),
        "{:?}",
        start.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// Found by a probe of the client (2026-11-27): each failed on the code before its fix.

/// One 429 with no details, then a healthy server: the call retries after its backoff. The
/// client read a request's send time just before the adaptive limiter's grant; on a running
/// clock the refused request then stayed counted, and the call waited a minute for its slot.
#[tokio::test]
async fn one_bare_429_is_retried_after_the_backoff_not_a_minute_later() {
    let server = Raw::start(|_, i| {
        if i == 0 {
            vec![write(answer(
                "429 Too Many Requests",
                "",
                br#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}"#,
            ))]
        } else {
            vec![write(answer("200 OK", "", OK_BODY.as_bytes()))]
        }
    })
    .await;
    let start = std::time::Instant::now();
    let answer = client(&server.url, fast().preflight(false))
        .generate("gemini-2.5-flash", "hi")
        .await
        .unwrap();
    assert_eq!(answer, "fine");
    assert_eq!(server.count(":generateContent"), 2);
    // The backoff is milliseconds; the old code waited for the minute's window (60 s).
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
}

/// A stream whose events are JSON but not answers is undecodable, like such a
/// `generateContent` answer; it was taken for an empty answer.
#[tokio::test]
async fn a_stream_of_json_that_is_not_an_answer_is_undecodable() {
    for event in [&b"{\"unexpected\":true}"[..], b"{}"] {
        let mut response = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\ndata: ".to_vec();
        response.extend_from_slice(event);
        response.extend_from_slice(b"\r\n\r\n");
        let server = Raw::start(move |_, _| vec![write(response.clone())]).await;
        let client = client(&server.url, ClientPolicy::off());
        let items: Vec<_> = match client
            .stream_generate_content(
                "gemini-2.5-flash",
                &steadfast_gemini::types::GenerateContentRequest::prompt("hi"),
            )
            .await
        {
            Ok(stream) => futures_util::StreamExt::collect(stream).await,
            Err(e) => vec![Err(e)],
        };
        assert!(
            items
                .iter()
                .any(|i| matches!(i, Err(e) if *e.kind() == ErrorKind::Undecodable)),
            "{items:?}"
        );
        assert!(items.iter().all(|i| i.is_err()), "{items:?}");
    }
}
