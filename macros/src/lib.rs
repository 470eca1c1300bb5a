//! The `#[resilient]` attribute of [steadfast](https://docs.rs/steadfast): retries, rate limits,
//! timeouts and circuit breakers on an `async fn` with one line.
//!
//! Use it through the facade crate (`use steadfast::resilient;`), which pins this crate's exact
//! version and provides the `steadfast::__private` module the expansion calls into.
//!
//! ```
//! use steadfast::resilient;
//!
//! #[resilient(on = [503], attempts = 3, base = "10ms")]
//! async fn flaky(tries: &std::sync::atomic::AtomicU32) -> Result<u32, std::io::Error> {
//!     let n = tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
//!     if n < 2 { Err(std::io::ErrorKind::ConnectionReset.into()) } else { Ok(n) }
//! }
//! # // ConnectionReset is a transport failure, not 503: it is not retried.
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let tries = std::sync::atomic::AtomicU32::new(0);
//! assert!(flaky(&tries).await.is_err());
//! assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 1, "not in `on`: no retry");
//! # }
//! ```
//!
//! The keys, their values and defaults are documented on [`resilient`]; the expansion is shown
//! in `expand.rs` (at its top, "Input").

#![forbid(unsafe_code)]

mod args;
mod expand;
mod function;
mod placement;
mod validate;

use proc_macro::TokenStream;

/// Makes an `async fn` returning `Result<T, E>` resilient: retries with backoff on the failures
/// you name, the server's retry hint honoured, client-side rate limits, timeouts, a deadline, a
/// circuit breaker and a retry budget.
///
/// ```
/// use steadfast::resilient;
///
/// #[derive(Debug)]
/// struct ApiError(u16);
/// impl steadfast::classify::Classify for ApiError {
///     fn failure(&self) -> Option<steadfast::classify::Failure> {
///         Some(steadfast::classify::Failure::status(self.0))
///     }
/// }
///
/// #[resilient(retry = "exp", on = [429, 500, 503], rpm = 25)]
/// async fn ask(calls: &std::sync::atomic::AtomicU32) -> Result<&'static str, ApiError> {
///     match calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
///         0 => Err(ApiError(503)), // retried after a jittered backoff
///         _ => Ok("answer"),
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let calls = std::sync::atomic::AtomicU32::new(0);
/// assert_eq!(ask(&calls).await.unwrap(), "answer");
/// # }
/// ```
///
/// The signature stays exactly as written; only the body is wrapped. It works on free
/// functions, `&self`, `&mut self` (reborrowed per attempt) and `self: Arc<Self>` methods,
/// methods inside `#[async_trait]` impls, generic functions and `impl Trait` arguments. Owned
/// arguments are cloned for each attempt, so they must be `Clone`; references, and arguments of
/// primitive types (numbers, `bool`, `char`) that are not `mut`, need nothing.
///
/// | key | value | default | meaning |
/// | --- | --- | --- | --- |
/// | `retry` | `"exp"`, `"fixed"`, `"linear"`, `"decorrelated"`, `"none"` | `"exp"` | backoff schedule |
/// | `on` | list of statuses `429`, ranges `500..=599`, classes `"transient"`, `"timeout"`, `"connect"` | `["transient"]` = 408, 429, 500, 502, 503, 504, timeouts, connection errors | which failures are retried; everything else fails at once |
/// | `attempts` | integer ≥ 1 | 5 | total attempts, the first included |
/// | `base`, `max_delay` | duration (`"250ms"`, `"2s"`, `"1m"`, `"1h"`) | `"1s"`, `"60s"` | first delay; cap on any computed delay |
/// | `factor` | number > 1 | 2.0 | growth of `exp` |
/// | `jitter` | `"full"`, `"equal"`, `"decorrelated"`, `"none"` | `"full"` | randomisation of computed delays (never of a server's delay) |
/// | `deadline` | duration | none | budget for the whole call, waits included; nothing sleeps past it |
/// | `timeout` | duration, shorter than `deadline` | none | limit on each attempt |
/// | `rpm`, `rps`, `rph`, `rpd` | integer ≥ 1 | none | client-side rate limits, combinable; `rpm = 25` means no 60 s window ever holds more than 25 attempts, retries included |
/// | `adapt` | bool | `false` | learn the server's rate from its 429s (which window, from the hint; how many, from what it accepted) and pace by it; `rpm`, `rps`, … become the ceiling |
/// | `burst` | integer ≥ 1, at most the fastest rate | 1 | attempts that may start back to back |
/// | `limiter` | `"name"` or an expression | one per function | share a limiter by name across functions (each names the same rates), or use a value (`Arc<RateLimit>`, `Arc<dyn RateLimiter>`) |
/// | `concurrency` | integer ≥ 1 | none | at most N attempts in flight |
/// | `breaker` | `breaker` or `breaker(failure_ratio = 0.5, min_calls = 10, window = "30s", open_for = "30s", half_open = 1)` | off | circuit breaker |
/// | `budget` | `true`, `false` or a ratio | `true`: a retry quota (500 units, 5 a retry, 10 after a timeout, successes refill it) | against retry storms: retries stop when the quota is spent; a ratio (`0.2`) allows that share of calls plus 10 retries a second instead |
/// | `honor_hint`, `max_hint` | bool, duration | `true`, `"120s"` | obey a server's delay; give up at once when it is longer than `max_hint` or the time left |
/// | `retry_when_nested` | bool | `false` | inside another policy's attempt (a resilient function awaited in a resilient body), make one attempt and hand failures up (`false`), or keep retrying here too (`true`) |
/// | `classify` | path to `fn(&Result<T, E>) -> steadfast::classify::Verdict` | the types' `Classify` | custom verdicts |
/// | `on_retry` | path to `fn(&steadfast::observe::Event)` | none | called before each wait: a retry (`Event::Retry`: attempt, delay, its reason and the failure) or a rate-limit wait (`Event::RateLimitWait`) |
/// | `fallback` | path to an async fn with the same arguments | none | the result when the call fails: every attempt failed, a failure not in `on`, or a stop (deadline, open breaker, ...) |
/// | `policy` | expression yielding a `steadfast::Policy` | none | a prebuilt policy (builder or config file) instead of inline keys; combines only with `classify`, `fallback`, `crate` |
/// | `crate` | path | `::steadfast` | for a renamed dependency |
///
/// The error type must implement `steadfast::classify::Classify` (or pass `classify`). With
/// `timeout`, `deadline`, `breaker`, a limiter value or `policy`, the policy can stop a call on
/// its own account, so the error type must also implement `From<steadfast::Error>`; without
/// them it is not required, and when retries run out the caller gets the last real error.
///
/// Every setting is checked at compile time with an error on the offending token: unknown or
/// duplicate keys, wrong value types, statuses outside 100..=599, an empty `on`, `attempts = 0`,
/// a zero rate, unparsable durations, `factor <= 1`, `base > max_delay`, `timeout >= deadline`,
/// `policy` with inline keys, a non-`async` function, a return type that is not a `Result` (read
/// as written: `Result<..>` or a path ending in a name ending in `Result`) or that holds
/// `impl Trait`, an owned argument that is not `Clone`, a missing `From<steadfast::Error>`, and
/// `fallback` beside an argument under `#[cfg]`. So is a place it cannot work: an item that is
/// not a function (an `impl` block, a `struct`), a second `#[resilient]` on the same function
/// (the loops would nest), a trait method declaration without a body, below `#[tokio::main]`
/// or `#[tokio::test]`, and below `#[tracing::instrument]` on a function taking `&mut`. On any error the function is still
/// emitted unchanged, so that is the only error shown.
///
/// # Stacking with other attributes
///
/// Attributes apply from the top down, each to what the one above left. Put `#[resilient]`
/// *above* attributes that rewrite the body:
///
/// ```text
/// #[resilient(on = [503])]      // first: wraps the body you wrote in the retry loop
/// #[tracing::instrument]        // then: one span around the whole call, retries inside
/// async fn ask(&mut self) -> Result<String, Error> { ... }
/// ```
///
/// With `#[async_trait]`, either order works. Prefer `#[resilient]` on the async function that
/// makes the call, not on `main` or a test.
///
/// # One layer retries
///
/// When a resilient function is awaited inside another one's attempt, the outer policy, the one
/// closest to the caller, owns retries: the inner one still applies its rate limit, concurrency
/// limit, breaker, timeout and deadline, but makes one attempt and returns its failure for the
/// outer policy to weigh (3 outer attempts around 4 inner ones send 3 requests, not 12). Set
/// `retry_when_nested = true` on the inner function to keep its own retries.
///
/// # Panics
///
/// On the first call, if a `limiter = "name"` is already registered with different rates by
/// another function: the message names the limiter and both configurations.
#[proc_macro_attribute]
pub fn resilient(args: TokenStream, item: TokenStream) -> TokenStream {
    let original = proc_macro2::TokenStream::from(item.clone());
    let Some(function) = function::Function::parse(original.clone()) else {
        // A trait method declaration has no body to wrap; say so rather than ignore it.
        if let Ok(declaration) = syn::parse::<syn::TraitItemFn>(item) {
            if declaration.default.is_none() {
                let error = placement::trait_declaration(&declaration).to_compile_error();
                return quote::quote!(#original #error).into();
            }
        }
        // Not a function at all (an `impl` block, a `struct`): an error, not silence.
        if let Some(error) = placement::not_a_function(&original) {
            let error = error.to_compile_error();
            return quote::quote!(#original #error).into();
        }
        // A function we cannot read: leave it to the compiler, which reports it once.
        return original.into();
    };
    let expanded = placement::check(&function)
        .and_then(|()| syn::parse::<args::Args>(args))
        .and_then(|args| validate::settings(&args))
        .and_then(|settings| expand::expand(&settings, &function));
    match expanded {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            let error = error.to_compile_error();
            quote::quote!(#original #error).into()
        }
    }
}
