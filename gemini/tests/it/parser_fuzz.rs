//! No body can make the error parser panic: random bytes, random JSON-ish text, and every prefix
//! of every real fixture.

use proptest::prelude::*;
use steadfast::classify::Classify;
use steadfast_gemini::Error;

fn exercise(status: u16, body: &[u8]) {
    for e in [
        Error::from_body(status, body),
        Error::from_stream_event(body),
    ] {
        let _ = e.to_string();
        let _ = format!("{e:?}");
        let _ = e.failure();
        let _ = (e.kind().advice(), e.code(), e.retry_after());
    }
}

#[test]
fn every_prefix_of_every_fixture_is_handled() {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(text) = std::fs::read(entry.path()) else {
            continue;
        };
        for end in 0..=text.len() {
            exercise(429, &text[..end]);
        }
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(status in 0u16..1000, body in proptest::collection::vec(any::<u8>(), 0..512)) {
        exercise(status, &body);
    }

    #[test]
    fn random_status_objects_never_panic(
        code in prop_oneof![Just("429".to_owned()), Just("-1".to_owned()), Just("99999999999".to_owned()), Just("\"x\"".to_owned()), Just("null".to_owned())],
        detail in prop_oneof![
            Just(r#"{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"99999999999999999999s"}"#),
            Just(r#"{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":7}"#),
            Just(r#"{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":"none"}"#),
            Just(r#"{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[null,{"quotaId":5}]}"#),
            Just(r#"{"@type":7}"#),
            Just(r#"[]"#),
        ],
        message in ".{0,80}",
    ) {
        let body = format!(r#"[{{"error":{{"code":{code},"message":{},"details":[{detail}]}}}}]"#, serde_json::Value::String(message));
        exercise(429, body.as_bytes());
    }
}

proptest! {
    #[test]
    fn the_sse_parser_never_panics_and_split_points_do_not_matter(
        body in proptest::collection::vec(prop_oneof![
            Just(b"data: ".to_vec()), Just(b"\r\n".to_vec()), Just(b"\n".to_vec()), Just(b"\r".to_vec()),
            Just(b"{\"candidates\":[]}".to_vec()), Just(b":c".to_vec()), Just(b"data".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..8),
        ], 0..40),
        split in any::<usize>(),
    ) {
        let bytes: Vec<u8> = body.concat();
        let whole = {
            let mut p = steadfast_gemini::sse::EventParser::default();
            let mut events = p.push(&bytes);
            events.extend(p.finish());
            events
        };
        let at = if bytes.is_empty() { 0 } else { split % bytes.len() };
        let mut p = steadfast_gemini::sse::EventParser::default();
        let mut parts = p.push(&bytes[..at]);
        parts.extend(p.push(&bytes[at..]));
        parts.extend(p.finish());
        prop_assert_eq!(&whole, &parts);
        for event in whole {
            let _ = steadfast_gemini::sse::decode_chunk(&event);
        }
    }
}
