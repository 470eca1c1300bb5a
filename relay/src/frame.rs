//! Whole events only: a stream is passed on up to its last complete event (server-sent events)
//! or element (a JSON array), so that when the upstream fails mid-way, the error event the relay
//! appends follows a complete event, never half of one, and nothing follows an array that was
//! already closed.
//!
//! The common case costs nothing: a chunk that ends on a boundary, with nothing held from the
//! one before, is passed on as it came (the same buffer).

use bytes::{Bytes, BytesMut};

/// The framing of one stream.
#[derive(Debug)]
pub(crate) enum Framer {
    /// `alt=sse`: events end with a blank line. `openai`: an OpenAI-compatible stream, whose
    /// last event is `data: [DONE]`; `done`: that event has been passed on (nothing may follow
    /// it).
    Sse {
        held: BytesMut,
        openai: bool,
        done: bool,
    },
    /// A JSON array of objects.
    Array {
        held: BytesMut,
        depth: u32,
        in_string: bool,
        escaped: bool,
        /// Whether an element has been passed on whole (the next one needs a comma).
        element: bool,
        /// Whether the array's `]` has been passed on.
        closed: bool,
    },
}

impl Framer {
    pub(crate) fn new(sse: bool) -> Framer {
        if sse {
            Framer::Sse {
                held: BytesMut::new(),
                openai: false,
                done: false,
            }
        } else {
            Framer::Array {
                held: BytesMut::new(),
                depth: 0,
                in_string: false,
                escaped: false,
                element: false,
                closed: false,
            }
        }
    }

    /// The framing of an OpenAI-compatible stream: server-sent events ending with
    /// `data: [DONE]`.
    pub(crate) fn openai() -> Framer {
        Framer::Sse {
            held: BytesMut::new(),
            openai: true,
            done: false,
        }
    }

    /// What of `chunk` (after what was held) may be passed on now: up to the last boundary.
    pub(crate) fn push(&mut self, chunk: Bytes) -> Bytes {
        match self {
            Framer::Sse { held, openai, done } => {
                let start = held.len();
                let boundary = last_sse_boundary(held, &chunk);
                let out = match boundary {
                    Some(end) if start == 0 && end == chunk.len() => chunk,
                    Some(end) => {
                        held.extend_from_slice(&chunk);
                        let out = held.split_to(end + start);
                        out.freeze()
                    }
                    None => {
                        held.extend_from_slice(&chunk);
                        Bytes::new()
                    }
                };
                // A whole event that is `data: [DONE]` (not those bytes inside an answer's text).
                if *openai && !out.is_empty() && ends_with_done(&out) {
                    *done = true;
                }
                out
            }
            Framer::Array {
                held,
                depth,
                in_string,
                escaped,
                element,
                closed,
            } => {
                let start = held.len();
                let mut safe: Option<usize> = None;
                for (i, &b) in chunk.iter().enumerate() {
                    if *in_string {
                        if *escaped {
                            *escaped = false;
                        } else if b == b'\\' {
                            *escaped = true;
                        } else if b == b'"' {
                            *in_string = false;
                        }
                        continue;
                    }
                    match b {
                        b'"' => *in_string = true,
                        b'[' | b'{' => {
                            *depth += 1;
                            if *depth == 1 {
                                safe = Some(i + 1);
                            }
                        }
                        b']' | b'}' => {
                            *depth = depth.saturating_sub(1);
                            if *depth == 1 {
                                *element = true;
                                safe = Some(i + 1);
                            } else if *depth == 0 {
                                *closed = true;
                                safe = Some(chunk.len());
                            }
                        }
                        _ => {}
                    }
                }
                match safe {
                    Some(end) if start == 0 && end == chunk.len() => chunk,
                    Some(end) => {
                        held.extend_from_slice(&chunk);
                        held.split_to(end + start).freeze()
                    }
                    None => {
                        held.extend_from_slice(&chunk);
                        Bytes::new()
                    }
                }
            }
        }
    }

    /// The end of a stream that ended cleanly: whatever is held.
    pub(crate) fn finish(&mut self) -> Bytes {
        match self {
            Framer::Sse { held, .. } | Framer::Array { held, .. } => held.split().freeze(),
        }
    }

    /// The end of a stream that failed: the part of an event held is dropped and `error` (the
    /// API's error object, as JSON) follows as the stream's last event or element; nothing
    /// follows an array already closed, or a `data: [DONE]`.
    pub(crate) fn fail(&mut self, error: &str) -> Bytes {
        match self {
            Framer::Sse { held, done, .. } => {
                held.clear();
                if *done {
                    Bytes::new()
                } else {
                    Bytes::from(format!("data: {error}\r\n\r\n"))
                }
            }
            Framer::Array {
                held,
                element,
                closed,
                ..
            } => {
                held.clear();
                if *closed {
                    Bytes::new()
                } else if *element {
                    Bytes::from(format!(",\r\n{error}]"))
                } else {
                    Bytes::from(format!("{error}]"))
                }
            }
        }
    }
}

/// Whether the last whole event of `events` is `data: [DONE]`.
fn ends_with_done(events: &[u8]) -> bool {
    let text = String::from_utf8_lossy(events)
        .replace("\r\n", "\n")
        .replace('\r', "\n");
    text.rsplit("\n\n")
        .map(str::trim)
        .find(|e| !e.is_empty())
        .is_some_and(|last| last == "data: [DONE]")
}

/// The end of the last complete event in `held` followed by `chunk`, counted in `chunk`'s
/// bytes (`0..=chunk.len()`), when `chunk` completes one.
fn last_sse_boundary(held: &[u8], chunk: &[u8]) -> Option<usize> {
    // Look back three bytes into what is held, for a blank line split between chunks.
    let back = held.len().min(3);
    let mut window = Vec::with_capacity(back + chunk.len());
    window.extend_from_slice(&held[held.len() - back..]);
    window.extend_from_slice(chunk);
    let mut last = None;
    for i in 1..window.len() {
        let ends = (window[i - 1] == b'\n' && window[i] == b'\n')
            || (window[i - 1] == b'\r' && window[i] == b'\r')
            || (i >= 3 && &window[i - 3..=i] == b"\r\n\r\n");
        if ends && i + 1 > back {
            last = Some(i + 1 - back);
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_follows_an_openai_streams_done() {
        let mut f = Framer::openai();
        let out = f.push(Bytes::from_static(b"data: {\"a\":1}\n\ndata: [DONE]\n\n"));
        assert!(out.ends_with(b"[DONE]\n\n"));
        assert!(f.fail("{\"error\":{}}").is_empty(), "no error after [DONE]");
        let mut f = Framer::openai();
        f.push(Bytes::from_static(b"data: {\"a\":1}\n\n"));
        assert!(!f.fail("{\"error\":{}}").is_empty(), "an error before it");
        // Found by review: an answer whose text holds those bytes is not the end.
        for mut f in [Framer::openai(), Framer::new(true)] {
            f.push(Bytes::from_static(
                b"data: {\"text\":\"ends with\\ndata: [DONE]\"}\n\n",
            ));
            assert!(
                !f.fail("{\"error\":{}}").is_empty(),
                "an error still follows"
            );
        }
    }

    fn run(framer: &mut Framer, chunks: &[&str]) -> String {
        let mut out = Vec::new();
        for c in chunks {
            out.extend_from_slice(&framer.push(Bytes::from(c.to_string())));
        }
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn sse_passes_whole_events_and_a_failure_follows_a_whole_one() {
        let mut f = Framer::new(true);
        let out = run(
            &mut f,
            &[
                "data: {\"a\":1}\r\n\r\ndata: {\"b\":",
                "2}\r\n",
                "\r\ndata: {\"c\"",
            ],
        );
        assert_eq!(out, "data: {\"a\":1}\r\n\r\ndata: {\"b\":2}\r\n\r\n");
        let end = f.fail("{\"error\":{}}");
        assert_eq!(&end[..], b"data: {\"error\":{}}\r\n\r\n");
        let mut f = Framer::new(true);
        let out = run(&mut f, &["data: x\n\n"]);
        assert_eq!(out, "data: x\n\n");
        assert!(f.finish().is_empty());
    }

    #[test]
    fn arrays_pass_whole_elements_and_stay_valid_json_when_they_fail() {
        let mut f = Framer::new(false);
        let out = run(&mut f, &["[{\"t\":\"a]}\\\"\"}", ",\r\n{\"t\":", "\"b\"}"]);
        assert_eq!(out, "[{\"t\":\"a]}\\\"\"},\r\n{\"t\":\"b\"}");
        let mut all = out.into_bytes();
        all.extend_from_slice(&f.fail("{\"error\":{\"code\":503}}"));
        let value: serde_json::Value = serde_json::from_slice(&all).unwrap_or_default();
        assert_eq!(value.as_array().map(Vec::len), Some(3), "{value}");
        // A failure before the first element is whole: the error is the only element.
        let mut f = Framer::new(false);
        let mut all = run(&mut f, &["[{\"t\":\"hal"]).into_bytes();
        all.extend_from_slice(&f.fail("{\"error\":{}}"));
        assert_eq!(
            String::from_utf8(all).unwrap_or_default(),
            "[{\"error\":{}}]"
        );
        // After the array is closed, nothing is added.
        let mut f = Framer::new(false);
        let out = run(&mut f, &["[{\"t\":1}]"]);
        assert_eq!(out, "[{\"t\":1}]");
        assert!(f.fail("{\"error\":{}}").is_empty());
    }
}
