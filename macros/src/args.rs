//! The raw syntax of `#[resilient(...)]`: `key`, `key = value`, or `key(nested, ...)`.
//!
//! Parsing stops at syntax; what each key means and which values it accepts is `validate.rs`.

use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Token, token};

/// One `key`, `key = value` or `key(...)`.
pub(crate) struct Entry {
    pub(crate) key: Ident,
    pub(crate) value: Value,
}

/// What follows a key.
pub(crate) enum Value {
    /// A bare key (`breaker`).
    Bare,
    /// `key = expr`.
    Expr(Box<Expr>),
    /// `key(a = 1, b = 2)`.
    Nested(Punctuated<Entry, Token![,]>),
}

impl Parse for Entry {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        // `parse_any` so that the keyword `crate` is a key like any other.
        let key = Ident::parse_any(input)?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Value::Expr(Box::new(input.parse()?))
        } else if input.peek(token::Paren) {
            let content;
            syn::parenthesized!(content in input);
            Value::Nested(content.parse_terminated(Entry::parse, Token![,])?)
        } else {
            Value::Bare
        };
        Ok(Entry { key, value })
    }
}

/// The whole argument list.
pub(crate) struct Args {
    pub(crate) entries: Punctuated<Entry, Token![,]>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        Ok(Args {
            entries: input.parse_terminated(Entry::parse, Token![,])?,
        })
    }
}
