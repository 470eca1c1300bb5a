//! A log sink: a writer that keeps everything written to it, to search a test's log output
//! for what must never be there (a key, a prompt).

use std::sync::{Arc, Mutex};

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
