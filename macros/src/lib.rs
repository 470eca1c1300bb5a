//! The `#[resilient]` attribute of [steadfast](https://docs.rs/steadfast): **not implemented
//! yet**.
//!
//! This crate is a placeholder so that the workspace layout is in place. Using the attribute
//! today fails to compile with a message saying so; until it exists, drive a
//! `steadfast::Policy` directly (`Policy::call`, or the step interface the attribute will
//! expand to).
//!
//! ```compile_fail
//! #[steadfast_macros::resilient]
//! async fn ask() -> Result<(), std::io::Error> { Ok(()) }
//! ```

use proc_macro::TokenStream;

/// Not implemented yet: expands to the original item plus a compile error saying so.
#[proc_macro_attribute]
pub fn resilient(_args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let error = syn::Error::new(
        proc_macro2::Span::call_site(),
        "#[resilient] is not implemented yet; use steadfast::Policy::call meanwhile",
    )
    .to_compile_error();
    quote::quote!(#item #error).into()
}
