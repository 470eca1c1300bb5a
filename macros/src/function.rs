//! The annotated function as the attribute reads it: attributes, visibility and signature
//! parsed, the return type and the body kept as the tokens the compiler gave.
//!
//! The body of an `async fn` is only moved into the loop, never inspected, so it is not parsed:
//! parsing and re-emitting every token of a long body is most of what a proc macro costs, and a
//! syntax error in the body is then reported once, by the compiler, at its place. The return
//! type is only named again in the expansion and checked to be a `Result`, so it is not parsed
//! either: syn's type parser is a seventh of what the macro costs in a debug build (it runs
//! unoptimised there), for a type the expansion re-emits as written. Where a type must be
//! looked into (a method `#[async_trait]` has rewritten), `expand.rs` parses it.

use proc_macro2::{Delimiter, Group, Spacing, TokenStream, TokenTree};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Attribute, FnArg, Ident, Pat, PatIdent, PatType, Signature, Token, Visibility};

/// A function item whose body is a token group.
pub(crate) struct Function {
    pub(crate) attrs: Vec<Attribute>,
    /// The signature without its return type: `sig.output` is always the default.
    pub(crate) sig: Signature,
    /// The return type as written (the tokens after `->`, up to `where`), if there is one.
    pub(crate) output: Option<Vec<TokenTree>>,
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
                signature(input)?
            },
        })
    }
}

/// A signature (its return type split off before, as a rule), as syn's own `Signature` parser
/// reads it, except that an argument written `name: Type`, the common case, is read as exactly
/// that rather than through syn's general pattern parser after a trial parse as a receiver
/// (together two fifths of syn's signature parse, which runs unoptimised in a debug build).
/// Every other argument (receivers, `mut` and `ref` bindings, patterns, attributes) goes
/// through syn's `FnArg` parser.
fn signature(input: ParseStream<'_>) -> syn::Result<Signature> {
    let constness = input.parse()?;
    let asyncness = input.parse()?;
    let unsafety = input.parse()?;
    let abi = input.parse()?;
    let fn_token = input.parse()?;
    let ident = input.parse()?;
    let mut generics: syn::Generics = input.parse()?;
    let content;
    let paren_token = syn::parenthesized!(content in input);
    let mut inputs = Punctuated::new();
    while !content.is_empty() {
        let plain = content.peek(Ident)
            && content.peek2(Token![:])
            && !content.peek2(Token![::])
            && !content.peek(Token![self]);
        let arg = if plain {
            let ident: Ident = content.parse()?;
            FnArg::Typed(PatType {
                attrs: Vec::new(),
                pat: Box::new(Pat::Ident(PatIdent {
                    attrs: Vec::new(),
                    by_ref: None,
                    mutability: None,
                    ident,
                    subpat: None,
                })),
                colon_token: content.parse()?,
                ty: content.parse()?,
            })
        } else {
            content.parse()?
        };
        inputs.push_value(arg);
        if content.is_empty() {
            break;
        }
        inputs.push_punct(content.parse()?);
    }
    // Only when the split did not see the arrow (none is known): `Function::parse` takes it out.
    let output = input.parse()?;
    generics.where_clause = input.parse()?;
    Ok(Signature {
        constness,
        asyncness,
        unsafety,
        abi,
        fn_token,
        ident,
        generics,
        paren_token,
        inputs,
        variadic: None,
        output,
    })
}

/// Where the return type is in the tokens before the body: the index of its `->`, and of the
/// `where` after it if there is one. The arrow is the first `->` after the argument list, the
/// first parenthesized group after `fn` outside the generics' angle brackets (which may hold
/// `->` and parentheses of their own: `<F: Fn(u8) -> u8>`).
fn return_type_at(trees: &[TokenTree]) -> Option<(usize, Option<usize>)> {
    let mut at = trees
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i == "fn"))?;
    let mut angles = 0usize;
    let mut after_minus = false;
    loop {
        at += 1;
        match trees.get(at)? {
            TokenTree::Punct(p) => {
                match p.as_char() {
                    '<' => angles += 1,
                    '>' if !after_minus => angles = angles.saturating_sub(1),
                    _ => {}
                }
                after_minus = p.as_char() == '-' && p.spacing() == Spacing::Joint;
            }
            TokenTree::Group(g) if angles == 0 && g.delimiter() == Delimiter::Parenthesis => break,
            _ => after_minus = false,
        }
    }
    let arrow = at + 1;
    match (trees.get(arrow), trees.get(arrow + 1)) {
        (Some(TokenTree::Punct(minus)), Some(TokenTree::Punct(gt)))
            if minus.as_char() == '-'
                && minus.spacing() == Spacing::Joint
                && gt.as_char() == '>' => {}
        _ => return None,
    }
    // `where` is a keyword: it cannot be part of the type.
    let clause = trees[arrow + 2..]
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i == "where"))
        .map(|i| arrow + 2 + i);
    Some((arrow, clause))
}

impl Function {
    /// The function, or `None` when `item` is not one with a body (a declaration ending in `;`,
    /// or no function at all).
    pub(crate) fn parse(item: TokenStream) -> Option<Function> {
        let mut trees: Vec<TokenTree> = item.into_iter().collect();
        let body = match trees.pop()? {
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => g,
            // A body passed through a `macro_rules!` fragment (`$body:block`) arrives in an
            // invisible group around its braces.
            TokenTree::Group(g) if g.delimiter() == Delimiter::None => {
                let mut inner = g.stream().into_iter();
                match (inner.next(), inner.next()) {
                    (Some(TokenTree::Group(b)), None) if b.delimiter() == Delimiter::Brace => b,
                    _ => return None,
                }
            }
            _ => return None,
        };
        let head: TokenStream = trees.iter().cloned().collect();
        let (signature, output) = match return_type_at(&trees) {
            Some((arrow, clause)) => {
                let end = clause.unwrap_or(trees.len());
                let output = trees[arrow + 2..end].to_vec();
                if output.is_empty() {
                    return None;
                }
                let mut rest = trees;
                rest.drain(arrow..end);
                (rest.into_iter().collect(), Some(output))
            }
            None => (head.clone(), None),
        };
        let mut parsed: Head = syn::parse2(signature).ok()?;
        // An arrow the split above did not see (none is known): syn's reading stands.
        let output = match std::mem::replace(&mut parsed.sig.output, syn::ReturnType::Default) {
            syn::ReturnType::Type(_, ty) => {
                Some(quote::ToTokens::into_token_stream(ty).into_iter().collect())
            }
            syn::ReturnType::Default => output,
        };
        Some(Function {
            attrs: parsed.attrs,
            sig: parsed.sig,
            output,
            head,
            body,
        })
    }
}
