//! An annotated function's `static`: its literal settings, the policy built from them on first
//! use and registered under the function's path, and what keys that are expressions give it.

use crate::PolicyBuilder;
use crate::breaker::BreakerConfig;
use crate::error::ConfigError;
use crate::limit::{RateLimit, RateLimiter};
use crate::observe::{Event, Hook};
use crate::policy::{Policy, Run};
use crate::retry::Jitter;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// A builder with the literal settings of one annotated function, as the attribute wrote them
/// into its `static`: `key=value` pairs separated by `;`, every value already checked and
/// normalised at compile time (durations in nanoseconds, `on` as a list, `budget=off`, the
/// parameters of `breaker(...)` as `breaker.min_calls=20`, a bare `breaker`). `limiter`, whose
/// value is the user's name, comes last and takes the rest of the text.
///
/// One string, parsed once on first use by this one function, keeps every annotated function's
/// static and code small; the attribute's own checks are what users see.
fn builder_from(name: &'static str, settings: &str) -> Result<PolicyBuilder, ConfigError> {
    let mut b = Policy::builder().name(name);
    let mut breaker: Option<BreakerConfig> = None;
    let mut rest = settings;
    while !rest.is_empty() {
        let (pair, next) = match rest.strip_prefix("limiter=") {
            Some(_) => (rest, ""),
            None => rest.split_once(';').unwrap_or((rest, "")),
        };
        rest = next;
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = || {
            ConfigError::new(
                "attribute",
                format!(
                    "#[resilient] wrote `{pair}`, which this version of steadfast cannot read: keep steadfast and steadfast-macros at the same version"
                ),
            )
        };
        let nanos = || value.parse().map(Duration::from_nanos).map_err(|_| bad());
        let count = || value.parse::<u32>().map_err(|_| bad());
        let ratio = || value.parse::<f64>().map_err(|_| bad());
        let flag = || value.parse::<bool>().map_err(|_| bad());
        if let Some(field) = key.strip_prefix("breaker") {
            let c = breaker.get_or_insert_with(BreakerConfig::default);
            match field {
                "" => {}
                ".failure_ratio" => c.failure_ratio = ratio()?,
                ".min_calls" => c.min_calls = count()?,
                ".window" => c.window = nanos()?,
                ".open_for" => c.open_for = nanos()?,
                ".half_open" => c.half_open = count()?,
                _ => return Err(bad()),
            }
            continue;
        }
        b = match key {
            "retry" => b.retry(value),
            "on" => b.on(value.parse()?),
            "attempts" => b.attempts(count()?),
            "base" => b.base(nanos()?),
            "max_delay" => b.max_delay(nanos()?),
            "deadline" => b.deadline(nanos()?),
            "timeout" => b.timeout(nanos()?),
            "max_hint" => b.max_hint(nanos()?),
            "factor" => b.factor(ratio()?),
            "jitter" => b.jitter(match value {
                "full" => Jitter::Full,
                "equal" => Jitter::Equal,
                "decorrelated" => Jitter::Decorrelated,
                "none" => Jitter::None,
                _ => return Err(bad()),
            }),
            "rps" => b.rps(count()?),
            "rpm" => b.rpm(count()?),
            "rph" => b.rph(count()?),
            "rpd" => b.rpd(count()?),
            "burst" => b.burst(count()?),
            "concurrency" => b.concurrency(count()?),
            "budget" if value == "off" => b.budget(None),
            "budget" => b.budget(Some((ratio()?, 10))),
            "honor_hint" => b.honor_hint(flag()?),
            "retry_when_nested" => b.retry_when_nested(flag()?),
            "adapt" => b.adapt(flag()?),
            "limiter" => b.limiter_name(value),
            _ => return Err(bad()),
        };
    }
    if let Some(c) = breaker {
        b = b.breaker(c);
    }
    Ok(b)
}

/// One annotated function's policy: its literal settings, and the policy built from them on
/// first use and shared by every call. The attribute puts one in a `static`.
#[derive(Debug)]
pub struct Site {
    module: &'static str,
    function: &'static str,
    settings: &'static str,
    /// `module::function`, joined on first use (a `concat!` in every function cost more).
    name: OnceLock<String>,
    policy: OnceLock<Policy>,
}

/// [`Site::new`], as the expansion names it: a generic-free function's path costs the compiler
/// less than an associated function's (`Site::new`, a path relative to a type), 0.01 M
/// instructions per annotated function in a debug rebuild (BENCHMARKS.md §5).
#[inline(always)]
pub const fn site(module: &'static str, function: &'static str, settings: &'static str) -> Site {
    Site::new(module, function, settings)
}

/// How [`Site::build`] makes the policy.
enum Make<'a> {
    /// From the literal settings alone.
    Settings,
    /// From the literal settings, then the keys that are expressions.
    With(&'a dyn Fn(PolicyBuilder) -> PolicyBuilder),
    /// `policy = <expr>`.
    Prebuilt(&'a dyn Fn() -> Policy),
}

impl Site {
    /// The site of `function` in `module` (its `module_path!()`), with the attribute's literal
    /// settings (see `builder_from`); the policy is built on first use.
    pub const fn new(module: &'static str, function: &'static str, settings: &'static str) -> Site {
        Site {
            module,
            function,
            settings,
            name: OnceLock::new(),
            policy: OnceLock::new(),
        }
    }

    /// The function's path, `module::function`: the policy's name.
    pub fn name(&'static self) -> &'static str {
        self.name
            .get_or_init(|| format!("{}::{}", self.module, self.function))
    }

    /// The policy, built from the literal settings on first use.
    ///
    /// # Panics
    ///
    /// When the policy cannot be built. The attribute checks every literal setting at compile
    /// time, so this happens only for what it cannot see: a `limiter = "name"` whose rates
    /// differ from another function's limiter of the same name. That is a programming error in
    /// the caller, and the message names the function, the limiter and both configurations.
    #[inline]
    pub fn policy(&'static self) -> &'static Policy {
        match self.policy.get() {
            Some(policy) => policy,
            None => self.build(Make::Settings),
        }
    }

    /// A call under [`policy`](Site::policy).
    ///
    /// # Panics
    ///
    /// As [`policy`](Site::policy).
    #[inline]
    pub fn start(&'static self) -> Run<'static> {
        self.policy().start()
    }

    /// [`policy`](Site::policy), for a function with keys that are expressions (a limiter
    /// value, `on_retry`): `with` adds them to the builder. It runs once, on first use.
    ///
    /// # Panics
    ///
    /// As [`policy`](Site::policy).
    #[inline]
    pub fn policy_with(
        &'static self,
        with: &dyn Fn(PolicyBuilder) -> PolicyBuilder,
    ) -> &'static Policy {
        match self.policy.get() {
            Some(policy) => policy,
            None => self.build(Make::With(with)),
        }
    }

    /// The policy `policy = <expr>` gives, evaluated on first use.
    #[inline]
    pub fn prebuilt(&'static self, policy: &dyn Fn() -> Policy) -> &'static Policy {
        match self.policy.get() {
            Some(policy) => policy,
            None => self.build(Make::Prebuilt(policy)),
        }
    }

    #[cold]
    #[inline(never)]
    fn build(&'static self, make: Make<'_>) -> &'static Policy {
        let function = self.name();
        let policy = self.policy.get_or_init(|| {
            let built = match make {
                Make::Settings => {
                    builder_from(function, self.settings).and_then(PolicyBuilder::build)
                }
                Make::With(with) => {
                    builder_from(function, self.settings).and_then(|b| with(b).build())
                }
                Make::Prebuilt(policy) => Ok(policy()),
            };
            match built {
                Ok(policy) => policy,
                Err(e) => panic!("#[resilient] on `{function}`: {e}"),
            }
        });
        crate::observe::register_site(function, policy);
        policy
    }
}

/// Turns a `limiter = <expr>` value into the limiter a policy holds.
pub trait IntoLimiter {
    /// The limiter.
    fn into_limiter(self) -> Arc<dyn RateLimiter>;
}

impl IntoLimiter for Arc<dyn RateLimiter> {
    fn into_limiter(self) -> Arc<dyn RateLimiter> {
        self
    }
}

impl<L: RateLimiter + 'static> IntoLimiter for Arc<L> {
    fn into_limiter(self) -> Arc<dyn RateLimiter> {
        self
    }
}

impl IntoLimiter for RateLimit {
    fn into_limiter(self) -> Arc<dyn RateLimiter> {
        Arc::new(self)
    }
}

/// `on_retry = path`: calls `path(&event)` just before each wait: a retry's backoff or server
/// delay ([`Event::Retry`]), or a wait for the rate limiter ([`Event::RateLimitWait`]).
pub struct OnRetry(pub fn(&Event));

impl fmt::Debug for OnRetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnRetry")
    }
}

impl Hook for OnRetry {
    fn on_event(&self, event: &Event) {
        if let Event::Retry { .. } | Event::RateLimitWait { .. } = event {
            (self.0)(event)
        }
    }
}

/// The registry path for `stats!(a::b::f)` written in module `here`: `crate::` becomes the
/// crate's name, `self::` and `super::` are resolved against `here`.
pub fn stats_path(here: &str, segments: &[&str]) -> String {
    let mut base: Vec<&str> = here.split("::").collect();
    let mut rest = segments;
    match rest.first() {
        Some(&"crate") => {
            base.truncate(1);
            rest = &rest[1..];
        }
        Some(&"self") => rest = &rest[1..],
        Some(&"super") => {
            while let Some(&"super") = rest.first() {
                base.pop();
                rest = &rest[1..];
            }
        }
        // An absolute path (`my_crate::api::ask`) or one relative to this module: try the
        // absolute reading first; `stats_of` finds whichever is registered.
        _ => {
            let absolute = segments.join("::");
            if crate::observe::stats_of(&absolute).is_some() {
                return absolute;
            }
        }
    }
    base.extend_from_slice(rest);
    base.join("::")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_the_attribute_writes_reads_back() {
        let text = "retry=linear;on=429, 500..=599, timeout;attempts=3;base=250000000;\
                    max_delay=2000000000;deadline=60000000000;timeout=10000000000;\
                    max_hint=90000000000;factor=1.5;jitter=equal;rps=2;rpm=60;burst=2;\
                    concurrency=4;breaker;breaker.failure_ratio=0.25;breaker.min_calls=20;\
                    breaker.window=1000000000;breaker.open_for=2000000000;breaker.half_open=2;\
                    budget=0.1;honor_hint=false;retry_when_nested=true";
        let policy = builder_from("here::f", text)
            .and_then(PolicyBuilder::build)
            .expect("the attribute's text builds");
        assert_eq!(policy.name, "here::f");
        assert_eq!(policy.attempts, 3);
        assert_eq!(policy.deadline, Some(Duration::from_secs(60)));
        assert_eq!(policy.timeout, Some(Duration::from_secs(10)));
        assert_eq!(policy.max_hint, Duration::from_secs(90));
        assert!(!policy.honor_hint);
        assert!(policy.retry_when_nested);
        assert!(policy.concurrency.is_some());
        assert!(policy.breaker.is_some());
        assert!(policy.budget.is_some());
        assert!(policy.rate_limit().is_some());
        assert_eq!(
            policy.on,
            "429, 500..=599, timeout".parse().expect("a list")
        );
    }

    #[test]
    fn no_text_is_the_builder_defaults() {
        let policy = builder_from("here::g", "")
            .and_then(PolicyBuilder::build)
            .expect("defaults build");
        assert_eq!(policy.attempts, 5);
        assert!(policy.limiter.is_none() && policy.breaker.is_none());
        assert!(policy.budget.is_some(), "the budget is on by default");
        let off = builder_from("here::h", "budget=off")
            .and_then(PolicyBuilder::build)
            .expect("budget off builds");
        assert!(off.budget.is_none());
    }

    #[test]
    fn a_limiter_name_is_read_whole_whatever_it_holds() {
        let policy = builder_from("here::i", "rpm=7;limiter=private tests; a=b")
            .and_then(PolicyBuilder::build)
            .expect("a named limiter builds");
        let again = builder_from("here::j", "rpm=7;limiter=private tests; a=b")
            .and_then(PolicyBuilder::build)
            .expect("the same name and rates share the limiter");
        let (Some(a), Some(b)) = (policy.limiter(), again.limiter()) else {
            panic!("both have a limiter");
        };
        assert!(Arc::ptr_eq(a, b));
    }

    #[test]
    fn text_from_another_version_is_a_config_error_not_a_panic() {
        for text in [
            "frobnicate=1",
            "attempts=many",
            "breaker.colour=red",
            "jitter=loud",
        ] {
            let err = builder_from("here::k", text).expect_err(text);
            assert_eq!(err.field(), "attribute", "{text}");
        }
    }
}
