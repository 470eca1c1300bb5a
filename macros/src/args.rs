//! The raw syntax of `#[resilient(...)]`: `key`, `key = value`, or `key(nested, ...)`.
//!
//! Parsing stops at syntax; what each key means and which values it accepts is `validate.rs`.

use syn::ext::IdentExt;
use syn::parse::discouraged::Speculative;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, ExprArray, ExprLit, Ident, Token, token};

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
            Value::Expr(Box::new(match literal_value(input) {
                Some(expr) => expr,
                None => input.parse()?,
            }))
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

/// The common values, a literal (`"2s"`, `25`, `true`) or a list of literals (`[429, 503]`),
/// read directly: syn's general expression parser costs several times more, and the macro runs
/// unoptimised in most builds. `None` (nothing consumed) for anything else.
fn literal_value(input: ParseStream<'_>) -> Option<Expr> {
    let fork = input.fork();
    let expr = literals(&fork).ok()?;
    if !(fork.is_empty() || fork.peek(Token![,])) {
        return None;
    }
    input.advance_to(&fork);
    Some(expr)
}

/// A literal or a bracketed list of literals, or an error for anything else.
fn literals(input: ParseStream<'_>) -> syn::Result<Expr> {
    let lit = |input: ParseStream<'_>| -> syn::Result<Expr> {
        // syn reads `-3` as one literal; validation expects a negation, as the compiler writes it.
        if input.peek(Token![-]) {
            return Err(input.error("a negative number"));
        }
        Ok(Expr::Lit(ExprLit {
            attrs: Vec::new(),
            lit: input.parse()?,
        }))
    };
    if !input.peek(token::Bracket) {
        return lit(input);
    }
    let content;
    let bracket_token = syn::bracketed!(content in input);
    Ok(Expr::Array(ExprArray {
        attrs: Vec::new(),
        bracket_token,
        elems: Punctuated::parse_terminated_with(&content, lit)?,
    }))
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
