//! What each key means: typed settings, checked one by one and against each other.
//!
//! Every check reports a `syn::Error` on the offending token with a message that says how to fix
//! it; all errors are collected, so the user sees each mistake once.

use crate::args::{Args, Entry, Value};
use proc_macro2::Span;
use std::time::Duration;
use syn::spanned::Spanned as _;
use syn::{Expr, ExprLit, Lit, LitStr, Path};

/// Every key the attribute accepts.
pub(crate) const KEYS: &[&str] = &[
    "retry",
    "on",
    "attempts",
    "base",
    "max_delay",
    "factor",
    "jitter",
    "deadline",
    "timeout",
    "rpm",
    "rps",
    "rph",
    "rpd",
    "burst",
    "limiter",
    "concurrency",
    "breaker",
    "budget",
    "honor_hint",
    "max_hint",
    "retry_when_nested",
    "adapt",
    "classify",
    "on_retry",
    "fallback",
    "policy",
    "crate",
];

const BREAKER_KEYS: &[&str] = &[
    "failure_ratio",
    "min_calls",
    "window",
    "open_for",
    "half_open",
];

/// A value with the span of the token it came from.
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// `limiter = "name"` or `limiter = <expr>`.
pub(crate) enum LimiterSetting {
    Name(LitStr),
    Value(Box<Expr>),
}

/// `budget = false | true | <ratio>`.
pub(crate) enum BudgetSetting {
    Off,
    Default,
    Ratio(f64),
}

/// The parameters of `breaker(...)`; unset ones take the core's defaults.
#[derive(Default)]
pub(crate) struct BreakerSetting {
    pub(crate) failure_ratio: Option<f64>,
    pub(crate) min_calls: Option<u32>,
    pub(crate) window: Option<Duration>,
    pub(crate) open_for: Option<Duration>,
    pub(crate) half_open: Option<u32>,
}

/// The checked settings of one attribute.
#[derive(Default)]
pub(crate) struct Settings {
    pub(crate) retry: Option<Spanned<String>>,
    pub(crate) on: Option<Spanned<String>>,
    pub(crate) attempts: Option<Spanned<u32>>,
    pub(crate) base: Option<Spanned<Duration>>,
    pub(crate) max_delay: Option<Spanned<Duration>>,
    pub(crate) factor: Option<Spanned<f64>>,
    pub(crate) jitter: Option<Spanned<String>>,
    pub(crate) deadline: Option<Spanned<Duration>>,
    pub(crate) timeout: Option<Spanned<Duration>>,
    pub(crate) rates: Vec<(&'static str, Spanned<u32>)>,
    pub(crate) limiter: Option<Spanned<LimiterSetting>>,
    pub(crate) concurrency: Option<Spanned<u32>>,
    pub(crate) breaker: Option<Spanned<BreakerSetting>>,
    pub(crate) budget: Option<Spanned<BudgetSetting>>,
    pub(crate) honor_hint: Option<Spanned<bool>>,
    pub(crate) max_hint: Option<Spanned<Duration>>,
    pub(crate) retry_when_nested: Option<Spanned<bool>>,
    pub(crate) adapt: Option<Spanned<bool>>,
    pub(crate) classify: Option<Path>,
    pub(crate) on_retry: Option<Path>,
    pub(crate) fallback: Option<Path>,
    pub(crate) policy: Option<Box<Expr>>,
    pub(crate) krate: Option<Path>,
    /// Keys whose policies report their own errors, so the error type needs
    /// `From<steadfast::Error>`; the first one's span carries the check.
    pub(crate) needs_from: Vec<Span>,
}

/// Collects errors so that every mistake is reported, each once.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn add(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    pub(crate) fn finish(self) -> Result<(), syn::Error> {
        self.0.map_or(Ok(()), Err)
    }
}

/// Edit distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (distance(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c)
}

/// The duration grammar of `steadfast::policy::parse_duration`: a number and a unit (`ms`, `s`,
/// `m`, `h`) with no space. Written twice on purpose: this crate cannot depend on `steadfast`,
/// which depends on it. Keep the two in step (the `bad_duration` UI test and the core's
/// `durations_reject_spaces_units_and_junk` test pin the same cases).
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return None;
    }
    Duration::try_from_secs_f64(number.parse::<f64>().ok()? * scale).ok()
}

fn lit(expr: &Expr) -> Option<&Lit> {
    match ungrouped(expr) {
        Expr::Lit(ExprLit { lit, .. }) => Some(lit),
        _ => None,
    }
}

/// The expression inside the invisible groups a `macro_rules!` fragment (`$v:expr`) arrives in,
/// so that a value is read the same whether it was written in place or passed through a macro.
fn ungrouped(expr: &Expr) -> &Expr {
    match expr {
        Expr::Group(g) => ungrouped(&g.expr),
        _ => expr,
    }
}

fn want_str(expr: &Expr, key: &str, example: &str) -> syn::Result<LitStr> {
    match lit(expr) {
        Some(Lit::Str(s)) if !s.suffix().is_empty() => Err(syn::Error::new(
            s.span(),
            format!(
                "`{key}` takes a plain string: remove the suffix `{}`, for example `{key} = {example}`",
                s.suffix()
            ),
        )),
        Some(Lit::Str(s)) => Ok(s.clone()),
        _ => Err(syn::Error::new_spanned(
            expr,
            format!("`{key}` takes a string, for example `{key} = {example}`"),
        )),
    }
}

fn want_duration(expr: &Expr, key: &str) -> syn::Result<Spanned<Duration>> {
    let s = want_str(expr, key, "\"2s\"")?;
    match parse_duration(&s.value()) {
        Some(d) => Ok(Spanned {
            value: d,
            span: s.span(),
        }),
        None => Err(syn::Error::new(
            s.span(),
            format!(
                "`{}` is not a duration: write a number and a unit with no space, such as \
                 \"250ms\", \"2s\", \"1.5s\", \"1m\" or \"1h\"",
                s.value()
            ),
        )),
    }
}

/// `-literal`: a negative number, which `lit` does not see (it is a unary expression).
fn negated(expr: &Expr) -> Option<&Lit> {
    match expr {
        Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => lit(&u.expr),
        Expr::Group(g) => negated(&g.expr),
        _ => None,
    }
}

/// Why `key` needs at least `min`.
fn at_least_why(key: &str, min: u32) -> String {
    match key {
        "attempts" => "it counts the first attempt, so 1 means no retry".to_owned(),
        "rpm" | "rps" | "rph" | "rpd" => {
            format!("`{key} = 0` would never allow a request; remove the key for no limit")
        }
        "concurrency" => {
            "`concurrency = 0` would never let an attempt start; remove the key for no limit"
                .to_owned()
        }
        "burst" => "`burst = 1` means no two attempts start back to back".to_owned(),
        "min_calls" => "the breaker needs at least one call to judge the server".to_owned(),
        "half_open" => "at least one probe must be let through to close the breaker".to_owned(),
        _ => format!("{min} is the smallest value that means something"),
    }
}

fn want_int(expr: &Expr, key: &str, min: u32) -> syn::Result<Spanned<u32>> {
    if let Some(Lit::Int(_) | Lit::Float(_)) = negated(expr) {
        return Err(syn::Error::new_spanned(
            expr,
            format!(
                "`{key}` cannot be negative: it must be at least {min} ({})",
                at_least_why(key, min)
            ),
        ));
    }
    let Some(Lit::Int(i)) = lit(expr) else {
        return Err(syn::Error::new_spanned(
            expr,
            format!(
                "`{key}` takes an integer, for example `{key} = {}`",
                min.max(5)
            ),
        ));
    };
    let value: u32 = i
        .base10_parse()
        .map_err(|_| syn::Error::new(i.span(), format!("`{key}` must fit in a u32")))?;
    if value < min {
        return Err(syn::Error::new(
            i.span(),
            format!("`{key}` must be at least {min}: {}", at_least_why(key, min)),
        ));
    }
    Ok(Spanned {
        value,
        span: i.span(),
    })
}

fn want_float(expr: &Expr, key: &str) -> syn::Result<Spanned<f64>> {
    // A negative number parses, so that the caller's range check explains what is valid.
    let value = match (lit(expr), negated(expr)) {
        (Some(Lit::Float(f)), _) => f.base10_parse::<f64>(),
        (Some(Lit::Int(i)), _) => i.base10_parse::<f64>(),
        (_, Some(Lit::Float(f))) => f.base10_parse::<f64>().map(|v| -v),
        (_, Some(Lit::Int(i))) => i.base10_parse::<f64>().map(|v| -v),
        _ => {
            return Err(syn::Error::new_spanned(
                expr,
                format!("`{key}` takes a number, for example `{key} = 2.0`"),
            ));
        }
    };
    Ok(Spanned {
        value: value?,
        span: expr.span(),
    })
}

fn want_bool(expr: &Expr, key: &str) -> syn::Result<Spanned<bool>> {
    match lit(expr) {
        Some(Lit::Bool(b)) => Ok(Spanned {
            value: b.value,
            span: b.span,
        }),
        _ => Err(syn::Error::new_spanned(
            expr,
            format!("`{key}` takes `true` or `false`"),
        )),
    }
}

fn want_path(expr: &Expr, key: &str) -> syn::Result<Path> {
    match ungrouped(expr) {
        Expr::Path(p) if p.qself.is_none() => Ok(p.path.clone()),
        _ => Err(syn::Error::new_spanned(
            expr,
            format!("`{key}` takes the path of a function, for example `{key} = my_module::{key}`"),
        )),
    }
}

fn one_of(s: &LitStr, key: &str, allowed: &[&str]) -> syn::Result<Spanned<String>> {
    let v = s.value();
    if allowed.contains(&v.as_str()) {
        return Ok(Spanned {
            value: v,
            span: s.span(),
        });
    }
    let list = allowed
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    Err(syn::Error::new(
        s.span(),
        format!("unknown {key} `{v}`: use one of {list}"),
    ))
}

/// A status literal, checked to be an HTTP status.
fn status(expr: &Expr) -> syn::Result<u16> {
    let Some(Lit::Int(i)) = lit(expr) else {
        return Err(syn::Error::new_spanned(
            expr,
            "expected a status (429), a range (500..=599) or a class (\"transient\", \"timeout\", \"connect\")",
        ));
    };
    match i.base10_parse::<u16>() {
        Ok(s) if (100..=599).contains(&s) => Ok(s),
        _ => Err(syn::Error::new(
            i.span(),
            format!("{i} is not an HTTP status: use a value in 100..=599"),
        )),
    }
}

/// `on = [429, 500..=599, "transient"]`, to the text form the core parses.
fn on_list(expr: &Expr) -> syn::Result<Spanned<String>> {
    let Expr::Array(array) = ungrouped(expr) else {
        return Err(syn::Error::new_spanned(
            expr,
            "`on` takes a list, for example `on = [429, 500..=599, \"timeout\"]`",
        ));
    };
    if array.elems.is_empty() {
        return Err(syn::Error::new_spanned(
            expr,
            "`on` is empty, so nothing would be retried: list statuses, ranges or classes, \
             or use `retry = \"none\"`",
        ));
    }
    let mut parts = Vec::new();
    for item in &array.elems {
        match ungrouped(item) {
            Expr::Range(r) => {
                let (Some(lo), Some(hi)) = (&r.start, &r.end) else {
                    return Err(syn::Error::new_spanned(
                        r,
                        "write a closed range such as 500..=599",
                    ));
                };
                if !matches!(r.limits, syn::RangeLimits::Closed(_)) {
                    return Err(syn::Error::new_spanned(
                        r,
                        "use an inclusive range (`500..=599`) so the last status is clear",
                    ));
                }
                let (lo, hi) = (status(lo)?, status(hi)?);
                if lo > hi {
                    return Err(syn::Error::new_spanned(
                        r,
                        "this range is empty: write the lower status first",
                    ));
                }
                parts.push(format!("{lo}..={hi}"));
            }
            _ => match lit(item) {
                Some(Lit::Str(s)) => {
                    parts.push(one_of(s, "class", &["transient", "timeout", "connect"])?.value)
                }
                _ => parts.push(status(item)?.to_string()),
            },
        }
    }
    Ok(Spanned {
        value: parts.join(", "),
        span: expr.span(),
    })
}

fn breaker(entry: &Entry, errors: &mut Errors) -> Option<BreakerSetting> {
    let mut setting = BreakerSetting::default();
    let Value::Nested(nested) = &entry.value else {
        if let Value::Expr(e) = &entry.value {
            errors.add(
                e.span(),
                "write `breaker` alone for the defaults, or `breaker(failure_ratio = 0.5, \
                 min_calls = 10, window = \"30s\", open_for = \"30s\", half_open = 1)`",
            );
            return None;
        }
        return Some(setting);
    };
    let mut seen: Vec<String> = Vec::new();
    for e in nested {
        let key = e.key.to_string();
        if seen.contains(&key) {
            errors.add(
                e.key.span(),
                format!("`{key}` is given twice in `breaker(...)`"),
            );
            continue;
        }
        seen.push(key.clone());
        let Value::Expr(expr) = &e.value else {
            errors.add(
                e.key.span(),
                format!("`{key}` needs a value: `{key} = ...`"),
            );
            continue;
        };
        let result = match key.as_str() {
            "failure_ratio" => want_float(expr, &key).and_then(|r| {
                if r.value > 0.0 && r.value <= 1.0 {
                    setting.failure_ratio = Some(r.value);
                    Ok(())
                } else {
                    Err(syn::Error::new(r.span, "`failure_ratio` must be in (0, 1]: 0.5 opens the breaker when half the calls fail"))
                }
            }),
            "min_calls" => want_int(expr, &key, 1).map(|v| setting.min_calls = Some(v.value)),
            "half_open" => want_int(expr, &key, 1).map(|v| setting.half_open = Some(v.value)),
            "window" => want_duration(expr, &key).and_then(|d| {
                if d.value < Duration::from_millis(10) {
                    Err(syn::Error::new(d.span, "the window must be at least 10ms"))
                } else {
                    setting.window = Some(d.value);
                    Ok(())
                }
            }),
            "open_for" => want_duration(expr, &key).and_then(|d| {
                if d.value.is_zero() {
                    Err(syn::Error::new(d.span, "`open_for` must be longer than zero"))
                } else {
                    setting.open_for = Some(d.value);
                    Ok(())
                }
            }),
            other => Err(syn::Error::new(
                e.key.span(),
                match nearest(other, BREAKER_KEYS) {
                    Some(n) => format!("unknown breaker key `{other}`: did you mean `{n}`?"),
                    None => format!("unknown breaker key `{other}`: use {}", BREAKER_KEYS.join(", ")),
                },
            )),
        };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    Some(setting)
}

/// Reads every entry into typed settings, then checks them against each other.
pub(crate) fn settings(args: &Args) -> Result<Settings, syn::Error> {
    let mut s = Settings::default();
    let mut errors = Errors::default();
    let mut seen: Vec<String> = Vec::new();
    for entry in &args.entries {
        let key = entry.key.to_string();
        let key_span = entry.key.span();
        if !KEYS.contains(&key.as_str()) {
            errors.add(
                key_span,
                match nearest(&key, KEYS) {
                    Some(n) => format!("unknown key `{key}`: did you mean `{n}`?"),
                    None => format!("unknown key `{key}`: valid keys are {}", KEYS.join(", ")),
                },
            );
            continue;
        }
        if seen.contains(&key) {
            errors.add(key_span, format!("`{key}` is given twice: keep one"));
            continue;
        }
        seen.push(key.clone());
        if key == "breaker" {
            if let Some(b) = breaker(entry, &mut errors) {
                s.needs_from.push(key_span);
                s.breaker = Some(Spanned {
                    value: b,
                    span: key_span,
                });
            }
            continue;
        }
        let expr = match &entry.value {
            Value::Expr(e) => e,
            _ => {
                errors.add(key_span, format!("`{key}` needs a value: `{key} = ...`"));
                continue;
            }
        };
        let result: syn::Result<()> = (|| {
            match key.as_str() {
                "retry" => {
                    let v = want_str(expr, &key, "\"exp\"")?;
                    s.retry = Some(one_of(
                        &v,
                        "schedule",
                        &["exp", "fixed", "linear", "decorrelated", "none"],
                    )?);
                }
                "on" => s.on = Some(on_list(expr)?),
                "attempts" => s.attempts = Some(want_int(expr, &key, 1)?),
                "base" => s.base = Some(want_duration(expr, &key)?),
                "max_delay" => s.max_delay = Some(want_duration(expr, &key)?),
                "max_hint" => s.max_hint = Some(want_duration(expr, &key)?),
                "deadline" => {
                    s.deadline = Some(nonzero(want_duration(expr, &key)?, &key)?);
                    s.needs_from.push(key_span);
                }
                "timeout" => {
                    s.timeout = Some(nonzero(want_duration(expr, &key)?, &key)?);
                    s.needs_from.push(key_span);
                }
                "factor" => {
                    let f = want_float(expr, &key)?;
                    if !f.value.is_finite() {
                        return Err(syn::Error::new(
                            f.span,
                            "`factor` is too large to be a number (it reads as infinity): use a factor such as `2.0`",
                        ));
                    }
                    if f.value <= 1.0 {
                        return Err(syn::Error::new(
                            f.span,
                            "`factor` must be greater than 1 (each delay grows by it), for example `factor = 2.0`",
                        ));
                    }
                    s.factor = Some(f);
                }
                "jitter" => {
                    let v = want_str(expr, &key, "\"full\"")?;
                    s.jitter = Some(one_of(
                        &v,
                        "jitter",
                        &["full", "equal", "decorrelated", "none"],
                    )?);
                }
                "rpm" | "rps" | "rph" | "rpd" => {
                    let name = KEYS.iter().find(|k| **k == key).copied().unwrap_or("rpm");
                    s.rates.push((name, want_int(expr, &key, 1)?));
                }
                "burst" => s.rates.push(("burst", want_int(expr, &key, 1)?)),
                "concurrency" => s.concurrency = Some(want_int(expr, &key, 1)?),
                "limiter" => {
                    let value = match lit(expr) {
                        Some(Lit::Str(name)) => {
                            if name.value().is_empty() {
                                return Err(syn::Error::new(
                                    name.span(),
                                    "a limiter name cannot be empty",
                                ));
                            }
                            LimiterSetting::Name(name.clone())
                        }
                        Some(_) => {
                            return Err(syn::Error::new_spanned(
                                expr,
                                "`limiter` takes a name (`limiter = \"gemini\"`) or an expression yielding a limiter",
                            ));
                        }
                        None => {
                            s.needs_from.push(key_span);
                            LimiterSetting::Value(expr.clone())
                        }
                    };
                    s.limiter = Some(Spanned {
                        value,
                        span: key_span,
                    });
                }
                "budget" => {
                    let value = match lit(expr) {
                        Some(Lit::Bool(b)) if !b.value => BudgetSetting::Off,
                        Some(Lit::Bool(_)) => BudgetSetting::Default,
                        _ => {
                            let r = want_float(expr, &key).map_err(|_| {
                                syn::Error::new_spanned(
                                    expr,
                                    "`budget` takes a ratio of calls (`budget = 0.2`) or `false`",
                                )
                            })?;
                            if !(0.0..=1.0).contains(&r.value) {
                                return Err(syn::Error::new(
                                    r.span,
                                    "the budget ratio must be between 0.0 and 1.0 (0.2 = 20 % of calls)",
                                ));
                            }
                            BudgetSetting::Ratio(r.value)
                        }
                    };
                    s.budget = Some(Spanned {
                        value,
                        span: expr.span(),
                    });
                }
                "honor_hint" => s.honor_hint = Some(want_bool(expr, &key)?),
                "retry_when_nested" => s.retry_when_nested = Some(want_bool(expr, &key)?),
                "adapt" => s.adapt = Some(want_bool(expr, &key)?),
                "classify" => s.classify = Some(want_path(expr, &key)?),
                "on_retry" => s.on_retry = Some(want_path(expr, &key)?),
                "fallback" => s.fallback = Some(want_path(expr, &key)?),
                "crate" => s.krate = Some(want_path(expr, &key)?),
                "policy" => {
                    s.needs_from.push(key_span);
                    s.policy = Some(expr.clone());
                }
                _ => {}
            }
            Ok(())
        })();
        if let Err(e) = result {
            errors.push(e);
        }
    }
    cross_check(&s, args, &mut errors);
    errors.finish().map(|()| s)
}

fn nonzero(d: Spanned<Duration>, key: &str) -> syn::Result<Spanned<Duration>> {
    if d.value.is_zero() {
        return Err(syn::Error::new(
            d.span,
            format!("`{key}` must be longer than zero"),
        ));
    }
    Ok(d)
}

/// Checks that involve several keys.
fn cross_check(s: &Settings, args: &Args, errors: &mut Errors) {
    let base = s.base.as_ref().map_or(Duration::from_secs(1), |b| b.value);
    let max = s
        .max_delay
        .as_ref()
        .map_or(Duration::from_secs(60), |m| m.value);
    if base > max {
        let span = s.base.as_ref().or(s.max_delay.as_ref()).map(|x| x.span);
        errors.add(
            span.unwrap_or_else(Span::call_site),
            format!("`base` ({base:?}) is greater than `max_delay` ({max:?}): lower `base` or raise `max_delay`"),
        );
    }
    if let (Some(t), Some(d)) = (&s.timeout, &s.deadline) {
        if t.value >= d.value {
            errors.add(
                t.span,
                format!(
                    "`timeout` ({:?}) must be shorter than `deadline` ({:?}): the timeout limits one attempt, the deadline the whole call",
                    t.value, d.value
                ),
            );
        }
    }
    let fastest = s
        .rates
        .iter()
        .filter(|(k, _)| *k != "burst")
        .map(|(k, v)| {
            let period = match *k {
                "rps" => 1u64,
                "rpm" => 60,
                "rph" => 3600,
                _ => 86_400,
            };
            (
                u128::from(period) * 1_000_000_000 / u128::from(v.value),
                v.value,
            )
        })
        .min();
    if let Some((_, burst)) = s.rates.iter().find(|(k, _)| *k == "burst") {
        match fastest {
            None => errors.add(
                burst.span,
                "`burst` needs a rate: add `rpm`, `rps`, `rph` or `rpd`",
            ),
            Some((_, limit)) if burst.value > limit => errors.add(
                burst.span,
                format!(
                    "`burst` ({}) cannot exceed the fastest rate limit ({limit})",
                    burst.value
                ),
            ),
            _ => {}
        }
    }
    if let Some(Spanned {
        value: LimiterSetting::Value(_),
        span,
    }) = &s.limiter
    {
        if let Some((k, _)) = s.rates.first() {
            errors.add(
                *span,
                format!("a limiter value carries its own rates: remove `{k}`, or use `limiter = \"name\"` to share a limiter built from these rates"),
            );
        }
    }
    if let Some(Spanned {
        value: LimiterSetting::Name(_),
        span,
    }) = &s.limiter
    {
        if s.rates.iter().all(|(k, _)| *k == "burst") {
            errors.add(
                *span,
                "a shared limiter needs its rates here too: add `rpm`, `rps`, `rph` or `rpd`",
            );
        }
    }
    if let (Some(adapt), Some(limiter)) = (&s.adapt, &s.limiter) {
        if adapt.value {
            errors.add(
                limiter.span,
                "`adapt = true` learns its own rate and cannot share a limiter: remove `limiter`, \
                 or remove `adapt` (give the ceiling as `rpm`, `rps`, `rph` or `rpd`)",
            );
        }
    }
    if s.policy.is_some() {
        let allowed = ["policy", "classify", "fallback", "crate"];
        for entry in &args.entries {
            let key = entry.key.to_string();
            if !allowed.contains(&key.as_str()) {
                errors.add(
                    entry.key.span(),
                    format!(
                        "`{key}` cannot be combined with `policy = ...`: the policy value already holds every setting; \
                         set `{key}` when building it, or drop `policy`"
                    ),
                );
            }
        }
    }
}
