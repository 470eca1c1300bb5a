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
//! in `expand.rs` ("Input / Output").

#![forbid(unsafe_code)]

mod args;
mod expand;
mod validate;

use proc_macro::TokenStream;

/// Makes an `async fn` returning `Result<T, E>` resilient; see the steadfast crate docs for
/// every key.
///
/// On any error in the arguments or the function, the original function is emitted unchanged
/// beside the error, so the user sees that one error and the editor keeps working in the body.
#[proc_macro_attribute]
pub fn resilient(args: TokenStream, item: TokenStream) -> TokenStream {
    let original = proc_macro2::TokenStream::from(item.clone());
    let item = match syn::parse::<syn::ItemFn>(item) {
        Ok(item) => item,
        // Not a function we can read (a syntax error in the body, say): leave it to the
        // compiler, which reports it once.
        Err(_) => return original.into(),
    };
    let expanded = syn::parse::<args::Args>(args)
        .and_then(|args| validate::settings(&args))
        .and_then(|settings| expand::expand(&settings, &item));
    match expanded {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            let error = error.to_compile_error();
            quote::quote!(#original #error).into()
        }
    }
}
