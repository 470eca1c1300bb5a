//! A log sink: a writer that keeps everything written to it, to search a test's log output
//! for what must never be there (a key, a prompt).

use std::sync::{Arc, Mutex, OnceLock};

/// A cloneable writer whose clones share one buffer; give `move || sink.clone()` to
/// `tracing_subscriber::fmt().with_writer(..)`.
///
/// ```
/// use std::io::Write;
/// let sink = steadfast_testkit::sink::Sink::default();
/// let mut writer = sink.clone();
/// writer.write_all(b"hello").unwrap();
/// assert_eq!(sink.text(), "hello");
/// ```
#[derive(Clone, Default, Debug)]
pub struct Sink(Arc<Mutex<Vec<u8>>>);

impl Sink {
    /// Everything written so far, as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One log for a whole test binary: every event of every target, at every level, written by a
/// global `tracing` subscriber installed on the first call. Tests that search the log for what
/// must never be there read this one, as several tests of one binary log at once.
///
/// Panics when another global subscriber was installed in the binary first.
pub fn global_log() -> &'static Sink {
    static LOG: OnceLock<Sink> = OnceLock::new();
    LOG.get_or_init(|| {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        if tracing::subscriber::set_global_default(subscriber).is_err() {
            panic!("another global tracing subscriber was installed in this test binary");
        }
        sink
    })
}
