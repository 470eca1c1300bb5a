//! A rate limiter shared by every process that names it, kept in Redis (feature `redis`).
//!
//! Several workers (processes, pods) calling one API project share one quota. Each in-process
//! limiter knows only its own requests, so together they overrun it. [`RedisRateLimit`] keeps
//! the quota's state in Redis instead, so N processes behave as one client.
//!
//! # How an acquisition works
//!
//! One round trip: a Lua script, loaded once and run by its SHA (`EVALSHA`), decides and records
//! atomically. It reads the time from the Redis server (`TIME`), so the processes' own clocks,
//! however skewed, play no part. `TIME` is the Redis host's wall clock: a step of that clock
//! (an NTP step, a VM resumed) shifts the windows, and a step forward can let the windows it
//! skips admit again (at most one more quota); keep the Redis host's clock slewed, not stepped. The semantics are those of the in-process [`RateLimit`]:
//!
//! - the fastest quota, when `burst = 1`, is a *pace* (a GCRA cell: the earliest time of the
//!   next acquisition), so acquisitions are `period / N` apart, rounded up to the microsecond,
//!   plus a guard ([`RedisRateLimitBuilder::guard`], 2 ms by default, at most 5 % of the
//!   interval) that absorbs the varying delay between a grant and the request's arrival at a
//!   server that enforces a strict spacing;
//! - every other quota (and the fastest when `burst > 1`) is a *sliding-window log*: a sorted
//!   set of `(time, weight)` plus a running sum, trimmed as entries leave the window;
//! - acquisitions are weighted (tokens per minute); a weight above `burst` or above a quota is
//!   refused for good.
//!
//! So no window of a quota's length ever holds more than its limit, across all processes. Keys
//! live under `steadfast:{NAME}:…`; the braces are a Redis Cluster hash tag, so one limiter's
//! keys share a slot and the script can touch them all. Every key expires once its window has
//! passed, so an abandoned name leaves nothing behind. Nothing but the name you give is written:
//! never an API key (pass a fingerprint if a name must tell keys apart).
//!
//! The client is redis-rs with its `ConnectionManager` (the tokio ecosystem's maintained client,
//! with reconnection built in and no pool to size: one multiplexed connection serves every task).
//!
//! # When Redis fails
//!
//! An acquisition whose round trip fails or takes longer than [`RedisRateLimitBuilder::timeout`]
//! (250 ms by default) finds Redis *unavailable*, and [`Unavailable`] decides what follows:
//!
//! - [`Unavailable::Wait`] (the default): try Redis again every 100 ms to 1 s, until it answers
//!   or the caller's deadline passes. Nothing goes over quota and no call is lost while the
//!   deadline allows, which is this crate's promise; an outage longer than the deadline fails
//!   the call with the policy's deadline error.
//! - [`Unavailable::Local`]: use an in-process limiter with `share` of each quota meanwhile
//!   (`share = 1 / workers` keeps the sum at the quota in windows spent wholly on the local
//!   limiters). Calls go on; the quota holds only as well as the share was chosen, and not in
//!   the window of the switch: the local limiter does not know what Redis granted just before,
//!   so a window that holds the switch may see up to (1 + the sum of the shares) × the quota
//!   (measured: 20 grants in a minute for a quota of 10, share 1). Use `Wait` where the quota
//!   must hold.
//! - [`Unavailable::Fail`]: refuse at once with [`Denied::unavailable`], which a policy turns into
//!   [`crate::Error::LimiterUnavailable`]. For callers that would rather drop work than wait.
//!
//! A Redis that restarts empty forgets the windows in progress: in the windows that contain the
//! restart, up to one more full quota can be granted (at most twice the limit in any window,
//! never more).
//!
//! # Waiting and cancellation
//!
//! A waiter sleeps until the slot it was shown, then asks again; a paced slot at most one
//! interval away is *reserved* for the waiter, which then sleeps until it. Reserving the next
//! slot keeps waiters on exact slot times, so the late wake-ups of timers do not add up (4
//! processes × 25 tasks keep a 20-per-second quota busy to within 1 %). A waiter cancelled
//! after reserving leaves that one slot unused; one cancelled before reserving leaves nothing.
//! So a cancellation costs at most one slot, and the count can only be conservative, never over.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use steadfast::limit::{RedisRateLimit, Unavailable};
//!
//! let limit = RedisRateLimit::builder("redis://127.0.0.1:6379", "gemini-flash")
//!     .per_minute(10)
//!     .per_day(250)
//!     .on_unavailable(Unavailable::Wait)
//!     .connect()
//!     .await?; // fails at once, naming the URL, when Redis cannot be reached
//! let policy = steadfast::Policy::builder().limiter(Arc::new(limit)).build()?;
//! # let _ = policy; Ok(()) }
//! ```
//!
//! [`RateLimit`]: super::RateLimit

use super::{Denied, RateLimit, RateLimitConfig, RateLimiter, redact_url};
use crate::error::ConfigError;
use redis::aio::ConnectionManager;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::OnceCell;

/// The script: decides and records one weighted acquisition atomically, timed by Redis.
///
/// KEYS: pace, sequence (kept at least twice the longest window, so members stay unique),
/// then one log per windowed quota (each with a `:sum` sibling).
/// ARGV: weight, pace interval in µs (0: none), lookahead in µs, number of logs, then per log:
/// window µs, limit. Returns `{0, start, now}` when granted (the slot starts at `start`, at most
/// `lookahead` after `now`), `{1, wait_µs, now}` when not yet, `{2, now}` when never.
///
/// A paced slot less than `lookahead` away is reserved rather than refused, so that waiters
/// chain on exact slot times: a waiter that arrives late by the timer's granularity takes the
/// slot it was due, and the delay does not accumulate (without it, 50 ms slots lost 3-4 %).
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local weight = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local lookahead = tonumber(ARGV[3])
local logs = tonumber(ARGV[4])
local start = now
if interval > 0 then
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  if tat > now then
    if tat - now > lookahead then return {1, tat - now - lookahead, now} end
    start = tat
  end
end
local wait = 0
for i = 1, logs do
  local key = KEYS[2 + i]
  local window = tonumber(ARGV[3 + 2 * i])
  local limit = tonumber(ARGV[4 + 2 * i])
  if weight > limit then return {2, now} end
  local sum = key .. ':sum'
  local gone = redis.call('ZRANGEBYSCORE', key, '-inf', start - window)
  if #gone > 0 then
    local freed = 0
    for _, m in ipairs(gone) do freed = freed + tonumber(string.match(m, '^(%d+):')) end
    redis.call('ZREMRANGEBYSCORE', key, '-inf', start - window)
    redis.call('DECRBY', sum, freed)
  end
  local used = tonumber(redis.call('GET', sum) or '0')
  if used + weight > limit then
    local need = used + weight - limit
    local entries = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
    local freed = 0
    for j = 1, #entries, 2 do
      freed = freed + tonumber(string.match(entries[j], '^(%d+):'))
      if freed >= need then
        local w = tonumber(entries[j + 1]) + window - start
        if w > wait then wait = w end
        break
      end
    end
    if freed < need then return {1, window, now} end
  end
end
if wait > 0 then return {1, start - now + wait, now} end
if interval > 0 then
  local tat = start + interval * weight
  redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
local seq = redis.call('INCR', KEYS[2])
local seq_ttl = 172800000
for i = 1, logs do
  local w = math.ceil(tonumber(ARGV[3 + 2 * i]) / 1000) * 2
  if w > seq_ttl then seq_ttl = w end
end
redis.call('PEXPIRE', KEYS[2], seq_ttl)
for i = 1, logs do
  local key = KEYS[2 + i]
  local window = tonumber(ARGV[3 + 2 * i])
  local ttl = math.ceil((window + start - now) / 1000) + 1000
  redis.call('ZADD', key, string.format('%d', start), string.format('%d:%d', weight, seq))
  redis.call('INCRBY', key .. ':sum', weight)
  redis.call('PEXPIRE', key, ttl)
  redis.call('PEXPIRE', key .. ':sum', ttl)
end
return {0, start, now}
";

/// `url` fit for a message or a log: its password (and any secret in its query) masked, as every
/// error of this module prints it. `redis://user:secret@host/0` → `redis://user:***@host/0`.
///
/// ```
/// assert_eq!(
///     steadfast::limit::redis::url_without_credentials("redis://:hunter2@cache:6379/1"),
///     "redis://:***@cache:6379/1"
/// );
/// ```
pub fn url_without_credentials(url: &str) -> String {
    redact_url(url)
}

/// One connection to a Redis URL, opened on first use and reconnected by redis-rs's
/// `ConnectionManager` (one multiplexed connection serves every task), with one timeout for
/// connecting and for each reply, and the URL kept without its password for messages. What
/// [`RedisRateLimit`] uses; public only so that `steadfast-gemini`'s shared quotas connect the
/// same way: hidden from the documentation and not covered by semver (its `get` returns a
/// redis-rs type).
#[doc(hidden)]
pub struct RedisConnection {
    /// The URL without credentials, for messages.
    url: String,
    client: redis::Client,
    manager: OnceCell<ConnectionManager>,
    timeout: Duration,
}

impl fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConnection")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisConnection {
    /// Checks `url` without connecting. The error names the URL without its password.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::limit::redis::RedisConnection;
    /// let e = RedisConnection::open("http://:hunter2@cache", Duration::from_secs(1)).unwrap_err();
    /// assert!(e.contains("is not a Redis URL") && !e.contains("hunter2"));
    /// ```
    pub fn open(url: &str, timeout: Duration) -> Result<RedisConnection, String> {
        let shown = redact_url(url);
        let client =
            redis::Client::open(url).map_err(|e| format!("{shown} is not a Redis URL: {e}"))?;
        Ok(RedisConnection {
            url: shown,
            client,
            manager: OnceCell::new(),
            timeout,
        })
    }

    /// The URL without its password.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The longest a connection or one reply may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The connection, opened on first use (a clone of one multiplexed connection).
    pub async fn get(&self) -> Result<ConnectionManager, redis::RedisError> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        self.manager
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await
            .cloned()
    }

    /// Connects now and sends a `PING` (within the timeout, at least 2 s), so that an
    /// unreachable Redis, or one that refuses commands (it needs a password the URL does not
    /// give), is an error at start; the message names the URL without its password.
    pub async fn check(&self) -> Result<(), String> {
        let ping = async {
            let mut connection = self.get().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
        };
        match tokio::time::timeout(self.timeout.max(Duration::from_secs(2)), ping).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("cannot use Redis at {}: {e}", self.url)),
            Err(_) => Err(format!(
                "cannot reach Redis at {}: no answer in time",
                self.url
            )),
        }
    }
}

/// What an acquisition does when Redis cannot be reached in time.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Unavailable {
    /// Try Redis again every 100 ms to 1 s until it answers (bounded by the caller's deadline).
    /// Never over quota, and no call lost while the deadline allows. The default.
    #[default]
    Wait,
    /// Meanwhile, use an in-process limiter with this share (0 < share ≤ 1) of every quota,
    /// rounded down but at least 1 (with `rpm = 2` and a share of 0.1, each process still gets
    /// 1 a minute: choose shares that give each quota at least one).
    Local {
        /// The share of each quota this process may use alone, for example `1.0 / workers`.
        share: f64,
    },
    /// Refuse at once with [`Denied::unavailable`].
    Fail,
}

/// A granted acquisition: when the Redis server granted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The Redis server's time of the grant; for a grant of the local fallback, this process's.
    pub at: SystemTime,
    /// Whether the local fallback granted it (Redis was unavailable).
    pub local: bool,
}

/// Builds a [`RedisRateLimit`]: the Redis URL, the limiter's name, its quotas and what to do
/// when Redis fails.
#[derive(Clone)]
pub struct RedisRateLimitBuilder {
    url: String,
    name: String,
    rates: RateLimitConfig,
    on_unavailable: Unavailable,
    timeout: Duration,
    guard: Option<Duration>,
}

impl fmt::Debug for RedisRateLimitBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimitBuilder")
            .field("url", &redact_url(&self.url))
            .field("name", &self.name)
            .field("rates", &self.rates)
            .field("on_unavailable", &self.on_unavailable)
            .field("timeout", &self.timeout)
            .field("guard", &self.guard)
            .finish()
    }
}

/// The default guard added to a paced interval: [`DEFAULT_GUARD`], but never more than a
/// twentieth of the interval (5 %).
fn default_guard(interval_us: u64) -> u64 {
    micros(DEFAULT_GUARD).min(interval_us / 20)
}

/// The default guard interval added between two paced grants ([`RedisRateLimitBuilder::guard`]):
/// 2 ms, at most 5 % of the interval.
pub const DEFAULT_GUARD: Duration = Duration::from_millis(2);

impl RedisRateLimitBuilder {
    /// Time added between two paced grants (the fastest quota, when `burst = 1`), beyond the
    /// quota's own interval: by default [`DEFAULT_GUARD`] (2 ms), but never more than 5 % of the
    /// interval; `Duration::ZERO` for none. A guard given here is used as given; `build`
    /// refuses one longer than the interval itself.
    ///
    /// Redis grants slots exactly `period / N` apart, but each process sends its request a
    /// little after its slot (the wake-up of a timer, the scheduler, the network), and not by
    /// the same amount every time; a server that enforces a strict spacing between requests
    /// (refusing any closer than `period / N` to the previous one) then refuses the pairs that
    /// arrived closer than granted. Measured with two processes sharing `per_second(20)`
    /// against such a server: 19-25 % refused without a guard (1.40x the ideal time with the
    /// retries), none with 2 ms (`redis_limit::a_strict_enforcer_refuses_almost_nothing`).
    /// Windowed quotas (per minute, per day) are not affected: they never grant more than
    /// their limit in a window.
    pub fn guard(mut self, guard: Duration) -> Self {
        self.guard = Some(guard);
        self
    }

    /// At most `n` acquisitions (units of weight) per second.
    pub fn per_second(mut self, n: u32) -> Self {
        self.rates = self.rates.per_second(n);
        self
    }

    /// At most `n` per 60 seconds.
    pub fn per_minute(mut self, n: u32) -> Self {
        self.rates = self.rates.per_minute(n);
        self
    }

    /// At most `n` per hour.
    pub fn per_hour(mut self, n: u32) -> Self {
        self.rates = self.rates.per_hour(n);
        self
    }

    /// At most `n` per day (a sliding 24 hours).
    pub fn per_day(mut self, n: u32) -> Self {
        self.rates = self.rates.per_day(n);
        self
    }

    /// Units that may start at one instant (default 1); at most the fastest quota.
    pub fn burst(mut self, n: u32) -> Self {
        self.rates = self.rates.burst(n);
        self
    }

    /// Every quota of an in-process configuration (the same one a policy's `rpm`, `rpd`, … make).
    pub fn rates(mut self, rates: RateLimitConfig) -> Self {
        self.rates = rates;
        self
    }

    /// What to do when Redis cannot be reached in time (default [`Unavailable::Wait`]).
    pub fn on_unavailable(mut self, mode: Unavailable) -> Self {
        self.on_unavailable = mode;
        self
    }

    /// The longest one round trip to Redis may take before Redis counts as unavailable
    /// (default 250 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks every setting and builds the limiter, without connecting: the first acquisition
    /// connects. Fails on an invalid URL, a name that is empty, too long or has characters other
    /// than letters, digits and `-_.:/`, a zero rate, a burst above the fastest quota, a zero
    /// timeout, or a share outside (0, 1].
    pub fn build(self) -> Result<RedisRateLimit, ConfigError> {
        RedisRateLimit::new(self)
    }

    /// Builds the limiter, connects and sends a `PING`, so that an unreachable Redis, or one
    /// that refuses commands (it needs a password the URL does not give, or a different one),
    /// is an error now (naming the URL, without its password) rather than at the first call.
    pub async fn connect(self) -> Result<RedisRateLimit, ConfigError> {
        let limit = self.build()?;
        limit
            .redis
            .check()
            .await
            .map_err(|e| ConfigError::new("redis", e))?;
        Ok(limit)
    }
}

/// A rate limiter whose state lives in Redis, shared by every process that uses the same name
/// (see the [module documentation](self)).
pub struct RedisRateLimit {
    /// The URL without credentials, for messages.
    redis: RedisConnection,
    name: String,
    script: redis::Script,
    keys: Vec<String>,
    pace_us: u64,
    logs: Vec<(u64, u32)>,
    max_weight: u32,
    on_unavailable: Unavailable,
    local: Option<RateLimit>,
    rates: RateLimitConfig,
    /// Whether the last round trip failed, so a failure is logged once, not per acquisition.
    down: AtomicBool,
}

impl fmt::Debug for RedisRateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimit")
            .field("url", &self.redis.url())
            .field("name", &self.name)
            .field("rates", &self.rates)
            .field("on_unavailable", &self.on_unavailable)
            .field("timeout", &self.redis.timeout())
            .finish_non_exhaustive()
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl RedisRateLimit {
    /// Starts a builder for the limiter `name` in the Redis at `url` (`redis://host:port/db`,
    /// `redis://:password@host`, `rediss://…` is not supported by this build).
    pub fn builder(url: &str, name: &str) -> RedisRateLimitBuilder {
        RedisRateLimitBuilder {
            url: url.to_owned(),
            name: name.to_owned(),
            rates: RateLimitConfig::default(),
            on_unavailable: Unavailable::Wait,
            timeout: Duration::from_millis(250),
            guard: None,
        }
    }

    fn new(b: RedisRateLimitBuilder) -> Result<Self, ConfigError> {
        let name_ok = !b.name.is_empty()
            && b.name.len() <= 128
            && b.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c));
        if !name_ok {
            return Err(ConfigError::new(
                "name",
                format!(
                    "the limiter name {:?} must be 1 to 128 letters, digits or `-_.:/` (no spaces): \
                     it becomes part of Redis keys shared by every process",
                    b.name
                ),
            ));
        }
        let redis =
            RedisConnection::open(&b.url, b.timeout).map_err(|e| ConfigError::new("redis", e))?;
        if b.timeout.is_zero() {
            return Err(ConfigError::new(
                "timeout",
                "the Redis timeout must be longer than zero",
            ));
        }
        let quotas = b.rates.quotas()?;
        // The in-process limiter checks burst against the quotas, and is the fallback's base.
        RateLimit::new(b.rates.clone())?;
        let burst = b.rates.burst_size();
        let fastest = quotas
            .iter()
            .copied()
            .min_by_key(|q| q.interval())
            .ok_or_else(|| ConfigError::new("rpm", "a rate limit needs at least one quota"))?;
        let paced = burst == 1 && fastest.period() <= Duration::from_secs(60);
        let pace_us = if paced {
            // Rounded up, so rounding never lets an extra acquisition into a window.
            let interval = micros(fastest.period()).div_ceil(u64::from(fastest.limit()));
            let guard = b.guard.map_or_else(|| default_guard(interval), micros);
            if guard > interval {
                return Err(ConfigError::new(
                    "guard",
                    format!(
                        "a guard of {:?} is longer than the interval it guards ({:?}): keep it to a few percent of it",
                        b.guard.unwrap_or_default(),
                        Duration::from_micros(interval)
                    ),
                ));
            }
            interval + guard
        } else {
            0
        };
        let mut keys = vec![
            format!("steadfast:{{{}}}:pace", b.name),
            format!("steadfast:{{{}}}:seq", b.name),
        ];
        let mut logs = Vec::new();
        for q in &quotas {
            if paced && *q == fastest {
                continue;
            }
            let window = micros(q.period());
            // By window only: a log of starts does not depend on the limit, so a deploy that
            // changes a limit keeps counting what was already sent in the window.
            keys.push(format!("steadfast:{{{}}}:w{}", b.name, window));
            logs.push((window, q.limit()));
        }
        let max_weight = quotas
            .iter()
            .map(|q| q.limit())
            .min()
            .unwrap_or(1)
            .min(burst);
        let local = match b.on_unavailable {
            Unavailable::Local { share } => {
                if !(share > 0.0 && share <= 1.0) {
                    return Err(ConfigError::new(
                        "share",
                        format!(
                            "the local share must be in (0, 1], for example 1/workers; got {share}"
                        ),
                    ));
                }
                let scaled = |n: u32| ((f64::from(n) * share).floor() as u32).max(1);
                let mut rates = RateLimitConfig::default().burst(scaled(burst));
                for q in &quotas {
                    let n = scaled(q.limit());
                    let n = std::num::NonZeroU32::new(n).unwrap_or(std::num::NonZeroU32::MIN);
                    rates = rates.quota(super::Quota::new(n, q.period())?);
                }
                Some(RateLimit::new(rates)?)
            }
            _ => None,
        };
        Ok(RedisRateLimit {
            redis,
            name: b.name,
            script: redis::Script::new(SCRIPT),
            keys,
            pace_us,
            logs,
            max_weight,
            on_unavailable: b.on_unavailable,
            local,
            rates: b.rates,
            down: AtomicBool::new(false),
        })
    }

    /// The limiter's name (the Redis keys' namespace).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The quotas.
    pub fn rates(&self) -> &RateLimitConfig {
        &self.rates
    }

    /// One round trip: the script's verdict. `lookahead`: how far ahead a paced slot may be
    /// reserved.
    async fn ask(&self, weight: u32, lookahead: u64) -> Result<Verdict, String> {
        let round_trip = async {
            let mut connection = self.redis.get().await.map_err(|e| e.to_string())?;
            let mut invocation = self.script.prepare_invoke();
            for key in &self.keys {
                invocation.key(key);
            }
            invocation
                .arg(weight)
                .arg(self.pace_us)
                .arg(lookahead)
                .arg(self.logs.len());
            for (window, limit) in &self.logs {
                invocation.arg(*window).arg(*limit);
            }
            let reply: Vec<i64> = invocation
                .invoke_async(&mut connection)
                .await
                .map_err(|e| e.to_string())?;
            Verdict::from_reply(&reply).ok_or_else(|| format!("unexpected reply {reply:?}"))
        };
        match tokio::time::timeout(self.redis.timeout(), round_trip).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {:?}", self.redis.timeout())),
        }
    }

    /// Takes `weight` units now if Redis grants them, saying when it did; never waits for a slot
    /// (it does wait for the round trip, at most the timeout).
    pub async fn try_grant(&self, weight: u32) -> Result<Grant, Denied> {
        self.take(weight, 0).await
    }

    async fn take(&self, weight: u32, lookahead: u64) -> Result<Grant, Denied> {
        if weight == 0 {
            return Ok(Grant {
                at: SystemTime::now(),
                local: false,
            });
        }
        if weight > self.max_weight {
            return Err(Denied::never());
        }
        match self.ask(weight, lookahead).await {
            Ok(verdict) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!(target: "steadfast", limiter = %self.name, url = %self.redis.url(), "Redis answers again");
                }
                match verdict {
                    Verdict::Granted { at, ahead } => {
                        // A reserved slot: start no earlier than it (the reply left Redis at
                        // `now`, so sleeping `ahead` from here ends after the slot).
                        if !ahead.is_zero() {
                            tokio::time::sleep(ahead).await;
                        }
                        Ok(Grant { at, local: false })
                    }
                    Verdict::Wait(d) => Err(Denied::wait(d)),
                    Verdict::Never => Err(Denied::never()),
                }
            }
            Err(reason) => {
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(target: "steadfast", limiter = %self.name, url = %self.redis.url(), reason = %reason, mode = ?self.on_unavailable, "Redis is unavailable");
                }
                match (&self.on_unavailable, &self.local) {
                    (Unavailable::Local { .. }, Some(local)) => {
                        local.try_acquire(weight).map(|()| Grant {
                            at: SystemTime::now(),
                            local: true,
                        })
                    }
                    (Unavailable::Fail, _) => Err(Denied::unavailable()),
                    _ => Err(Denied::wait(Duration::from_millis(100))),
                }
            }
        }
    }

    /// Waits until `weight` units are granted, saying when. Fails when they never will be, or
    /// (with [`Unavailable::Fail`]) when Redis is unavailable.
    pub async fn grant(&self, weight: u32) -> Result<Grant, Denied> {
        let mut unavailable_wait = Duration::from_millis(100);
        loop {
            // Reserve a paced slot up to one interval ahead: see `SCRIPT`.
            match self.take(weight, self.pace_us).await {
                Ok(grant) => return Ok(grant),
                Err(denied) => match denied.retry_after() {
                    Some(wait) => {
                        let wait = if self.down.load(Ordering::Relaxed) {
                            // Waiting for Redis to come back: 100 ms, doubling to 1 s.
                            let w = unavailable_wait;
                            unavailable_wait = (unavailable_wait * 2).min(Duration::from_secs(1));
                            w
                        } else {
                            unavailable_wait = Duration::from_millis(100);
                            wait
                        };
                        tokio::time::sleep(wait.max(Duration::from_millis(1))).await
                    }
                    None => return Err(denied),
                },
            }
        }
    }
}

enum Verdict {
    Granted { at: SystemTime, ahead: Duration },
    Wait(Duration),
    Never,
}

impl Verdict {
    fn from_reply(reply: &[i64]) -> Option<Verdict> {
        let us = |v: i64| u64::try_from(v).ok().map(Duration::from_micros);
        match reply {
            [0, start, now] => Some(Verdict::Granted {
                at: SystemTime::UNIX_EPOCH + us(*start)?,
                ahead: us(start - now)?,
            }),
            [1, wait, _] => Some(Verdict::Wait(us(*wait)?)),
            [2, _] => Some(Verdict::Never),
            _ => None,
        }
    }
}

#[async_trait::async_trait]
impl RateLimiter for RedisRateLimit {
    async fn try_acquire(&self, weight: u32) -> Result<(), Denied> {
        self.try_grant(weight).await.map(|_| ())
    }

    async fn acquire(&self, weight: u32) -> Result<(), Denied> {
        self.grant(weight).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_in_messages() {
        assert_eq!(
            redact_url("redis://user:hunter2@db.local:6379/0"),
            "redis://user:***@db.local:6379/0"
        );
        assert_eq!(redact_url("redis://:hunter2@db"), "redis://:***@db");
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(
            redact_url("redis+unix:///run/redis.sock?db=1&pass=hunter2"),
            "redis+unix:///run/redis.sock?db=1&pass=***"
        );
    }

    /// Regression (second probe): a password holding a `/` ended the authority early, so the
    /// URL was shown whole, password included, in the "is not a Redis URL" error.
    #[test]
    fn a_password_with_a_slash_is_masked_too() {
        for (url, shown) in [
            (
                "redis://:hunter/2@127.0.0.1:6379",
                "redis://:***@127.0.0.1:6379",
            ),
            ("redis://user:a/b/c@db:6379/0", "redis://user:***@db:6379/0"),
            ("redis://:p@ss/w@db", "redis://:***@db"),
        ] {
            assert_eq!(redact_url(url), shown);
        }
        let error = RedisRateLimit::builder("redis://:hunter/2@127.0.0.1:6379", "x")
            .per_second(1)
            .build()
            .unwrap_err()
            .to_string();
        assert!(!error.contains("hunter"), "{error}");
    }

    #[test]
    fn bad_configuration_is_an_error_at_construction() {
        let url = "redis://127.0.0.1:1";
        let err = |b: RedisRateLimitBuilder| b.build().unwrap_err().field();
        assert_eq!(
            err(RedisRateLimit::builder(url, "has space").per_second(1)),
            "name"
        );
        assert_eq!(err(RedisRateLimit::builder(url, "").per_second(1)), "name");
        assert_eq!(err(RedisRateLimit::builder(url, "ok").per_second(0)), "rps");
        assert_eq!(err(RedisRateLimit::builder(url, "ok")), "rpm");
        assert_eq!(
            err(RedisRateLimit::builder("http://x", "ok").per_second(1)),
            "redis"
        );
        assert_eq!(
            err(RedisRateLimit::builder(url, "ok").per_second(5).burst(6)),
            "burst"
        );
        assert_eq!(
            err(RedisRateLimit::builder(url, "ok")
                .per_second(5)
                .on_unavailable(Unavailable::Local { share: 0.0 })),
            "share"
        );
        let message = RedisRateLimit::builder("redis://u:hunter2@[bad", "ok")
            .per_second(1)
            .build()
            .unwrap_err()
            .to_string();
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn keys_are_namespaced_and_hash_tagged() {
        let l = RedisRateLimit::builder("redis://127.0.0.1", "gemini/flash")
            .per_minute(10)
            .per_day(250)
            .build()
            .unwrap();
        assert!(
            l.keys
                .iter()
                .all(|k| k.starts_with("steadfast:{gemini/flash}:"))
        );
        assert_eq!(
            l.pace_us, 6_002_000,
            "10 per minute: one every 6 s, and the default 2 ms guard"
        );
        let unguarded = RedisRateLimit::builder("redis://127.0.0.1", "g")
            .per_second(1000)
            .build()
            .unwrap();
        assert_eq!(
            unguarded.pace_us, 1_050,
            "1 ms apart, and a guard of at most 5 % of that"
        );
        let none = RedisRateLimit::builder("redis://127.0.0.1", "g")
            .per_second(20)
            .guard(Duration::ZERO)
            .build()
            .unwrap();
        assert_eq!(none.pace_us, 50_000);
        // Found by review: `guard(Duration::MAX)` overflowed the pace, and every ask then
        // failed in Redis as if it were unavailable.
        for huge in [Duration::from_millis(51), Duration::MAX] {
            let e = RedisRateLimit::builder("redis://127.0.0.1", "g")
                .per_second(20)
                .guard(huge)
                .build()
                .unwrap_err();
            assert_eq!(e.field(), "guard", "{e}");
        }
        assert_eq!(l.logs, vec![(86_400_000_000, 250)]);
        assert!(
            l.keys.iter().all(|k| !k.contains("250")),
            "keys do not depend on the limit"
        );
    }
}
