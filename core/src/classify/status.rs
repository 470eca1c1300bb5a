//! Sets of retryable failures: statuses, ranges and named classes.

use super::{Failure, Transport};
use crate::error::ConfigError;
use std::fmt;
use std::str::FromStr;

/// An inclusive range of HTTP statuses, each within 100..=599.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusRange {
    low: u16,
    high: u16,
}

impl StatusRange {
    /// The range `low..=high`; fails when either end is outside 100..=599 or `low > high`.
    pub fn new(low: u16, high: u16) -> Result<Self, ConfigError> {
        for s in [low, high] {
            if !(100..=599).contains(&s) {
                return Err(ConfigError::new(
                    "on",
                    format!("status {s} is not an HTTP status: use a value in 100..=599"),
                ));
            }
        }
        if low > high {
            return Err(ConfigError::new(
                "on",
                format!("range {low}..={high} is empty: write the lower status first"),
            ));
        }
        Ok(StatusRange { low, high })
    }

    /// Whether `status` lies in the range.
    pub const fn contains(&self, status: u16) -> bool {
        self.low <= status && status <= self.high
    }
}

/// Which failures are retried: statuses and ranges, plus the classes `timeout` and `connect`.
///
/// `RetryOn::transient()` is the default: 408, 429, 500, 502, 503, 504, timeouts and connection
/// errors. The set is built once per policy; matching a failure is a scan of a few ranges and
/// allocates nothing.
///
/// ```
/// use steadfast::classify::{Failure, RetryOn, Transport};
/// let on: RetryOn = "429, 500..=599, timeout".parse().unwrap();
/// assert!(on.matches(&Failure::status(503)));
/// assert!(on.matches(&Failure::transport(Transport::Timeout)));
/// assert!(!on.matches(&Failure::transport(Transport::Connect)));
/// assert!(!on.matches(&Failure::status(404)));
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RetryOn {
    ranges: Vec<StatusRange>,
    timeout: bool,
    connect: bool,
}

/// The statuses of the class `transient`.
const TRANSIENT: [u16; 6] = [408, 429, 500, 502, 503, 504];

impl RetryOn {
    /// An empty set: nothing is retried. Add entries with the `with_*` methods.
    pub fn none() -> Self {
        RetryOn::default()
    }

    /// The class `transient`: 408, 429, 500, 502, 503, 504, timeouts and connection errors.
    pub fn transient() -> Self {
        let mut on = RetryOn::none().with_timeouts().with_connection_errors();
        for s in TRANSIENT {
            on.ranges.push(StatusRange { low: s, high: s });
        }
        on
    }

    /// Exactly these statuses; fails on a value outside 100..=599.
    pub fn statuses(statuses: &[u16]) -> Result<Self, ConfigError> {
        statuses
            .iter()
            .try_fold(RetryOn::none(), |on, &s| on.with_status(s))
    }

    /// Adds one status.
    pub fn with_status(self, status: u16) -> Result<Self, ConfigError> {
        self.with_range(status, status)
    }

    /// Adds the statuses `low..=high`.
    pub fn with_range(mut self, low: u16, high: u16) -> Result<Self, ConfigError> {
        self.ranges.push(StatusRange::new(low, high)?);
        Ok(self)
    }

    /// Adds the class `timeout`.
    pub fn with_timeouts(mut self) -> Self {
        self.timeout = true;
        self
    }

    /// Adds the class `connect`: connections refused, unreachable, reset or closed early.
    pub fn with_connection_errors(mut self) -> Self {
        self.connect = true;
        self
    }

    /// Adds every entry of `other`.
    pub fn union(mut self, other: &RetryOn) -> Self {
        self.ranges.extend_from_slice(&other.ranges);
        self.timeout |= other.timeout;
        self.connect |= other.connect;
        self
    }

    /// Whether nothing at all is retried.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty() && !self.timeout && !self.connect
    }

    /// Whether `status` is in the set.
    pub fn contains_status(&self, status: u16) -> bool {
        self.ranges.iter().any(|r| r.contains(status))
    }

    /// Whether the set retries `failure` (ignoring whether it is terminal).
    pub fn matches(&self, failure: &Failure) -> bool {
        if let Some(s) = failure.status_code() {
            return self.contains_status(s);
        }
        match failure.transport_kind() {
            Some(Transport::Timeout) => self.timeout,
            Some(Transport::Connect | Transport::Reset) => self.connect,
            Some(Transport::Other) | None => false,
        }
    }
}

impl fmt::Debug for RetryOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for RetryOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self
            .ranges
            .iter()
            .map(|r| {
                if r.low == r.high {
                    r.low.to_string()
                } else {
                    format!("{}..={}", r.low, r.high)
                }
            })
            .collect();
        if self.timeout {
            parts.push("timeout".into());
        }
        if self.connect {
            parts.push("connect".into());
        }
        write!(f, "[{}]", parts.join(", "))
    }
}

impl FromStr for RetryOn {
    type Err = ConfigError;

    /// Parses a comma-separated list: `429`, `500..=599`, `transient`, `timeout`, `connect`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut on = RetryOn::none();
        for item in s.split(',').map(str::trim) {
            on = on.with_entry(item)?;
        }
        if on.is_empty() {
            return Err(ConfigError::new(
                "on",
                "the set is empty: list statuses (429), ranges (500..=599) or classes \
                 (\"transient\", \"timeout\", \"connect\")",
            ));
        }
        Ok(on)
    }
}

impl RetryOn {
    /// Adds one textual entry: a status, a range `a..=b`, or a class name.
    pub fn with_entry(self, item: &str) -> Result<Self, ConfigError> {
        match item {
            "transient" => Ok(self.union(&RetryOn::transient())),
            "timeout" => Ok(self.with_timeouts()),
            "connect" => Ok(self.with_connection_errors()),
            _ => {
                let parse = |t: &str| {
                    t.trim().parse::<u16>().map_err(|_| {
                        ConfigError::new(
                            "on",
                            format!(
                                "`{item}` is not a status, a range like 500..=599, or one of \
                                 \"transient\", \"timeout\", \"connect\""
                            ),
                        )
                    })
                };
                match item.split_once("..=") {
                    Some((a, b)) => self.with_range(parse(a)?, parse(b)?),
                    None => self.with_status(parse(item)?),
                }
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for RetryOn {
    /// A list of entries, each a status number, a range `"500..=599"` or a class name. A bad
    /// entry is reported as what it is and what an `on` entry may be (a hand-written visitor:
    /// serde's untagged enums only say that no variant matched).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, SeqAccess, Visitor};
        use std::fmt;

        const EXPECTED: &str = "an `on` entry: a status from 100 to 599 (429), a range \
                                (\"500..=599\") or a class (\"transient\", \"timeout\", \
                                \"connect\")";

        /// One entry, read from whatever the format holds.
        enum Entry {
            Status(u16),
            Text(String),
        }

        impl<'de> serde::Deserialize<'de> for Entry {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct EntryVisitor;
                impl Visitor<'_> for EntryVisitor {
                    type Value = Entry;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(EXPECTED)
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Entry, E> {
                        u16::try_from(v)
                            .map(Entry::Status)
                            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Entry, E> {
                        match u64::try_from(v) {
                            Ok(v) => self.visit_u64(v),
                            Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                        }
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<Entry, E> {
                        Ok(Entry::Text(v.to_owned()))
                    }
                }
                d.deserialize_any(EntryVisitor)
            }
        }

        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = RetryOn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "`on`: a list of statuses (429), ranges (\"500..=599\") or classes \
                     (\"transient\", \"timeout\", \"connect\")",
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RetryOn, A::Error> {
                let mut on = RetryOn::none();
                while let Some(entry) = seq.next_element::<Entry>()? {
                    on = match entry {
                        Entry::Status(s) => on.with_status(s),
                        Entry::Text(t) => on.with_entry(&t),
                    }
                    .map_err(de::Error::custom)?;
                }
                if on.is_empty() {
                    return Err(de::Error::custom(
                        "`on` is empty: list statuses, ranges or classes",
                    ));
                }
                Ok(on)
            }
        }
        d.deserialize_seq(Entries)
    }
}

/// A static label for a status, so that log fields need no allocation.
pub(crate) fn status_label(status: u16) -> &'static str {
    const EXACT: [(u16, &str); 11] = [
        (400, "status 400"),
        (401, "status 401"),
        (403, "status 403"),
        (404, "status 404"),
        (408, "status 408"),
        (409, "status 409"),
        (429, "status 429"),
        (500, "status 500"),
        (502, "status 502"),
        (503, "status 503"),
        (504, "status 504"),
    ];
    if let Some((_, label)) = EXACT.iter().find(|(code, _)| *code == status) {
        return label;
    }
    match status {
        100..=199 => "status 1xx",
        200..=299 => "status 2xx",
        300..=399 => "status 3xx",
        400..=499 => "status 4xx",
        _ => "status 5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_class_is_the_documented_set() {
        let on = RetryOn::transient();
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(on.contains_status(s), "{s}");
        }
        for s in [400, 401, 403, 404, 501, 505] {
            assert!(!on.contains_status(s), "{s}");
        }
        assert!(on.matches(&Failure::transport(Transport::Reset)));
        assert!(!on.matches(&Failure::transport(Transport::Other)));
        assert!(!on.matches(&Failure::unknown()));
    }

    #[test]
    fn statuses_outside_http_range_are_rejected() {
        assert!(RetryOn::statuses(&[99]).is_err());
        assert!(RetryOn::statuses(&[600]).is_err());
        assert!(RetryOn::none().with_range(599, 500).is_err());
        let err = "429, 5000".parse::<RetryOn>().unwrap_err();
        assert!(err.to_string().contains("5000"), "{err}");
    }

    #[test]
    fn text_form_parses_ranges_and_classes() {
        let on: RetryOn = "429, 500..=503, connect".parse().unwrap();
        assert!(on.contains_status(502) && !on.contains_status(504));
        assert!(on.matches(&Failure::transport(Transport::Connect)));
        assert!(!on.matches(&Failure::transport(Transport::Timeout)));
        assert_eq!(on.to_string(), "[429, 500..=503, connect]");
        assert!("".parse::<RetryOn>().is_err());
        assert!("sometimes".parse::<RetryOn>().is_err());
    }

    #[test]
    fn deserializes_from_mixed_json_list() {
        let on: RetryOn = serde_json::from_str(r#"[429, "500..=599", "timeout"]"#).unwrap();
        assert!(on.contains_status(599) && on.contains_status(429));
        assert!(serde_json::from_str::<RetryOn>("[]").is_err());
        assert!(serde_json::from_str::<RetryOn>("[700]").is_err());
    }
}
