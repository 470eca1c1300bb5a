//! The vocabulary of a policy: every key of `#[resilient(...)]`, its values, its default and
//! what it means, in one table ([`KEYS`]).
//!
//! The same names are the builder's setters ([`PolicyBuilder`](super::PolicyBuilder)) and the
//! fields of a configuration file ([`PolicyConfig`](super::PolicyConfig)), where a key can be
//! written there. The attribute's parser lives in the macro crate, which cannot depend on this
//! one; instead the tests of this module fail when README's table of keys, the keys the
//! attribute accepts, the fields a configuration file accepts or the builder's setters differ
//! from this table (README's table is generated from it: run the test with
//! `STEADFAST_BLESS=1` to rewrite it).
//!
//! ```
//! use steadfast::policy::keys::KEYS;
//! let rpm = KEYS.iter().find(|k| k.name == "rpm").unwrap();
//! assert_eq!(rpm.default, "none");
//! assert!(rpm.config.is_some(), "rpm can be written in a config file");
//! assert!(KEYS.iter().find(|k| k.name == "crate").unwrap().config.is_none());
//! ```

/// One key of the vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The name, the same in the attribute, the builder and a configuration file.
    pub name: &'static str,
    /// What may be written as its value (Markdown).
    pub value: &'static str,
    /// Its default (Markdown).
    pub default: &'static str,
    /// What it does (Markdown).
    pub meaning: &'static str,
    /// An example of its value in a configuration file (TOML), when it can be written there;
    /// `None` for keys of the attribute only (paths and expressions of the user's code).
    pub config: Option<&'static str>,
}

const fn key(
    name: &'static str,
    value: &'static str,
    default: &'static str,
    meaning: &'static str,
    config: Option<&'static str>,
) -> Key {
    Key {
        name,
        value,
        default,
        meaning,
        config,
    }
}

/// Every key, in the order README lists them.
pub const KEYS: &[Key] = &[
    key(
        "retry",
        "`\"exp\"`, `\"fixed\"`, `\"linear\"`, `\"decorrelated\"`, `\"none\"`",
        "`\"exp\"`",
        "backoff schedule",
        Some("\"fixed\""),
    ),
    key(
        "on",
        "statuses `429`, ranges `500..=599`, classes `\"transient\"`, `\"timeout\"`, `\"connect\"`",
        "`[\"transient\"]` = 408, 429, 500, 502, 503, 504, timeouts, connection errors",
        "what is retried; everything else fails at once",
        Some("[429, \"500..=599\", \"timeout\"]"),
    ),
    key(
        "attempts",
        "integer ≥ 1",
        "5",
        "total attempts, the first included",
        Some("3"),
    ),
    key(
        "base",
        "duration (`\"250ms\"`, `\"2s\"`, `\"1m\"`, `\"1h\"`)",
        "`\"1s\"`",
        "first delay",
        Some("\"250ms\""),
    ),
    key(
        "max_delay",
        "duration, ≥ `base`",
        "`\"60s\"`",
        "cap on computed delays",
        Some("\"30s\""),
    ),
    key(
        "factor",
        "number > 1",
        "2.0",
        "growth of `exp`",
        Some("1.5"),
    ),
    key(
        "jitter",
        "`\"full\"`, `\"equal\"`, `\"decorrelated\"`, `\"none\"`",
        "`\"full\"`",
        "randomisation of computed delays (never of a server's delay)",
        Some("\"equal\""),
    ),
    key(
        "deadline",
        "duration",
        "none",
        "budget for the whole call, waits included; nothing sleeps past it",
        Some("\"20s\""),
    ),
    key(
        "timeout",
        "duration < `deadline`",
        "none",
        "limit on each attempt",
        Some("\"5s\""),
    ),
    key(
        "rps",
        "integer ≥ 1",
        "none",
        "at most N attempts in any second (rates combine)",
        Some("5"),
    ),
    key(
        "rpm",
        "integer ≥ 1",
        "none",
        "at most N attempts in any 60 s: `rpm = 25` means no 60 s window holds more than 25",
        Some("25"),
    ),
    key(
        "rph",
        "integer ≥ 1",
        "none",
        "at most N attempts in any hour",
        Some("1000"),
    ),
    key(
        "rpd",
        "integer ≥ 1",
        "none",
        "at most N attempts in any 24 hours",
        Some("250"),
    ),
    key(
        "burst",
        "integer ≥ 1, at most the fastest rate; needs `rps`, `rpm`, `rph` or `rpd`",
        "1",
        "attempts that may start back to back",
        Some("2"),
    ),
    key(
        "limiter",
        "`\"name\"`, or an expression (`Arc<dyn RateLimiter>`); in a config file a name or a Redis table",
        "one per function",
        "share a limiter across functions by name, or use your own",
        Some("\"shared-quota\""),
    ),
    key(
        "concurrency",
        "integer ≥ 1",
        "none",
        "at most N attempts in flight",
        Some("4"),
    ),
    key(
        "breaker",
        "`breaker` or `breaker(failure_ratio = 0.5, min_calls = 10, window = \"30s\", open_for = \"30s\", half_open = 1)`",
        "off",
        "circuit breaker",
        Some("{ failure_ratio = 0.5, open_for = \"10s\" }"),
    ),
    key(
        "budget",
        "`true`, `false` or a ratio",
        "`true`: a retry quota (500 units, 5 a retry, 10 after a timeout, successes refill it)",
        "against retry storms: retries stop when the quota is spent; a ratio (`0.2`) allows that share of calls plus 10 retries a second instead",
        Some("0.2"),
    ),
    key(
        "honor_hint",
        "bool",
        "`true`",
        "obey a server's delay (RetryInfo, `Retry-After`, `retry-after-ms`, \"retry in Ns\")",
        Some("false"),
    ),
    key(
        "max_hint",
        "duration",
        "`\"120s\"`",
        "give up at once when a server's delay is longer than this or the time left",
        Some("\"30s\""),
    ),
    key(
        "adapt",
        "bool",
        "`false`",
        "learn the server's rate from its 429s, with the rates set here as the ceiling",
        Some("true"),
    ),
    key(
        "retry_when_nested",
        "bool",
        "`false`",
        "retry even inside another policy's attempt (by default one layer retries: the outer one)",
        Some("true"),
    ),
    key(
        "classify",
        "path to `fn(&Result<T, E>) -> Verdict`",
        "the types' `Classify`",
        "custom verdicts",
        None,
    ),
    key(
        "on_retry",
        "path to `fn(&Event)`",
        "none",
        "called before each wait (retry or rate limit)",
        None,
    ),
    key(
        "fallback",
        "path to an async fn with the same arguments",
        "none",
        "the result when the call fails: every attempt failed, a failure not in `on`, or a stop (deadline, open breaker, ...)",
        None,
    ),
    key(
        "policy",
        "expression yielding a `Policy`",
        "none",
        "a prebuilt policy (builder or config file) instead of inline keys",
        None,
    ),
    key(
        "crate",
        "path",
        "`::steadfast`",
        "for a renamed dependency",
        None,
    ),
];

/// README's table of keys, as [`KEYS`] writes it.
pub fn markdown_table() -> String {
    let mut out = String::from("| key | value | default | meaning |\n| --- | --- | --- | --- |\n");
    for k in KEYS {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            k.name, k.value, k.default, k.meaning
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::policy::{Policy, PolicyConfig};
    use std::collections::BTreeSet;
    use std::time::Duration;

    fn repository_file(path: &str) -> String {
        let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("cannot read {full}: {e}"))
    }

    fn names(filter: impl Fn(&Key) -> bool) -> BTreeSet<&'static str> {
        KEYS.iter().filter(|k| filter(k)).map(|k| k.name).collect()
    }

    #[test]
    fn readme_key_table_is_the_table() {
        let readme = repository_file("README.md");
        let start = readme
            .find("| key | value | default | meaning |")
            .expect("README has a table of keys");
        let end = readme[start..]
            .find("\n\n")
            .map_or(readme.len(), |e| start + e + 1);
        let wanted = markdown_table();
        if readme[start..end] != wanted {
            if std::env::var_os("STEADFAST_BLESS").is_some() {
                let updated = format!("{}{}{}", &readme[..start], wanted, &readme[end..]);
                let path = format!("{}/../README.md", env!("CARGO_MANIFEST_DIR"));
                std::fs::write(path, updated).unwrap();
                return;
            }
            panic!(
                "README's table of keys differs from steadfast::policy::keys::KEYS: run this test with STEADFAST_BLESS=1 to write it\n\nREADME:\n{}\nKEYS:\n{wanted}",
                &readme[start..end]
            );
        }
    }

    #[test]
    fn the_attribute_accepts_exactly_the_table() {
        let source = repository_file("macros/src/validate.rs");
        let start = source
            .find("pub(crate) const KEYS: &[&str] = &[")
            .expect("the macro's list of keys");
        let end = start + source[start..].find("];").unwrap();
        let accepted: BTreeSet<&str> = source[start..end].split('"').skip(1).step_by(2).collect();
        assert_eq!(accepted, names(|_| true));
    }

    #[test]
    fn a_config_file_accepts_exactly_the_keys_it_can_hold() {
        // serde names every field it accepts when it meets one it does not.
        let message = toml::from_str::<PolicyConfig>("no_such_key = 1")
            .unwrap_err()
            .to_string();
        let listed = &message[message.find("expected one of").expect(&message)..];
        let accepted: BTreeSet<&str> = listed.split('`').skip(1).step_by(2).collect();
        assert_eq!(accepted, names(|k| k.config.is_some()));
        for k in KEYS {
            let Some(example) = k.config else { continue };
            let text = format!("{} = {example}", k.name);
            toml::from_str::<PolicyConfig>(&text)
                .unwrap_or_else(|e| panic!("`{text}` does not read as a policy: {e}"));
        }
    }

    #[test]
    fn the_builder_has_a_setter_for_every_key_a_config_file_can_hold() {
        for k in KEYS.iter().filter(|k| k.config.is_some()) {
            let b = Policy::builder();
            let s = Duration::from_secs(1);
            let _ = match k.name {
                "retry" => b.retry("fixed"),
                "on" => b.on("429".parse().unwrap()),
                "attempts" => b.attempts(3),
                "base" => b.base(s),
                "max_delay" => b.max_delay(s),
                "factor" => b.factor(1.5),
                "jitter" => b.jitter(crate::retry::Jitter::Equal),
                "deadline" => b.deadline(s),
                "timeout" => b.timeout(s),
                "rps" => b.rps(1),
                "rpm" => b.rpm(1),
                "rph" => b.rph(1),
                "rpd" => b.rpd(1),
                "burst" => b.burst(1),
                "limiter" => b.limiter_name("shared"),
                "concurrency" => b.concurrency(1),
                "breaker" => b.breaker(crate::breaker::BreakerConfig::default()),
                "budget" => b.budget(Some((0.2, 10))),
                "honor_hint" => b.honor_hint(false),
                "max_hint" => b.max_hint(s),
                "adapt" => b.adapt(true),
                "retry_when_nested" => b.retry_when_nested(true),
                other => panic!("no builder setter for the key `{other}`: add it to this test"),
            };
        }
    }
}
