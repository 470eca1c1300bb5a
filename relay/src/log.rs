//! The request log: one row per client request in an SQLite file, written off the request path.
//!
//! rusqlite with its bundled SQLite, not sqlx: the writer is one dedicated thread that owns its
//! connection, so an async driver, a pool and compile-time query macros would add build time
//! and moving parts for nothing; bundled SQLite needs no system library.
//!
//! A request hands its row to a bounded queue ([`RequestLog::record`]) and goes on: when the
//! queue is full (a slow or stuck disk) the row is dropped and counted, never waited for. The
//! writer thread takes rows in batches, one transaction each; when the database cannot be
//! written (a full or read-only disk, a lock held too long, the file deleted) the batch is
//! dropped and counted, and the database is opened again on the next batch. The file is in WAL
//! mode; rows older than `max_age` and beyond the newest `max_rows` are deleted every minute.
//! The schema has a version (`PRAGMA user_version`) and migrations run in order at open.
//!
//! A row holds no key and no prompt or answer: the relay key's name, the route, the models,
//! the project's label, the status and the error's kind, the QuotaFailure's quota id, counts
//! and times.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One client request, as logged.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Row {
    /// When the request arrived, in milliseconds since the Unix epoch.
    pub(crate) at_ms: i64,
    pub(crate) request_id: u64,
    /// The relay key's name (empty when the request had none that the relay knows).
    pub(crate) relay_key: String,
    /// `generateContent`, `streamGenerateContent`, `models.get`, `files`, `upload`, …
    pub(crate) endpoint: String,
    pub(crate) model_asked: Option<String>,
    pub(crate) model_served: Option<String>,
    pub(crate) project: Option<String>,
    pub(crate) status: u16,
    /// The error kind's name (`rate_limited_per_day`, `unavailable`, the relay's own:
    /// `relay_key_unknown`, …); none for a success.
    pub(crate) error_kind: Option<String>,
    pub(crate) quota_id: Option<String>,
    pub(crate) attempts: u32,
    /// From the request received to the answer's head.
    pub(crate) ttfb_ms: Option<f64>,
    /// From the request received to the answer's last byte.
    pub(crate) total_ms: f64,
    pub(crate) overhead_ms: Option<f64>,
    pub(crate) prompt_tokens: Option<u64>,
    pub(crate) answer_tokens: Option<u64>,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
}

/// The schema's migrations, in order: `user_version` is how many have run.
const MIGRATIONS: &[&str] = &["CREATE TABLE IF NOT EXISTS requests (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        request_id INTEGER NOT NULL,
        relay_key TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        model_asked TEXT,
        model_served TEXT,
        project TEXT,
        status INTEGER NOT NULL,
        error_kind TEXT,
        quota_id TEXT,
        attempts INTEGER NOT NULL,
        ttfb_ms REAL,
        total_ms REAL NOT NULL,
        overhead_ms REAL,
        prompt_tokens INTEGER,
        answer_tokens INTEGER,
        bytes_in INTEGER NOT NULL,
        bytes_out INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS requests_at ON requests (at_ms);"];

/// What the log has done, for `/metrics` and the admin API.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) written: AtomicU64,
    pub(crate) dropped: AtomicU64,
    /// Rows handed to the writer, and rows it has taken (written or dropped): a flush waits for
    /// the second to reach the first.
    queued: AtomicU64,
    taken: AtomicU64,
}

/// The request log: a bounded queue to a writer thread.
#[derive(Debug)]
pub(crate) struct RequestLog {
    queue: SyncSender<Row>,
    pub(crate) counts: Arc<Counts>,
    pub(crate) path: PathBuf,
}

/// How the log is kept.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Keeping {
    pub(crate) path: PathBuf,
    pub(crate) max_age: Duration,
    pub(crate) max_rows: u64,
    pub(crate) queue: usize,
}

impl RequestLog {
    /// Opens (or creates) the database at `keeping.path` and starts the writer. Fails only when
    /// the file cannot be created or migrated at start; later failures drop rows.
    pub(crate) fn open(keeping: &Keeping) -> Result<RequestLog, String> {
        let connection = connect(&keeping.path)?;
        let (queue, rows) = std::sync::mpsc::sync_channel(keeping.queue.max(1));
        let counts = Arc::new(Counts::default());
        let writer = Writer {
            keeping: keeping.clone(),
            connection: Some(connection),
            counts: Arc::clone(&counts),
            last_retention: None,
        };
        std::thread::Builder::new()
            .name("gemini-relay-log".into())
            .spawn(move || writer.run(rows))
            .map_err(|e| format!("cannot start the request log's writer: {e}"))?;
        Ok(RequestLog {
            queue,
            counts,
            path: keeping.path.clone(),
        })
    }

    /// Hands `row` to the writer; drops (and counts) it when the queue is full.
    pub(crate) fn record(&self, row: Row) {
        match self.queue.try_send(row) {
            Ok(()) => {
                self.counts.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl RequestLog {
    /// Waits (blocking, for at most `within`) until the writer has taken every row handed to
    /// it so far: on shutdown, so that the last requests' rows are in the file before the
    /// process ends. Whether it got there.
    pub(crate) fn flush(&self, within: Duration) -> bool {
        let target = self.counts.queued.load(Ordering::Relaxed);
        let until = std::time::Instant::now() + within;
        while self.counts.taken.load(Ordering::Relaxed) < target {
            if std::time::Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }
}

/// Opens the database, in WAL mode, migrated to the current schema.
pub(crate) fn connect(path: &Path) -> Result<rusqlite::Connection, String> {
    let shown = path.display();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("the request log {shown}: cannot create its folder: {e}"))?;
    }
    let connection =
        rusqlite::Connection::open(path).map_err(|e| format!("the request log {shown}: {e}"))?;
    let setup = || -> rusqlite::Result<()> {
        connection.busy_timeout(Duration::from_millis(200))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        // The WAL is truncated back to this after a checkpoint.
        connection.pragma_update(None, "journal_size_limit", 16 * 1024 * 1024)?;
        // Each migration runs in a write transaction that reads the version first, so that two
        // processes opening a new file at once migrate it once.
        for (i, migration) in MIGRATIONS.iter().enumerate() {
            connection.execute_batch("BEGIN IMMEDIATE")?;
            let version: i64 = connection.pragma_query_value(None, "user_version", |r| r.get(0))?;
            let step = if version <= i as i64 {
                connection.execute_batch(&format!("{migration}; PRAGMA user_version = {};", i + 1))
            } else {
                Ok(())
            };
            match step {
                Ok(()) => connection.execute_batch("COMMIT")?,
                Err(e) => {
                    let _ = connection.execute_batch("ROLLBACK");
                    return Err(e);
                }
            }
        }
        Ok(())
    };
    setup().map_err(|e| format!("the request log {shown}: {e}"))?;
    Ok(connection)
}

struct Writer {
    keeping: Keeping,
    connection: Option<rusqlite::Connection>,
    counts: Arc<Counts>,
    last_retention: Option<std::time::Instant>,
}

/// Rows written in one transaction, at most.
const BATCH: usize = 2048;

/// How long the writer lets rows gather between two batches that did not fill up.
const GATHER: Duration = Duration::from_millis(25);

/// How often old rows are deleted.
const RETENTION_EVERY: Duration = Duration::from_secs(60);

impl Writer {
    fn run(mut self, rows: Receiver<Row>) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            // Idle, retention still runs every minute.
            match rows.recv_timeout(RETENTION_EVERY) {
                Ok(first) => batch.push(first),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    self.retain_now();
                    continue;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
            }
            while batch.len() < BATCH {
                match rows.try_recv() {
                    Ok(row) => batch.push(row),
                    Err(_) => break,
                }
            }
            let n = batch.len() as u64;
            match self.write(&batch) {
                Ok(()) => {
                    self.counts.written.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => {
                    self.counts.dropped.fetch_add(n, Ordering::Relaxed);
                    tracing::warn!(target: "steadfast_relay", rows = n, error = %e, "the request log could not be written: rows dropped");
                    // Open again next time: the file may have been deleted or replaced.
                    self.connection = None;
                }
            }
            self.counts.taken.fetch_add(n, Ordering::Relaxed);
            let full = batch.len() == BATCH;
            batch.clear();
            // Rows are taken in batches: between them the writer sleeps rather than wait in
            // `recv`, so that a request's `try_send` seldom has a sleeping writer to wake (a
            // wake-up per row cost a system call and two context switches per request).
            if !full {
                std::thread::sleep(GATHER);
            }
            if self
                .last_retention
                .is_none_or(|t| t.elapsed() >= RETENTION_EVERY)
            {
                self.retain_now();
            }
        }
    }

    fn retain_now(&mut self) {
        self.last_retention = Some(std::time::Instant::now());
        if let Err(e) = self.retain() {
            tracing::warn!(target: "steadfast_relay", error = %e, "the request log's old rows could not be deleted");
        }
    }

    fn connection(&mut self) -> Result<&mut rusqlite::Connection, String> {
        // A file deleted under an open connection would take the rows to nowhere.
        if self.connection.is_some() && !self.keeping.path.exists() {
            self.connection = None;
        }
        if self.connection.is_none() {
            self.connection = Some(connect(&self.keeping.path)?);
        }
        self.connection
            .as_mut()
            .ok_or_else(|| "no connection".to_owned())
    }

    fn write(&mut self, rows: &[Row]) -> Result<(), String> {
        let connection = self.connection()?;
        let tx = connection.transaction().map_err(|e| e.to_string())?;
        insert_all(&tx, rows).map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())
    }

    fn retain(&mut self) -> Result<(), String> {
        let (max_age, max_rows) = (self.keeping.max_age, self.keeping.max_rows);
        let connection = self.connection()?;
        let oldest = now_ms() - i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
        let newest_kept: Option<i64> = connection
            .query_row(
                "SELECT id FROM requests ORDER BY id DESC LIMIT 1 OFFSET ?1",
                [i64::try_from(max_rows).unwrap_or(i64::MAX)],
                |r| r.get(0),
            )
            .ok();
        // In chunks, so that no transaction (nor the WAL) is as large as a backlog.
        loop {
            let deleted = connection
                .execute(
                    "DELETE FROM requests WHERE id IN (SELECT id FROM requests
                     WHERE at_ms < ?1 OR id <= ?2 LIMIT 5000)",
                    [oldest, newest_kept.unwrap_or(0)],
                )
                .map_err(|e| e.to_string())?;
            if deleted < 5000 {
                break;
            }
        }
        let _ = connection.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
        Ok(())
    }
}

/// Inserts one row.
#[cfg(test)]
pub(crate) fn insert(connection: &rusqlite::Connection, r: &Row) -> rusqlite::Result<()> {
    insert_all(connection, std::slice::from_ref(r))
}

/// Inserts `rows`, with the statement looked up once.
fn insert_all(connection: &rusqlite::Connection, rows: &[Row]) -> rusqlite::Result<()> {
    let mut insert = connection.prepare_cached(
        "INSERT INTO requests (at_ms, request_id, relay_key, endpoint, model_asked,
         model_served, project, status, error_kind, quota_id, attempts, ttfb_ms,
         total_ms, overhead_ms, prompt_tokens, answer_tokens, bytes_in, bytes_out)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
         ?16, ?17, ?18)",
    )?;
    for r in rows {
        insert.execute(rusqlite::params![
            r.at_ms,
            r.request_id as i64,
            r.relay_key,
            r.endpoint,
            r.model_asked,
            r.model_served,
            r.project,
            r.status,
            r.error_kind,
            r.quota_id,
            r.attempts,
            r.ttfb_ms,
            r.total_ms,
            r.overhead_ms,
            r.prompt_tokens.and_then(|n| i64::try_from(n).ok()),
            r.answer_tokens.and_then(|n| i64::try_from(n).ok()),
            r.bytes_in as i64,
            r.bytes_out as i64,
        ])?;
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn keeping(dir: &Path) -> Keeping {
        Keeping {
            path: dir.join("log.sqlite"),
            max_age: Duration::from_secs(3600),
            max_rows: 3,
            queue: 100,
        }
    }

    fn count(path: &Path) -> i64 {
        let c = rusqlite::Connection::open(path).unwrap();
        c.query_row("SELECT COUNT(*) FROM requests", [], |r| r.get(0))
            .unwrap()
    }

    fn wait_written(log: &RequestLog, n: u64) {
        let started = std::time::Instant::now();
        while log.counts.written.load(Ordering::Relaxed)
            + log.counts.dropped.load(Ordering::Relaxed)
            < n
        {
            assert!(started.elapsed() < Duration::from_secs(10), "not written");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn rows_are_written_migrated_once_and_kept_to_the_newest() {
        let dir = std::env::temp_dir().join(format!("relay-log-{}-a", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let log = RequestLog::open(&Keeping {
            max_rows: 100,
            ..keeping(&dir)
        })
        .unwrap();
        for i in 0..5 {
            log.record(Row {
                at_ms: now_ms(),
                request_id: i,
                relay_key: "k".into(),
                endpoint: "generateContent".into(),
                status: 200,
                ..Row::default()
            });
        }
        wait_written(&log, 5);
        assert_eq!(count(&log.path), 5);
        // Opened again: the schema is not migrated twice.
        let again = connect(&log.path).unwrap();
        let version: i64 = again
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let mode: String = again
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        // Retention keeps the newest rows.
        let mut w = Writer {
            keeping: keeping(&dir),
            connection: None,
            counts: Arc::new(Counts::default()),
            last_retention: None,
        };
        w.retain().unwrap();
        assert_eq!(count(&log.path), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_deleted_file_is_made_again_and_a_full_queue_drops_rows() {
        let dir = std::env::temp_dir().join(format!("relay-log-{}-b", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let log = RequestLog::open(&keeping(&dir)).unwrap();
        log.record(Row::default());
        wait_written(&log, 1);
        std::fs::remove_dir_all(&dir).unwrap();
        log.record(Row::default());
        wait_written(&log, 2);
        assert_eq!(count(&log.path), 1, "written to a new file");
        // A queue of one, with the writer gone: rows are dropped and counted.
        let (queue, rows) = std::sync::mpsc::sync_channel(1);
        drop(rows);
        let gone = RequestLog {
            queue,
            counts: Arc::new(Counts::default()),
            path: dir.join("x"),
        };
        gone.record(Row::default());
        assert_eq!(gone.counts.dropped.load(Ordering::Relaxed), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
