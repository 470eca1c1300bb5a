//! The rate limiter's clock: cheap in production, tokio's paused clock in tests.
//!
//! Reading the operating system's monotonic clock costs about 24 ns on the machines we measure
//! (BENCHMARKS.md §2), more than the whole rest of an acquisition. The CPU's time-stamp counter,
//! read through `quanta` (calibrated against the OS clock), costs a few nanoseconds. But tests of
//! time-dependent behaviour run on tokio's paused clock, which `quanta` cannot see.
//!
//! So a limiter made while tokio's clock is paused (it stands still between two reads, which a
//! real clock never does) uses tokio's clock from the start. Any other limiter starts on the
//! time-stamp counter and watches for the one thing a paused clock does that real time never
//! does: run ahead of the OS clock. Whenever an acquisition is refused (the cold path), it also
//! reads tokio's
//! clock; if tokio's clock has moved more than 1 % + 1 ms further than the OS clock since the
//! limiter was made, someone advanced it (a clock paused after the limiter was made), and the
//! limiter switches to tokio's clock for good, then decides again. In production the two
//! clocks agree to within the counter's calibration (parts per million), so the switch never
//! happens; in a paused test it happens at the first refusal after the clock was advanced, and
//! the refusal is re-decided on tokio's time. Either way every decision of one limiter uses one
//! clock at a time, so the exactness argument (spacing and windows) holds in that clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Nanoseconds since the limiter was made.
#[derive(Debug)]
pub(crate) struct LimiterClock {
    tokio_epoch: tokio::time::Instant,
    std_epoch: std::time::Instant,
    counter: quanta::Clock,
    /// The counter's raw value at the epoch.
    fast_epoch: u64,
    on_tokio: AtomicBool,
}

impl LimiterClock {
    pub(crate) fn new() -> Self {
        let tokio_epoch = tokio::time::Instant::now();
        let std_epoch = std::time::Instant::now();
        let counter = quanta::Clock::new();
        let fast_epoch = counter.raw();
        // A paused clock stands still between two reads; a real one never does (it has
        // nanosecond resolution, and a counter read lies between the two).
        let frozen = tokio::time::Instant::now() == tokio_epoch;
        LimiterClock {
            tokio_epoch,
            std_epoch,
            counter,
            fast_epoch,
            on_tokio: AtomicBool::new(frozen),
        }
    }

    /// Now, on the clock this limiter uses.
    #[inline]
    pub(crate) fn now_ns(&self) -> u64 {
        if self.on_tokio.load(Ordering::Relaxed) {
            self.tokio_ns()
        } else {
            self.fast_ns()
        }
    }

    /// The counter: one `rdtsc` and a multiply-shift, no thread-local look-up.
    #[inline]
    fn fast_ns(&self) -> u64 {
        self.counter
            .delta_as_nanos(self.fast_epoch, self.counter.raw())
    }

    fn tokio_ns(&self) -> u64 {
        nanos(tokio::time::Instant::now().saturating_duration_since(self.tokio_epoch))
    }

    /// After a refusal: whether tokio's clock has run ahead of the counter (a paused clock that
    /// was advanced). If so the limiter now follows tokio's clock, and this is its time.
    #[cold]
    pub(crate) fn switched_to_tokio(&self) -> Option<u64> {
        if self.on_tokio.load(Ordering::Relaxed) {
            return None;
        }
        // Compared with the OS clock, not the counter: a counter that runs fast or slow (a VM
        // moved to another host) must not be taken for a paused clock.
        let real = nanos(self.std_epoch.elapsed());
        let slow = self.tokio_ns();
        if slow > real.saturating_add(real / 100).saturating_add(1_000_000) {
            self.on_tokio.store(true, Ordering::Relaxed);
            return Some(slow);
        }
        None
    }

    /// Whether the limiter follows tokio's clock.
    #[cfg(test)]
    pub(crate) fn is_on_tokio(&self) -> bool {
        self.on_tokio.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_limiter_made_on_a_paused_clock_follows_it() {
        assert!(LimiterClock::new().is_on_tokio());
    }

    #[tokio::test]
    async fn a_clock_paused_and_advanced_later_switches_the_limiter_to_tokio_time() {
        let clock = LimiterClock::new();
        assert!(!clock.is_on_tokio());
        tokio::time::pause();
        assert_eq!(clock.switched_to_tokio(), None, "nothing advanced yet");
        tokio::time::advance(Duration::from_secs(60)).await;
        let now = clock
            .switched_to_tokio()
            .expect("tokio ran ahead by a minute");
        assert!(now >= 60_000_000_000);
        assert!(clock.is_on_tokio());
        assert!(clock.now_ns() >= 60_000_000_000);
    }

    #[test]
    fn real_time_never_switches() {
        let clock = LimiterClock::new();
        assert!(!clock.is_on_tokio());
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(clock.switched_to_tokio(), None);
        assert!(clock.now_ns() >= 20_000_000);
    }
}
