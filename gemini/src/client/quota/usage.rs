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

/// What one project has sent for one model.
#[derive(Debug)]
pub(super) struct Usage {
    /// Requests sent within the last minute, with their input tokens, oldest first.
    pub(super) sent: VecDeque<(Instant, u32)>,
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
            sent: VecDeque::new(),
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
        while let Some(&(t, tokens)) = self.sent.front() {
            if now.saturating_duration_since(t) < window {
                break;
            }
            self.sent.pop_front();
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
        self.sent.push_back((at, tokens));
        self.sent_tokens += u64::from(tokens);
        self.today += 1;
    }

    /// Forgets the request sent at `at`: the server did not count it, or it was not sent.
    pub(super) fn uncount(&mut self, at: Instant) {
        if let Some(i) = self.sent.iter().rposition(|(t, _)| *t == at) {
            if let Some((_, tokens)) = self.sent.remove(i) {
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
