//! A small, fast random source for jitter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A SplitMix64 generator: enough randomness for spreading retries, no allocation, no lock, and
/// seedable so that tests are deterministic. Not for cryptography.
///
/// ```
/// use std::time::Duration;
/// use steadfast::retry::Random;
/// let mut a = Random::seeded(42);
/// let mut b = Random::seeded(42);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let d = a.duration_between(Duration::from_secs(1), Duration::from_secs(2));
/// assert!(d >= Duration::from_secs(1) && d <= Duration::from_secs(2));
/// ```
#[derive(Debug, Clone)]
pub struct Random {
    state: u64,
}

/// Distinct seeds for generators made in the same process.
static NEXT_SEED: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);

impl Random {
    /// A generator with a fixed seed.
    pub const fn seeded(seed: u64) -> Self {
        Random { state: seed }
    }

    /// A generator whose seed differs from every other one made in this process (and from run
    /// to run, as it mixes in the wall clock).
    pub fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let counter = NEXT_SEED.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        Random::seeded(counter ^ (u64::from(nanos) << 17))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        // 53 random bits make every representable value in [0, 1) with that spacing.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[low, high]` (nanosecond resolution); `low` when `high <= low`.
    pub fn duration_between(&mut self, low: Duration, high: Duration) -> Duration {
        let span = high.saturating_sub(low);
        let span_nanos = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
        if span_nanos == 0 {
            return low;
        }
        let offset = if span_nanos == u64::MAX {
            self.next_u64()
        } else {
            self.next_u64() % (span_nanos + 1)
        };
        low.saturating_add(Duration::from_nanos(offset))
    }
}

impl Default for Random {
    fn default() -> Self {
        Random::new()
    }
}
