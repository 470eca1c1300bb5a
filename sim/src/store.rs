//! What the simulator stores for the Files API and cached content (files, upload sessions,
//! caches), behind one lock, with the clock their expiry follows, and the helpers both read
//! (project of a key, ids, page tokens, timestamps, proto durations).

use super::request::query_param;
use super::{Reply, SimulatorConfig, State, errors};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use steadfast::calendar::{civil_from_days, days_from_civil};
use tokio::time::Instant;

/// Everything stored, behind one lock (every operation on it is short and never awaits).
#[derive(Default)]
pub(super) struct Stored {
    pub(super) files: BTreeMap<u64, StoredFile>,
    pub(super) sessions: HashMap<String, Session>,
    pub(super) caches: BTreeMap<u64, StoredCache>,
    pub(super) batches: BTreeMap<u64, StoredBatch>,
    /// Resources created so far: ids, order of listing.
    pub(super) serial: u64,
}

/// The store and its clock.
pub(crate) struct Storage {
    pub(super) stored: Mutex<Stored>,
    pub(super) started: Instant,
    pub(super) wall: SystemTime,
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            stored: Mutex::default(),
            started: Instant::now(),
            wall: SystemTime::now(),
        }
    }
}

impl Storage {
    /// The store, after dropping what expired.
    pub(super) fn lock(&self) -> MutexGuard<'_, Stored> {
        let mut stored = self.stored.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        stored.files.retain(|_, f| f.expires > now);
        stored.caches.retain(|_, c| c.expires > now);
        stored.sessions.retain(|_, s| s.expires > now);
        stored
    }

    /// The simulated wall time of `at`, at most [`LATEST`] (the last second RFC 3339 can
    /// write): no expiry the simulator accepts reaches it, and a time past it must not panic.
    pub(super) fn wall(&self, at: Instant) -> SystemTime {
        let latest = UNIX_EPOCH + LATEST;
        self.wall
            .checked_add(at.saturating_duration_since(self.started))
            .map_or(latest, |t| t.min(latest))
    }

    /// The instant of a simulated wall time (`None` when it is before the start, or too far
    /// ahead for the platform's clock).
    pub(super) fn instant(&self, wall: SystemTime) -> Option<Instant> {
        wall.duration_since(self.wall)
            .ok()
            .and_then(|d| self.started.checked_add(d))
    }
}

/// The project a key belongs to: its group's, or its own.
pub(super) fn project_of(config: &SimulatorConfig, key: &str) -> String {
    match config
        .projects
        .iter()
        .position(|g| g.iter().any(|k| k == key))
    {
        Some(i) => format!("project {i}"),
        None => format!("key {key}"),
    }
}

/// A resource id: lowercase letters and digits, stable for a seed.
pub(super) fn new_id(seed: u64, serial: u64, length: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut random = steadfast::retry::Random::seeded(
        seed ^ super::content::fnv(&[b"resource", &serial.to_le_bytes()]),
    );
    (0..length)
        .map(|_| {
            let i = (random.next_f64() * CHARS.len() as f64) as usize;
            char::from(CHARS[i.min(CHARS.len() - 1)])
        })
        .collect()
}

/// A page token naming the first serial of the next page (opaque-looking, like real ones).
pub(super) fn page_token(serial: u64) -> String {
    format!("Cf{serial:x}Sim")
}

fn decode_page_token(token: &str) -> Option<u64> {
    token
        .strip_prefix("Cf")
        .and_then(|t| t.strip_suffix("Sim"))
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
}

/// `pageSize` (default `default`, at most `max`) and the first serial of the page, or the 400
/// the real service sends.
pub(super) fn paging(query: &str, default: usize, max: usize) -> Result<(usize, u64), Reply> {
    let size = match query_param(query, "pageSize") {
        None => default,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n > 0 => (n as usize).min(max),
            Ok(0) => default,
            _ => {
                return Err(errors::invalid_payload(&format!(
                    "Invalid value at 'page_size' (TYPE_INT32), \"{}\"",
                    text.chars().take(50).collect::<String>()
                )));
            }
        },
    };
    let start = match query_param(query, "pageToken").filter(|t| !t.is_empty()) {
        None => 0,
        Some(token) => decode_page_token(&token).ok_or_else(|| {
            errors::status(400, "INVALID_ARGUMENT", "Invalid page token.", vec![])
        })?,
    };
    Ok((size, start))
}

/// RFC 3339 in UTC with microseconds, as the API writes times.
pub(super) fn timestamp(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_micros()
    )
}

/// Parses an RFC 3339 time (`2026-01-02T03:04:05.5Z`, or with an offset such as `+02:00`).
pub(super) fn parse_timestamp(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u64;
    if b.get(i) == Some(&b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let frac = num(i + 1..i + 1 + digits)? as u64;
        nanos = frac * 10u64.pow(9 - digits as u32);
        i += 1 + digits;
    }
    let offset = match &text[i..] {
        "Z" | "z" => 0,
        rest if rest.len() == 6 && matches!(b[i], b'+' | b'-') && b[i + 3] == b':' => {
            let minutes = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if b[i] == b'+' {
                -minutes * 60
            } else {
                minutes * 60
            }
        }
        _ => return None,
    };
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second + offset;
    let secs = u64::try_from(secs).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, 0).checked_add(Duration::from_nanos(nanos))?)
}

/// 9999-12-31T23:59:59.999999Z, the latest time RFC 3339 (and `google.protobuf.Timestamp`)
/// can write, as a duration since the Unix epoch.
const LATEST: Duration = Duration::new(253_402_300_799, 999_999_000);

/// The longest `google.protobuf.Duration`: 315,576,000,000 seconds (10,000 years), as the
/// client's [`MAX_PROTO_DURATION`](crate::types::MAX_PROTO_DURATION).
const MAX_DURATION_SECS: u64 = 315_576_000_000;

/// Why a proto duration is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BadDuration {
    /// Zero or negative.
    NotPositive,
    /// More seconds than `google.protobuf.Duration` holds.
    TooLong,
}

/// A proto duration (`"300s"`, `"1.5s"`, `"-2s"`): `Some(Ok(d))` when positive and within
/// `google.protobuf.Duration`'s range, `Some(Err(_))` when not, `None` when it does not parse.
pub(super) fn parse_duration(text: &str) -> Option<Result<Duration, BadDuration>> {
    let body = text.strip_suffix('s')?;
    let (negative, body) = match body.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, body),
    };
    let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 9 {
        return None;
    }
    let secs: u64 = whole.parse().ok()?;
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32)
    };
    let d = Duration::new(secs, nanos);
    Some(if negative || d.is_zero() {
        Err(BadDuration::NotPositive)
    } else if secs > MAX_DURATION_SECS {
        Err(BadDuration::TooLong)
    } else {
        Ok(d)
    })
}

/// The 200 with no body that deletions answer.
pub(super) fn empty() -> Reply {
    Reply::Json(200, json!({}))
}

/// An upload under way.
pub(crate) struct Session {
    pub(super) project: String,
    pub(super) name: String,
    pub(super) display_name: Option<String>,
    pub(super) mime_type: String,
    pub(super) size: u64,
    pub(super) received: Vec<u8>,
    pub(super) origin: String,
    pub(super) expires: Instant,
}

/// An uploaded file.
pub(crate) struct StoredFile {
    pub(super) project: String,
    pub(super) name: String,
    pub(super) display_name: Option<String>,
    pub(super) mime_type: String,
    pub(super) bytes: Vec<u8>,
    pub(super) uri: String,
    pub(super) created: Instant,
    pub(super) expires: Instant,
    /// Written by the service (a batch's output), not uploaded: it can be downloaded.
    pub(super) generated: bool,
}

impl StoredFile {
    pub(super) fn json(&self, storage: &Storage) -> Value {
        let created = timestamp(storage.wall(self.created));
        let mut file = json!({
            "name": self.name, "mimeType": self.mime_type, "sizeBytes": self.bytes.len().to_string(),
            "createTime": created, "updateTime": created,
            "expirationTime": timestamp(storage.wall(self.expires)),
            "uri": self.uri, "state": "ACTIVE",
            "source": if self.generated { "GENERATED" } else { "UPLOADED" },
        });
        if self.generated {
            file["downloadUri"] = json!(format!("{}:download?alt=media", self.uri));
        }
        if let Some(name) = &self.display_name {
            file["displayName"] = json!(name);
        }
        file
    }

    pub(super) fn is_text(&self) -> bool {
        let m = self.mime_type.to_ascii_lowercase();
        m.starts_with("text/")
            || m.starts_with("application/json")
            || m.starts_with("application/xml")
    }
}

/// A live cache.
pub(crate) struct StoredCache {
    pub(super) project: String,
    pub(super) name: String,
    pub(super) model: String,
    pub(super) display_name: String,
    /// `contents`, `systemInstruction`, `tools`, `toolConfig` (files already expanded).
    pub(super) prefix: Value,
    pub(super) tokens: u32,
    pub(super) bytes: u64,
    pub(super) created: Instant,
    pub(super) updated: Instant,
    pub(super) expires: Instant,
}

impl StoredCache {
    pub(super) fn json(&self, state: &State) -> Value {
        self.json_with(state, self.updated, self.expires)
    }

    /// The cache as the API describes it, with these update and expiry times.
    pub(super) fn json_with(&self, state: &State, updated: Instant, expires: Instant) -> Value {
        let s = &state.storage;
        json!({
            "name": self.name, "model": self.model, "displayName": self.display_name,
            "createTime": timestamp(s.wall(self.created)),
            "updateTime": timestamp(s.wall(updated)),
            "expireTime": timestamp(s.wall(expires)),
            "usageMetadata": {"totalTokenCount": self.tokens},
        })
    }
}

/// One request of a batch: its key or metadata, and the request (or why it cannot be one).
#[derive(Clone)]
pub(crate) struct Item {
    pub(super) metadata: Option<Value>,
    pub(super) key: Option<String>,
    pub(super) request: Result<Value, Value>,
}

/// A batch job.
pub(crate) struct StoredBatch {
    pub(super) project: String,
    pub(super) name: String,
    pub(super) display_name: String,
    pub(super) model: String,
    pub(super) created: Instant,
    pub(super) items: Vec<Item>,
    /// The input file, when the requests came from one (the output is then a file).
    pub(super) from_file: bool,
    pub(super) cancelled: Option<Instant>,
    /// The outcomes, in order, once the batch is done.
    pub(super) results: Option<Vec<Result<Value, Value>>>,
    pub(super) output_file: Option<String>,
    /// The bytes of its input, counted against [`BatchLimits::max_bytes`](super::BatchLimits).
    pub(super) bytes: usize,
    /// Why it failed as a whole (its output could not be stored), once it did.
    pub(super) failure: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        let t = UNIX_EPOCH + Duration::from_micros(1_788_744_297_438_678);
        let text = timestamp(t);
        assert_eq!(text, "2026-09-07T01:24:57.438678Z");
        assert_eq!(parse_timestamp(&text), Some(t));
        assert_eq!(parse_timestamp("2026-09-07T03:24:57.438678+02:00"), Some(t));
        for bad in [
            "",
            "2026-09-07",
            "2026-13-07T01:24:57Z",
            "2026-09-07T01:24:57",
            "2026-09-07T01:24:57.Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations_parse_like_proto_json() {
        assert_eq!(parse_duration("300s"), Some(Ok(Duration::from_secs(300))));
        assert_eq!(
            parse_duration("1.5s"),
            Some(Ok(Duration::from_millis(1500)))
        );
        assert_eq!(parse_duration("0s"), Some(Err(BadDuration::NotPositive)));
        assert_eq!(parse_duration("-2s"), Some(Err(BadDuration::NotPositive)));
        assert_eq!(
            parse_duration("315576000000.999999999s"),
            Some(Ok(Duration::new(315_576_000_000, 999_999_999)))
        );
        assert_eq!(
            parse_duration("315576000001s"),
            Some(Err(BadDuration::TooLong))
        );
        assert_eq!(
            parse_duration("18446744073709551615.999999999s"),
            Some(Err(BadDuration::TooLong))
        );
        for bad in ["", "s", "10", "1.2.3s", "abc", "1.0000000001s", "+1s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn wall_times_past_rfc_3339_saturate_instead_of_panicking() {
        let storage = Storage::default();
        let far = storage
            .started
            .checked_add(Duration::from_secs(400_000_000_000));
        if let Some(far) = far {
            assert!(timestamp(storage.wall(far)).starts_with("9999-12-31T23:59:59"));
        }
        assert_eq!(
            parse_timestamp("9999-12-31T23:59:59.999999Z"),
            Some(UNIX_EPOCH + LATEST)
        );
    }

    #[test]
    fn page_tokens_round_trip() {
        assert_eq!(decode_page_token(&page_token(42)), Some(42));
        assert_eq!(decode_page_token("nope"), None);
    }
}
