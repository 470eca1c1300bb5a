//! An adapter from the `backoff` crate's schedules (feature `backoff`, off by default).

use super::{Backoff, Random};
use std::fmt;
use std::time::Duration;

/// Any `backoff::backoff::Backoff` as a steadfast schedule.
///
/// `backoff`'s schedules are stateful iterators, while a steadfast schedule is shared by every
/// call; so the adapter holds a factory, makes a fresh schedule per question and replays it up
/// to the retry asked for. Retries are few, so the replay is cheap.
///
/// Why this is opt-in: the `backoff` crate is unmaintained (RUSTSEC-2025-0012, and its
/// dependency `instant`, RUSTSEC-2024-0384), and its `max_elapsed_time` reads the wall clock, so
/// it ignores tokio's paused clock and cannot be tested deterministically. Set
/// `max_elapsed_time: None` and use the policy's `deadline` instead.
///
/// ```
/// use std::time::Duration;
/// use steadfast::retry::{Backoff, FromBackoff, Random};
/// let schedule = FromBackoff::new(|| backoff::ExponentialBackoff {
///     initial_interval: Duration::from_millis(100),
///     current_interval: Duration::from_millis(100),
///     randomization_factor: 0.0,
///     multiplier: 2.0,
///     max_elapsed_time: None,
///     ..Default::default()
/// });
/// assert_eq!(schedule.delay(3, Duration::ZERO, &mut Random::seeded(1)), Some(Duration::from_millis(400)));
/// ```
pub struct FromBackoff<F> {
    make: F,
}

impl<F, B> FromBackoff<F>
where
    F: Fn() -> B + Send + Sync,
    B: backoff::backoff::Backoff,
{
    /// An adapter that builds a fresh `backoff` schedule with `make` for each question.
    pub fn new(make: F) -> Self {
        FromBackoff { make }
    }
}

impl<F> fmt::Debug for FromBackoff<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromBackoff").finish_non_exhaustive()
    }
}

impl<F, B> Backoff for FromBackoff<F>
where
    F: Fn() -> B + Send + Sync,
    B: backoff::backoff::Backoff,
{
    fn delay(&self, retry: u32, _previous: Duration, _rng: &mut Random) -> Option<Duration> {
        let mut schedule = (self.make)();
        let mut delay = None;
        for _ in 0..retry.max(1) {
            delay = Some(schedule.next_backoff()?);
        }
        delay
    }
}
