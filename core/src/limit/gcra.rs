//! The generic cell rate algorithm on one atomic word.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// GCRA ("virtual scheduling"): one `u64` holding the theoretical arrival time (TAT) of the next
/// unit, in nanoseconds since `epoch`. A take of `w` units at `now` conforms when
/// `max(tat, now) + (w - 1) × interval - tolerance <= now`, and moves the TAT to
/// `max(tat, now) + w × interval`. One compare-and-swap, no lock, no allocation.
///
/// With `burst = 1` (tolerance 0), consecutive units are exactly `interval` apart, so no window of
/// length `n × interval` ever holds more than `n` units.
#[derive(Debug)]
pub(crate) struct Gcra {
    epoch: Instant,
    interval: u64,
    tolerance: u64,
    burst: u32,
    tat: Padded,
}

/// The TAT on a cache line of its own: under contention, the line that every acquisition
/// writes must not also hold what every acquisition reads (interval, tolerance).
#[derive(Debug)]
#[repr(align(128))]
struct Padded(AtomicU64);

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Gcra {
    /// A cell admitting one unit per `interval`, up to `burst` back to back.
    pub(crate) fn new(interval: Duration, burst: u32) -> Self {
        Self::starting_at(Instant::now(), interval, burst)
    }

    /// The same, with its clock's zero at `epoch` (to share a clock with other cells).
    pub(crate) fn starting_at(epoch: Instant, interval: Duration, burst: u32) -> Self {
        let interval = nanos(interval).max(1);
        let burst = burst.max(1);
        Gcra {
            epoch,
            interval,
            tolerance: interval.saturating_mul(u64::from(burst - 1)),
            burst,
            tat: Padded(AtomicU64::new(0)),
        }
    }

    fn now_nanos(&self, now: Instant) -> u64 {
        nanos(now.saturating_duration_since(self.epoch))
    }

    /// Whether `weight` units could be taken at `now_ns`: the new TAT, or how long to wait.
    /// `Err(None)` when `weight` exceeds the burst and never can be.
    /// `now_ns` is on this cell's clock: nanoseconds since its epoch.
    #[inline]
    pub(crate) fn check(&self, tat: u64, now_ns: u64, weight: u32) -> Result<u64, Option<u64>> {
        if weight > self.burst {
            return Err(None);
        }
        let start = tat.max(now_ns);
        let w = u64::from(weight);
        let allowed_at = start
            .saturating_add(w.saturating_sub(1).saturating_mul(self.interval))
            .saturating_sub(self.tolerance);
        if allowed_at <= now_ns {
            Ok(start.saturating_add(w.saturating_mul(self.interval)))
        } else {
            Err(Some(allowed_at - now_ns))
        }
    }

    #[inline]
    pub(crate) fn load(&self) -> u64 {
        self.tat.0.load(Ordering::Acquire)
    }

    #[inline]
    pub(crate) fn compare_exchange(&self, old: u64, new: u64) -> Result<u64, u64> {
        self.tat
            .0
            .compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Acquire)
    }

    /// Takes `weight` units at `now`, or says how long until it could (`None`: never).
    pub(crate) fn try_take(&self, now: Instant, weight: u32) -> Result<(), Option<Duration>> {
        self.try_take_ns(self.now_nanos(now), weight)
    }

    /// The same at `now_ns`, on a clock of the caller's (nanoseconds since its epoch).
    #[inline]
    pub(crate) fn try_take_ns(&self, now_ns: u64, weight: u32) -> Result<(), Option<Duration>> {
        let mut tat = self.load();
        loop {
            match self.check(tat, now_ns, weight) {
                Ok(new) => match self.compare_exchange(tat, new) {
                    Ok(_) => return Ok(()),
                    Err(actual) => tat = actual,
                },
                Err(wait) => return Err(wait.map(Duration::from_nanos)),
            }
        }
    }
}
