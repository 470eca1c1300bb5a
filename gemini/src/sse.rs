//! Server-sent events, as `streamGenerateContent?alt=sse` sends them.
//!
//! Events are separated by a blank line; each `data:` line adds a line to the event's data.
//! Line ends may be `\n`, `\r\n` or `\r`; comment lines (`:`) and other fields (`event:`, `id:`,
//! `retry:`) are ignored. The parser is incremental: network chunks may split anything, even a
//! `\r\n`.

use crate::Error;
use crate::types::GenerateContentResponse;

/// An incremental SSE parser: feed it bytes, take complete events' data.
///
/// ```
/// use steadfast_gemini::sse::EventParser;
/// let mut p = EventParser::default();
/// assert!(p.push(b"data: {\"a\":").is_empty());
/// assert_eq!(p.push(b"1}\r\n\r\ndata: x\n"), vec!["{\"a\":1}".to_owned()]);
/// assert_eq!(p.finish(), vec!["x".to_owned()]);
/// ```
#[derive(Debug, Default)]
pub struct EventParser {
    line: Vec<u8>,
    data: Option<String>,
    after_cr: bool,
}

impl EventParser {
    /// Feeds bytes; returns the data of every event completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut events = Vec::new();
        for &b in bytes {
            match b {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    self.end_line(&mut events);
                }
                _ => {
                    self.after_cr = false;
                    self.line.push(b);
                }
            }
        }
        events
    }

    /// Bytes held for the event being read (its data so far and its current line): what an
    /// event without an end costs in memory.
    pub fn buffered(&self) -> usize {
        self.line.len() + self.data.as_ref().map_or(0, String::len)
    }

    /// Ends the stream: an event not followed by a blank line is still delivered.
    pub fn finish(&mut self) -> Vec<String> {
        let mut events = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut events);
        }
        events.extend(self.data.take());
        events
    }

    fn end_line(&mut self, events: &mut Vec<String>) {
        let line = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        if line.is_empty() {
            events.extend(self.data.take());
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        if field == "data" {
            match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            }
        }
    }
}

/// Decodes one event of a `streamGenerateContent` stream: a chunk, or the error it carries
/// (an error object inside a 200 stream, judged by its own code), or an undecodable event.
pub fn decode_chunk(data: &str) -> Result<GenerateContentResponse, Error> {
    let value: serde_json::Value = serde_json::from_str(data).map_err(|e| {
        Error::undecodable(
            200,
            data.as_bytes(),
            format!("stream event is not JSON: {e}"),
        )
    })?;
    let is_error = match &value {
        serde_json::Value::Array(items) => items.first().is_some_and(|i| i.get("error").is_some()),
        other => other.get("error").is_some(),
    };
    if is_error {
        return Err(Error::from_stream_event(data.as_bytes()));
    }
    let chunk: GenerateContentResponse = serde_json::from_value(value).map_err(|e| {
        Error::undecodable(
            200,
            data.as_bytes(),
            format!("stream event is not a response: {e}"),
        )
    })?;
    // `{}` or `{"unexpected": true}` is not an empty chunk: it is not a chunk at all. Every
    // chunk Gemini sends carries candidates, the prompt's feedback or the usage (the last one
    // may carry only the usage).
    if chunk.candidates.is_empty()
        && chunk.prompt_feedback.is_none()
        && chunk.usage_metadata.is_none()
    {
        return Err(Error::undecodable(
            200,
            data.as_bytes(),
            "a stream event with neither candidates, promptFeedback nor usageMetadata",
        ));
    }
    Ok(chunk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn crlf_split_across_chunks_and_multiline_data() {
        let mut p = EventParser::default();
        let mut all = p.push(b"data: a\r");
        all.extend(p.push(b"\ndata: b\r\n\r"));
        all.extend(p.push(b"\n: comment\r\nevent: x\r\ndata: c\r\n\r\n"));
        all.extend(p.finish());
        assert_eq!(all, ["a\nb", "c"]);
    }

    #[test]
    fn errors_inside_the_stream_keep_their_code() {
        let e = decode_chunk(
            r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#,
        )
        .unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::Unavailable);
        assert!(e.in_stream());
        assert_eq!(
            *decode_chunk("{not json").unwrap_err().kind(),
            ErrorKind::Undecodable
        );
        assert_eq!(
            decode_chunk(r#"{"candidates":[{"content":{"parts":[{"text":"hi"}]}}]}"#)
                .unwrap()
                .text(),
            "hi"
        );
    }
}
