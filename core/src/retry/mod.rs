//! Backoff schedules, jitter and the retry budget.
//!
//! A schedule answers one question: how long to wait before retry number *n*. [`Backoff`] is the
//! trait; [`Schedule`] is the built-in that covers `exp`, `fixed`, `linear` and `decorrelated`,
//! each with a [`Jitter`]. Schedules are stateless and shared by every call of a policy: the
//! previous delay and a random source are passed in, so a call keeps its own state on its stack
//! and a successful call costs nothing here.
//!
//! The delays computed here are capped at `max_delay` and then randomised. A server's own delay
//! hint bypasses this module entirely: it is never jittered (see [`crate::hint`]).
//!
//! ```
//! use std::time::Duration;
//! use steadfast::retry::{Backoff, Jitter, Random, Schedule};
//!
//! let s = Schedule::exponential(Duration::from_secs(1), 2.0, Duration::from_secs(60))?
//!     .with_jitter(Jitter::None);
//! let mut rng = Random::seeded(7);
//! let delays: Vec<_> = (1..=8).map(|n| s.delay(n, Duration::ZERO, &mut rng).unwrap().as_secs()).collect();
//! assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
//! # Ok::<(), steadfast::ConfigError>(())
//! ```
//!
//! With the (opt-in) feature `backoff`, `FromBackoff` turns any `backoff::backoff::Backoff`
//! into a schedule. It is off by default because the `backoff` crate is unmaintained
//! (RUSTSEC-2025-0012, and its dependency `instant`, RUSTSEC-2024-0384) and because its
//! `max_elapsed_time` reads the wall clock, which tokio's paused clock cannot control.

mod budget;
#[cfg(feature = "backoff")]
mod from_backoff;
mod random;

pub use budget::RetryBudget;
#[cfg(feature = "backoff")]
pub use from_backoff::FromBackoff;
pub use random::Random;

use crate::error::ConfigError;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A backoff schedule: the delay before each retry.
///
/// Implement it for a custom schedule; the built-in [`Schedule`] implements it too. The trait is
/// object-safe, so a policy can hold an `Arc<dyn Backoff>`.
///
/// ```
/// use std::time::Duration;
/// use steadfast::retry::{Backoff, Random};
///
/// /// 100 ms, 200 ms, 300 ms, then stop retrying.
/// #[derive(Debug)]
/// struct ThreeSteps;
/// impl Backoff for ThreeSteps {
///     fn delay(&self, retry: u32, _previous: Duration, _rng: &mut Random) -> Option<Duration> {
///         (retry <= 3).then(|| Duration::from_millis(100 * u64::from(retry)))
///     }
/// }
/// assert_eq!(ThreeSteps.delay(2, Duration::ZERO, &mut Random::seeded(1)), Some(Duration::from_millis(200)));
/// assert_eq!(ThreeSteps.delay(4, Duration::ZERO, &mut Random::seeded(1)), None);
/// ```
pub trait Backoff: Send + Sync + fmt::Debug {
    /// The delay before retry number `retry` (1 for the first retry), given the delay actually
    /// waited before the previous retry (`Duration::ZERO` before the first). `None` stops
    /// retrying.
    fn delay(&self, retry: u32, previous: Duration, rng: &mut Random) -> Option<Duration>;
}

impl<B: Backoff + ?Sized> Backoff for std::sync::Arc<B> {
    fn delay(&self, retry: u32, previous: Duration, rng: &mut Random) -> Option<Duration> {
        (**self).delay(retry, previous, rng)
    }
}

/// How a computed delay is randomised, so that many clients that failed together do not retry
/// together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Jitter {
    /// Uniform in `[0, d]` (the default: the best spread, per AWS's analysis).
    #[default]
    Full,
    /// Uniform in `[d/2, d]`: never less than half the computed delay.
    Equal,
    /// Uniform in `[base, min(d, 3 × previous)]`: each delay depends on the last one.
    Decorrelated,
    /// Exactly `d`.
    None,
}

impl FromStr for Jitter {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "full" => Ok(Jitter::Full),
            "equal" => Ok(Jitter::Equal),
            "decorrelated" => Ok(Jitter::Decorrelated),
            "none" => Ok(Jitter::None),
            other => Err(ConfigError::new(
                "jitter",
                format!(
                    "unknown jitter `{other}`: use \"full\", \"equal\", \"decorrelated\" or \"none\""
                ),
            )),
        }
    }
}

/// The shape of a built-in schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    Exponential { factor: f64 },
    Fixed,
    Linear,
    Decorrelated,
    Never,
}

/// The built-in schedules: exponential, fixed, linear, decorrelated (and `none`, which never
/// retries), each capped at `max_delay` and randomised by a [`Jitter`] (full by default).
///
/// Constructors check their parameters: `factor` must be finite and greater than 1, `base` must
/// not exceed `max_delay`.
///
/// ```
/// use std::time::Duration;
/// use steadfast::retry::{Backoff, Jitter, Random, Schedule};
/// let s = Schedule::linear(Duration::from_millis(100), Duration::from_secs(1))?.with_jitter(Jitter::None);
/// assert_eq!(s.delay(3, Duration::ZERO, &mut Random::seeded(0)), Some(Duration::from_millis(300)));
/// assert!(Schedule::exponential(Duration::from_secs(5), 2.0, Duration::from_secs(1)).is_err());
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    shape: Shape,
    base: Duration,
    max: Duration,
    jitter: Jitter,
}

fn check_base_max(base: Duration, max: Duration) -> Result<(), ConfigError> {
    if base > max {
        return Err(ConfigError::new(
            "base",
            format!(
                "base delay {base:?} is greater than max_delay {max:?}: lower base or raise max_delay"
            ),
        ));
    }
    Ok(())
}

impl Schedule {
    /// `base × factor^(n-1)`, capped at `max`.
    pub fn exponential(base: Duration, factor: f64, max: Duration) -> Result<Self, ConfigError> {
        if !factor.is_finite() || factor <= 1.0 {
            return Err(ConfigError::new(
                "factor",
                format!("factor {factor} must be a finite number greater than 1 (for example 2.0)"),
            ));
        }
        check_base_max(base, max)?;
        Ok(Schedule {
            shape: Shape::Exponential { factor },
            base,
            max,
            jitter: Jitter::Full,
        })
    }

    /// The same delay before every retry.
    pub fn fixed(delay: Duration) -> Self {
        Schedule {
            shape: Shape::Fixed,
            base: delay,
            max: delay,
            jitter: Jitter::Full,
        }
    }

    /// `base × n`, capped at `max`.
    pub fn linear(base: Duration, max: Duration) -> Result<Self, ConfigError> {
        check_base_max(base, max)?;
        Ok(Schedule {
            shape: Shape::Linear,
            base,
            max,
            jitter: Jitter::Full,
        })
    }

    /// AWS's "decorrelated jitter": uniform in `[base, 3 × previous]`, capped at `max`. The
    /// randomness is part of the shape; a [`Jitter`] other than `None` is applied on top.
    pub fn decorrelated(base: Duration, max: Duration) -> Result<Self, ConfigError> {
        check_base_max(base, max)?;
        Ok(Schedule {
            shape: Shape::Decorrelated,
            base,
            max,
            jitter: Jitter::None,
        })
    }

    /// Never retries (`retry = "none"`).
    pub fn never() -> Self {
        Schedule {
            shape: Shape::Never,
            base: Duration::ZERO,
            max: Duration::ZERO,
            jitter: Jitter::None,
        }
    }

    /// The schedule named by `retry = "…"` with the given parameters.
    pub fn named(
        name: &str,
        base: Duration,
        factor: f64,
        max: Duration,
    ) -> Result<Self, ConfigError> {
        match name {
            "exp" | "exponential" => Schedule::exponential(base, factor, max),
            "fixed" => {
                check_base_max(base, max)?;
                Ok(Schedule::fixed(base))
            }
            "linear" => Schedule::linear(base, max),
            "decorrelated" => Schedule::decorrelated(base, max),
            "none" => Ok(Schedule::never()),
            other => Err(ConfigError::new(
                "retry",
                format!(
                    "unknown schedule `{other}`: use \"exp\", \"fixed\", \"linear\", \"decorrelated\" or \"none\""
                ),
            )),
        }
    }

    /// The same schedule with another jitter.
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The first delay.
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The cap on any computed delay.
    pub fn max_delay(&self) -> Duration {
        self.max
    }

    /// The jitter applied to computed delays.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// Whether this schedule never retries.
    pub fn is_never(&self) -> bool {
        self.shape == Shape::Never
    }

    /// The delay before jitter.
    fn nominal(&self, retry: u32, previous: Duration, rng: &mut Random) -> Duration {
        let secs = match self.shape {
            Shape::Exponential { factor } => {
                let exp = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
                self.base.as_secs_f64() * factor.powi(exp)
            }
            Shape::Fixed => self.base.as_secs_f64(),
            Shape::Linear => self.base.as_secs_f64() * f64::from(retry.max(1)),
            Shape::Decorrelated => {
                let high =
                    (previous.max(self.base).as_secs_f64() * 3.0).min(self.max.as_secs_f64());
                // `Duration::MAX` as seconds rounds up past what a `Duration` holds.
                let high = Duration::try_from_secs_f64(high)
                    .unwrap_or(self.max)
                    .min(self.max);
                return rng.duration_between(self.base, high);
            }
            Shape::Never => 0.0,
        };
        // `min` before converting: a huge exponent is +inf, which Duration cannot hold.
        let capped = secs.min(self.max.as_secs_f64());
        Duration::try_from_secs_f64(capped).unwrap_or(self.max)
    }
}

impl Backoff for Schedule {
    fn delay(&self, retry: u32, previous: Duration, rng: &mut Random) -> Option<Duration> {
        if self.shape == Shape::Never {
            return None;
        }
        let d = self.nominal(retry, previous, rng);
        Some(match self.jitter {
            Jitter::None => d,
            Jitter::Full => rng.duration_between(Duration::ZERO, d),
            Jitter::Equal => rng.duration_between(d / 2, d),
            Jitter::Decorrelated => {
                let low = self.base.min(d);
                let high = previous.max(self.base).saturating_mul(3).min(d).max(low);
                rng.duration_between(low, high)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn invalid_parameters_are_rejected() {
        for factor in [1.0, 0.5, -2.0, f64::NAN, f64::INFINITY] {
            let err = Schedule::exponential(ms(1), factor, ms(10)).unwrap_err();
            assert_eq!(err.field(), "factor", "{factor}");
        }
        assert_eq!(
            Schedule::linear(ms(20), ms(10)).unwrap_err().field(),
            "base"
        );
        assert_eq!(
            Schedule::named("fibonacci", ms(1), 2.0, ms(10))
                .unwrap_err()
                .field(),
            "retry"
        );
        assert!("sometimes".parse::<Jitter>().is_err());
    }

    #[test]
    fn never_schedule_stops_at_once() {
        assert_eq!(
            Schedule::never().delay(1, ms(0), &mut Random::seeded(1)),
            None
        );
    }

    #[test]
    fn huge_retry_numbers_stay_at_the_cap() {
        let s = Schedule::exponential(ms(1), 10.0, ms(5000))
            .unwrap()
            .with_jitter(Jitter::None);
        assert_eq!(
            s.delay(u32::MAX, ms(0), &mut Random::seeded(1)),
            Some(ms(5000))
        );
    }

    /// Regression (probe D3): decorrelated jitter on a huge base multiplied a `Duration` by 3
    /// without saturating, and the decorrelated schedule turned `Duration::MAX` into seconds
    /// and back, both panicking in the middle of a call.
    #[test]
    fn extreme_durations_never_panic_in_any_shape_or_jitter() {
        let huge = Duration::from_secs(u64::MAX / 2);
        let cases = [
            (huge, Duration::MAX),
            (Duration::MAX, Duration::MAX),
            (
                Duration::from_secs(7_200_000_000_000_000_000),
                Duration::MAX,
            ),
            (ms(1), Duration::MAX),
        ];
        for (base, max) in cases {
            let schedules = [
                Schedule::exponential(base, 2.0, max).unwrap(),
                Schedule::fixed(base),
                Schedule::linear(base, max).unwrap(),
                Schedule::decorrelated(base, max).unwrap(),
            ];
            for schedule in schedules {
                for jitter in [
                    Jitter::Full,
                    Jitter::Equal,
                    Jitter::Decorrelated,
                    Jitter::None,
                ] {
                    let s = schedule.with_jitter(jitter);
                    let mut rng = Random::seeded(7);
                    let mut previous = Duration::ZERO;
                    for retry in [1, 2, 3, 64, u32::MAX] {
                        let d = s.delay(retry, previous, &mut rng).unwrap();
                        assert!(d <= max, "{s:?} retry {retry}: {d:?} > {max:?}");
                        previous = d;
                    }
                    let d = s.delay(2, Duration::MAX, &mut rng).unwrap();
                    assert!(d <= max, "{s:?} after Duration::MAX: {d:?}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn exponential_with_jitter_stays_within_bounds(
            base_ms in 0u64..5_000, factor in 1.01f64..5.0, extra_ms in 0u64..120_000,
            retry in 1u32..40, seed: u64, jitter_idx in 0usize..4,
        ) {
            let base = ms(base_ms);
            let max = ms(base_ms + extra_ms);
            let jitter = [Jitter::Full, Jitter::Equal, Jitter::Decorrelated, Jitter::None][jitter_idx];
            let s = Schedule::exponential(base, factor, max).unwrap().with_jitter(jitter);
            let mut rng = Random::seeded(seed);
            let nominal = Duration::from_secs_f64(
                (base.as_secs_f64() * factor.powi(retry as i32 - 1)).min(max.as_secs_f64()));
            let mut previous = Duration::ZERO;
            for n in 1..=retry {
                previous = s.delay(n, previous, &mut rng).unwrap();
            }
            let d = previous;
            // Allow a microsecond of float rounding.
            let slack = Duration::from_micros(1);
            prop_assert!(d <= max + slack, "{d:?} > cap {max:?}");
            prop_assert!(d <= nominal + slack, "{d:?} > nominal {nominal:?}");
            match jitter {
                Jitter::None => prop_assert!(d + slack >= nominal),
                Jitter::Equal => prop_assert!(d + slack >= nominal / 2),
                Jitter::Decorrelated => prop_assert!(d + slack >= base.min(nominal)),
                Jitter::Full => {}
            }
        }

        #[test]
        fn decorrelated_schedule_stays_between_base_and_cap(
            base_ms in 1u64..2_000, extra_ms in 0u64..60_000, seed: u64,
        ) {
            let (base, max) = (ms(base_ms), ms(base_ms + extra_ms));
            let s = Schedule::decorrelated(base, max).unwrap();
            let mut rng = Random::seeded(seed);
            let mut previous = Duration::ZERO;
            for n in 1..30 {
                let d = s.delay(n, previous, &mut rng).unwrap();
                prop_assert!(d + Duration::from_micros(1) >= base && d <= max + Duration::from_micros(1));
                prop_assert!(d <= previous.max(base) * 3 + Duration::from_micros(1));
                previous = d;
            }
        }

        #[test]
        fn linear_and_fixed_without_jitter_are_exact(base_ms in 0u64..1_000, n in 1u32..100) {
            let max = ms(base_ms * 50);
            let lin = Schedule::linear(ms(base_ms), max).unwrap().with_jitter(Jitter::None);
            let mut rng = Random::seeded(3);
            let expected = ms(base_ms * u64::from(n)).min(max);
            let got = lin.delay(n, Duration::ZERO, &mut rng).unwrap();
            prop_assert!(got.abs_diff(expected) <= Duration::from_micros(1));
            let fixed = Schedule::fixed(ms(base_ms)).with_jitter(Jitter::None);
            prop_assert_eq!(fixed.delay(n, Duration::ZERO, &mut rng), Some(ms(base_ms)));
        }
    }
}
