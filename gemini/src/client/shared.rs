//! Quotas shared by every process through Redis (feature `redis`): [`SharedQuotas`].

use super::ApiKey;
use crate::Error;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use steadfast::limit::Unavailable;
use steadfast::limit::redis::{RedisConnection, url_without_credentials};
use tokio::time::Instant;

/// Checks the limits of one project and model against what every process sent, and records
/// the request when it fits. See the module documentation for the reply.
///
/// KEYS: log, sum, day, learned, refused, closed.
/// ARGV: tokens, window µs, configured rpm, tpm, rpd (0: none), ms until the daily reset, the
/// log member (`tokens:id`, made by the client so that it can forget a request whose reply it
/// never saw). Every reply is `{code, a, b, learned rpm, learned tpm, learned rpd}`:
/// `{0, 0, 0, …}` sent; `{1, wait µs, server, …}` not yet
/// (`server` = 1 when the wait comes from the server: a refusal or a learned limit);
/// `{3, ms, kind, …}` closed (kind 1: the day's quota, 2: no quota); `{4, 0, 0, …}` never (more
/// tokens than a per-minute token limit).
const ADMIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tokens = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local day_ms = tonumber(ARGV[6])
local l = redis.call('HMGET', KEYS[4], 'rpm', 'tpm', 'rpd')
local lrpm = tonumber(l[1]) or 0
local ltpm = tonumber(l[2]) or 0
local lrpd = tonumber(l[3]) or 0
local function lowest(configured, learned)
  if configured == 0 then return learned, learned > 0 end
  if learned == 0 or configured <= learned then return configured, false end
  return learned, true
end
local closed = tonumber(redis.call('GET', KEYS[6]) or '0')
if closed > 0 then
  return {3, math.max(redis.call('PTTL', KEYS[6]), 1), closed, lrpm, ltpm, lrpd}
end
local refused = tonumber(redis.call('GET', KEYS[5]) or '0')
if refused > now then return {1, refused - now, 1, lrpm, ltpm, lrpd} end
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - window)
if #gone > 0 then
  local freed = 0
  for _, m in ipairs(gone) do freed = freed + tonumber(string.match(m, '^(%d+):')) end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  redis.call('DECRBY', KEYS[2], freed)
end
local rpd = lowest(tonumber(ARGV[5]), lrpd)
if rpd > 0 and tonumber(redis.call('GET', KEYS[3]) or '0') >= rpd then
  return {3, day_ms, 1, lrpm, ltpm, lrpd}
end
local rpm, rpm_learned = lowest(tonumber(ARGV[3]), lrpm)
local count = redis.call('ZCARD', KEYS[1])
if rpm > 0 and count >= rpm then
  local e = redis.call('ZRANGE', KEYS[1], count - rpm, count - rpm, 'WITHSCORES')
  return {1, math.max(tonumber(e[2]) + window - now, 1), rpm_learned and 1 or 0, lrpm, ltpm, lrpd}
end
local tpm, tpm_learned = lowest(tonumber(ARGV[4]), ltpm)
if tpm > 0 then
  if tokens > tpm then return {4, 0, 0, lrpm, ltpm, lrpd} end
  local used = tonumber(redis.call('GET', KEYS[2]) or '0')
  if used + tokens > tpm then
    local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
    local freed = 0
    for j = 1, #entries, 2 do
      freed = freed + tonumber(string.match(entries[j], '^(%d+):'))
      if used - freed + tokens <= tpm then
        return {1, math.max(tonumber(entries[j + 1]) + window - now, 1), tpm_learned and 1 or 0, lrpm, ltpm, lrpd}
      end
    end
    return {1, window, tpm_learned and 1 or 0, lrpm, ltpm, lrpd}
  end
end
local ttl = math.ceil(window / 1000) + 1000
redis.call('ZADD', KEYS[1], string.format('%d', now), ARGV[7])
redis.call('INCRBY', KEYS[2], tokens)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
if redis.call('INCR', KEYS[3]) == 1 then redis.call('PEXPIRE', KEYS[3], math.max(day_ms, 1)) end
return {0, 0, 0, lrpm, ltpm, lrpd}
";

/// Records what the server said to a request of one project and model.
///
/// KEYS: log, sum, day, learned, refused, closed.
/// ARGV: log member to forget (`""`: none), its tokens, learned rpm, tpm, rpd (0: nothing
/// learned), refused for ms (0: no), closed for ms (0: no), closed kind.
const SETTLE: &str = r"
if ARGV[1] ~= '' and redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('DECRBY', KEYS[2], tonumber(ARGV[2]))
  if tonumber(redis.call('GET', KEYS[3]) or '0') > 0 then redis.call('DECR', KEYS[3]) end
end
local fields = {'rpm', 'tpm', 'rpd'}
for i = 1, 3 do
  local v = tonumber(ARGV[2 + i])
  if v > 0 then
    redis.call('HSET', KEYS[4], fields[i], v)
    redis.call('PEXPIRE', KEYS[4], 86400000)
  end
end
local refused_ms = tonumber(ARGV[6])
if refused_ms > 0 then
  local t = redis.call('TIME')
  local until_us = tonumber(t[1]) * 1000000 + tonumber(t[2]) + refused_ms * 1000
  if until_us > tonumber(redis.call('GET', KEYS[5]) or '0') then
    redis.call('SET', KEYS[5], string.format('%d', until_us), 'PX', refused_ms)
  end
end
local closed_ms = tonumber(ARGV[7])
if closed_ms > 0 then redis.call('SET', KEYS[6], ARGV[8], 'PX', closed_ms) end
return 1
";

/// Builds [`SharedQuotas`]: the Redis URL, the namespace every process of one deployment shares,
/// and what to do when Redis fails.
#[derive(Clone)]
pub struct SharedQuotasBuilder {
    url: String,
    namespace: String,
    timeout: Duration,
    on_unavailable: Unavailable,
    max_wait: Duration,
}

impl fmt::Debug for SharedQuotasBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedQuotasBuilder")
            .field("url", &url_without_credentials(&self.url))
            .field("namespace", &self.namespace)
            .field("timeout", &self.timeout)
            .field("on_unavailable", &self.on_unavailable)
            .field("max_wait", &self.max_wait)
            .finish()
    }
}

impl SharedQuotasBuilder {
    /// The longest one round trip may take before Redis counts as unavailable (default 250 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// What a call does while Redis is unavailable (default [`Unavailable::Wait`]).
    pub fn on_unavailable(mut self, mode: Unavailable) -> Self {
        self.on_unavailable = mode;
        self
    }

    /// With [`Unavailable::Wait`], how long one request waits for Redis to answer again before
    /// its call fails with [`steadfast::Error::LimiterUnavailable`] (default 60 s; a
    /// the retry settings' `deadline` ([`ClientPolicy::retry_with`](crate::ClientPolicy::retry_with)) may end the call sooner).
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Checks every setting, without connecting (the first call connects). Fails on a URL that
    /// is not a Redis URL, a namespace that is empty, longer than 64 characters or has
    /// characters other than letters, digits and `-_.`, a zero timeout or maximum wait, or a
    /// local share outside (0, 1].
    pub fn build(self) -> Result<SharedQuotas, Error> {
        let name_ok = !self.namespace.is_empty()
            && self.namespace.len() <= 64
            && self
                .namespace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !name_ok {
            return Err(Error::configuration(format!(
                "the shared quota namespace {:?} must be 1 to 64 letters, digits or `-_.` (no \
                 spaces): it becomes part of Redis keys shared by every process",
                self.namespace
            )));
        }
        let redis = RedisConnection::open(&self.url, self.timeout).map_err(Error::configuration)?;
        if self.timeout.is_zero() {
            return Err(Error::configuration(
                "the Redis timeout of shared quotas must be longer than zero",
            ));
        }
        if self.max_wait.is_zero() {
            return Err(Error::configuration(
                "the longest wait for Redis of shared quotas must be longer than zero \
                 (use Unavailable::Fail to fail at once)",
            ));
        }
        if let Unavailable::Local { share } = self.on_unavailable {
            if !(share > 0.0 && share <= 1.0) {
                return Err(Error::configuration(format!(
                    "the local share of shared quotas must be in (0, 1], for example 1/workers; got {share}"
                )));
            }
        }
        Ok(SharedQuotas {
            redis,
            namespace: self.namespace,
            admit: redis::Script::new(ADMIT),
            settle: redis::Script::new(SETTLE),
            on_unavailable: self.on_unavailable,
            max_wait: self.max_wait,
            down: AtomicBool::new(false),
            down_at: Mutex::new(None),
            id: instance_id(),
            next: AtomicU64::new(0),
        })
    }

    /// Builds and connects, so that an unreachable Redis is an error now (naming the URL without
    /// its password) rather than at the first call.
    pub async fn connect(self) -> Result<SharedQuotas, Error> {
        let shared = self.build()?;
        shared.redis.check().await.map_err(Error::configuration)?;
        Ok(shared)
    }
}

/// The quotas of a client kept in Redis, so that every process sharing a project shares them:
/// give it to [`ClientBuilder::shared_quotas`](crate::ClientBuilder::shared_quotas).
///
/// Gemini counts requests per project and model, whatever process sends them. A client given
/// these quotas keeps, for each project and model, what every process sent and what the
/// server taught, in Redis:
///
/// - a log of the requests sent in the last minute (with their input tokens) and a count of
///   the requests sent today (it ends at midnight Pacific time);
/// - the limits learned from 429s (`quotaValue` of a QuotaFailure), so that a limit one
///   process learns binds every process at once;
/// - the server's refusals: a per-minute 429 keeps the project away from every process until
///   its RetryInfo has passed, a per-day 429 until the daily reset, a project with no quota for
///   an hour.
///
/// Before a request is sent, one round trip runs a Lua script (loaded once, run by its SHA)
/// that checks the configured and learned limits against the shared log, timed by the Redis
/// server's clock (`TIME`), and records the request if it fits. A 429 costs one more round trip
/// (to forget the request the server did not count and to record what it taught); a success
/// costs none. Configured limits are sliding windows across processes (no pacing: the server
/// counts per minute, and no window of a minute ever holds more than the limit). The adaptive
/// limiter (for a server that refuses without naming a quota) stays per process.
///
/// Keys live under `steadfast:gemini:{NAMESPACE:PROJECT:MODEL}:…` (one Redis Cluster hash tag
/// per project and model, so the script touches one slot). `PROJECT` is the declared project's
/// name, or for a key of no declared project `k` and a 64-bit FNV-1a digest of the key: never
/// the key. Every key expires (the log after its window, the day count at the reset, learned
/// limits after a day without a refusal). So every process must name a project the same way:
/// two processes that declare one project under two names, or one that declares it and one that
/// does not, keep two separate counts and together send up to twice the quota. Limits learned by
/// any process bind every process of the namespace, one with
/// [`ClientPolicy::learn(false)`](crate::ClientPolicy::learn) included. Redis must keep these
/// keys: run it with `maxmemory-policy noeviction` (or enough memory), as an evicted running sum
/// would undercount tokens.
///
/// # When Redis fails
///
/// A round trip that fails or takes longer than [`SharedQuotasBuilder::timeout`] (250 ms by
/// default) finds Redis unavailable; [`Unavailable`] decides, as for
/// [`RedisRateLimit`](steadfast::limit::RedisRateLimit):
///
/// - [`Unavailable::Wait`] (the default): ask again every 100 ms to 1 s; the call waits, at
///   most [`SharedQuotasBuilder::max_wait`] (60 s) or until its
///   the retry settings' `deadline` ([`ClientPolicy::retry_with`](crate::ClientPolicy::retry_with)), then fails with
///   [`steadfast::Error::LimiterUnavailable`]. Nothing goes over quota.
/// - [`Unavailable::Local`]: send under this process's own accounting, with `share` of each
///   configured limit (requests per minute and per day, input tokens per minute); learned
///   limits and refusals known to this process still apply. Redis is asked again once a second
///   meanwhile, not on every call. What is sent this way is not written to Redis: in a window
///   that contains an outage, up to the limit (from Redis) plus every process's share can go
///   out, about twice the limit with `share = 1 / processes`.
/// - [`Unavailable::Fail`]: the call fails at once with
///   [`steadfast::Error::LimiterUnavailable`] (kind [`ErrorKind::Policy`](crate::ErrorKind::Policy)),
///   not sent.
///
/// A Redis that restarts empty forgets the minute in progress and today's count: in the minute
/// that contains the restart, up to one more full minute's quota can be sent (at most twice the
/// limit in one window), and the day's count starts again (learned limits are learned again from
/// the next 429). A call cancelled after its request was recorded but before it was sent leaves
/// that one entry until it leaves the window: the count errs on the safe side only. A round
/// trip that times out may still run in Redis and record a request that was not sent; the
/// client forgets that entry in the background once Redis answers (tried for about 30 s).
///
/// ```no_run
/// # async fn run() -> Result<(), steadfast_gemini::Error> {
/// use steadfast_gemini::{Client, ClientPolicy, ModelLimits, SharedQuotas};
///
/// let shared = SharedQuotas::redis("redis://127.0.0.1:6379", "my-app").connect().await?;
/// let client = Client::builder()
///     .key(std::env::var("GEMINI_API_KEY").unwrap_or_default())
///     .policy(ClientPolicy::default().limits(
///         "gemini-2.5-flash",
///         ModelLimits { rpm: Some(10), ..ModelLimits::default() },
///     ))
///     .shared_quotas(shared)
///     .build()?;
/// # let _ = client; Ok(()) }
/// ```
pub struct SharedQuotas {
    redis: RedisConnection,
    namespace: String,
    admit: redis::Script,
    settle: redis::Script,
    on_unavailable: Unavailable,
    max_wait: Duration,
    /// Whether the last round trip failed (to log the change once each way).
    down: AtomicBool,
    /// When the last round trip failed: with [`Unavailable::Local`], Redis is asked again only
    /// once a second meanwhile, so that calls do not each wait for the timeout.
    down_at: Mutex<Option<Instant>>,
    /// This instance's part of the log members it writes, and their counter.
    id: u64,
    next: AtomicU64,
}

impl fmt::Debug for SharedQuotas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedQuotas")
            .field("url", &self.redis.url())
            .field("namespace", &self.namespace)
            .field("timeout", &self.redis.timeout())
            .field("on_unavailable", &self.on_unavailable)
            .finish_non_exhaustive()
    }
}

/// Where one project and model live in Redis.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    /// `steadfast:gemini:{NAMESPACE:PROJECT:MODEL}`.
    prefix: String,
}

impl Place {
    fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.prefix)
    }
}

/// The limits configured for one project and model (0: none).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Configured {
    pub(crate) rpm: u32,
    pub(crate) tpm: u32,
    pub(crate) rpd: u32,
}

/// Limits learned by any process, as Redis holds them (0: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SharedLearned {
    pub(crate) rpm: u32,
    pub(crate) tpm: u32,
    pub(crate) rpd: u32,
}

/// What the shared quotas say to a request.
#[derive(Debug)]
pub(crate) enum Admit {
    /// Send it: it is recorded as `member`.
    Go { member: String },
    /// Not before `wait`; `server` when the wait comes from the server.
    Wait { wait: Duration, server: bool },
    /// The project is closed for this model for `lasts`: out of today's quota, or no quota.
    Closed { lasts: Duration, no_quota: bool },
    /// More input tokens than a per-minute token limit: never.
    Never,
    /// Redis did not answer in time (logged once when it starts and once when it ends).
    Unavailable,
}

/// What a request's answer teaches the shared quotas.
#[derive(Debug, Default)]
pub(crate) struct Settle {
    /// The log member to forget (the server did not count the request), and its tokens.
    pub(crate) forget: Option<(String, u32)>,
    /// Limits learned (0: none).
    pub(crate) learned: SharedLearned,
    /// Keep every process away for this long (a per-minute refusal's RetryInfo).
    pub(crate) refused_for: Option<Duration>,
    /// Close the project for this model for this long; `true`: no quota, `false`: the day's.
    pub(crate) closed_for: Option<(Duration, bool)>,
}

impl Settle {
    fn is_empty(&self) -> bool {
        self.forget.is_none()
            && self.learned == SharedLearned::default()
            && self.refused_for.is_none()
            && self.closed_for.is_none()
    }
}

/// 64-bit FNV-1a: a stable digest of a key (the same in every process and every build).
fn digest(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A name written with only characters safe inside a Redis key and its hash tag, one to one:
/// letters, digits, `-` and `.` stay; any other character (`_` included) becomes `_` and the
/// hex of its UTF-8 bytes, so that "team a" and "team_a" stay two projects. A result longer
/// than 128 characters is cut and ends in `~` and the digest of the whole name.
fn safe(name: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
            out.push(c);
        } else {
            let mut bytes = [0; 4];
            for b in c.encode_utf8(&mut bytes).bytes() {
                let _ = write!(out, "_{b:02x}");
            }
        }
    }
    if out.len() > 128 {
        // Every character pushed is ASCII, so any byte index is a character boundary.
        out.truncate(111);
        let _ = write!(out, "~{:016x}", digest(name));
    }
    out
}

/// Why a round trip failed.
#[derive(Debug)]
enum Failed {
    /// No reply (a timeout, or the connection lost after sending): the command may have run,
    /// or may still run, in Redis.
    TimedOut,
    /// No connection, or Redis refused the command: nothing ran.
    Error(String),
}

/// A number that tells this instance's log members from every other process's: the time, the
/// process id and the instance's address, mixed.
fn instance_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl SharedQuotas {
    /// Starts a builder for quotas kept in the Redis at `url` (`redis://host:port/db`,
    /// `redis://:password@host`) under `namespace`: every process that should share its
    /// projects' quotas uses the same namespace.
    pub fn redis(url: &str, namespace: &str) -> SharedQuotasBuilder {
        SharedQuotasBuilder {
            url: url.to_owned(),
            namespace: namespace.to_owned(),
            timeout: Duration::from_millis(250),
            on_unavailable: Unavailable::Wait,
            max_wait: Duration::from_secs(60),
        }
    }

    /// The namespace of its Redis keys.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// What a call does while Redis is unavailable.
    pub fn on_unavailable(&self) -> Unavailable {
        self.on_unavailable
    }

    /// With [`Unavailable::Wait`], how long a request waits for Redis.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// Where `model`'s quotas of a project live: a declared project by its name, another by a
    /// digest of its key.
    pub(crate) fn place(&self, declared: Option<&str>, key: &ApiKey, model: &str) -> Place {
        let project = match declared {
            Some(name) => format!("p.{}", safe(name)),
            None => format!("k.{:016x}", digest(key.expose())),
        };
        Place {
            prefix: format!(
                "steadfast:gemini:{{{}:{project}:{}}}",
                self.namespace,
                safe(model.trim_start_matches("models/"))
            ),
        }
    }

    /// Runs `invocation` in one round trip, within the timeout.
    async fn run(&self, invocation: redis::ScriptInvocation<'_>) -> Result<Vec<i64>, Failed> {
        let round_trip = async {
            let mut connection = self
                .redis
                .get()
                .await
                .map_err(|e| Failed::Error(e.to_string()))?;
            invocation
                .invoke_async::<Vec<i64>>(&mut connection)
                .await
                .map_err(|e| {
                    // Sent, perhaps run, reply lost: as uncertain as a timeout.
                    if e.is_timeout() || e.is_connection_dropped() || e.is_io_error() {
                        Failed::TimedOut
                    } else {
                        Failed::Error(e.to_string())
                    }
                })
        };
        let result = match tokio::time::timeout(self.redis.timeout(), round_trip).await {
            Ok(result) => result,
            Err(_) => Err(Failed::TimedOut),
        };
        match &result {
            Ok(_) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!(target: "steadfast_gemini", url = %self.redis.url(), "shared quotas: Redis answers again");
                }
            }
            Err(failed) => {
                *self.down_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                if !self.down.swap(true, Ordering::Relaxed) {
                    let reason = match failed {
                        Failed::Error(e) => e.clone(),
                        Failed::TimedOut => format!("no answer within {:?}", self.redis.timeout()),
                    };
                    tracing::warn!(target: "steadfast_gemini", url = %self.redis.url(), reason = %reason, mode = ?self.on_unavailable, "shared quotas: Redis is unavailable");
                }
            }
        }
        result
    }

    /// Whether Redis failed less than a second ago, in a mode that does not wait for it.
    fn recently_down(&self) -> bool {
        matches!(self.on_unavailable, Unavailable::Local { .. })
            && self
                .down_at
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some_and(|at| at.elapsed() < Duration::from_secs(1))
    }

    /// Checks a request of `tokens` input tokens against the shared log and every limit, and
    /// records it when it fits. Also returns the limits learned by any process.
    ///
    /// A round trip that times out may still run in Redis later and record a request that is
    /// never sent: its entry is then forgotten in the background, once Redis answers (tried
    /// for about half a minute), so that a slow Redis does not fill the window with phantoms.
    pub(crate) async fn admit(
        self: &Arc<Self>,
        place: &Place,
        tokens: u32,
        window: Duration,
        configured: Configured,
        until_reset: Duration,
    ) -> (Admit, Option<SharedLearned>) {
        if self.recently_down() {
            return (Admit::Unavailable, None);
        }
        let member = format!(
            "{tokens}:{:016x}{:x}",
            self.id,
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        let mut invocation = self.admit.prepare_invoke();
        for suffix in ["log", "sum", "day", "learned", "refused", "closed"] {
            invocation.key(place.key(suffix));
        }
        invocation
            .arg(tokens)
            .arg(u64::try_from(window.as_micros()).unwrap_or(u64::MAX))
            .arg(configured.rpm)
            .arg(configured.tpm)
            .arg(configured.rpd)
            .arg(ms(until_reset).max(1))
            .arg(&member);
        let reply = match self.run(invocation).await {
            Ok(reply) => reply,
            Err(Failed::TimedOut) => {
                self.forget_later(place, member, tokens);
                return (Admit::Unavailable, None);
            }
            // Not sent, or refused by Redis: nothing was recorded.
            Err(Failed::Error(_)) => return (Admit::Unavailable, None),
        };
        let positive = |v: i64| u64::try_from(v).unwrap_or(0);
        let (code, a, b, learned) = match reply[..] {
            [code, a, b, rpm, tpm, rpd] => {
                let small = |v: i64| u32::try_from(v).unwrap_or(0);
                let learned = SharedLearned {
                    rpm: small(rpm),
                    tpm: small(tpm),
                    rpd: small(rpd),
                };
                (code, a, b, learned)
            }
            _ => {
                tracing::warn!(target: "steadfast_gemini", url = %self.redis.url(), ?reply, "shared quotas: an unexpected reply from Redis");
                return (Admit::Unavailable, None);
            }
        };
        let admit = match code {
            0 => Admit::Go { member },
            1 => Admit::Wait {
                wait: Duration::from_micros(positive(a).max(1)),
                server: b == 1,
            },
            3 => Admit::Closed {
                lasts: Duration::from_millis(positive(a).max(1)),
                no_quota: b == 2,
            },
            _ => Admit::Never,
        };
        (admit, Some(learned))
    }

    /// Forgets `member` once Redis answers again: a request recorded by a round trip whose
    /// reply never came (so it was not sent). Tried after 1, 2, 4, 8 and 16 s, then given up
    /// (the entry then leaves with its window).
    fn forget_later(self: &Arc<Self>, place: &Place, member: String, tokens: u32) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (this, place) = (Arc::clone(self), place.clone());
        runtime.spawn(async move {
            for pause in [1, 2, 4, 8, 16] {
                tokio::time::sleep(Duration::from_secs(pause)).await;
                let settle = Settle {
                    forget: Some((member.clone(), tokens)),
                    ..Settle::default()
                };
                if this.settle(&place, settle).await {
                    return;
                }
            }
        });
    }

    /// Records what the server said (nothing to do: no round trip); `false` when Redis did
    /// not answer. Failures are logged and otherwise ignored: the shared count then errs on the
    /// safe side.
    pub(crate) async fn settle(&self, place: &Place, settle: Settle) -> bool {
        if settle.is_empty() {
            return true;
        }
        let mut invocation = self.settle.prepare_invoke();
        for suffix in ["log", "sum", "day", "learned", "refused", "closed"] {
            invocation.key(place.key(suffix));
        }
        let (member, tokens) = settle.forget.unwrap_or_default();
        let (closed_ms, kind) = settle.closed_for.map_or((0, 0), |(d, no_quota)| {
            (ms(d).max(1), 1 + u8::from(no_quota))
        });
        invocation
            .arg(member)
            .arg(tokens)
            .arg(settle.learned.rpm)
            .arg(settle.learned.tpm)
            .arg(settle.learned.rpd)
            .arg(settle.refused_for.map_or(0, |d| ms(d).max(1)))
            .arg(closed_ms)
            .arg(kind);
        match self.run(invocation).await {
            Ok(_) => true,
            Err(_) => {
                tracing::debug!(target: "steadfast_gemini", url = %self.redis.url(), "shared quotas: an answer was not recorded");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_name_projects_and_models_without_keys() {
        let shared = SharedQuotas::redis("redis://127.0.0.1:1", "app")
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let key = ApiKey::new(concat!("AIza", "SyD-example-made-up-key-0000000000"));
        let place = shared.place(None, &key, "models/gemini-2.5-flash");
        assert!(!place.prefix.contains(key.expose()), "{}", place.prefix);
        assert!(!place.prefix.contains("AIza"), "{}", place.prefix);
        assert_eq!(
            place.prefix,
            format!(
                "steadfast:gemini:{{app:k.{:016x}:gemini-2.5-flash}}",
                digest(key.expose())
            )
        );
        let declared = shared.place(Some("team a}{"), &key, "m x");
        assert_eq!(
            declared.prefix,
            "steadfast:gemini:{app:p.team_20a_7d_7b:m_20x}"
        );
    }

    /// Regression (second probe): names were made safe by turning every other character into
    /// `_`, so "team a" and "team_a" shared one place in Redis, and a per-day refusal of one
    /// closed the other in every process.
    #[test]
    fn distinct_names_keep_distinct_places() {
        let names = [
            "team a", "team_a", "team-a", "team.a", "team/a", "teamå", "team_e5", "Team a",
        ];
        let places: std::collections::HashSet<String> = names.iter().map(|n| safe(n)).collect();
        assert_eq!(places.len(), names.len(), "{places:?}");
        for place in &places {
            assert!(
                place
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)),
                "{place}"
            );
        }
        let long_a = "a".repeat(200);
        let long_b = format!("{}b", "a".repeat(199));
        let (a, b) = (safe(&long_a), safe(&long_b));
        assert!(a.len() <= 128 && b.len() <= 128, "{a} {b}");
        assert_ne!(a, b);
    }

    #[test]
    fn bad_settings_are_errors_at_construction() {
        let error = |b: SharedQuotasBuilder| match b.build() {
            Ok(_) => panic!("built"),
            Err(e) => e.to_string(),
        };
        let e = error(SharedQuotas::redis("http://x", "app"));
        assert!(e.contains("not a Redis URL"), "{e}");
        let e = error(SharedQuotas::redis("redis://:hunter2@nowhere:1/", "my app"));
        assert!(e.contains("namespace"), "{e}");
        let e = error(SharedQuotas::redis("redis://:hunter2@x", "").timeout(Duration::ZERO));
        assert!(!e.contains("hunter2"), "{e}");
        let e = error(SharedQuotas::redis("redis://x", "a").timeout(Duration::ZERO));
        assert!(e.contains("timeout"), "{e}");
        let e = error(
            SharedQuotas::redis("redis://x", "a").on_unavailable(Unavailable::Local { share: 0.0 }),
        );
        assert!(e.contains("share"), "{e}");
        let debug = format!("{:?}", SharedQuotas::redis("redis://:hunter2@x/", "a"));
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
