//! What one project has sent for one model (its windows and its day), what the server taught
//! and refused, and the in-process limiter of its requests.

use crate::Error;
use std::collections::VecDeque;
use std::time::Duration;
use steadfast::limit::{AdaptiveRateLimit, RateLimit};
use tokio::time::Instant;

/// A key pool project: its name and the indices of its keys in the client's key list.
#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub(crate) name: String,
    pub(crate) declared: bool,
    pub(crate) keys: Vec<usize>,
}

/// The limits learned from the server, per metric.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Learned {
    pub(super) rpm: Option<u32>,
    pub(super) tpm: Option<u32>,
    pub(super) rpd: Option<u32>,
}

/// The server refused this project for this model.
#[derive(Debug, Clone)]
pub(super) struct Refusal {
    pub(super) until: Instant,
    pub(super) error: Error,
    /// A per-minute refusal: worth waiting for. Otherwise (per day, no quota) the project is
    /// passed over, and a call with no other project fails with this error.
    pub(super) brief: bool,
}

/// The requests of the last minute, oldest first: when each was sent and its input tokens.
///
/// Eight bytes a request (a 24-byte `(Instant, u32)` held ~20 MB at a relay's 14 000 requests
/// a second): the time is kept as whole milliseconds after `base`, rounded up, so that a slot
/// is never thought free before it is.
#[derive(Debug)]
pub(super) struct SentLog {
    base: Instant,
    entries: VecDeque<(u32, u32)>,
}

impl SentLog {
    fn new(base: Instant) -> SentLog {
        SentLog {
            base,
            entries: VecDeque::new(),
        }
    }

    /// `at` as kept: milliseconds after the base, rounded up.
    fn stamp(&mut self, at: Instant) -> u32 {
        let ms = |base: Instant| {
            let after = at.saturating_duration_since(base);
            after.as_millis() + u128::from(after.subsec_nanos() % 1_000_000 != 0)
        };
        if let Ok(stamp) = u32::try_from(ms(self.base)) {
            return stamp;
        }
        // After 49 days: move the base up to the oldest entry (all are within a minute).
        let shift = self.entries.front().map_or(0, |&(t, _)| t);
        self.base += Duration::from_millis(u64::from(shift));
        for entry in &mut self.entries {
            entry.0 -= shift;
        }
        if self.entries.is_empty() {
            self.base = at;
        }
        u32::try_from(ms(self.base)).unwrap_or(u32::MAX)
    }

    fn time(&self, stamp: u32) -> Instant {
        self.base + Duration::from_millis(u64::from(stamp))
    }

    /// How many.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// When the `i`-th oldest was sent.
    pub(super) fn sent_at(&self, i: usize) -> Option<Instant> {
        self.entries.get(i).map(|&(t, _)| self.time(t))
    }

    /// Each request's time and tokens, oldest first.
    pub(super) fn iter(&self) -> impl Iterator<Item = (Instant, u32)> + '_ {
        self.entries.iter().map(|&(t, n)| (self.time(t), n))
    }
}

/// What one project has sent for one model.
#[derive(Debug)]
pub(super) struct Usage {
    /// Requests sent within the last minute, with their input tokens, oldest first.
    pub(super) sent: SentLog,
    /// The sum of the tokens in `sent`.
    pub(super) sent_tokens: u64,
    /// Requests sent since the last daily reset, and when the current day ends.
    pub(super) today: u64,
    pub(super) day_ends: Instant,
    pub(super) learned: Learned,
    pub(super) refused: Option<Refusal>,
    /// Until when the shared quotas (Redis) had no room, and whether the wait is the server's.
    pub(super) shared_busy: Option<(Instant, bool)>,
}

impl Usage {
    pub(super) fn new(now: Instant) -> Self {
        Usage {
            sent: SentLog::new(now),
            sent_tokens: 0,
            today: 0,
            day_ends: now + crate::until_daily_reset(std::time::SystemTime::now()),
            learned: Learned::default(),
            refused: None,
            shared_busy: None,
        }
    }

    /// Forgets what has left the window (a little longer than the minute: `ModelQuotas::window`)
    /// and starts a new day after the reset.
    pub(super) fn roll(&mut self, now: Instant, window: Duration) {
        while let Some(&(t, tokens)) = self.sent.entries.front() {
            if now.saturating_duration_since(self.sent.time(t)) < window {
                break;
            }
            self.sent.entries.pop_front();
            self.sent_tokens -= u64::from(tokens);
        }
        if now >= self.day_ends {
            self.today = 0;
            self.day_ends = now + crate::until_daily_reset(std::time::SystemTime::now());
        }
        if self.refused.as_ref().is_some_and(|r| now >= r.until) {
            self.refused = None;
        }
        if self.shared_busy.is_some_and(|(until, _)| now >= until) {
            self.shared_busy = None;
        }
    }

    pub(super) fn tokens(&self) -> u64 {
        self.sent_tokens
    }

    /// Counts a request sent at `at` with `tokens` input tokens.
    pub(super) fn count(&mut self, at: Instant, tokens: u32) {
        let stamp = self.sent.stamp(at);
        self.sent.entries.push_back((stamp, tokens));
        self.sent_tokens += u64::from(tokens);
        self.today += 1;
    }

    /// Forgets the request sent at `at`: the server did not count it, or it was not sent.
    pub(super) fn uncount(&mut self, at: Instant) {
        let stamp = self.sent.stamp(at);
        if let Some(i) = self.sent.entries.iter().rposition(|(t, _)| *t == stamp) {
            if let Some((_, tokens)) = self.sent.entries.remove(i) {
                self.sent_tokens -= u64::from(tokens);
            }
            self.today = self.today.saturating_sub(1);
        }
    }
}

/// The requests limiter of one project and model.
#[derive(Debug)]
pub(super) enum Requests {
    None,
    Fixed(RateLimit),
    Adaptive(AdaptiveRateLimit),
}

impl Requests {
    pub(super) fn try_acquire(&self) -> Result<(), steadfast::limit::Denied> {
        match self {
            Requests::None => Ok(()),
            Requests::Fixed(l) => l.try_acquire(1),
            Requests::Adaptive(l) => l.try_acquire(1),
        }
    }
}

#[cfg(test)]
mod sent_log_tests {
    use super::*;

    #[test]
    fn times_are_kept_in_whole_milliseconds_rounded_up_and_survive_49_days() {
        let base = Instant::now();
        let mut u = Usage::new(base);
        let at = base + Duration::from_micros(1_500);
        u.count(at, 7);
        // Never earlier than sent: 1.5 ms is kept as 2 ms.
        assert_eq!(u.sent.sent_at(0), Some(base + Duration::from_millis(2)));
        u.count(at + Duration::from_micros(100), 3);
        assert_eq!((u.sent.len(), u.tokens()), (2, 10));
        u.uncount(at + Duration::from_micros(100));
        assert_eq!(u.sent.len(), 1);
        // Fifty days on (past u32 milliseconds), with a request of the last minute kept.
        let later = base + Duration::from_secs(50 * 24 * 3600);
        u.roll(later, Duration::from_secs(60));
        assert_eq!(u.sent.len(), 0);
        u.count(later - Duration::from_secs(30), 1);
        u.count(later, 2);
        assert_eq!(u.sent.sent_at(1), Some(later));
        assert_eq!(u.sent.iter().map(|(_, n)| n).collect::<Vec<_>>(), [1, 2]);
        u.roll(later + Duration::from_secs(31), Duration::from_secs(60));
        assert_eq!(u.sent.len(), 1, "the older one has left the window");
    }
}
