//! The expansion: the signature stays as written; the body runs inside the policy's loop.
//!
//! Input:
//!
//! ```text
//! #[resilient(on = [429, 503], rpm = 25)]
//! async fn ask(&self, prompt: String) -> Result<String, Error> { BODY }
//! ```
//!
//! Output (names starting `__sf_` are `Span::mixed_site()`, invisible to the body):
//!
//! ```text
//! async fn ask(&self, prompt: String) -> Result<String, Error> {
//!     static __SF_POLICY: OnceLock<Policy> = OnceLock::new();
//!     let __sf_policy = __private::site(&__SF_POLICY, "crate::ask", || Ok(Policy::builder()
//!         .name("crate::ask").on(__private::retry_on("429, 503")?).rpm(25).build()?));
//!     let mut __sf_run = __sf_policy.start();
//!     let __sf_result: Result<String, Error> = loop {
//!         if let Err(e) = __sf_run.before_attempt().await { break Err(<policy error>); }
//!         let __sf_attempt = __sf_run.attempt(async {
//!             let prompt = __private::clone_argument(&prompt);   // owned: a copy per attempt
//!             let __sf_ret: Result<String, Error> = BODY;       // `self` is reborrowed
//!             __sf_ret
//!         }).await;
//!         match __sf_run.after_attempt(__sf_attempt, <classify>).await {
//!             Step::Retry => continue,
//!             Step::Done(r) => break r,
//!             Step::Stop(s) => break <Err(policy error) or the last outcome>,
//!         }
//!     };
//!     __sf_result                       // or: on Err, `FALLBACK(self, prompt).await`
//! }
//! ```
//!
//! A method already rewritten by `#[async_trait]` (a plain `fn` returning
//! `Pin<Box<dyn Future<Output = R> + Send + 'async_trait>>` whose body is
//! `Box::pin(async move { ... })`) gets the same loop inside its `async move` block.

use crate::validate::{BudgetSetting, LimiterSetting, Settings};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    Block, Expr, FnArg, GenericArgument, ItemFn, Pat, PathArguments, ReturnType, Stmt, Type,
    TypeParamBound,
};

/// The function as the loop needs it.
struct Shape {
    /// The type the body evaluates to: `Result<T, E>`.
    output: Type,
    /// Statements to run once before the loop (async-trait's argument rebinding).
    prelude: Vec<Stmt>,
    /// The body of one attempt.
    body: Block,
    /// Whether the result must be wrapped back into `Box::pin(async move { ... })`.
    async_trait: bool,
}

fn result_like(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident.to_string().ends_with("Result")),
        Type::Group(g) => result_like(&g.elem),
        Type::Paren(p) => result_like(&p.elem),
        _ => false,
    }
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

fn shape(item: &ItemFn) -> syn::Result<Shape> {
    let ReturnType::Type(_, declared) = &item.sig.output else {
        return Err(syn::Error::new(
            item.sig.ident.span(),
            "#[resilient] needs a function returning `Result<T, E>`: this one returns `()`, so there is nothing to retry on",
        ));
    };
    if item.sig.asyncness.is_some() {
        if !result_like(declared) {
            return Err(syn::Error::new_spanned(
                declared,
                "#[resilient] needs a function returning `Result<T, E>`: the error is what tells it whether to retry",
            ));
        }
        return Ok(Shape {
            output: (**declared).clone(),
            prelude: Vec::new(),
            body: (*item.block).clone(),
            async_trait: false,
        });
    }
    // A method that #[async_trait] has already rewritten.
    if let (Some(output), Some(inner)) = (future_output(declared), async_trait_block(&item.block)) {
        if !result_like(&output) {
            return Err(syn::Error::new_spanned(
                declared,
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
                            body: b.block.clone(),
                            async_trait: true,
                        });
                    }
                }
            }
        }
        return Ok(Shape {
            output,
            prelude: Vec::new(),
            body: inner.clone(),
            async_trait: true,
        });
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
}

/// Owned arguments (cloned per attempt) and all argument names (for `fallback`).
fn arguments(item: &ItemFn) -> syn::Result<Arguments> {
    let mut clones = Vec::new();
    let mut touches = Vec::new();
    let mut names = Vec::new();
    for arg in &item.sig.inputs {
        match arg {
            FnArg::Receiver(r) => names.push(
                quote!(#r)
                    .into_iter()
                    .find(|t| t.to_string() == "self")
                    .map_or_else(|| quote!(self), |t| quote!(#t)),
            ),
            FnArg::Typed(pt) => {
                let Pat::Ident(pi) = &*pt.pat else {
                    return Err(syn::Error::new_spanned(
                        &pt.pat,
                        "#[resilient] needs a plain name for each argument (it copies or reborrows them per attempt): bind it to a name and destructure inside",
                    ));
                };
                let ident = &pi.ident;
                names.push(quote!(#ident));
                if matches!(&*pt.ty, Type::Reference(_)) {
                    continue;
                }
                let mutability = &pi.mutability;
                let ty = &pt.ty;
                let krate = quote!(__SF_KRATE);
                // The bound is checked at the argument's type, so the error points at it. No type
                // annotation: `impl Trait` is not allowed in a `let`.
                clones.push(quote_spanned! {ty.span()=>
                    let #mutability #ident = #krate::__private::clone_argument(&#ident);
                });
                if mutability.is_some() {
                    // The outer binding is only read (cloned); a mutable use keeps the user's
                    // `mut` from being reported as unneeded.
                    touches.push(quote!(let _ = &mut #ident;));
                }
            }
        }
    }
    Ok(Arguments {
        clones,
        touches,
        names,
    })
}

fn duration(d: std::time::Duration, krate: &TokenStream) -> TokenStream {
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    quote!(#krate::__private::Duration::new(#secs, #nanos))
}

fn builder(s: &Settings, krate: &TokenStream, name: &TokenStream) -> TokenStream {
    if let Some(policy) = &s.policy {
        return quote!(#krate::__private::Result::Ok(#policy));
    }
    let mut calls = vec![quote!(.name(#name))];
    if let Some(r) = &s.retry {
        let v = &r.value;
        calls.push(quote!(.retry(#v)));
    }
    if let Some(on) = &s.on {
        let v = &on.value;
        calls.push(quote!(.on(#krate::__private::retry_on(#v)?)));
    }
    if let Some(a) = &s.attempts {
        let v = a.value;
        calls.push(quote!(.attempts(#v)));
    }
    for (method, value) in [
        ("base", &s.base),
        ("max_delay", &s.max_delay),
        ("deadline", &s.deadline),
        ("timeout", &s.timeout),
        ("max_hint", &s.max_hint),
    ] {
        if let Some(d) = value {
            let m = format_ident!("{}", method);
            let d = duration(d.value, krate);
            calls.push(quote!(.#m(#d)));
        }
    }
    if let Some(f) = &s.factor {
        let v = f.value;
        calls.push(quote!(.factor(#v)));
    }
    if let Some(j) = &s.jitter {
        let variant = format_ident!(
            "{}",
            match j.value.as_str() {
                "equal" => "Equal",
                "decorrelated" => "Decorrelated",
                "none" => "None",
                _ => "Full",
            }
        );
        calls.push(quote!(.jitter(#krate::__private::Jitter::#variant)));
    }
    for (key, value) in &s.rates {
        let m = format_ident!("{}", key);
        let v = value.value;
        calls.push(quote!(.#m(#v)));
    }
    if let Some(l) = &s.limiter {
        calls.push(match &l.value {
            LimiterSetting::Name(n) => quote!(.limiter_name(#n)),
            LimiterSetting::Value(e) => {
                quote!(.limiter(#krate::__private::IntoLimiter::into_limiter(#e)))
            }
        });
    }
    if let Some(c) = &s.concurrency {
        let v = c.value;
        calls.push(quote!(.concurrency(#v)));
    }
    if let Some(b) = &s.breaker {
        let b = &b.value;
        let mut fields = Vec::new();
        if let Some(v) = b.failure_ratio {
            fields.push(quote!(failure_ratio: #v));
        }
        if let Some(v) = b.min_calls {
            fields.push(quote!(min_calls: #v));
        }
        if let Some(v) = b.half_open {
            fields.push(quote!(half_open: #v));
        }
        if let Some(v) = b.window {
            let d = duration(v, krate);
            fields.push(quote!(window: #d));
        }
        if let Some(v) = b.open_for {
            let d = duration(v, krate);
            fields.push(quote!(open_for: #d));
        }
        // The struct update only when a field is left out: clippy flags a needless one.
        let rest = (fields.len() < 5).then(|| quote!(..::core::default::Default::default()));
        calls.push(quote!(.breaker(#krate::__private::BreakerConfig {
            #(#fields,)*
            #rest
        })));
    }
    match s.budget.as_ref().map(|b| &b.value) {
        Some(BudgetSetting::Off) => calls.push(quote!(.budget(::core::option::Option::None))),
        Some(BudgetSetting::Ratio(r)) => {
            calls.push(quote!(.budget(::core::option::Option::Some((#r, 10)))))
        }
        Some(BudgetSetting::Default) | None => {}
    }
    if let Some(h) = &s.honor_hint {
        let v = h.value;
        calls.push(quote!(.honor_hint(#v)));
    }
    if let Some(n) = &s.retry_when_nested {
        let v = n.value;
        calls.push(quote!(.retry_when_nested(#v)));
    }
    if let Some(a) = &s.adapt {
        let v = a.value;
        calls.push(quote!(.adapt(#v)));
    }
    if let Some(path) = &s.on_retry {
        calls.push(quote!(.hook(::std::sync::Arc::new(#krate::__private::OnRetry(#path)))));
    }
    quote!(#krate::Policy::builder() #(#calls)* .build())
}

/// The whole expansion, or an error for a function the attribute cannot wrap.
pub(crate) fn expand(settings: &Settings, item: &ItemFn) -> syn::Result<TokenStream> {
    let shape = shape(item)?;
    let Arguments {
        clones,
        touches,
        names,
    } = arguments(item)?;
    let krate = match &settings.krate {
        Some(path) => quote!(#path),
        None => quote!(::steadfast),
    };
    let clones: Vec<TokenStream> = clones
        .into_iter()
        .map(|c| {
            // Put the crate path in place of the placeholder used while building clones.
            let text: TokenStream = c
                .into_iter()
                .flat_map(|t| match &t {
                    proc_macro2::TokenTree::Ident(i) if i == "__SF_KRATE" => {
                        krate.clone().into_iter().collect::<Vec<_>>()
                    }
                    _ => vec![t],
                })
                .collect();
            text
        })
        .collect();
    let site = Span::mixed_site();
    let policy_static = format_ident!("__SF_POLICY", span = site);
    let policy = format_ident!("__sf_policy", span = site);
    let run = format_ident!("__sf_run", span = site);
    let result = format_ident!("__sf_result", span = site);
    let attempt = format_ident!("__sf_attempt", span = site);
    let ret = format_ident!("__sf_ret", span = site);
    let e = format_ident!("__sf_e", span = site);
    let r = format_ident!("__sf_r", span = site);
    let stop = format_ident!("__sf_stop", span = site);
    let failed = format_ident!("__sf_failed", span = site);
    let fn_name = item.sig.ident.to_string();
    let name = quote!(::core::concat!(::core::module_path!(), "::", #fn_name));
    let build = builder(settings, &krate, &name);
    let output = &shape.output;
    let body = &shape.body;
    let prelude = &shape.prelude;

    let require_from = settings.needs_from.first().map(|span| {
        quote_spanned! {*span=>
            #krate::__private::require_from_policy_error(&::core::option::Option::<#output>::None);
        }
    });
    let classify = match &settings.classify {
        Some(path) => quote!(|#r: &#output| #path(#r)),
        // Spanned at the return type: a missing `Classify` is reported there.
        None => quote_spanned! {output.span()=> |#r: &#output| {
            #[allow(unused_imports)]
            use #krate::__private::{JudgeError as _, JudgeResult as _};
            (&#krate::__private::Judge(#r)).verdict()
        }},
    };
    let convert = |value: TokenStream| {
        quote!({
            #[allow(unused_imports)]
            use #krate::__private::{ViaFrom as _, ViaLast as _};
            (&#value).convert()
        })
    };
    let refused = convert(
        quote!(#krate::__private::Refused::new(#e, &::core::option::Option::<#output>::None)),
    );
    let stopped = convert(quote!(#krate::__private::Converting::new(#stop)));
    let finish = match &settings.fallback {
        Some(path) => quote! {
            match #result {
                ::core::result::Result::Ok(v) => ::core::result::Result::Ok(v),
                ::core::result::Result::Err(_) => #path(#(#names),*).await,
            }
        },
        None => quote!(#result),
    };
    // Without a time limit (known here), the attempt needs no timer: less code per function.
    let untimed =
        settings.timeout.is_none() && settings.deadline.is_none() && settings.policy.is_none();
    let attempt_fn = if untimed {
        quote!(#krate::__private::attempt_untimed)
    } else {
        quote!(#krate::policy::Run::attempt)
    };
    let looped = quote! {
        static #policy_static: #krate::__private::OnceLock<#krate::Policy> = #krate::__private::OnceLock::new();
        let #policy = #krate::__private::site(&#policy_static, #name, || #build);
        #require_from
        #(#touches)*
        let mut #run = #policy.start();
        let #result: #output = loop {
            if !#run.ready_now() {
                if let ::core::result::Result::Err(#e) = #run.before_attempt().await {
                    break ::core::result::Result::Err(#refused);
                }
            }
            let #attempt = #attempt_fn(&#run, async {
                #(#clones)*
                #[allow(clippy::let_and_return, clippy::needless_return, unreachable_code)]
                let #ret: #output = #body;
                #[allow(unreachable_code)]
                #ret
            }).await;
            let #failed = match #run.judge(#attempt, #classify) {
                #krate::__private::Judged::Success(#r) => break #r,
                #krate::__private::Judged::Failed(#failed) => #failed,
            };
            match #run.after_failure(#failed).await {
                #krate::__private::Step::Retry => continue,
                #krate::__private::Step::Done(#r) => break #r,
                #krate::__private::Step::Stop(#stop) => break #stopped,
            }
        };
        #finish
    };
    let attrs = &item.attrs;
    let vis = &item.vis;
    let sig = &item.sig;
    let block = if shape.async_trait {
        quote!({ ::std::boxed::Box::pin(async move { #(#prelude)* #looped }) })
    } else {
        quote!({ #looped })
    };
    Ok(quote! {
        #(#attrs)*
        #vis #sig #block
    })
}
