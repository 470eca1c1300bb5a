//! Policies from configuration files.

use crate::breaker::BreakerConfig;
use crate::classify::RetryOn;
use crate::error::ConfigError;
use crate::retry::Jitter;
use serde::Deserialize;
use std::time::Duration;

use crate::duration::deserialize_duration;
pub use crate::duration::parse_duration;

fn deserialize_opt_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    deserialize_duration(d).map(Some)
}

/// The `breaker` entry of a config file: `true`/`false`, or a table of parameters.
///
/// A mistake inside the table names the key and the line: `unknown field `failur_ratio`,
/// expected one of `failure_ratio`, `min_calls`, …`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BreakerSetting {
    /// `breaker = true` (defaults) or `false` (off).
    Enabled(bool),
    /// `[breaker]` with parameters; missing ones take their defaults.
    Custom(BreakerConfig),
}

impl From<bool> for BreakerSetting {
    /// `true`: the default breaker; `false`: none.
    fn from(on: bool) -> Self {
        BreakerSetting::Enabled(on)
    }
}

impl From<BreakerConfig> for BreakerSetting {
    fn from(config: BreakerConfig) -> Self {
        BreakerSetting::Custom(config)
    }
}

impl From<Option<BreakerConfig>> for BreakerSetting {
    /// `None`: no breaker.
    fn from(config: Option<BreakerConfig>) -> Self {
        config.map_or(BreakerSetting::Enabled(false), BreakerSetting::Custom)
    }
}

impl<'de> Deserialize<'de> for BreakerSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = BreakerSetting;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "`true`, `false`, or a table with failure_ratio, min_calls, window, \
                     open_for, half_open",
                )
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(BreakerSetting::Enabled(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                BreakerConfig::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(BreakerSetting::Custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The `budget` entry of a config file: `true` (the default retry quota), `false` (off), a
/// ratio, or a table with the ratio and the floor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BudgetSetting {
    /// `budget = false` turns it off; `true` keeps the default retry quota.
    Enabled(bool),
    /// `budget = 0.1`: a ratio, with the default floor of 10 per second.
    Ratio(f64),
    /// `[budget]` with `ratio` and `min_per_second`.
    Custom {
        /// Share of calls that may be retried.
        ratio: f64,
        /// Retries per second always allowed.
        min_per_second: u32,
    },
}

/// The `[budget]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetTable {
    ratio: f64,
    min_per_second: u32,
}

impl From<bool> for BudgetSetting {
    /// `true`: the default retry quota; `false`: no budget.
    fn from(on: bool) -> Self {
        BudgetSetting::Enabled(on)
    }
}

impl From<f64> for BudgetSetting {
    /// A share of calls that may be retried, with the default floor of 10 a second.
    fn from(ratio: f64) -> Self {
        BudgetSetting::Ratio(ratio)
    }
}

impl From<Option<(f64, u32)>> for BudgetSetting {
    /// `Some((ratio, min_per_second))`, or `None` for no budget.
    fn from(budget: Option<(f64, u32)>) -> Self {
        match budget {
            Some((ratio, min_per_second)) => BudgetSetting::Custom {
                ratio,
                min_per_second,
            },
            None => BudgetSetting::Enabled(false),
        }
    }
}

impl<'de> Deserialize<'de> for BudgetSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = BudgetSetting;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "`true`, `false`, a ratio such as 0.2, or a table with ratio and \
                     min_per_second",
                )
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(BudgetSetting::Enabled(v))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(BudgetSetting::Ratio(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(BudgetSetting::Ratio(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(BudgetSetting::Ratio(v as f64))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                BudgetTable::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(
                    |t| BudgetSetting::Custom {
                        ratio: t.ratio,
                        min_per_second: t.min_per_second,
                    },
                )
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The `limiter` entry of a config file.
///
/// ```
/// use steadfast::policy::{LimiterSetting, PolicyConfig};
/// let config: PolicyConfig = toml::from_str(r#"
///     rpm = 10
///     [limiter]
///     redis = "redis://:secret@127.0.0.1:6379"
///     name = "gemini-flash"
///     on_unavailable = "local"
///     local_share = 0.25
/// "#)?;
/// let Some(LimiterSetting::Redis(redis)) = &config.limiter else { panic!() };
/// assert_eq!(redis.name, "gemini-flash");
/// assert!(!format!("{config:?}").contains("secret"), "the password never reaches a log");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum LimiterSetting {
    /// `limiter = "name"`: one limiter per name in this process.
    Named(String),
    /// `[limiter]` with `redis` and `name`: one limiter shared by every process that names it.
    Redis(RedisLimiterSetting),
}

impl<'de> Deserialize<'de> for LimiterSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = LimiterSetting;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a limiter name such as \"gemini\", or a table with redis, name, \
                     on_unavailable, local_share, timeout",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LimiterSetting::Named(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                RedisLimiterSetting::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(LimiterSetting::Redis)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A `[limiter]` table: a Redis-backed limiter (see `steadfast::limit::RedisRateLimit`, feature
/// `redis`).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisLimiterSetting {
    /// The Redis URL, `redis://[:password@]host:port[/db]`.
    pub redis: String,
    /// The limiter's name: letters, digits and `-_.:/`; every process that shares the quota
    /// uses the same name and the same rates.
    pub name: String,
    /// `"wait"` (the default), `"local"` (with `local_share`) or `"fail"`: what an acquisition
    /// does while Redis cannot be reached.
    #[serde(default)]
    pub on_unavailable: Option<String>,
    /// With `on_unavailable = "local"`: the share of each quota this process uses alone.
    #[serde(default)]
    pub local_share: Option<f64>,
    /// The longest one round trip to Redis may take (default `"250ms"`).
    #[serde(default, deserialize_with = "deserialize_opt_duration")]
    pub timeout: Option<Duration>,
}

impl std::fmt::Debug for RedisLimiterSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiterSetting")
            .field("redis", &crate::limit::redact_url(&self.redis))
            .field("name", &self.name)
            .field("on_unavailable", &self.on_unavailable)
            .field("local_share", &self.local_share)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Every key of the attribute, as a config file holds them. Deserialize it with serde (TOML,
/// JSON, …), then [`build`](PolicyConfig::build) it; unknown keys are rejected.
///
/// ```
/// let config: steadfast::policy::PolicyConfig = toml::from_str(r#"
///     retry = "exp"
///     on = [429, 500, 503]
///     attempts = 4
///     base = "500ms"
///     rpm = 25
///     [breaker]
///     failure_ratio = 0.5
///     open_for = "10s"
/// "#)?;
/// let policy = config.build()?;
/// assert_eq!(policy.max_attempts(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// `"exp"`, `"fixed"`, `"linear"`, `"decorrelated"` or `"none"`.
    #[serde(default)]
    pub retry: Option<String>,
    /// Statuses, ranges and classes that are retried.
    #[serde(default)]
    pub on: Option<RetryOn>,
    /// Total attempts, the first included.
    #[serde(default)]
    pub attempts: Option<u32>,
    /// The first delay.
    #[serde(default, deserialize_with = "deserialize_opt_duration")]
    pub base: Option<Duration>,
    /// The cap on any computed delay.
    #[serde(default, deserialize_with = "deserialize_opt_duration")]
    pub max_delay: Option<Duration>,
    /// Growth factor of `exp`.
    #[serde(default)]
    pub factor: Option<f64>,
    /// Randomisation of computed delays.
    #[serde(default)]
    pub jitter: Option<Jitter>,
    /// Budget for the whole call.
    #[serde(default, deserialize_with = "deserialize_opt_duration")]
    pub deadline: Option<Duration>,
    /// Limit on each attempt.
    #[serde(default, deserialize_with = "deserialize_opt_duration")]
    pub timeout: Option<Duration>,
    /// Requests per second.
    #[serde(default)]
    pub rps: Option<u32>,
    /// Requests per minute.
    #[serde(default)]
    pub rpm: Option<u32>,
    /// Requests per hour.
    #[serde(default)]
    pub rph: Option<u32>,
    /// Requests per day.
    #[serde(default)]
    pub rpd: Option<u32>,
    /// Attempts that may start back to back.
    #[serde(default)]
    pub burst: Option<u32>,
    /// A limiter shared with other policies: `limiter = "name"` in this process, or a
    /// `[limiter]` table with a Redis URL and a name, shared with every process (feature
    /// `redis`). Either way the rates above are its quotas.
    #[serde(default)]
    pub limiter: Option<LimiterSetting>,
    /// Attempts in flight at most.
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// The circuit breaker.
    #[serde(default)]
    pub breaker: Option<BreakerSetting>,
    /// The retry budget.
    #[serde(default)]
    pub budget: Option<BudgetSetting>,
    /// Whether server delay hints are obeyed.
    #[serde(default)]
    pub honor_hint: Option<bool>,
    /// The longest server hint that is waited for.
    #[serde(default, deserialize_with = "deserialize_opt_duration")]
    pub max_hint: Option<Duration>,
    /// Learn the server's rate from its 429s (`steadfast::limit::AdaptiveRateLimit`), with
    /// `rps`/`rpm`/… as the ceiling when given.
    #[serde(default)]
    pub adapt: Option<bool>,
    /// Whether this policy still retries when its call runs inside another policy's attempt
    /// (default `false`: the outer policy owns retries, this one makes one attempt).
    #[serde(default)]
    pub retry_when_nested: Option<bool>,
}

impl PolicyConfig {
    /// Builds the policy, checking every value.
    pub fn build(self) -> Result<crate::Policy, ConfigError> {
        crate::Policy::builder().config(self).build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_reject_spaces_units_and_junk() {
        for bad in [
            "5 sec", "5", "ms", "1.s", ".5s", "-1s", "1e3s", "5d", "", "1ms2", "NaNs",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_duration("0ms").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
    }

    #[test]
    fn unknown_jitter_in_a_config_file_is_a_clear_error() {
        let err = toml::from_str::<PolicyConfig>(r#"jitter = "sometimes""#).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("sometimes") && msg.contains("full"), "{msg}");
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_rejected() {
        let err = toml::from_str::<PolicyConfig>("atempts = 3").unwrap_err();
        assert!(err.to_string().contains("atempts"), "{err}");
        let err = toml::from_str::<PolicyConfig>(r#"base = "5 sec""#).unwrap_err();
        assert!(err.to_string().contains("5 sec"), "{err}");
    }

    #[test]
    fn a_mistake_inside_a_table_names_the_key_and_the_line() {
        let cases = [
            (
                "rpm = 5\n[breaker]\nfailur_ratio = 0.5\n",
                "failur_ratio",
                "line 3",
            ),
            ("[breaker]\nwindow = \"5 sec\"\n", "5 sec", "line 2"),
            ("[budget]\nratio = 0.2\nfloor = 3\n", "floor", "line 3"),
            ("[budget]\nratio = 0.2\n", "min_per_second", "line 1"),
            ("budget = \"lots\"\n", "a ratio such as 0.2", "line 1"),
            ("breaker = 3\n", "failure_ratio", "line 1"),
            (
                "rpm = 5\n[limiter]\nredis = \"redis://x\"\nnmae = \"a\"\n",
                "nmae",
                "line 4",
            ),
        ];
        for (text, names, line) in cases {
            let message = toml::from_str::<PolicyConfig>(text)
                .unwrap_err()
                .to_string();
            assert!(message.contains(names), "{text:?}: {message}");
            assert!(message.contains(line), "{text:?}: {message}");
            assert!(!message.contains("untagged"), "{message}");
        }
    }

    #[test]
    fn breaker_and_budget_accept_their_short_forms() {
        let c: PolicyConfig =
            serde_json::from_str(r#"{"breaker": true, "budget": false}"#).unwrap();
        assert_eq!(c.breaker, Some(BreakerSetting::Enabled(true)));
        assert_eq!(c.budget, Some(BudgetSetting::Enabled(false)));
        let c: PolicyConfig = serde_json::from_str(r#"{"budget": 0.1}"#).unwrap();
        assert_eq!(c.budget, Some(BudgetSetting::Ratio(0.1)));
    }
}
