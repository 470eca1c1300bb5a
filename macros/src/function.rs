//! The annotated function as the attribute reads it: attributes, visibility and signature
//! parsed, the body kept as the brace group the compiler gave.
//!
//! The body of an `async fn` is only moved into the loop, never inspected, so it is not parsed:
//! parsing and re-emitting every token of a long body is most of what a proc macro costs, and a
//! syntax error in the body is then reported once, by the compiler, at its place.

use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Signature, Visibility};

/// A function item whose body is a token group.
pub(crate) struct Function {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    /// `{ ... }`, as written.
    pub(crate) body: Group,
}

/// Everything before the body.
struct Head {
    attrs: Vec<Attribute>,
    vis: Visibility,
    sig: Signature,
}

impl Parse for Head {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        Ok(Head {
            attrs: input.call(Attribute::parse_outer)?,
            vis: input.parse()?,
            sig: input.parse()?,
        })
    }
}

impl Function {
    /// The function, or `None` when `item` is not one with a body (a declaration ending in `;`,
    /// or no function at all).
    pub(crate) fn parse(item: TokenStream) -> Option<Function> {
        let mut trees: Vec<TokenTree> = item.into_iter().collect();
        let body = match trees.pop() {
            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => g,
            _ => return None,
        };
        let head: Head = syn::parse2(trees.into_iter().collect()).ok()?;
        Some(Function {
            attrs: head.attrs,
            vis: head.vis,
            sig: head.sig,
            body,
        })
    }
}
