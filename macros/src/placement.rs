//! Where the attribute cannot work: checks on the function it was put on, before its arguments.
//!
//! Attributes apply from the top down, each to what the one above produced. Below another
//! `#[resilient]`, below `#[tokio::main]`/`#[tokio::test]` or below `#[tracing::instrument]`,
//! this attribute would see code that is no longer the user's body: nested retry loops, a
//! blocking function, or an `async move` block that can run only once. Each case gets an error
//! that says which order works and why.

use crate::function::Function;
use proc_macro2::{TokenStream, TokenTree};
use syn::{FnArg, TraitItemFn, Type};

/// Whether `tokens` hold the identifier `name`, at any depth.
fn mentions(tokens: TokenStream, name: &str) -> bool {
    tokens.into_iter().any(|t| match t {
        TokenTree::Ident(i) => i == name,
        TokenTree::Group(g) => mentions(g.stream(), name),
        _ => false,
    })
}

/// Whether the function takes a mutable reference (`&mut self` or a `&mut T` argument).
fn takes_mut_reference(item: &Function) -> bool {
    item.sig.inputs.iter().any(|arg| match arg {
        FnArg::Receiver(r) => r.reference.is_some() && r.mutability.is_some(),
        FnArg::Typed(t) => matches!(&*t.ty, Type::Reference(r) if r.mutability.is_some()),
    })
}

/// The checks on the function itself.
pub(crate) fn check(item: &Function) -> syn::Result<()> {
    if let Some(again) = item.attrs.iter().find(|a| {
        a.path()
            .segments
            .last()
            .is_some_and(|s| s.ident == "resilient")
    }) {
        return Err(syn::Error::new_spanned(
            again,
            "#[resilient] is given twice on this function: the retry loops would nest (3 attempts \
             inside 4 make 12 requests) and each would keep its own rate limit; keep one \
             attribute and put every key in it",
        ));
    }
    // The body is scanned only when the check can fail: these scans read every token.
    let body = || item.body.stream();
    if item.sig.asyncness.is_none() && mentions(body(), "block_on") {
        return Err(syn::Error::new(
            item.sig.fn_token.span,
            "#[resilient] is below `#[tokio::main]` or `#[tokio::test]`, which has already turned \
             this `async fn` into a blocking one: attributes apply from the top down, so put \
             #[resilient] above it, or better, on the async function that makes the call",
        ));
    }
    if takes_mut_reference(item)
        && (mentions(body(), "__tracing_attr_span")
            || mentions(body(), "__tracing_instrument_future"))
    {
        return Err(syn::Error::new(
            item.sig.fn_token.span,
            "#[resilient] is below `#[tracing::instrument]`, which has moved the body and its \
             `&mut` argument into an `async move` block that can run only once: put #[resilient] \
             above #[tracing::instrument] (attributes apply from the top down; you get one span \
             for the whole call, its retries inside)",
        ));
    }
    Ok(())
}

/// The error for a trait method declared without a body.
pub(crate) fn trait_declaration(declaration: &TraitItemFn) -> syn::Error {
    syn::Error::new(
        declaration.sig.fn_token.span,
        "#[resilient] needs a body to wrap, and a trait method declaration has none: put \
         #[resilient] on the method in each `impl` of the trait (or give the method a default \
         body here)",
    )
}

/// The error for an item that is not a function at all (an `impl` block, a `struct`, a
/// module, ...), which the attribute would otherwise leave as it is, silently. `None` when the
/// item holds `fn` and a name at its top level: a function, which the compiler will judge if
/// the attribute cannot read it.
pub(crate) fn not_a_function(item: &TokenStream) -> Option<syn::Error> {
    let mut what = None;
    let mut after_fn = false;
    for tree in item.clone() {
        match tree {
            // `fn name`: a function (`fn(u8)` is a pointer type, in `type F = fn(u8);`).
            TokenTree::Ident(_) if after_fn => return None,
            TokenTree::Ident(i) if i == "fn" => after_fn = true,
            TokenTree::Ident(i) if what.is_none() && i != "pub" && i != "unsafe" => what = Some(i),
            _ => after_fn = false,
        }
    }
    let (span, advice) = match &what {
        Some(i) if i == "impl" => (
            i.span(),
            "not on an `impl` block: put it on each method that makes a call",
        ),
        Some(i) => (i.span(), "not on this item"),
        None => (proc_macro2::Span::call_site(), "not on this item"),
    };
    Some(syn::Error::new(
        span,
        format!("#[resilient] goes on an `async fn` (a free function or a method), {advice}"),
    ))
}
