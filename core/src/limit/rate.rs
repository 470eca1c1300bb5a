//! The built-in exact rate limiter.

use super::clock::LimiterClock;
use super::gcra::Gcra;
use super::window::WindowLog;
use super::{Denied, RateLimiter};
use crate::error::ConfigError;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

/// A quota: at most `limit` units in any window of `period`.
///
/// ```
/// use std::num::NonZeroU32;
/// use steadfast::limit::Quota;
/// const RPM: Quota = Quota::per_minute(NonZeroU32::new(25).unwrap());
/// assert_eq!(RPM.interval(), std::time::Duration::from_millis(2400));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    limit: NonZeroU32,
    period: Duration,
}

impl Quota {
    /// `limit` per second.
    pub const fn per_second(limit: NonZeroU32) -> Self {
        Quota {
            limit,
            period: Duration::from_secs(1),
        }
    }

    /// `limit` per minute.
    pub const fn per_minute(limit: NonZeroU32) -> Self {
        Quota {
            limit,
            period: Duration::from_secs(60),
        }
    }

    /// `limit` per hour.
    pub const fn per_hour(limit: NonZeroU32) -> Self {
        Quota {
            limit,
            period: Duration::from_secs(3600),
        }
    }

    /// `limit` per day (a sliding 24 hours).
    pub const fn per_day(limit: NonZeroU32) -> Self {
        Quota {
            limit,
            period: Duration::from_secs(86_400),
        }
    }

    /// `limit` per arbitrary `period`; the period must be at least a millisecond.
    pub fn new(limit: NonZeroU32, period: Duration) -> Result<Self, ConfigError> {
        if period < Duration::from_millis(1) {
            return Err(ConfigError::new(
                "period",
                format!("a quota period of {period:?} is too short: use at least 1ms"),
            ));
        }
        Ok(Quota { limit, period })
    }

    /// The most units in any window.
    pub const fn limit(&self) -> u32 {
        self.limit.get()
    }

    /// The window length.
    pub const fn period(&self) -> Duration {
        self.period
    }

    /// The even spacing that spends the quota exactly: `period / limit`, rounded up to the
    /// nanosecond so that rounding can never let an extra unit into a window.
    pub const fn interval(&self) -> Duration {
        let period = self.period.as_nanos();
        let limit = self.limit.get() as u128;
        Duration::from_nanos(period.div_ceil(limit) as u64)
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period.as_secs() {
            1 if self.period.subsec_nanos() == 0 => "second".to_owned(),
            60 if self.period.subsec_nanos() == 0 => "minute".to_owned(),
            3600 if self.period.subsec_nanos() == 0 => "hour".to_owned(),
            86_400 if self.period.subsec_nanos() == 0 => "day".to_owned(),
            _ => format!("{:?}", self.period),
        };
        write!(f, "{} per {unit}", self.limit)
    }
}

/// The configuration of a [`RateLimit`]: quotas and a burst. It is also the builder, and it
/// deserializes from a config file (`rps`, `rpm`, `rph`, `rpd`, `burst`).
///
/// ```
/// let config: steadfast::limit::RateLimitConfig = serde_json::from_str(r#"{"rpm": 25, "rpd": 1500}"#)?;
/// let limit = config.build()?;
/// assert_eq!(limit.config().to_string(), "25 per minute + 1500 per day, burst 1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    #[serde(default)]
    rps: Option<u32>,
    #[serde(default)]
    rpm: Option<u32>,
    #[serde(default)]
    rph: Option<u32>,
    #[serde(default)]
    rpd: Option<u32>,
    #[serde(default)]
    burst: Option<u32>,
    #[serde(skip)]
    custom: Vec<Quota>,
}

impl RateLimitConfig {
    /// At most `n` per second.
    pub fn per_second(mut self, n: u32) -> Self {
        self.rps = Some(n);
        self
    }

    /// At most `n` in any 60 s.
    pub fn per_minute(mut self, n: u32) -> Self {
        self.rpm = Some(n);
        self
    }

    /// At most `n` in any hour.
    pub fn per_hour(mut self, n: u32) -> Self {
        self.rph = Some(n);
        self
    }

    /// At most `n` in any 24 h.
    pub fn per_day(mut self, n: u32) -> Self {
        self.rpd = Some(n);
        self
    }

    /// Any other quota.
    pub fn quota(mut self, quota: Quota) -> Self {
        self.custom.push(quota);
        self
    }

    /// How many units may start back to back (default 1: evenly spaced).
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// Whether no quota is set.
    pub fn is_empty(&self) -> bool {
        self.quotas_unchecked().next().is_none()
    }

    fn quotas_unchecked(&self) -> impl Iterator<Item = (&'static str, u32, Duration)> + '_ {
        [
            ("rps", self.rps, Duration::from_secs(1)),
            ("rpm", self.rpm, Duration::from_secs(60)),
            ("rph", self.rph, Duration::from_secs(3600)),
            ("rpd", self.rpd, Duration::from_secs(86_400)),
        ]
        .into_iter()
        .filter_map(|(name, n, period)| n.map(|n| (name, n, period)))
        .chain(self.custom.iter().map(|q| ("quota", q.limit(), q.period())))
    }

    /// The quotas, checked.
    pub fn quotas(&self) -> Result<Vec<Quota>, ConfigError> {
        let quotas = self
            .quotas_unchecked()
            .map(|(name, n, period)| {
                let limit = NonZeroU32::new(n).ok_or_else(|| {
                    ConfigError::new(
                        name,
                        format!("{name} = 0 would never allow a request: use at least 1, or remove the limit"),
                    )
                })?;
                Quota::new(limit, period)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if quotas.is_empty() {
            return Err(ConfigError::new(
                "rpm",
                "a rate limit needs at least one of rps, rpm, rph or rpd",
            ));
        }
        Ok(quotas)
    }

    /// The configured burst (1 when unset).
    pub fn burst_size(&self) -> u32 {
        self.burst.unwrap_or(1)
    }

    /// Builds the limiter; fails on a zero limit, a zero burst, a burst larger than the fastest
    /// quota, or no quota at all.
    pub fn build(self) -> Result<RateLimit, ConfigError> {
        RateLimit::new(self)
    }
}

impl fmt::Display for RateLimitConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (_, n, period) in self.quotas_unchecked() {
            if !first {
                f.write_str(" + ")?;
            }
            first = false;
            match NonZeroU32::new(n) {
                Some(limit) => write!(f, "{}", Quota { limit, period })?,
                None => write!(f, "0 per {period:?}")?,
            }
        }
        write!(f, ", burst {}", self.burst_size())
    }
}

/// The built-in, exact, in-process rate limiter (see [the module docs](super) for how it works).
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), steadfast::ConfigError> {
/// use std::time::Duration;
/// use steadfast::limit::RateLimit;
/// // 100 tokens a minute, any 60 of them at once.
/// let tpm = RateLimit::builder().per_minute(100).burst(60).build()?;
/// assert!(tpm.try_acquire(60).is_ok());
/// assert!(tpm.try_acquire(50).is_err(), "only 40 tokens are left in this minute");
/// assert!(tpm.try_acquire(101).unwrap_err().retry_after().is_none(), "never fits");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RateLimit {
    config: RateLimitConfig,
    /// Even spacing for the fastest quota, when it is per second or per minute.
    pace: Option<Gcra>,
    windows: Option<Mutex<Vec<WindowLog>>>,
    /// The zero of the logs' timestamps.
    clock: LimiterClock,
}

/// The longest period that is paced; longer ones (per hour, per day) are quotas to spend at
/// any pace.
const PACED: Duration = Duration::from_secs(60);

impl RateLimit {
    /// A configuration to fill in and `build()`.
    pub fn builder() -> RateLimitConfig {
        RateLimitConfig::default()
    }

    /// A limiter for `config`.
    pub fn new(config: RateLimitConfig) -> Result<Self, ConfigError> {
        let quotas = config.quotas()?;
        let burst = config.burst_size();
        // The fastest quota sets the pace; `quotas` is non-empty.
        let fastest_index = (0..quotas.len())
            .min_by_key(|&i| quotas[i].interval())
            .unwrap_or(0);
        let fastest = quotas[fastest_index];
        if burst == 0 || burst > fastest.limit() {
            return Err(ConfigError::new(
                "burst",
                format!(
                    "burst {burst} must be between 1 and the fastest limit ({fastest}); \
                     it is how many requests may start back to back"
                ),
            ));
        }
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let paced = fastest.period() <= PACED;
        let windows: Vec<WindowLog> = quotas
            .iter()
            .enumerate()
            // With burst 1 the pace alone is exact for the fastest quota.
            .filter(|&(i, _)| i != fastest_index || burst > 1 || !paced)
            .map(|(_, q)| WindowLog::new(q.limit(), nanos(q.period())))
            .collect();
        Ok(RateLimit {
            clock: LimiterClock::new(),
            pace: paced.then(|| Gcra::new(fastest.interval(), burst)),
            windows: (!windows.is_empty()).then(|| Mutex::new(windows)),
            config,
        })
    }

    /// The configuration this limiter was built from.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// Takes `weight` units now, or says how long until they would be free. Never waits.
    ///
    /// For a single quota with `burst = 1` this is one atomic compare-and-swap: no lock, no
    /// allocation.
    pub fn try_acquire(&self, weight: u32) -> Result<(), Denied> {
        match self.try_acquire_at(self.clock.now_ns(), weight) {
            Ok(()) => Ok(()),
            // A refusal is the cold path: if tokio's (paused) clock has been advanced, decide
            // again on its time (see `clock.rs`).
            Err(denied) => match self.clock.switched_to_tokio() {
                Some(now_ns) => self.try_acquire_at(now_ns, weight),
                None => Err(denied),
            },
        }
    }

    #[inline]
    fn try_acquire_at(&self, now_ns: u64, weight: u32) -> Result<(), Denied> {
        if weight == 0 {
            return Ok(());
        }
        let to_denied = |wait: Option<u64>| match wait {
            Some(n) => Denied::wait(Duration::from_nanos(n)),
            None => Denied::never(),
        };
        let Some(windows) = &self.windows else {
            // Only a pace: the lock-free fast path. `new` always makes one or the other.
            return match &self.pace {
                Some(pace) => pace.try_take_ns(now_ns, weight).map_err(|w| match w {
                    Some(d) => Denied::wait(d),
                    None => Denied::never(),
                }),
                None => Ok(()),
            };
        };
        // A poisoned lock means a panic elsewhere mid-update of plain counters; the logs are
        // still consistent enough to go on (at worst a slot is counted twice).
        let mut logs = windows.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait: Option<u64> = Some(0);
        for log in logs.iter_mut() {
            if let Err(w) = log.check(now_ns, weight) {
                wait = match (wait, w) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
        }
        if let Some(pace) = &self.pace {
            let mut tat = pace.load();
            loop {
                match (wait, pace.check(tat, now_ns, weight)) {
                    (Some(0), Ok(new_tat)) => match pace.compare_exchange(tat, new_tat) {
                        Ok(_) => break,
                        Err(actual) => tat = actual,
                    },
                    (Some(a), Err(Some(b))) => {
                        return Err(Denied::wait(Duration::from_nanos(a.max(b))));
                    }
                    (Some(a), Ok(_)) => return Err(to_denied(Some(a))),
                    (None, _) | (_, Err(None)) => return Err(Denied::never()),
                }
            }
        } else if wait != Some(0) {
            return Err(to_denied(wait));
        }
        for log in logs.iter_mut() {
            log.commit(now_ns, weight);
        }
        Ok(())
    }

    /// Waits until `weight` units are free and takes them. Cancel-safe: a dropped call has taken
    /// nothing. Fails at once when the weight can never fit.
    pub async fn acquire(&self, weight: u32) -> Result<(), Denied> {
        loop {
            match self.try_acquire(weight) {
                Ok(()) => return Ok(()),
                Err(denied) => match denied.retry_after() {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => return Err(denied),
                },
            }
        }
    }
}

#[async_trait::async_trait]
impl RateLimiter for RateLimit {
    async fn try_acquire(&self, weight: u32) -> Result<(), Denied> {
        RateLimit::try_acquire(self, weight)
    }

    async fn acquire(&self, weight: u32) -> Result<(), Denied> {
        RateLimit::acquire(self, weight).await
    }

    fn as_rate_limit(&self) -> Option<&RateLimit> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_missing_limits_are_rejected() {
        assert_eq!(RateLimit::builder().build().unwrap_err().field(), "rpm");
        assert_eq!(
            RateLimit::builder()
                .per_minute(0)
                .build()
                .unwrap_err()
                .field(),
            "rpm"
        );
        assert_eq!(
            RateLimit::builder()
                .per_day(0)
                .per_minute(5)
                .build()
                .unwrap_err()
                .field(),
            "rpd"
        );
        let err = RateLimit::builder()
            .per_minute(5)
            .burst(6)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "burst");
        assert_eq!(
            RateLimit::builder()
                .per_minute(5)
                .burst(0)
                .build()
                .unwrap_err()
                .field(),
            "burst"
        );
    }

    #[test]
    fn unknown_config_fields_are_rejected() {
        let err = serde_json::from_str::<RateLimitConfig>(r#"{"rpn": 5}"#).unwrap_err();
        assert!(err.to_string().contains("rpn"), "{err}");
    }

    #[test]
    fn interval_rounds_up_so_windows_never_overflow() {
        let q = Quota::per_minute(NonZeroU32::new(7).unwrap());
        assert!(q.interval() * 7 >= Duration::from_secs(60));
    }

    #[test]
    fn weight_heavier_than_burst_is_refused_for_good() {
        let l = RateLimit::builder().per_minute(10).build().unwrap();
        assert_eq!(l.try_acquire(2), Err(Denied::never()));
        assert_eq!(l.try_acquire(0), Ok(()));
    }
}
