//! `#[entity]` on an `impl` block: the struct-with-methods style.
//!
//! The struct is the entity's state (`Default + Serialize + DeserializeOwned`); each method
//! taking `&self` or `&mut self` is an operation named after the method. A method may take
//! `ctx: &mut EntityContext` after the receiver and one input after that, and returns
//! `Result<R, E>` (`R` is the operation's result). The expansion keeps the impl as written and
//! adds an associated `__DURABLE_ENTITY` registration whose entry loads the state, dispatches
//! on the operation name and stores the state back after a `&mut self` method. The operation
//! `delete` (unless the impl defines one) deletes the entity's state.

use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::spanned::Spanned;
use syn::{FnArg, ImplItem, ItemImpl, LitStr, ReturnType, Type};

/// `BankAccount` -> `bank_account`.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn is_entity_context(ty: &Type) -> bool {
    matches!(ty, Type::Reference(r) if r.mutability.is_some()
        && matches!(&*r.elem, Type::Path(p)
            if p.path.segments.last().is_some_and(|s| s.ident == "EntityContext")))
}

pub fn expand_impl(item: ItemImpl, name: Option<LitStr>) -> syn::Result<TokenStream2> {
    if let Some((_, path, _)) = &item.trait_ {
        return Err(syn::Error::new(
            path.span(),
            "`#[entity]` goes on an inherent impl (`impl MyEntity { ... }`), not a trait impl",
        ));
    }
    if !item.generics.params.is_empty() {
        return Err(syn::Error::new(
            item.generics.span(),
            "an entity cannot be generic",
        ));
    }
    let self_ty = &item.self_ty;
    let Type::Path(type_path) = &**self_ty else {
        return Err(syn::Error::new(
            self_ty.span(),
            "`#[entity]` goes on the impl of a named struct",
        ));
    };
    let type_name = type_path
        .path
        .segments
        .last()
        .map(|s| s.ident.to_string())
        .unwrap_or_default();
    let name = name.unwrap_or_else(|| LitStr::new(&snake_case(&type_name), self_ty.span()));
    if name.value().is_empty() {
        return Err(syn::Error::new(name.span(), "the name cannot be empty"));
    }
    let mut arms = Vec::new();
    let mut has_delete = false;
    for impl_item in &item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let sig = &method.sig;
        let Some(FnArg::Receiver(receiver)) = sig.inputs.first() else {
            continue; // associated functions are not operations
        };
        if receiver.reference.is_none() {
            return Err(syn::Error::new(
                receiver.span(),
                "an entity operation takes `&self` or `&mut self`",
            ));
        }
        if let Some(asyncness) = &sig.asyncness {
            return Err(syn::Error::new(
                asyncness.span(),
                "an entity operation is a plain (not `async`) method",
            ));
        }
        if !sig.generics.params.is_empty() {
            return Err(syn::Error::new(
                sig.generics.span(),
                "an entity operation cannot be generic",
            ));
        }
        match &sig.output {
            ReturnType::Type(_, ty)
                if matches!(&**ty, Type::Path(p)
                    if p.path.segments.last().is_some_and(|s| s.ident == "Result")) => {}
            _ => {
                return Err(syn::Error::new(
                    sig.output.span(),
                    "an entity operation must return `Result<T, Failure>`",
                ));
            }
        }
        let mutates = receiver.mutability.is_some();
        let params: Vec<&syn::PatType> = sig
            .inputs
            .iter()
            .skip(1)
            .filter_map(|arg| match arg {
                FnArg::Typed(param) => Some(param),
                FnArg::Receiver(_) => None,
            })
            .collect();
        let takes_ctx = params.first().is_some_and(|p| is_entity_context(&p.ty));
        let inputs = params.len() - usize::from(takes_ctx);
        if inputs > 1 {
            return Err(syn::Error::new(
                params[params.len() - 1].span(),
                "an entity operation takes at most `ctx: &mut EntityContext` and one input",
            ));
        }
        let method_name = &sig.ident;
        let op = method_name.to_string();
        has_delete |= op == "delete";
        let mut args = Vec::new();
        if takes_ctx {
            args.push(quote!(&mut *ctx));
        }
        let decode = if inputs == 1 {
            args.push(quote!(input));
            quote!(let input = ctx.get_input()?;)
        } else {
            quote!()
        };
        let state_ref = if mutates {
            quote!(&mut state)
        } else {
            quote!(&state)
        };
        let store = if mutates {
            quote! {
                if !ctx.__deleted() {
                    ctx.set_state(&state)?;
                }
            }
        } else {
            quote!()
        };
        arms.push(quote! {
            #op => {
                #decode
                let result = #self_ty::#method_name(#state_ref, #(#args),*)
                    .map_err(::std::convert::Into::<::durable_sdk::Failure>::into)?;
                ctx.set_result(result)?;
                #store
            }
        });
    }
    if !has_delete {
        arms.push(quote! {
            "delete" => ctx.delete_state(),
        });
    }
    Ok(quote! {
        #item

        impl #self_ty {
            #[doc(hidden)]
            pub const __DURABLE_ENTITY: ::durable_sdk::__private::EntityRegistration =
                ::durable_sdk::__private::EntityRegistration {
                    name: #name,
                    entry: |ctx| {
                        let mut state: #self_ty =
                            ctx.get_state(<#self_ty as ::std::default::Default>::default)?;
                        #[allow(clippy::let_unit_value, reason = "operations may return `()`")]
                        match ctx.operation_name() {
                            #(#arms)*
                            _ => return Err(ctx.unknown_operation()),
                        }
                        let _ = &mut state;
                        Ok(())
                    },
                };
        }
    })
}
