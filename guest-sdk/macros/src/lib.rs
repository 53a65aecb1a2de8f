//! Entry macros of the durable Rust guest SDK; use them through `durable_sdk`.
//!
//! `#[orchestrator]`, `#[activity]` and `#[entity]` check the function's signature (rejecting bad ones with a
//! compile error on the offending tokens), keep the function as written, and add beside it a
//! hidden module of the same name holding its registration: the name the host knows it by and a
//! plain `fn` that decodes JSON input, calls it and encodes its output. `component!` collects
//! those registrations and implements the WIT exports with them. All expansions name the SDK as
//! `::durable_sdk`, so user crates depend on `durable-sdk` only.

#![deny(missing_docs)]

mod entity_impl;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, LitStr, Path, ReturnType, Token, Type, bracketed};

/// Marks an `async fn(ctx: OrchestrationContext[, input: T]) -> Result<R, E>` as an
/// orchestrator (`T: DeserializeOwned`, `R: Serialize`, `E: Into<Failure>`). The host knows it
/// by the function's name, or by `#[orchestrator(name = "...")]`.
#[proc_macro_attribute]
pub fn orchestrator(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr, item, Kind::Orchestrator)
}

/// Marks a `fn([ctx: ActivityContext,] [input: T]) -> Result<R, E>` as an activity
/// (`T: DeserializeOwned`, `R: Serialize`, `E: Into<Failure>`). The host knows it by the
/// function's name, or by `#[activity(name = "...")]`.
#[proc_macro_attribute]
pub fn activity(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr, item, Kind::Activity)
}

/// Marks an entity, in one of two styles:
///
/// - a `fn(ctx: &mut EntityContext) -> Result<(), E>` (`E: Into<Failure>`) that dispatches on
///   `ctx.operation_name()`; the host knows it by the function's name;
/// - an `impl` block of a struct (`Default + Serialize + DeserializeOwned`, the entity's
///   state) whose `&self` / `&mut self` methods are its operations, each taking an optional
///   `ctx: &mut EntityContext` and at most one input and returning `Result<R, E>`; the host
///   knows it by the struct's name in snake case. `component!` lists the struct's name.
///
/// `#[entity(name = "...")]` names it explicitly.
#[proc_macro_attribute]
pub fn entity(attr: TokenStream, item: TokenStream) -> TokenStream {
    if let Ok(item_impl) = syn::parse::<syn::ItemImpl>(item.clone()) {
        let mut name: Option<LitStr> = None;
        let attr_parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("name") {
                name = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error("expected `name = \"...\"`"))
            }
        });
        if let Err(err) = syn::parse::Parser::parse(attr_parser, attr) {
            return err.to_compile_error().into();
        }
        return match entity_impl::expand_impl(item_impl.clone(), name) {
            Ok(tokens) => tokens.into(),
            Err(err) => {
                let error = err.to_compile_error();
                quote!(#item_impl #error).into()
            }
        };
    }
    expand(attr, item, Kind::Entity)
}

/// Makes the crate a durable component offering the listed functions:
/// `component! { orchestrators: [a, b], activities: [c], entities: [] }` (every list optional).
/// Use it once, at the crate root.
#[proc_macro]
pub fn component(input: TokenStream) -> TokenStream {
    match syn::parse::<ComponentLists>(input) {
        Ok(lists) => expand_component(lists).into(),
        Err(err) => err.to_compile_error().into(),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Orchestrator,
    Activity,
    Entity,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Orchestrator => "an orchestrator",
            Kind::Activity => "an activity",
            Kind::Entity => "an entity",
        }
    }
}

fn expand(attr: TokenStream, item: TokenStream, kind: Kind) -> TokenStream {
    let mut name: Option<LitStr> = None;
    let attr_parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            name = Some(meta.value()?.parse()?);
            Ok(())
        } else {
            Err(meta.error("expected `name = \"...\"`"))
        }
    });
    if let Err(err) = syn::parse::Parser::parse(attr_parser, attr) {
        return err.to_compile_error().into();
    }
    let function = match syn::parse::<ItemFn>(item) {
        Ok(function) => function,
        Err(err) => return err.to_compile_error().into(),
    };
    match expand_function(&function, name, kind) {
        Ok(tokens) => tokens.into(),
        Err(err) => {
            // Keep the function so the only errors shown are about its signature.
            let error = err.to_compile_error();
            quote!(#function #error).into()
        }
    }
}

/// The last segment of a type path (`durable_sdk::OrchestrationContext` -> `OrchestrationContext`).
fn type_name(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(path) => path.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

fn typed_params(function: &ItemFn) -> syn::Result<Vec<&syn::PatType>> {
    function
        .sig
        .inputs
        .iter()
        .map(|arg| match arg {
            FnArg::Typed(param) => Ok(param),
            FnArg::Receiver(receiver) => Err(syn::Error::new(
                receiver.span(),
                "durable functions are free functions: remove `self`",
            )),
        })
        .collect()
}

fn check_signature(function: &ItemFn, kind: Kind) -> syn::Result<Vec<&syn::PatType>> {
    let sig = &function.sig;
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(
            sig.generics.span(),
            format!("{} cannot be generic", kind.noun()),
        ));
    }
    match (kind, &sig.asyncness) {
        (Kind::Orchestrator, None) => {
            return Err(syn::Error::new(
                sig.fn_token.span(),
                "an orchestrator must be an `async fn`",
            ));
        }
        (Kind::Activity, Some(asyncness)) => {
            return Err(syn::Error::new(
                asyncness.span(),
                "an activity is a plain (not `async`) function",
            ));
        }
        (Kind::Entity, Some(asyncness)) => {
            return Err(syn::Error::new(
                asyncness.span(),
                "an entity is a plain (not `async`) function",
            ));
        }
        _ => {}
    }
    match &sig.output {
        ReturnType::Default => {
            return Err(syn::Error::new(
                sig.paren_token.span.close(),
                format!(
                    "{} must return `Result<T, Failure>` (any error type that is `Into<Failure>`)",
                    kind.noun()
                ),
            ));
        }
        ReturnType::Type(_, ty) if type_name(ty).as_deref() != Some("Result") => {
            return Err(syn::Error::new(
                ty.span(),
                format!("{} must return `Result<T, Failure>`", kind.noun()),
            ));
        }
        ReturnType::Type(..) => {}
    }
    let params = typed_params(function)?;
    match kind {
        Kind::Orchestrator => {
            let Some(first) = params.first() else {
                return Err(syn::Error::new(
                    sig.paren_token.span.join(),
                    "an orchestrator takes `ctx: OrchestrationContext` as its first parameter",
                ));
            };
            if type_name(&first.ty).as_deref() != Some("OrchestrationContext") {
                return Err(syn::Error::new(
                    first.ty.span(),
                    "the first parameter of an orchestrator must be `ctx: OrchestrationContext`",
                ));
            }
            if let Some(extra) = params.get(2) {
                return Err(syn::Error::new(
                    extra.span(),
                    "an orchestrator takes at most two parameters: `ctx: OrchestrationContext` and its input",
                ));
            }
        }
        Kind::Entity => {
            let takes_context = params.len() == 1
                && matches!(&*params[0].ty, Type::Reference(r)
                    if r.mutability.is_some() && type_name(&r.elem).as_deref() == Some("EntityContext"));
            if !takes_context {
                return Err(syn::Error::new(
                    sig.inputs.span(),
                    "an entity takes one parameter: `ctx: &mut EntityContext`",
                ));
            }
        }
        Kind::Activity => {
            if let Some(extra) = params.get(2) {
                return Err(syn::Error::new(
                    extra.span(),
                    "an activity takes at most two parameters: `ctx: ActivityContext` and its input",
                ));
            }
            if params.len() == 2 && type_name(&params[0].ty).as_deref() != Some("ActivityContext") {
                return Err(syn::Error::new(
                    params[0].ty.span(),
                    "with two parameters, the first parameter of an activity must be `ctx: ActivityContext`",
                ));
            }
        }
    }
    Ok(params)
}

fn expand_function(
    function: &ItemFn,
    name: Option<LitStr>,
    kind: Kind,
) -> syn::Result<TokenStream2> {
    let params = check_signature(function, kind)?;
    let ident = &function.sig.ident;
    let vis = &function.vis;
    let name = name.unwrap_or_else(|| LitStr::new(&ident.to_string(), ident.span()));
    if name.value().is_empty() {
        return Err(syn::Error::new(name.span(), "the name cannot be empty"));
    }
    let registration = match kind {
        Kind::Orchestrator => {
            // Type errors about the input (not `DeserializeOwned`, ...) point at its type.
            let span = params.get(1).map_or(ident.span(), |p| p.ty.span());
            let start = if params.len() == 2 {
                Ident::new("start_orchestrator_with_input", span)
            } else {
                Ident::new("start_orchestrator", span)
            };
            let entry = quote_spanned!(span=>
                |ctx, input| ::durable_sdk::__private::#start(ctx, input, super::#ident)
            );
            quote! {
                pub const __DURABLE_ORCHESTRATOR: ::durable_sdk::__private::OrchestratorRegistration =
                    ::durable_sdk::__private::OrchestratorRegistration {
                        name: #name,
                        entry: #entry,
                    };
            }
        }
        Kind::Activity => {
            let has_context =
                params.first().and_then(|p| type_name(&p.ty)).as_deref() == Some("ActivityContext");
            let run = match (has_context, params.len()) {
                (false, 0) => "run_activity_plain",
                (false, _) => "run_activity_with_input",
                (true, 1) => "run_activity_with_context",
                (true, _) => "run_activity_with_context_and_input",
            };
            let span = params.last().map_or(ident.span(), |p| p.ty.span());
            let run = Ident::new(run, span);
            let entry = quote_spanned!(span=>
                |input, ctx| ::durable_sdk::__private::#run(input, ctx, super::#ident)
            );
            quote! {
                pub const __DURABLE_ACTIVITY: ::durable_sdk::__private::ActivityRegistration =
                    ::durable_sdk::__private::ActivityRegistration {
                        name: #name,
                        entry: #entry,
                    };
            }
        }
        Kind::Entity => {
            let span = ident.span();
            let entry = quote_spanned!(span=>
                |ctx| ::durable_sdk::__private::run_entity(ctx, super::#ident)
            );
            quote! {
                pub const __DURABLE_ENTITY: ::durable_sdk::__private::EntityRegistration =
                    ::durable_sdk::__private::EntityRegistration {
                        name: #name,
                        entry: #entry,
                    };
            }
        }
    };
    Ok(quote! {
        #function

        // A module lives in the type namespace, so it can share the function's name; that lets
        // `component!` find the registration from the function's path alone.
        #[doc(hidden)]
        #vis mod #ident {
            #registration
        }
    })
}

/// The input of `component!`.
struct ComponentLists {
    orchestrators: Vec<Path>,
    activities: Vec<Path>,
    entities: Vec<Path>,
}

impl Parse for ComponentLists {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut lists = ComponentLists {
            orchestrators: Vec::new(),
            activities: Vec::new(),
            entities: Vec::new(),
        };
        let mut seen: Vec<String> = Vec::new();
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            input.parse::<Token![:]>()?;
            let content;
            bracketed!(content in input);
            let paths: Punctuated<Path, Token![,]> = Punctuated::parse_terminated(&content)?;
            let paths: Vec<Path> = paths.into_iter().collect();
            let key_name = key.to_string();
            if seen.contains(&key_name) {
                return Err(syn::Error::new(
                    key.span(),
                    format!("`{key}` is listed twice"),
                ));
            }
            seen.push(key_name.clone());
            match key_name.as_str() {
                "orchestrators" => lists.orchestrators = paths,
                "activities" => lists.activities = paths,
                "entities" => lists.entities = paths,
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        "expected `orchestrators`, `activities` or `entities`",
                    ));
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(lists)
    }
}

fn expand_component(lists: ComponentLists) -> TokenStream2 {
    let orchestrators = lists.orchestrators.iter().map(|path| {
        let span = path.span();
        quote_spanned!(span=> #path::__DURABLE_ORCHESTRATOR)
    });
    let activities = lists.activities.iter().map(|path| {
        let span = path.span();
        quote_spanned!(span=> #path::__DURABLE_ACTIVITY)
    });
    let entities = lists.entities.iter().map(|path| {
        let span = path.span();
        quote_spanned!(span=> #path::__DURABLE_ENTITY)
    });
    quote! {
        #[allow(unsafe_code, reason = "wit-bindgen's export glue defines the component's exports")]
        const _: () = {
            use ::durable_sdk::__private as __durable;
            use __durable::bindings::exports::durable::core as __exports;

            static ORCHESTRATORS: &[__durable::OrchestratorRegistration] = &[#(#orchestrators),*];
            static ACTIVITIES: &[__durable::ActivityRegistration] = &[#(#activities),*];
            static ENTITIES: &[__durable::EntityRegistration] = &[#(#entities),*];

            struct DurableComponent;

            struct DurableOrchestration(__durable::OrchestrationInstance);

            impl __exports::catalogue::Guest for DurableComponent {
                fn describe() -> __exports::catalogue::CatalogueInfo {
                    __durable::describe(ORCHESTRATORS, ACTIVITIES, ENTITIES)
                }
            }

            impl __exports::orchestrator::Guest for DurableComponent {
                type Orchestration = DurableOrchestration;
            }

            impl __exports::orchestrator::GuestOrchestration for DurableOrchestration {
                fn create(
                    name: ::std::string::String,
                    instance_id: ::std::string::String,
                ) -> ::std::result::Result<__exports::orchestrator::Orchestration, __exports::orchestrator::Failure> {
                    __durable::OrchestrationInstance::create(ORCHESTRATORS, name, instance_id)
                        .map(|instance| __exports::orchestrator::Orchestration::new(DurableOrchestration(instance)))
                }

                fn step(
                    &self,
                    events: ::std::vec::Vec<__exports::orchestrator::HistoryEvent>,
                    replaying: bool,
                ) -> __exports::orchestrator::StepResult {
                    self.0.step(events, replaying)
                }
            }

            impl __exports::activity::Guest for DurableComponent {
                fn run(
                    name: ::std::string::String,
                    input: ::std::string::String,
                    context: __exports::activity::ActivityContext,
                ) -> ::std::result::Result<::std::string::String, __exports::activity::Failure> {
                    __durable::run_activity(ACTIVITIES, name, input, context)
                }
            }

            impl __exports::entity::Guest for DurableComponent {
                fn execute_batch(
                    entity: __exports::entity::EntityId,
                    state: ::std::option::Option<::std::string::String>,
                    operations: ::std::vec::Vec<__exports::entity::Operation>,
                ) -> __exports::entity::BatchResult {
                    __durable::execute_batch(ENTITIES, entity, state, operations)
                }
            }

            ::durable_sdk::__private::bindings::export!(DurableComponent with_types_in ::durable_sdk::__private::bindings);
        };
    }
}
