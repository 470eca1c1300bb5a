//! A rate limiter that learns the server's quota from its refusals: [`AdaptiveRateLimit`].

use super::{Denied, RateLimiter};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The windows a refusal can point at, shortest first.
const WINDOWS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(60),
    Duration::from_secs(3600),
];

/// Windows without a refusal before probing upwards...
const PROBE_AFTER_WINDOWS: u32 = 4;

/// ...and never sooner than this: a probe that overshoots costs a refusal, and short windows
/// would otherwise probe every few seconds.
const PROBE_AFTER_AT_LEAST: Duration = Duration::from_secs(120);

/// The largest limit learned (the log of grants holds at most this many, so a larger limit
/// could never be enforced).
const MAX_LIMIT: u32 = MAX_HISTORY as u32;

/// The longest server hint that holds every caller back. A longer one (a quota refused for
/// hours) is the executor's to weigh against its `max_hint`; the limiter still learns from it.
const MAX_BLOCK: Duration = Duration::from_secs(300);

/// Accepted start times kept, at most (older ones cannot matter for a window of an hour at the
/// rates this limiter is for; the bound keeps memory fixed).
const MAX_HISTORY: usize = 8192;

/// What one attempt's outcome tells a limiter that learns from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// When the attempt started.
    pub started: Instant,
    /// The HTTP status it got, if any (`None` for a success or a transport failure).
    pub status: Option<u16>,
    /// The server's delay hint, if any.
    pub hint: Option<Duration>,
    /// Whether the failure is terminal (a per-day quota): not a rate to learn from.
    pub terminal: bool,
}

impl Observation {
    /// An answer to an attempt that started at `started`: `status` `None` or a success status
    /// for an accepted attempt.
    pub fn answered(started: Instant, status: Option<u16>) -> Self {
        Observation {
            started,
            status,
            hint: None,
            terminal: false,
        }
    }

    /// With the server's delay hint.
    pub fn with_hint(mut self, hint: Option<Duration>) -> Self {
        self.hint = hint;
        self
    }

    /// Whether the server refused the attempt for its rate (429, not terminal).
    pub fn is_throttled(&self) -> bool {
        self.status == Some(429) && !self.terminal
    }
}

#[derive(Debug)]
struct State {
    /// Start times this limiter granted (refused ones removed once known), oldest first.
    granted: VecDeque<Instant>,
    /// Everybody waits until then (a refusal's hint).
    blocked_until: Option<Instant>,
    /// Start times of accepted attempts, oldest first.
    accepted: VecDeque<Instant>,
    /// Learned limits, one per window that refused us.
    learned: Vec<Learned>,
    /// The last refusal, when the current estimate was made.
    last_refusal: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Learned {
    window: Duration,
    limit: u32,
    /// Whether traffic has filled the window since the last probe: only then is there anything
    /// to learn by probing (a quiet stretch must not raise the limit).
    saturated: bool,
    /// The refused attempt's start: accepted attempts that started in the window before it
    /// still raise `limit` when their answers arrive late.
    refused_at: Instant,
    since_probe: Instant,
}

/// A rate limiter that learns the server's quota from its refusals.
///
/// Many APIs only say "429" (or Gemini's RESOURCE_EXHAUSTED without a QuotaFailure) and never
/// how much they allow. [`AdaptiveRateLimit`] starts at its ceiling (the `rpm`/`rps` you gave, or
/// no limit) and, on a refusal, works out the quota the server must have counted:
///
/// - **Which window.** The refusal's delay hint says how long until a slot frees: a hint of a
///   second or less points at a per-second quota, a longer one at a per-minute quota (or per
///   hour, past a minute). Without a hint, per minute, the most common quota.
/// - **How many.** The number of attempts the server *accepted* that started inside that window
///   before the refused one started: exactly what a sliding-window quota counted. Answers that
///   arrive after the refusal (concurrent attempts) still add to the count of the window they
///   started in, so the estimate rises to the true value instead of undershooting.
/// - **Then** it allows that many starts in any such window, counted the way the server counts
///   them (a sliding window of the starts it granted, a thousandth of the window longer for
///   clock jitter), and holds every caller until the hint has passed, not only the refused call.
///
/// Quotas change (another client stops, a tier is raised), so after four windows (and at least
/// two minutes) without a refusal it probes: one more per window (2 % more for large limits). A
/// probe that overshoots costs a refusal and the limit settles back. A learned limit never
/// exceeds the ceiling.
///
/// The AWS SDKs' "adaptive" retry mode (a CUBIC-controlled token bucket) is the design to beat:
/// it cuts its rate by 30 % on a throttle and grows back along a cubic curve, so it keeps
/// meeting the quota from above. Counting what the server counted reaches the quota in one step
/// and stays under it (BENCHMARKS.md §3: within 5 % of the ideal time, under 2 % of requests
/// refused).
///
/// The state sits behind one small mutex: this limiter is for APIs whose quota is unknown, where
/// a few nanoseconds do not matter; the exact lock-free [`RateLimit`](super::RateLimit) stays
/// the default.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use std::time::Duration;
/// use steadfast::limit::{AdaptiveRateLimit, Observation, RateLimiter};
/// use tokio::time::Instant;
///
/// let limit = AdaptiveRateLimit::new(None);
/// // 25 attempts in the first 12.5 s are accepted; the 26th is refused, free in 48 s.
/// let start = Instant::now();
/// for i in 0..25 {
///     limit.acquire(1).await.unwrap();
///     limit.observe(&Observation::answered(start + Duration::from_millis(500 * i), None));
/// }
/// limit.acquire(1).await.unwrap();
/// let refused = Observation::answered(start + Duration::from_millis(12_500), Some(429))
///     .with_hint(Some(Duration::from_secs(48)));
/// limit.observe(&refused);
/// assert_eq!(limit.learned(), Some((25, Duration::from_secs(60))));
/// # }
/// ```
#[derive(Debug)]
pub struct AdaptiveRateLimit {
    ceiling: Option<super::RateLimit>,
    state: Mutex<State>,
}

impl AdaptiveRateLimit {
    /// A limiter with `ceiling` as its exact upper bound (the user's own limits; `None`: no
    /// limit until the server refuses).
    pub fn new(ceiling: Option<super::RateLimit>) -> Self {
        AdaptiveRateLimit {
            ceiling,
            state: Mutex::new(State {
                granted: VecDeque::new(),
                blocked_until: None,
                accepted: VecDeque::new(),
                learned: Vec::new(),
                last_refusal: None,
            }),
        }
    }

    /// The tightest learned limit, as (requests, window); `None` before any refusal.
    pub fn learned(&self) -> Option<(u32, Duration)> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .learned
            .iter()
            .max_by_key(|l| pace(l.window, l.limit))
            .map(|l| (l.limit, l.window))
    }

    /// Takes `weight` units now, or says how long to wait.
    pub fn try_acquire(&self, weight: u32) -> Result<(), Denied> {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(until) = state.blocked_until {
            if until > now {
                return Err(Denied::wait(until - now));
            }
            state.blocked_until = None;
        }
        self.probe(&mut state, now);
        // The learned quotas, counted the way the server counts them: starts in a sliding
        // window. A slot frees a thousandth of the window after the server's would, a margin
        // for the jitter between our clock and its.
        if let Some(longest) = state.learned.iter().map(|l| l.window).max() {
            let keep = longest + longest / 1000;
            while state
                .granted
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= keep)
            {
                state.granted.pop_front();
            }
        }
        let weight_n = weight as usize;
        let mut wait = Duration::ZERO;
        let State {
            granted, learned, ..
        } = &mut *state;
        for l in learned.iter_mut() {
            let window = l.window + l.window / 1000;
            let first = granted.partition_point(|t| now.saturating_duration_since(*t) >= window);
            let used = granted.len() - first;
            let limit = l.limit as usize;
            if weight_n > limit {
                return Err(Denied::never());
            }
            if used + weight_n >= limit {
                l.saturated = true;
            }
            if used + weight_n > limit {
                let frees = granted[first + (used + weight_n - limit) - 1] + window;
                wait = wait.max(frees.saturating_duration_since(now));
            }
        }
        if !wait.is_zero() {
            return Err(Denied::wait(wait));
        }
        if let Some(ceiling) = &self.ceiling {
            ceiling.try_acquire(weight)?;
        }
        for _ in 0..weight {
            state.granted.push_back(now);
        }
        while state.granted.len() > MAX_HISTORY {
            state.granted.pop_front();
        }
        Ok(())
    }

    /// Raises every learned limit that has gone `PROBE_AFTER_WINDOWS` windows without a refusal.
    fn probe(&self, state: &mut State, now: Instant) {
        for l in &mut state.learned {
            let quiet = (l.window * PROBE_AFTER_WINDOWS).max(PROBE_AFTER_AT_LEAST);
            if l.saturated && now.saturating_duration_since(l.since_probe) >= quiet {
                l.limit = l.limit.saturating_add((l.limit / 50).max(1)).min(MAX_LIMIT);
                l.since_probe = now;
                l.saturated = false;
            }
        }
    }

    /// Learns from one attempt's outcome: see [`AdaptiveRateLimit`].
    pub fn observe(&self, o: &Observation) {
        if o.terminal {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !o.is_throttled() {
            if o.status.is_some_and(|s| s >= 500) {
                return;
            }
            // An accepted attempt: remember it, and count it into any estimate whose window
            // it started in, before the refusal (its answer arrived after the refusal's).
            let at = state.accepted.partition_point(|t| *t <= o.started);
            state.accepted.insert(at, o.started);
            if state.accepted.len() > MAX_HISTORY {
                state.accepted.pop_front();
            }
            for l in &mut state.learned {
                if o.started <= l.refused_at && l.refused_at - o.started < l.window {
                    l.limit = (l.limit + 1).min(MAX_LIMIT);
                }
            }
            return;
        }
        // The server did not count the refused start.
        // The executor reads its start time just after the grant, so the grant is the latest
        // one at or before it.
        if let Some(i) = state.granted.iter().rposition(|t| *t <= o.started) {
            state.granted.remove(i);
        }
        let window = match o.hint {
            Some(h) => WINDOWS
                .iter()
                .copied()
                .find(|w| h <= *w)
                .unwrap_or(WINDOWS[WINDOWS.len() - 1]),
            None => Duration::from_secs(60),
        };
        let counted = state
            .accepted
            .iter()
            .filter(|t| **t <= o.started && o.started - **t < window)
            .count();
        let limit = u32::try_from(counted)
            .unwrap_or(u32::MAX)
            .clamp(1, MAX_LIMIT);
        let now = Instant::now();
        let learned = Learned {
            window,
            limit,
            saturated: false,
            refused_at: o.started,
            since_probe: now,
        };
        match state.learned.iter_mut().find(|l| l.window == window) {
            // A later refusal in the same window replaces the estimate (it may be lower: the
            // quota is shared with others, or shrank).
            Some(existing) => *existing = learned,
            None => state.learned.push(learned),
        }
        if state.last_refusal.is_none_or(|t| t != o.started) {
            tracing::info!(
                target: "steadfast",
                limit,
                window_s = window.as_secs(),
                "learned a rate limit from a refusal"
            );
        }
        state.last_refusal = Some(o.started);
        // The server says when a slot frees: everyone waits that long. Without a hint, the
        // learned window alone decides when the next start fits.
        if let Some(until) = o
            .hint
            .filter(|h| *h <= MAX_BLOCK)
            .and_then(|h| now.checked_add(h))
        {
            state.blocked_until = Some(state.blocked_until.map_or(until, |b| b.max(until)));
        }
    }
}

/// The spacing that puts `limit` starts in `window`, rounded up.
fn pace(window: Duration, limit: u32) -> Duration {
    let nanos = window.as_nanos().div_ceil(u128::from(limit.max(1)));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[async_trait::async_trait]
impl RateLimiter for AdaptiveRateLimit {
    async fn try_acquire(&self, weight: u32) -> Result<(), Denied> {
        AdaptiveRateLimit::try_acquire(self, weight)
    }

    fn wants_observations(&self) -> bool {
        true
    }

    fn observe(&self, observation: &Observation) {
        AdaptiveRateLimit::observe(self, observation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_per_second_refusal_is_learned_from_its_short_hint() {
        let l = AdaptiveRateLimit::new(None);
        let t0 = Instant::now();
        for i in 0..10 {
            l.observe(&Observation::answered(
                t0 + Duration::from_millis(50 * i),
                None,
            ));
        }
        l.observe(
            &Observation::answered(t0 + Duration::from_millis(500), Some(429))
                .with_hint(Some(Duration::from_secs(1))),
        );
        assert_eq!(l.learned(), Some((10, Duration::from_secs(1))));
        // Two answers that started before the refusal arrive late: the estimate rises.
        l.observe(&Observation::answered(
            t0 + Duration::from_millis(520),
            None,
        ));
        l.observe(&Observation::answered(
            t0 + Duration::from_millis(480),
            None,
        ));
        assert_eq!(l.learned(), Some((11, Duration::from_secs(1))));
    }

    #[tokio::test(start_paused = true)]
    async fn everyone_waits_for_the_hint_then_the_pace() {
        let l = AdaptiveRateLimit::new(None);
        let t0 = Instant::now();
        l.observe(&Observation::answered(t0, None));
        l.observe(&Observation::answered(t0, Some(429)).with_hint(Some(Duration::from_secs(30))));
        let wait = l.try_acquire(1).unwrap_err().retry_after().unwrap();
        assert_eq!(wait, Duration::from_secs(30));
        tokio::time::advance(wait).await;
        assert!(l.try_acquire(1).is_ok());
        assert_eq!(
            l.try_acquire(1).unwrap_err().retry_after(),
            Some(Duration::from_millis(60_060)),
            "one per minute learned (and a thousandth of the window for jitter)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn terminal_refusals_teach_nothing() {
        let l = AdaptiveRateLimit::new(None);
        let mut o = Observation::answered(Instant::now(), Some(429));
        o.terminal = true;
        l.observe(&o);
        assert_eq!(l.learned(), None);
        assert!(l.try_acquire(1).is_ok() && l.try_acquire(1).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn only_a_full_window_followed_by_quiet_ones_probes_upwards() {
        let l = AdaptiveRateLimit::new(None);
        let t0 = Instant::now();
        for _ in 0..20 {
            l.observe(&Observation::answered(t0, None));
        }
        l.observe(&Observation::answered(t0, Some(429)).with_hint(Some(Duration::from_secs(5))));
        assert_eq!(l.learned(), Some((20, Duration::from_secs(60))));
        // A quiet stretch teaches nothing: no probe.
        tokio::time::advance(Duration::from_secs(4 * 60)).await;
        let _ = l.try_acquire(1);
        assert_eq!(l.learned(), Some((20, Duration::from_secs(60))));
        // Traffic that fills the window after the quiet stretch: the probe is due, one more.
        while l.try_acquire(1).is_ok() {}
        assert_eq!(l.learned(), Some((21, Duration::from_secs(60))));
        // Full again, then four windows without a refusal: the next one.
        tokio::time::advance(Duration::from_secs(4 * 60)).await;
        let _ = l.try_acquire(1);
        assert_eq!(l.learned(), Some((22, Duration::from_secs(60))));
    }

    #[tokio::test(start_paused = true)]
    async fn the_ceiling_is_never_exceeded() {
        let ceiling = super::super::RateLimit::builder()
            .per_second(2)
            .build()
            .unwrap();
        let l = AdaptiveRateLimit::new(Some(ceiling));
        assert!(l.try_acquire(1).is_ok());
        assert!(l.try_acquire(1).is_err(), "2 per second: 500 ms apart");
    }
}
