//! Server delay hints: one resolver for every way a server says "retry after this long".
//!
//! Servers say it in several ways, and a client that ignores them either hammers a server that
//! asked for quiet or waits far longer than needed:
//!
//! - `google.rpc.RetryInfo.retryDelay`, a protobuf JSON duration: `"17s"`, `"0.5s"`,
//!   `"1.000000001s"` ([`parse_proto_duration`], [`retry_info_delay`] for a whole error body);
//! - `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2026 07:28:00 GMT` ([`parse_retry_after`]);
//! - `retry-after-ms: 1500` (OpenAI-style, [`from_headers`] prefers it to `Retry-After`);
//! - prose such as `"Please retry in 17.98s."` or `"retry in 350ms"` ([`parse_retry_in_text`]).
//!
//! A hint is a relative [`Duration`]. The executor never shortens it with jitter; a hint longer
//! than `max_hint`, or than the time left before the deadline, makes it give up at once with
//! [`Error::RetryDelayTooLong`](crate::Error::RetryDelayTooLong), which says when a retry would
//! have been allowed. A hint longer than a year and a day, or a number too large to hold, is
//! read as [`LONGEST_HINT`]: a server asking for a century gets no retry, not a retry in a second.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::hint;
//! assert_eq!(hint::parse_proto_duration("17s"), Some(Duration::from_secs(17)));
//! assert_eq!(hint::parse_retry_in_text("Please retry in 17.98s."), Some(Duration::from_millis(17_980)));
//! ```

use std::time::{Duration, SystemTime};

/// The longest hint a parser returns (a year and a day): a longer one, or a number too large to
/// hold, is read as this. It is far past the default `max_hint` (120 s), so the call gives up at
/// once (with a `max_hint` longer than this, and no deadline, it waits this long), and still
/// small enough to add to any clock. (Reading such a hint as no hint at all, as an earlier
/// version did, retried after the backoff's second instead: the longer a server asked us to
/// stay away, the sooner we came back.)
pub const LONGEST_HINT: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parses a decimal number of `unit`s (`"17.98"`, `"3"`) into a duration without going through
/// floating point, so that nine-decimal protobuf durations stay exact.
fn parse_decimal(text: &str, nanos_per_unit: u64) -> Option<Duration> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // All digits, so a parse error can only be a number too large for `u64`: a long hint.
    let Ok(whole) = (if int.is_empty() {
        Ok(0)
    } else {
        int.parse::<u64>()
    }) else {
        return Some(LONGEST_HINT);
    };
    // Keep up to nine decimals of the unit; digits beyond a nanosecond are dropped.
    let mut frac_nanos: u64 = 0;
    let mut scale = nanos_per_unit;
    for d in frac.bytes() {
        scale /= 10;
        if scale == 0 {
            break;
        }
        frac_nanos += u64::from(d - b'0') * scale;
    }
    let nanos = whole
        .checked_mul(nanos_per_unit)
        .and_then(|n| n.checked_add(frac_nanos));
    Some(nanos.map_or(LONGEST_HINT, |n| Duration::from_nanos(n).min(LONGEST_HINT)))
}

/// Parses a protobuf JSON duration as used by `google.rpc.RetryInfo.retryDelay`: decimal seconds
/// followed by `s`, up to nine decimals (`"17s"`, `"0.5s"`, `"1.000000001s"`).
///
/// ```
/// use std::time::Duration;
/// use steadfast::hint::parse_proto_duration;
/// assert_eq!(parse_proto_duration("0.5s"), Some(Duration::from_millis(500)));
/// assert_eq!(parse_proto_duration("1.000000001s"), Some(Duration::new(1, 1)));
/// assert_eq!(parse_proto_duration("-3s"), None);
/// assert_eq!(parse_proto_duration("soon"), None);
/// ```
pub fn parse_proto_duration(text: &str) -> Option<Duration> {
    parse_decimal(text.trim().strip_suffix('s')?, 1_000_000_000)
}

/// Parses a `Retry-After` value: whole (or decimal) seconds, or an HTTP date, which is turned
/// into the time left from `now` (a date in the past means "now": zero).
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use steadfast::hint::parse_retry_after;
/// let now = UNIX_EPOCH + Duration::from_secs(1_445_412_450);
/// assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
/// assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(30)));
/// assert_eq!(parse_retry_after("later", now), None);
/// // Longer than a year and a day (here a century): read as `LONGEST_HINT`, so the call gives up.
/// assert_eq!(parse_retry_after("3155760000", now), Some(steadfast::hint::LONGEST_HINT));
/// ```
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Some(d) = parse_decimal(value, 1_000_000_000) {
        return Some(d);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let d = at.duration_since(now).unwrap_or(Duration::ZERO);
    Some(d.min(LONGEST_HINT))
}

/// Parses a `retry-after-ms` value (milliseconds, possibly decimal).
///
/// ```
/// use std::time::Duration;
/// assert_eq!(steadfast::hint::parse_retry_after_ms("1500"), Some(Duration::from_millis(1500)));
/// ```
pub fn parse_retry_after_ms(value: &str) -> Option<Duration> {
    parse_decimal(value.trim(), 1_000_000)
}

/// Finds "retry in 17.98s" (or `ms`, `m`, case-insensitive) in a message, as Gemini writes in its
/// 429 messages ("Please retry in 17.980215497s.").
///
/// ```
/// use std::time::Duration;
/// use steadfast::hint::parse_retry_in_text;
/// assert_eq!(parse_retry_in_text("Quota exceeded. Please retry in 350ms"), Some(Duration::from_millis(350)));
/// assert_eq!(parse_retry_in_text("Retry in 2m"), Some(Duration::from_secs(120)));
/// assert_eq!(parse_retry_in_text("try again later"), None);
/// ```
pub fn parse_retry_in_text(message: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(pos) = rest.find("retry in ") {
        let after = &rest[pos + "retry in ".len()..];
        let number_len = after
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let (number, unit) = after.split_at(number_len);
        let number = number.trim_end_matches('.');
        let parsed = if unit.starts_with("ms") {
            parse_decimal(number, 1_000_000)
        } else if unit.starts_with('s') {
            parse_decimal(number, 1_000_000_000)
        } else if unit.starts_with('m') {
            parse_decimal(number, 60_000_000_000)
        } else {
            None
        };
        if parsed.is_some() {
            return parsed;
        }
        rest = after;
    }
    None
}

/// The hint carried by HTTP headers: `retry-after-ms` first (more precise), then `Retry-After`.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// let mut headers = http::HeaderMap::new();
/// headers.insert("retry-after", "7".parse().unwrap());
/// assert_eq!(steadfast::hint::from_headers(&headers, SystemTime::now()), Some(Duration::from_secs(7)));
/// ```
pub fn from_headers(headers: &http::HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    text("retry-after-ms")
        .and_then(parse_retry_after_ms)
        .or_else(|| text("retry-after").and_then(|v| parse_retry_after(v, now)))
}

/// The `retryDelay` of the `google.rpc.RetryInfo` detail in a Google API error body, falling back
/// to "retry in Ns" in the message. Accepts the plain `{"error": …}` object and the one-element
/// array form `[{"error": …}]`; anything else yields `None`, never a panic.
///
/// ```
/// use std::time::Duration;
/// let body = r#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED",
///   "details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"17s"}]}}"#;
/// assert_eq!(steadfast::hint::retry_info_delay(body), Some(Duration::from_secs(17)));
/// assert_eq!(steadfast::hint::retry_info_delay("<html>502</html>"), None);
/// ```
pub fn retry_info_delay(body: &str) -> Option<Duration> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let value = match &value {
        serde_json::Value::Array(items) => items.first()?,
        other => other,
    };
    let error = value.get("error")?;
    let from_details = error
        .get("details")
        .and_then(|d| d.as_array())
        .and_then(|details| {
            details.iter().find_map(|d| {
                let is_retry_info = d
                    .get("@type")
                    .and_then(|t| t.as_str())
                    .is_some_and(|t| t.ends_with("google.rpc.RetryInfo"));
                if !is_retry_info {
                    return None;
                }
                d.get("retryDelay")?.as_str().and_then(parse_proto_duration)
            })
        });
    from_details.or_else(|| {
        error
            .get("message")
            .and_then(|m| m.as_str())
            .and_then(parse_retry_in_text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn proto_durations_keep_nine_decimals() {
        assert_eq!(
            parse_proto_duration("17.980215497s"),
            Some(Duration::new(17, 980_215_497))
        );
        assert_eq!(
            parse_proto_duration("0.000000001s"),
            Some(Duration::from_nanos(1))
        );
        // Digits past the nanosecond are dropped, not rounded into an error.
        assert_eq!(
            parse_proto_duration("1.0000000019s"),
            Some(Duration::new(1, 1))
        );
        assert_eq!(parse_proto_duration("17"), None);
        assert_eq!(parse_proto_duration("s"), None);
        assert_eq!(parse_proto_duration("1e3s"), None);
        // Too large to hold: a long hint, not none.
        assert_eq!(
            parse_proto_duration("99999999999999999999s"),
            Some(LONGEST_HINT)
        );
    }

    /// Regression (probe D4): a hint longer than a year, or too large to hold, was read as no
    /// hint at all, so the call retried after its backoff's second instead of giving up.
    #[test]
    fn hints_longer_than_a_year_are_read_as_the_longest() {
        let now = UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        for value in [
            "31622401",
            "999999999",
            "99999999999999999999999",
            "Fri, 31 Dec 2100 23:59:59 GMT",
        ] {
            assert_eq!(parse_retry_after(value, now), Some(LONGEST_HINT), "{value}");
        }
        assert_eq!(parse_retry_after_ms("86400000000"), Some(LONGEST_HINT));
        assert_eq!(
            parse_retry_in_text("Please retry in 99999999999s."),
            Some(LONGEST_HINT)
        );
        // A year exactly is kept as it is.
        assert_eq!(
            parse_retry_after("31536000", now),
            Some(Duration::from_secs(31_536_000))
        );
    }

    #[test]
    fn retry_after_date_in_the_past_means_now() {
        let now = UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_ms_is_preferred_over_retry_after() {
        let mut headers = http::HeaderMap::new();
        headers.insert("retry-after", "7".parse().unwrap());
        headers.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(
            from_headers(&headers, SystemTime::now()),
            Some(Duration::from_millis(250))
        );
    }

    #[test]
    fn retry_info_in_array_body_and_message_fallback() {
        let array = r#"[{"error":{"code":429,"details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure"},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"0.5s"}]}}]"#;
        assert_eq!(retry_info_delay(array), Some(Duration::from_millis(500)));
        let message = r#"{"error":{"code":429,"message":"Please retry in 3.5s."}}"#;
        assert_eq!(retry_info_delay(message), Some(Duration::from_millis(3500)));
        for garbage in [
            "",
            "[]",
            "{}",
            "null",
            r#"{"error":7}"#,
            "[1]",
            "{\"error\":{\"details\":[1,2]}}",
        ] {
            assert_eq!(retry_info_delay(garbage), None, "{garbage}");
        }
    }

    #[test]
    fn retry_in_text_skips_non_numbers() {
        assert_eq!(
            parse_retry_in_text("retry in a moment, or retry in 4s"),
            Some(Duration::from_secs(4))
        );
    }
}
