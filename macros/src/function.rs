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
    pub(crate) sig: Signature,
    /// Attributes, visibility and signature as the compiler gave them (re-emitted as they are:
    /// cheaper than printing the parsed form again).
    pub(crate) head: TokenStream,
    /// `{ ... }`, as written.
    pub(crate) body: Group,
}

/// Everything before the body.
struct Head {
    attrs: Vec<Attribute>,
    sig: Signature,
}

impl Parse for Head {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        Ok(Head {
            attrs: input.call(Attribute::parse_outer)?,
            sig: {
                input.parse::<Visibility>()?;
                input.parse()?
            },
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
        let tokens: TokenStream = trees.into_iter().collect();
        let head: Head = syn::parse2(tokens.clone()).ok()?;
        Some(Function {
            attrs: head.attrs,
            sig: head.sig,
            head: tokens,
            body,
        })
    }
}
