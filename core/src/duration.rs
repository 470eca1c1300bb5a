//! The duration syntax shared by the attribute, configuration files and commands (`"250ms"`,
//! `"1.5s"`, `"2m"`), written once; `policy::parse_duration` is its public face.

use crate::error::ConfigError;
use serde::Deserialize;
use std::time::Duration;

/// Parses a duration as written in the attribute and in config files: a number followed by `ms`,
/// `s`, `m` or `h`, with no space (`"250ms"`, `"1.5s"`, `"2m"`).
///
/// The attribute checks the same grammar at compile time with its own copy (the macro crate
/// cannot depend on this one); keep the two in step.
///
/// ```
/// use std::time::Duration;
/// use steadfast::policy::parse_duration;
/// assert_eq!(parse_duration("250ms")?, Duration::from_millis(250));
/// assert_eq!(parse_duration("1.5s")?, Duration::from_millis(1500));
/// assert_eq!(parse_duration("2m")?, Duration::from_secs(120));
/// assert!(parse_duration("5 sec").is_err());
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, ConfigError> {
    let bad = || {
        ConfigError::new(
            "duration",
            format!(
                "`{text}` is not a duration: write a number and a unit with no space, \
                 such as \"250ms\", \"2s\", \"1.5s\", \"1m\" or \"1h\""
            ),
        )
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    Duration::try_from_secs_f64(value * scale).map_err(|_| bad())
}

pub(crate) fn deserialize_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}
