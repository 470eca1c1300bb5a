//! The expansion: the signature stays as written; the body runs inside the policy's loop.
//!
//! Input:
//!
//! ```text
//! #[resilient(on = [429, 503], rpm = 25)]
//! async fn ask(&self, prompt: String) -> Result<String, Error> {
//!     static __SF_SITE: __private::Site = __private::site(
//!         module_path!(),
//!         "ask",
//!         "on=429, 503;rpm=25",                                 // the literal keys, checked here
//!     );
//!     __private::call(             // or call_policy/call_timed, given __SF_SITE.policy(),
//!         &__SF_SITE,              // .policy_with(..) or .prebuilt(..) (expression keys)
//!         || async {                                            // made after the gates
//!             let prompt = __private::clone_argument(&prompt);  // owned: a copy per attempt
//!             if false {                                        // gives the block its type
//!                 return __private::typed::<Result<String, Error>>();
//!             }
//!             match () { () => BODY }                           // `self` is borrowed
//!         },
//!         __private::pick::<Result<String, Error>>().judging(),  // classify, convert
//!     ).await                     // with `fallback`: bound, then `FALLBACK(self, prompt)` on Err
//! }
//! ```
//!
//! A function whose body may change an argument (a receiver not known to be read-only, a `&mut`
//! in an argument's type, a `mut` reference argument) keeps the loop, with a new closure per
//! pass that reborrows it:
//!
//! ```text
//!     let mut __sf_run = __SF_SITE.start();      // or .policy_with(..).start() (expression keys)
//!     let __sf_judge = __private::pick::<...>().judging();
//!     loop {
//!         if let ControlFlow::Break(__sf_r) =
//!             __private::attempt(&mut __sf_run, || async { ... }, __sf_judge).await // or _timed
//!         {
//!             break __sf_r;
//!         }
//!     }
//! ```
//!
//! Everything not specific to the function is in `__private`, compiled once in `steadfast`: the
//! policy is built from the settings string by one function, the loop (or one pass of it) is one
//! generic function, and classification is two zero-sized types named in `__private`.
//! The body of an `async fn` is not parsed: its token group is moved into the loop as it came.
//!
//! A method already rewritten by `#[async_trait]` (a plain `fn` returning
//! `Pin<Box<dyn Future<Output = R> + Send + 'async_trait>>` whose body is
//! `Box::pin(async move { ... })`) gets the same expansion inside its `async move` block.

use crate::function::Function;
use crate::validate::{BudgetSetting, LimiterSetting, Settings};
use proc_macro2::{Delimiter, Group, Ident, Punct, Spacing, Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Block, Expr, FnArg, GenericArgument, Pat, PathArguments, Stmt, Type, TypeParamBound};

/// The function as the loop needs it.
struct Shape {
    /// The type the body evaluates to, `Result<T, E>`, as tokens.
    output: Vec<TokenTree>,
    /// Statements to run once before the loop (async-trait's argument rebinding).
    prelude: Vec<Stmt>,
    /// The body of one attempt: `{ ... }`.
    body: Group,
    /// Whether the result must be wrapped back into `Box::pin(async move { ... })`.
    async_trait: bool,
}

/// Whether a return type, as written, is a path whose last segment's name ends in `Result`
/// (`Result<T, E>`, `io::Result<T>`, `<X as Y>::Result`), perhaps in parentheses or in a
/// macro's invisible group. Read from the tokens: the type is not parsed (`function.rs`).
fn result_like(ty: &[TokenTree]) -> bool {
    if let [TokenTree::Group(g)] = ty {
        let inner: Vec<TokenTree> = g.stream().into_iter().collect();
        return match g.delimiter() {
            Delimiter::None => result_like(&inner),
            // `(T)` is `T`; a tuple holds a comma outside angle brackets, which the path check
            // refuses.
            Delimiter::Parenthesis => result_like(&inner),
            _ => false,
        };
    }
    let mut angles = 0usize;
    let mut after_minus = false;
    let mut last = None;
    for (i, t) in ty.iter().enumerate() {
        let minus =
            matches!(t, TokenTree::Punct(p) if p.as_char() == '-' && p.spacing() == Spacing::Joint);
        match t {
            TokenTree::Punct(p) => match p.as_char() {
                '<' => angles += 1,
                // The `>` of a `->` in `Fn() -> T` closes nothing.
                '>' if !after_minus => match angles.checked_sub(1) {
                    Some(a) => angles = a,
                    None => return false,
                },
                ':' => {}
                _ if angles == 0 => return false,
                _ => {}
            },
            // `impl ...Result` and `dyn ...Result` are not paths.
            TokenTree::Ident(id) if angles == 0 => {
                if i == 0 && (id == "impl" || id == "dyn") {
                    return false;
                }
                last = Some(id);
            }
            // `fn(..)`, `Fn(..)`, arrays, tuples: not a plain path.
            TokenTree::Group(_) | TokenTree::Literal(_) if angles == 0 => return false,
            _ => {}
        }
        after_minus = minus;
    }
    angles == 0 && last.is_some_and(|id| id.to_string().ends_with("Result"))
}

/// Whether a type is written as a path (`Option<u8>`, `Outcome<u8>`), as a name that could be
/// an alias: its first token, inside invisible groups, is a name or `::`.
fn path_like(ty: &[TokenTree]) -> bool {
    match ty.first() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::None => {
            path_like(&g.stream().into_iter().collect::<Vec<_>>())
        }
        Some(TokenTree::Ident(i)) => i != "impl" && i != "dyn" && i != "fn",
        Some(TokenTree::Punct(p)) => p.as_char() == ':',
        _ => false,
    }
}

/// The first identifier `name` in `tokens`, at any depth.
fn find_ident(tokens: &[TokenTree], name: &str) -> Option<Ident> {
    tokens.iter().find_map(|t| match t {
        TokenTree::Ident(i) if i == name => Some(i.clone()),
        TokenTree::Group(g) => find_ident(&g.stream().into_iter().collect::<Vec<_>>(), name),
        _ => None,
    })
}

/// The span of a type's first token (inside a macro's invisible group): where what is reported
/// at the return type points.
fn first_span(ty: &[TokenTree]) -> Span {
    match ty.first() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::None => {
            match g.stream().into_iter().next() {
                Some(first) => first_span(&[first]),
                None => g.span(),
            }
        }
        Some(t) => t.span(),
        None => Span::call_site(),
    }
}

/// A type's tokens, for an error spanning the whole type.
fn spanning(ty: &[TokenTree]) -> TokenStream {
    ty.iter().cloned().collect()
}

/// `Pin<Box<dyn Future<Output = R> + ...>>` → `R`.
fn future_output(ty: &Type) -> Option<Type> {
    let Type::Path(pin) = ty else { return None };
    let seg = pin.path.segments.last()?;
    if seg.ident != "Pin" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &seg.arguments else {
        return None;
    };
    let Some(GenericArgument::Type(Type::Path(boxed))) = args.args.first() else {
        return None;
    };
    let seg = boxed.path.segments.last()?;
    let PathArguments::AngleBracketed(args) = &seg.arguments else {
        return None;
    };
    let Some(GenericArgument::Type(Type::TraitObject(dyn_future))) = args.args.first() else {
        return None;
    };
    dyn_future.bounds.iter().find_map(|b| {
        let TypeParamBound::Trait(t) = b else {
            return None;
        };
        let seg = t.path.segments.last()?;
        if seg.ident != "Future" {
            return None;
        }
        let PathArguments::AngleBracketed(args) = &seg.arguments else {
            return None;
        };
        args.args.iter().find_map(|a| match a {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(assoc.ty.clone()),
            _ => None,
        })
    })
}

/// The `async move { ... }` block inside async-trait's `Box::pin(...)`.
fn async_trait_block(block: &Block) -> Option<&Block> {
    let [Stmt::Expr(Expr::Call(call), None)] = block.stmts.as_slice() else {
        return None;
    };
    let Expr::Path(f) = &*call.func else {
        return None;
    };
    let is_box_pin = f.path.segments.len() >= 2
        && f.path.segments.last().is_some_and(|s| s.ident == "pin")
        && f.path
            .segments
            .iter()
            .rev()
            .nth(1)
            .is_some_and(|s| s.ident == "Box");
    if !is_box_pin || call.args.len() != 1 {
        return None;
    }
    match call.args.first() {
        Some(Expr::Async(a)) if a.capture.is_some() => Some(&a.block),
        _ => None,
    }
}

/// A parsed block as a token group, with its braces' span.
fn braced(block: &Block) -> Group {
    let stmts = &block.stmts;
    let mut group = Group::new(Delimiter::Brace, quote!(#(#stmts)*));
    group.set_span(block.brace_token.span.join());
    group
}

fn shape(item: &Function) -> syn::Result<Shape> {
    let Some(declared) = &item.output else {
        return Err(syn::Error::new(
            item.sig.ident.span(),
            "#[resilient] needs a function returning `Result<T, E>`: this one returns `()`, so there is nothing to retry on",
        ));
    };
    if item.sig.asyncness.is_some() {
        if !result_like(declared) {
            return Err(syn::Error::new_spanned(
                spanning(declared),
                if path_like(declared) {
                    "#[resilient] needs a function returning `Result<T, E>`: the error is what tells it whether to retry. The type is read as written: `Result<T, E>`, or an alias whose name ends in `Result` (like `io::Result<T>`)"
                } else {
                    "#[resilient] needs a function returning `Result<T, E>`: the error is what tells it whether to retry"
                },
            ));
        }
        if let Some(opaque) = find_ident(declared, "impl") {
            return Err(syn::Error::new(
                opaque.span(),
                "#[resilient] cannot wrap a function whose return type holds `impl Trait`: the expansion names the return type (to give the body its type and to pick how results are judged), and an `impl Trait` cannot be named there; write the type out",
            ));
        }
        return Ok(Shape {
            output: declared.clone(),
            prelude: Vec::new(),
            body: item.body.clone(),
            async_trait: false,
        });
    }
    // A method that #[async_trait] has already rewritten: only this shape needs the return
    // type and the body parsed.
    let parsed = syn::parse2::<Type>(spanning(declared))
        .ok()
        .and_then(|declared| future_output(&declared))
        .and_then(|output| {
            let block = syn::parse2::<Block>(item.body.to_token_stream()).ok()?;
            Some((
                output.into_token_stream().into_iter().collect::<Vec<_>>(),
                block,
            ))
        });
    if let Some((output, block)) = parsed {
        if let Some(inner) = async_trait_block(&block) {
            if !result_like(&output) {
                return Err(syn::Error::new_spanned(
                    spanning(declared),
                    "#[resilient] needs a function returning `Result<T, E>`",
                ));
            }
            // async-trait binds the arguments, then evaluates the body into a typed `__ret`; the
            // binding happens once, the body per attempt.
            let split = inner.stmts.iter().rposition(|s| {
                matches!(s, Stmt::Local(local) if matches!(&local.pat, Pat::Type(t) if matches!(&*t.pat, Pat::Ident(i) if i.ident == "__ret")))
            });
            if let Some(at) = split {
                if let Stmt::Local(local) = &inner.stmts[at] {
                    if let Some(init) = &local.init {
                        if let Expr::Block(b) = &*init.expr {
                            return Ok(Shape {
                                output,
                                prelude: inner.stmts[..at].to_vec(),
                                body: braced(&b.block),
                                async_trait: true,
                            });
                        }
                    }
                }
            }
            return Ok(Shape {
                output,
                prelude: Vec::new(),
                body: braced(inner),
                async_trait: true,
            });
        }
    }
    Err(syn::Error::new(
        item.sig.fn_token.span,
        "#[resilient] goes on an `async fn`: add `async`, or wrap the call in one",
    ))
}

/// What the expansion does with the arguments.
struct Arguments {
    /// `let name = clone_argument(&name);` for each owned argument, run per attempt.
    clones: Vec<TokenStream>,
    /// A mutable use of each `mut` owned argument.
    touches: Vec<TokenStream>,
    /// Every argument, in order, for `fallback`.
    names: Vec<TokenStream>,
    /// Whether an argument is under `#[cfg]`: `fallback`, called with every argument, cannot
    /// be.
    conditional: bool,
    /// Whether the body may get mutable access to an argument (a `&mut` in its type or the
    /// receiver's, or a `mut` binding that is not copied per attempt): then each attempt needs a
    /// closure of its own to reborrow it, and the loop stays in the function.
    lends: bool,
    /// A `self` taken by value and copied per attempt: the body's `self` is renamed to this.
    renamed_self: Option<Ident>,
}

/// The body with `self` renamed to `to`, as async-trait does: not in a path (`self::f`), a
/// `use` or `extern crate` item or a `pub(self)`, where it names a module, nor inside an item
/// the body declares (`fn`, `impl`, `trait`, `mod`, `macro_rules!`), whose `self` is its own.
/// A format string's `{self}` is text, not a token: it still reads the caller's `self`.
fn rename_self(stream: TokenStream, to: &str) -> TokenStream {
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let path_follows = |at: usize| {
            matches!((tokens.get(at + 1), tokens.get(at + 2)),
                (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
                    if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':')
        };
        match &tokens[i] {
            TokenTree::Ident(id) if id == "self" && !path_follows(i) => {
                out.push(TokenTree::Ident(Ident::new(to, id.span())));
            }
            // `use a::{self, b};`, `extern crate self as x;`: `self` names a module there.
            TokenTree::Ident(id) if id == "use" || id == "extern" => {
                while i < tokens.len() {
                    let t = tokens[i].clone();
                    let end = matches!(&t, TokenTree::Punct(p) if p.as_char() == ';')
                        || matches!(&t, TokenTree::Group(g) if g.delimiter() == Delimiter::Brace && id == "extern");
                    out.push(t);
                    if end {
                        break;
                    }
                    i += 1;
                }
            }
            // `pub(self)`: a visibility.
            TokenTree::Ident(id)
                if id == "pub"
                    && matches!(tokens.get(i + 1), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis) =>
            {
                out.push(tokens[i].clone());
                out.push(tokens[i + 1].clone());
                i += 1;
            }
            TokenTree::Ident(id) if starts_item(&tokens, i) => {
                // The item is copied as written, up to its body (or its `;`).
                while i < tokens.len() {
                    let t = tokens[i].clone();
                    let end = matches!(&t, TokenTree::Group(g) if g.delimiter() == Delimiter::Brace)
                        || matches!(&t, TokenTree::Punct(p) if p.as_char() == ';');
                    out.push(t);
                    if end {
                        break;
                    }
                    i += 1;
                }
                let _ = id;
            }
            TokenTree::Group(g) => {
                let mut group = Group::new(g.delimiter(), rename_self(g.stream(), to));
                group.set_span(g.span());
                out.push(TokenTree::Group(group));
            }
            t => out.push(t.clone()),
        }
        i += 1;
    }
    out.into_iter().collect()
}

/// Whether `tokens[i]` starts an item with a `self` of its own: `fn name`, `impl`, `trait
/// Name`, `mod name`, `macro_rules!`.
fn starts_item(tokens: &[TokenTree], i: usize) -> bool {
    let TokenTree::Ident(id) = &tokens[i] else {
        return false;
    };
    let next_is_name = matches!(tokens.get(i + 1), Some(TokenTree::Ident(_)));
    match id.to_string().as_str() {
        "fn" | "trait" | "mod" => next_is_name,
        "impl" => true,
        "macro_rules" => {
            matches!(tokens.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == '!')
        }
        _ => false,
    }
}

/// `ty` without the invisible groups a `macro_rules!` fragment (`$t:ty`) wraps it in.
fn ungroup(ty: &Type) -> &Type {
    match ty {
        Type::Group(g) => ungroup(&g.elem),
        _ => ty,
    }
}

/// Whether a receiver of type `ty` can only be read through: `&Self` (`&self`), or `Box`, `Rc`,
/// `Arc` or `Pin` of `Self` or of such a reference. A by-value `self` cannot be told apart from
/// a `&mut` (`impl Trait for &mut T`), nor can a type alias; they count as lending.
fn shared_pointer(ty: &Type) -> bool {
    match ungroup(ty) {
        Type::Reference(r) => r.mutability.is_none() && !has_mut_ref(&r.elem),
        Type::Path(p) if p.qself.is_none() => {
            let Some(last) = p.path.segments.last() else {
                return false;
            };
            let PathArguments::AngleBracketed(args) = &last.arguments else {
                return false;
            };
            let [GenericArgument::Type(inner)] = args.args.iter().collect::<Vec<_>>()[..] else {
                return false;
            };
            ["Box", "Rc", "Arc", "Pin"]
                .iter()
                .any(|name| last.ident == name)
                && (matches!(ungroup(inner), Type::Path(s) if s.qself.is_none() && s.path.is_ident("Self"))
                    || shared_pointer(inner))
        }
        _ => false,
    }
}

/// Whether a token stream holds `mut` or `ref` (a binding that may change what it names).
fn binds_mutably(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|t| match t {
        TokenTree::Ident(i) => i == "mut" || i == "ref",
        TokenTree::Group(g) => binds_mutably(g.stream()),
        _ => false,
    })
}

/// Whether `ty` may hold a `&mut` reference: one written in it, or a type the attribute cannot
/// see into (a macro). A type alias that hides one is not seen: an owned argument of such a
/// type is refused anyway (it is cloned per attempt), and receivers go by [`shared_pointer`].
fn has_mut_ref(ty: &Type) -> bool {
    let in_args = |args: &PathArguments| match args {
        PathArguments::None => false,
        PathArguments::AngleBracketed(a) => a.args.iter().any(|g| match g {
            GenericArgument::Type(t) => has_mut_ref(t),
            GenericArgument::AssocType(t) => has_mut_ref(&t.ty),
            GenericArgument::Lifetime(_) | GenericArgument::Const(_) => false,
            _ => true,
        }),
        PathArguments::Parenthesized(_) => false,
    };
    let in_bounds = |bounds: &syn::punctuated::Punctuated<TypeParamBound, syn::Token![+]>| {
        bounds.iter().any(|b| match b {
            TypeParamBound::Trait(t) => t.path.segments.iter().any(|s| in_args(&s.arguments)),
            _ => false,
        })
    };
    match ty {
        Type::Reference(r) => r.mutability.is_some() || has_mut_ref(&r.elem),
        Type::Path(p) => {
            p.qself.as_ref().is_some_and(|q| has_mut_ref(&q.ty))
                || p.path.segments.iter().any(|s| in_args(&s.arguments))
        }
        Type::Tuple(t) => t.elems.iter().any(has_mut_ref),
        Type::Array(a) => has_mut_ref(&a.elem),
        Type::Slice(s) => has_mut_ref(&s.elem),
        Type::Paren(p) => has_mut_ref(&p.elem),
        Type::Group(g) => has_mut_ref(&g.elem),
        Type::Ptr(_) | Type::BareFn(_) | Type::Never(_) => false,
        Type::ImplTrait(t) => in_bounds(&t.bounds),
        Type::TraitObject(t) => in_bounds(&t.bounds),
        _ => true,
    }
}

/// Whether `ty` is written as a primitive number type, `bool` or `char` (all `Copy`), and is not
/// a generic parameter of that name. (A type the user declared with such a name cannot be seen
/// from here: README, "Known limits".)
fn copy_primitive(ty: &Type, generics: &syn::Generics) -> bool {
    const PRIMITIVES: [&str; 16] = [
        "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
        "f32", "f64", "bool", "char",
    ];
    let Type::Path(p) = ty else { return false };
    p.qself.is_none()
        && p.path.leading_colon.is_none()
        && p.path.segments.len() == 1
        && matches!(p.path.segments[0].arguments, PathArguments::None)
        && PRIMITIVES.contains(&p.path.segments[0].ident.to_string().as_str())
        && !generics
            .type_params()
            .any(|t| t.ident == p.path.segments[0].ident)
}

/// Owned arguments (cloned per attempt) and all argument names (for `fallback`).
///
/// `rebound_mut`: the arguments `#[async_trait]` rebinds `mut` before the body
/// (`let mut n = n;`), having taken the `mut` out of the signature: they are copied per attempt
/// like a `mut` argument, so that each attempt starts from the caller's value with or without
/// async-trait.
fn arguments(
    item: &Function,
    krate: &[TokenTree],
    rebound_mut: &[&Ident],
    async_trait: bool,
) -> syn::Result<Arguments> {
    let mut clones = Vec::new();
    let mut touches = Vec::new();
    let mut names = Vec::new();
    let mut lends = false;
    let mut conditional = false;
    let mut renamed_self = None;
    for arg in &item.sig.inputs {
        match arg {
            // `self` or `mut self` (not `self: Type`): the body may consume it, so each attempt
            // gets its own copy, under another name (`self` cannot be rebound). async-trait has
            // already moved `self` into `__self`, a binding of its own.
            FnArg::Receiver(r)
                if r.reference.is_none() && r.colon_token.is_none() && !async_trait =>
            {
                let span = r.self_token.span;
                let copy = Ident::new("__sf_self", span);
                let mutability = &r.mutability;
                // A copy, or a reborrow when `Self` is a `&mut` (see `__private::receiver`);
                // either may need unique access, so each attempt has a closure of its own.
                clones.push(quote_spanned! {span=>
                    let #mutability #copy = {
                        use #(#krate)*::__private::receiver::*;
                        self.__sf_fresh()
                    };
                });
                lends = true;
                if r.mutability.is_some() {
                    touches.push(quote!(let _ = &mut self;));
                }
                renamed_self = Some(copy);
                names.push(quote!(self));
            }
            FnArg::Receiver(r) => {
                lends |= r.mutability.is_some() || !shared_pointer(&r.ty);
                names.push(
                    quote!(#r)
                        .into_iter()
                        .find(|t| t.to_string() == "self")
                        .map_or_else(|| quote!(self), |t| quote!(#t)),
                );
            }
            FnArg::Typed(pt) => {
                // An argument under `#[cfg]` may not exist: what the expansion writes for it
                // goes under the same `#[cfg]`.
                let cfgs: Vec<&syn::Attribute> = pt
                    .attrs
                    .iter()
                    .filter(|a| a.path().is_ident("cfg"))
                    .collect();
                conditional |= !cfgs.is_empty();
                let Pat::Ident(pi) = &*pt.pat else {
                    return Err(syn::Error::new_spanned(
                        &pt.pat,
                        "#[resilient] needs a plain name for each argument (it copies or reborrows them per attempt): bind it to a name and destructure inside",
                    ));
                };
                let ident = &pi.ident;
                names.push(quote!(#ident));
                if pi.by_ref.is_some() || has_mut_ref(&pt.ty) {
                    lends = true;
                }
                if let Type::Reference(reference) = ungroup(&pt.ty) {
                    // Not copied: a `mut` binding may be assigned by the body.
                    lends |= pi.mutability.is_some();
                    // A `&mut` is reborrowed per attempt, so that a body passing it to a generic
                    // function (`take<W: Write>(w: W)`), which moves it, can do so each time.
                    if reference.mutability.is_some()
                        && pi.mutability.is_none()
                        && pi.by_ref.is_none()
                    {
                        clones.push(quote!(#(#cfgs)* let #ident = &mut *#ident;));
                    }
                    continue;
                }
                let mutability = &pi.mutability.or_else(|| {
                    rebound_mut
                        .contains(&ident)
                        .then(<syn::Token![mut]>::default)
                });
                let ty = &pt.ty;
                // A primitive number, `bool` or `char` is `Copy`: the body copies it from the
                // captured reference, and a copy is all a clone would do. Not for `mut`
                // bindings: each attempt must start from the caller's value.
                if mutability.is_none() && copy_primitive(ty, &item.sig.generics) {
                    continue;
                }
                // The bound is checked at the argument's type, so the error points at it. No type
                // annotation: `impl Trait` is not allowed in a `let`.
                clones.push(quote_spanned! {ty.span()=>
                    #(#cfgs)* let #mutability #ident = #(#krate)*::__private::clone_argument(&#ident);
                });
                if mutability.is_some() {
                    // The outer binding is only read (cloned); a mutable use keeps the user's
                    // `mut` from being reported as unneeded.
                    touches.push(quote!(#(#cfgs)* let _ = &mut #ident;));
                }
            }
        }
    }
    Ok(Arguments {
        clones,
        touches,
        names,
        lends,
        conditional,
        renamed_self,
    })
}

/// The literal settings, as the text `steadfast::__private::Site` reads on first use (see
/// `builder_from` there): `key=value` pairs separated by `;`, durations in nanoseconds, and
/// `limiter=<name>` last, since a name may hold any character.
fn settings_text(s: &Settings) -> String {
    let mut pairs: Vec<String> = Vec::new();
    if let Some(r) = &s.retry {
        pairs.push(format!("retry={}", r.value));
    }
    if let Some(on) = &s.on {
        pairs.push(format!("on={}", on.value));
    }
    if let Some(a) = &s.attempts {
        pairs.push(format!("attempts={}", a.value));
    }
    for (key, value) in [
        ("base", &s.base),
        ("max_delay", &s.max_delay),
        ("deadline", &s.deadline),
        ("timeout", &s.timeout),
        ("max_hint", &s.max_hint),
    ] {
        if let Some(d) = value {
            pairs.push(format!("{key}={}", d.value.as_nanos()));
        }
    }
    if let Some(f) = &s.factor {
        // `{:?}` writes the shortest text that reads back as the same `f64`.
        pairs.push(format!("factor={:?}", f.value));
    }
    if let Some(j) = &s.jitter {
        pairs.push(format!("jitter={}", j.value));
    }
    for (key, value) in &s.rates {
        pairs.push(format!("{key}={}", value.value));
    }
    if let Some(c) = &s.concurrency {
        pairs.push(format!("concurrency={}", c.value));
    }
    if let Some(b) = &s.breaker {
        let b = &b.value;
        pairs.push("breaker".to_owned());
        if let Some(v) = b.failure_ratio {
            pairs.push(format!("breaker.failure_ratio={v:?}"));
        }
        if let Some(v) = b.min_calls {
            pairs.push(format!("breaker.min_calls={v}"));
        }
        if let Some(v) = b.window {
            pairs.push(format!("breaker.window={}", v.as_nanos()));
        }
        if let Some(v) = b.open_for {
            pairs.push(format!("breaker.open_for={}", v.as_nanos()));
        }
        if let Some(v) = b.half_open {
            pairs.push(format!("breaker.half_open={v}"));
        }
    }
    match s.budget.as_ref().map(|b| &b.value) {
        Some(BudgetSetting::Off) => pairs.push("budget=off".to_owned()),
        Some(BudgetSetting::Ratio(r)) => pairs.push(format!("budget={r:?}")),
        Some(BudgetSetting::Default) | None => {}
    }
    for (key, value) in [
        ("honor_hint", &s.honor_hint),
        ("retry_when_nested", &s.retry_when_nested),
        ("adapt", &s.adapt),
    ] {
        if let Some(b) = value {
            pairs.push(format!("{key}={}", b.value));
        }
    }
    if let Some(LimiterSetting::Name(n)) = s.limiter.as_ref().map(|l| &l.value) {
        pairs.push(format!("limiter={}", n.value()));
    }
    pairs.join(";")
}

/// How the function gets its policy from its `static` site when the literal settings alone do
/// not make it (`Site::policy`, called by `__private::call` or written out for the other
/// entries): `.policy_with(...)`, which adds the keys that are expressions, evaluated in the
/// body where `Self` is in scope, or `.prebuilt(...)` for `policy = <expr>`.
fn policy(s: &Settings, krate: &[TokenTree]) -> Option<TokenStream> {
    if let Some(policy) = &s.policy {
        return Some(quote!(.prebuilt(&|| #policy)));
    }
    let mut calls = Vec::new();
    if let Some(LimiterSetting::Value(e)) = s.limiter.as_ref().map(|l| &l.value) {
        calls.push(quote!(.limiter(#(#krate)*::__private::IntoLimiter::into_limiter(#e))));
    }
    if let Some(path) = &s.on_retry {
        calls.push(quote!(.hook(::std::sync::Arc::new(#(#krate)*::__private::OnRetry(#path)))));
    }
    if calls.is_empty() {
        return None;
    }
    let b = format_ident!("__sf_builder", span = Span::mixed_site());
    Some(quote!(.policy_with(&|#b| #b #(#calls)*)))
}

/// The whole expansion, or an error for a function the attribute cannot wrap.
pub(crate) fn expand(settings: &Settings, item: &Function) -> syn::Result<TokenStream> {
    // The output is built from token trees as far as possible: each token *stream* spliced into
    // another is a round trip to the compiler, and the macro runs unoptimised in most builds.
    let krate: Vec<TokenTree> = match &settings.krate {
        Some(path) => path.to_token_stream().into_iter().collect(),
        None => vec![
            Punct::new(':', Spacing::Joint).into(),
            Punct::new(':', Spacing::Alone).into(),
            Ident::new("steadfast", Span::call_site()).into(),
        ],
    };
    let shape = shape(item)?;
    let rebound_mut: Vec<&Ident> = shape
        .prelude
        .iter()
        .filter_map(|stmt| {
            let Stmt::Local(local) = stmt else {
                return None;
            };
            let pat = match &local.pat {
                Pat::Type(t) => &*t.pat,
                pat => pat,
            };
            match pat {
                Pat::Ident(pi) if pi.mutability.is_some() && pi.by_ref.is_none() => Some(&pi.ident),
                _ => None,
            }
        })
        .collect();
    let Arguments {
        clones,
        touches,
        names,
        lends,
        conditional,
        renamed_self,
    } = arguments(item, &krate, &rebound_mut, shape.async_trait)?;
    if let (true, Some(path)) = (conditional, &settings.fallback) {
        return Err(syn::Error::new_spanned(
            path,
            "#[resilient] calls `fallback` with every argument, and an argument under `#[cfg]` may not exist: remove the `#[cfg]` from the argument, or the `fallback` key",
        ));
    }
    // `#[async_trait]` moves `mut` (and pattern arguments) out of the signature, into the
    // `let`s before the body: `let mut __self = self;`, `let (mut a, b) = __arg0;`.
    let lends = lends
        || shape.prelude.iter().any(|stmt| match stmt {
            Stmt::Local(local) => binds_mutably(local.pat.to_token_stream()),
            _ => false,
        });
    let site = Span::mixed_site();
    let site_static = Ident::new("__SF_SITE", site);
    let run = Ident::new("__sf_run", site);
    let result = Ident::new("__sf_result", site);
    let r = Ident::new("__sf_r", site);
    let judge = Ident::new("__sf_judge", site);
    let fn_name = item.sig.ident.to_string();
    let settings_text = settings_text(settings);
    let policy = policy(settings, &krate);
    let output = &shape.output;
    let output_span = first_span(output);
    // The crate path spanned at the return type, for what is reported there.
    let krate_at_output: Vec<TokenTree> = krate
        .iter()
        .cloned()
        .map(|mut t| {
            t.set_span(output_span);
            t
        })
        .collect();
    let renamed_body;
    let body = match &renamed_self {
        Some(copy) => {
            let mut group = Group::new(
                shape.body.delimiter(),
                rename_self(shape.body.stream(), &copy.to_string()),
            );
            group.set_span(shape.body.span());
            renamed_body = group;
            &renamed_body
        }
        None => &shape.body,
    };
    let prelude = &shape.prelude;

    let require_from = settings.needs_from.first().map(|span| {
        quote_spanned! {*span=>
            #(#krate)*::__private::require_from_policy_error(&::core::option::Option::<#(#output)*>::None);
        }
    });
    // How results are classified and how a stop becomes a result, picked by method resolution
    // at the concrete result type (see `__private::Pick`). Passed to `call` (or bound once,
    // before the loop), spanned at the return type: the picked rules are zero-sized types the
    // attempt calls directly (function pointers were not inlined: 20 ns more per call;
    // functions returned as `impl Fn` cost 2 ms of compile time per function). A missing
    // `Classify` is reported there, and once more at the attribute, where the attempt uses them.
    let judging = match &settings.classify {
        Some(path) => {
            // Checked at the path, so a function of the wrong shape is reported there.
            let custom = quote_spanned! {path.span()=>
                #(#krate)*::__private::custom::<#(#output)*>(#path)
            };
            quote!((#custom, #(#krate)*::__private::pick::<#(#output)*>().converter()))
        }
        None => quote_spanned! {output_span=>
            #(#krate_at_output)*::__private::pick::<#(#output)*>().judging()
        },
    };
    // `if false { return typed::<R>(); }`, at the return type: a body of the wrong type gets
    // "return type inferred to be `R` here" pointing there.
    let type_hint = quote_spanned! {output_span=>
        if false { return #(#krate_at_output)*::__private::typed::<#(#output)*>(); }
    };
    // With `fallback`, the loop's result is kept to fall back on; without, it is the body's
    // value (typed by the function's return type).
    let (keep, finish) = match &settings.fallback {
        Some(path) => (
            Some(quote!(let #result: #(#output)* =)),
            Some(quote! {;
                match #result {
                    ::core::result::Result::Ok(v) => ::core::result::Result::Ok(v),
                    ::core::result::Result::Err(_) => #path(#(#names),*).await,
                }
            }),
        ),
        None => (None, None),
    };
    // Without a time limit (known here), the attempt needs no timer: less code per function.
    let untimed =
        settings.timeout.is_none() && settings.deadline.is_none() && settings.policy.is_none();
    // `call` takes the site (`&__SF_SITE`), whose policy it builds from the literal settings
    // alone; `call_policy` and `call_timed` take the policy, `__SF_SITE.policy()` or, for keys
    // that are expressions, `.policy_with(..)`/`.prebuilt(..)`; `attempt` takes the call's
    // state, from `__SF_SITE.start()` or the policy's `.start()`. Tokens, not streams: every
    // stream spliced into another is a round trip to the compiler.
    let entry = match (lends, untimed, &policy) {
        (true, true, _) => "attempt",
        (true, false, _) => "attempt_timed",
        (false, true, None) => "call",
        (false, true, Some(_)) => "call_policy",
        (false, false, _) => "call_timed",
    };
    let mut site_tokens: Vec<TokenTree> = Vec::new();
    if entry == "call" {
        site_tokens.push(Punct::new('&', Spacing::Alone).into());
    }
    site_tokens.push(site_static.clone().into());
    if entry == "call_timed" && policy.is_none() {
        site_tokens.push(Punct::new('.', Spacing::Alone).into());
        site_tokens.push(Ident::new("policy", Span::call_site()).into());
        site_tokens.push(Group::new(Delimiter::Parenthesis, TokenStream::new()).into());
    }
    let entry = Ident::new(entry, Span::call_site());
    // The attempt makes the body's future after the gates, in its own pinned state. Passed as
    // a future, it would be moved there (5 ns more per call in the benchmark); pinned here
    // (`pin!`), it costs a quarter more compile time (BENCHMARKS.md §5).
    // The body is the block's value, so nothing follows it: a body that never returns warns of
    // nothing, and no lint needs allowing (an `allow` would fail under the user's `forbid`). The
    // branch never taken gives the block its type (the return type) before the body is checked,
    // for `?`, `.into()` and errors at the body's value; the one-arm `match` keeps the body's
    // braces from being "unnecessary" and its top-level `return` from being a sub-expression.
    // Each expansion is one `quote!`, for the same reason as `site_tokens`.
    let looped = if lends {
        // Each pass gets a closure of its own, which reborrows what the body may mutate.
        quote! {
            static #site_static: #(#krate)*::__private::Site = #(#krate)*::__private::site(
                ::core::module_path!(),
                #fn_name,
                #settings_text,
            );
            #require_from
            #(#touches)*
            let mut #run = #(#site_tokens)* #policy .start();
            let #judge = #judging;
            #keep loop {
                if let ::core::ops::ControlFlow::Break(#r) = #(#krate)*::__private::#entry(
                    &mut #run,
                    || async { #(#clones)* #type_hint match () { () => #body } },
                    #judge,
                ).await
                {
                    break #r;
                }
            }
            #finish
        }
    } else {
        // One closure makes every attempt's future; the loop is `__private::call`'s.
        quote! {
            static #site_static: #(#krate)*::__private::Site = #(#krate)*::__private::site(
                ::core::module_path!(),
                #fn_name,
                #settings_text,
            );
            #require_from
            #(#touches)*
            #keep #(#krate)*::__private::#entry(
                #(#site_tokens)* #policy,
                || async { #(#clones)* #type_hint match () { () => #body } },
                #judging,
            ).await
            #finish
        }
    };
    let block = if shape.async_trait {
        let inner = Group::new(Delimiter::Brace, quote!(#(#prelude)* #looped));
        Group::new(
            Delimiter::Brace,
            quote!(::std::boxed::Box::pin(async move #inner)),
        )
    } else {
        Group::new(Delimiter::Brace, looped)
    };
    let mut tokens = item.head.clone();
    tokens.extend([TokenTree::Group(block)]);
    Ok(tokens)
}
