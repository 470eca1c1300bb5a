//! The analytics of the request log: errors by kind and hour (each kind with what to do about
//! it), 429s per model and project, the busiest relay keys, latency percentiles. The admin API
//! and the dashboard read them live; `gemini-relay report` prints them from the file.

use rusqlite::Connection;
use serde::Serialize;
use std::fmt::Write as _;

/// The analytics of the rows since `since_ms`.
#[derive(Debug, Serialize, PartialEq)]
pub struct Stats {
    /// The first instant counted, in milliseconds since the Unix epoch.
    pub since_ms: i64,
    /// Requests in all.
    pub requests: u64,
    /// Requests that were answered with an error.
    pub errors: u64,
    /// Errors per kind, most first, each with what to do about it.
    pub kinds: Vec<KindCount>,
    /// Errors per hour and kind, the oldest hour first.
    pub by_hour: Vec<HourCount>,
    /// 429s per model, project, kind and quota id, most first.
    pub rate_limited: Vec<LimitedCount>,
    /// Per relay key, the busiest first.
    pub keys: Vec<KeyUse>,
    /// Latency percentiles, in milliseconds.
    pub latency: Latency,
}

/// One error kind.
#[derive(Debug, Serialize, PartialEq)]
pub struct KindCount {
    /// Its name (`rate_limited_per_day`, `relay_key_unknown`, …).
    pub kind: String,
    /// How many.
    pub count: u64,
    /// What to do about it.
    pub advice: &'static str,
}

/// One hour and kind.
#[derive(Debug, Serialize, PartialEq)]
pub struct HourCount {
    /// The hour's start, in milliseconds since the Unix epoch.
    pub hour_ms: i64,
    /// The error kind.
    pub kind: String,
    /// How many.
    pub count: u64,
}

/// 429s of one model, project, kind and quota id.
#[derive(Debug, Serialize, PartialEq)]
pub struct LimitedCount {
    /// The model asked for.
    pub model: String,
    /// The project's label (empty when none was reached).
    pub project: String,
    /// The error kind.
    pub kind: String,
    /// The QuotaFailure's quota id (empty when none was named).
    pub quota_id: String,
    /// How many.
    pub count: u64,
}

/// One relay key's use.
#[derive(Debug, Serialize, PartialEq)]
pub struct KeyUse {
    /// Its name (empty: requests with no key the relay knows).
    pub relay_key: String,
    /// Requests.
    pub requests: u64,
    /// Of which errors.
    pub errors: u64,
    /// Prompt tokens, from `usageMetadata`.
    pub prompt_tokens: u64,
    /// Answer tokens, from `usageMetadata`.
    pub answer_tokens: u64,
}

/// Percentiles of three times.
#[derive(Debug, Serialize, PartialEq, Default)]
pub struct Latency {
    /// To the answer's head.
    pub ttfb: Percentiles,
    /// To the answer's last byte.
    pub total: Percentiles,
    /// The relay's own time.
    pub overhead: Percentiles,
}

/// p50, p95, p99 (none without rows).
#[derive(Debug, Serialize, PartialEq, Default)]
pub struct Percentiles {
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
}

/// What to do about an error of `kind`: the client's advice for its kinds, the relay's own for
/// its refusals.
pub fn advice(kind: &str) -> &'static str {
    use steadfast_gemini::{ErrorKind, QuotaScope};
    let relay = match kind {
        "relay_key_missing" | "relay_key_unknown" => {
            Some("the client sends no relay key or a wrong one: give it a relay key of the config")
        }
        "relay_key_over_limit" => {
            Some("a relay key is over its own limits: raise them in the config, or spread its work")
        }
        "waiting_room_full" => Some(
            "more requests wait than max_waiting allows: raise it, add quota, or slow the clients",
        ),
        "redis_unavailable" => Some("the relay cannot reach Redis: check it"),
        "upstream_keys_rejected" => Some(
            "the upstream refused the relay's keys (or every key of the project an object lives in): replace them in the config",
        ),
        "relay_key_batch_refused" => Some(
            "a relay key with limits or a model list sent a batch the relay cannot count or allow: send it inlined, for its models",
        ),
        "no_slot_before_deadline" => Some(
            "no project had a slot before the request's deadline: add quota or projects, or lengthen the deadline",
        ),
        "deadline_exceeded" | "attempt_timed_out" => {
            Some("the upstream did not answer in time: retry, or lengthen the deadline")
        }
        "breaker_open" => Some(
            "the model failed too often lately: the breaker lets a probe through soon; add a fallback model",
        ),
        _ => None,
    };
    if let Some(text) = relay {
        return text;
    }
    let client = [
        ErrorKind::InvalidArgument,
        ErrorKind::InvalidApiKey,
        ErrorKind::KeyRejected,
        ErrorKind::PermissionDenied,
        ErrorKind::ModelNotFound,
        ErrorKind::FailedPrecondition,
        ErrorKind::RateLimited {
            scope: QuotaScope::PerDay,
            retry_after: None,
        },
        ErrorKind::RateLimited {
            scope: QuotaScope::PerMinute,
            retry_after: Some(std::time::Duration::from_secs(1)),
        },
        ErrorKind::NoQuota,
        ErrorKind::Internal,
        ErrorKind::Unavailable,
        ErrorKind::DeadlineExceeded,
        ErrorKind::Undecodable,
        ErrorKind::Configuration,
    ];
    client
        .iter()
        .find(|k| k.name() == kind)
        .map_or("see the message of the answer", |k| k.advice())
}

fn percentiles(
    connection: &Connection,
    column: &str,
    since_ms: i64,
) -> rusqlite::Result<Percentiles> {
    // Counted, then each percentile read by its rank: SQLite sorts, no list is held here.
    let n: i64 = connection.query_row(
        &format!("SELECT COUNT(*) FROM requests WHERE at_ms >= ?1 AND {column} IS NOT NULL"),
        [since_ms],
        |r| r.get(0),
    )?;
    let at = |q: f64| -> rusqlite::Result<Option<f64>> {
        if n == 0 {
            return Ok(None);
        }
        let rank = ((n as f64 * q).ceil() as i64).clamp(1, n) - 1;
        connection
            .query_row(
                &format!(
                    "SELECT {column} FROM requests WHERE at_ms >= ?1 AND {column} IS NOT NULL
                     ORDER BY {column} LIMIT 1 OFFSET ?2"
                ),
                [since_ms, rank],
                |r| r.get(0),
            )
            .map(Some)
    };
    Ok(Percentiles {
        p50: at(0.50)?,
        p95: at(0.95)?,
        p99: at(0.99)?,
    })
}

/// The analytics of the rows of `connection` since `since_ms`.
pub fn read(connection: &Connection, since_ms: i64) -> rusqlite::Result<Stats> {
    let (requests, errors): (i64, i64) = connection.query_row(
        "SELECT COUNT(*), COUNT(error_kind) FROM requests WHERE at_ms >= ?1",
        [since_ms],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let kinds = connection
        .prepare(
            "SELECT error_kind, COUNT(*) FROM requests WHERE at_ms >= ?1 AND error_kind IS NOT NULL
             GROUP BY error_kind ORDER BY COUNT(*) DESC, error_kind",
        )?
        .query_map([since_ms], |r| {
            let kind: String = r.get(0)?;
            Ok(KindCount {
                advice: advice(&kind),
                kind,
                count: r.get::<_, i64>(1)? as u64,
            })
        })?
        .collect::<Result<_, _>>()?;
    let by_hour = connection
        .prepare(
            "SELECT (at_ms / 3600000) * 3600000 AS hour, error_kind, COUNT(*) FROM requests
             WHERE at_ms >= ?1 AND error_kind IS NOT NULL GROUP BY hour, error_kind
             ORDER BY hour, error_kind",
        )?
        .query_map([since_ms], |r| {
            Ok(HourCount {
                hour_ms: r.get(0)?,
                kind: r.get(1)?,
                count: r.get::<_, i64>(2)? as u64,
            })
        })?
        .collect::<Result<_, _>>()?;
    let rate_limited = connection
        .prepare(
            "SELECT COALESCE(model_asked, ''), COALESCE(project, ''), error_kind,
             COALESCE(quota_id, ''), COUNT(*) FROM requests WHERE at_ms >= ?1 AND status = 429
             GROUP BY 1, 2, 3, 4 ORDER BY COUNT(*) DESC, 1, 2",
        )?
        .query_map([since_ms], |r| {
            Ok(LimitedCount {
                model: r.get(0)?,
                project: r.get(1)?,
                kind: r.get(2)?,
                quota_id: r.get(3)?,
                count: r.get::<_, i64>(4)? as u64,
            })
        })?
        .collect::<Result<_, _>>()?;
    let keys = connection
        .prepare(
            "SELECT relay_key, COUNT(*), COUNT(error_kind), TOTAL(prompt_tokens),
             TOTAL(answer_tokens) FROM requests WHERE at_ms >= ?1
             GROUP BY relay_key ORDER BY COUNT(*) DESC, relay_key",
        )?
        .query_map([since_ms], |r| {
            Ok(KeyUse {
                relay_key: r.get(0)?,
                requests: r.get::<_, i64>(1)? as u64,
                errors: r.get::<_, i64>(2)? as u64,
                prompt_tokens: r.get::<_, f64>(3)? as u64,
                answer_tokens: r.get::<_, f64>(4)? as u64,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Stats {
        since_ms,
        requests: requests as u64,
        errors: errors as u64,
        kinds,
        by_hour,
        rate_limited,
        keys,
        latency: Latency {
            ttfb: percentiles(connection, "ttfb_ms", since_ms)?,
            total: percentiles(connection, "total_ms", since_ms)?,
            overhead: percentiles(connection, "overhead_ms", since_ms)?,
        },
    })
}

/// `2026-12-07 08:00` for the hour starting at `ms` (milliseconds since the Unix epoch, UTC).
fn utc_hour(ms: i64) -> String {
    let hours = ms.div_euclid(3_600_000);
    let (y, m, d) = steadfast::calendar::civil_from_days(hours.div_euclid(24));
    format!("{y:04}-{m:02}-{d:02} {:02}:00", hours.rem_euclid(24))
}

/// The analytics as terminal tables.
pub fn table(stats: &Stats, hours: u64) -> String {
    let mut out = String::new();
    let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    let _ = writeln!(
        out,
        "gemini-relay: the last {hours} h: {} requests, {} errors\n",
        stats.requests, stats.errors
    );
    let _ = writeln!(out, "errors by kind");
    let _ = writeln!(out, "  {:<28} {:>8}  what to do", "kind", "count");
    for k in &stats.kinds {
        let _ = writeln!(out, "  {:<28} {:>8}  {}", k.kind, k.count, k.advice);
    }
    let _ = writeln!(out, "\nerrors by hour (UTC)");
    for h in &stats.by_hour {
        let hour = utc_hour(h.hour_ms);
        let _ = writeln!(out, "  {hour:<17} {:<28} {:>8}", h.kind, h.count);
    }
    let _ = writeln!(out, "\n429s by model and project");
    let _ = writeln!(
        out,
        "  {:<24} {:<12} {:<26} {:<44} {:>6}",
        "model", "project", "kind", "quota id", "count"
    );
    for l in &stats.rate_limited {
        let _ = writeln!(
            out,
            "  {:<24} {:<12} {:<26} {:<44} {:>6}",
            l.model, l.project, l.kind, l.quota_id, l.count
        );
    }
    let _ = writeln!(out, "\nbusiest relay keys");
    let _ = writeln!(
        out,
        "  {:<20} {:>9} {:>7} {:>13} {:>13}",
        "relay key", "requests", "errors", "prompt tok.", "answer tok."
    );
    for k in stats.keys.iter().take(10) {
        let name = if k.relay_key.is_empty() {
            "(none)"
        } else {
            &k.relay_key
        };
        let _ = writeln!(
            out,
            "  {:<20} {:>9} {:>7} {:>13} {:>13}",
            name, k.requests, k.errors, k.prompt_tokens, k.answer_tokens
        );
    }
    let _ = writeln!(out, "\nlatency (ms)            p50       p95       p99");
    for (name, p) in [
        ("to the first byte", &stats.latency.ttfb),
        ("in all", &stats.latency.total),
        ("the relay's own", &stats.latency.overhead),
    ] {
        let _ = writeln!(
            out,
            "  {name:<18} {:>9} {:>9} {:>9}",
            ms(p.p50),
            ms(p.p95),
            ms(p.p99)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::log::Row;

    #[test]
    fn analytics_count_what_the_rows_say() {
        let dir = std::env::temp_dir().join(format!("relay-stats-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let connection = crate::log::connect(&dir.join("s.sqlite")).unwrap();
        let rows = [
            ("a", 200, None, Some(5), 10.0),
            ("a", 429, Some("rate_limited_per_day"), None, 20.0),
            ("b", 200, None, Some(7), 30.0),
            ("", 400, Some("relay_key_unknown"), None, 40.0),
        ];
        for (key, status, kind, tokens, ms) in rows {
            crate::log::insert(
                &connection,
                &Row {
                    at_ms: 3_600_000 * 10 + 5,
                    relay_key: key.into(),
                    endpoint: "generateContent".into(),
                    model_asked: Some("m".into()),
                    status,
                    error_kind: kind.map(str::to_owned),
                    prompt_tokens: tokens,
                    total_ms: ms,
                    ..Row::default()
                },
            )
            .unwrap();
        }
        let stats = read(&connection, 0).unwrap();
        assert_eq!((stats.requests, stats.errors), (4, 2));
        assert_eq!(stats.kinds.len(), 2);
        assert!(stats.kinds[0].advice.len() > 10);
        assert_eq!(stats.by_hour[0].hour_ms, 3_600_000 * 10);
        assert_eq!(stats.rate_limited[0].kind, "rate_limited_per_day");
        assert_eq!(stats.keys[0].relay_key, "a");
        assert_eq!(stats.keys[0].prompt_tokens, 5);
        assert_eq!(stats.latency.total.p50, Some(20.0));
        assert_eq!(stats.latency.total.p99, Some(40.0));
        let text = table(&stats, 24);
        assert!(
            text.contains("rate_limited_per_day") && text.contains("(none)"),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
