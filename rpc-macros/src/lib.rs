//! # rpc-macros: `#[remote]`
//!
//! `#[remote]` turns a plain Rust struct and its impl block into a remote object with no
//! hand-written dispatch. Use it through `rpc_server::remote` or `rpc_client::remote`: the
//! same type works on either end. The generated code names the object model (the `rpc-peer`
//! crate) through whichever of `rpc-peer`, `rpc-server` and `rpc-client` the crate using the
//! attribute depends on (found in its `Cargo.toml`).
//!
//! - On a struct (named fields, no generics): public fields become GET/SET-able (SET is
//!   type-checked; `Option` fields are DEL-able); doc comments become DIR docs. Field options:
//!   `#[remote(readonly)]` (GET only), `#[remote(skip)]` (not exposed).
//! - On the struct's impl block: public methods taking `&self` or `&mut self` become RUN-able
//!   (sync or `async fn`, positional and named arguments; `Option` parameters may be
//!   omitted; a `Result` return becomes a remote exception on `Err`). Method options:
//!   `#[remote(constructor)]` marks the fn `open` calls to build a per-session root (one
//!   taking a single `Args` parameter receives the arguments as sent, to read them itself),
//!   `#[remote(blocking)]` runs a sync method on the blocking pool, `#[remote(skip)]` hides a
//!   public method. Private methods are never exposed; names starting with `_` never are.
//!
//! # `#[interface]`: typed client proxies
//!
//! `#[interface]` goes on a trait that declares a remote type's fields and methods, in a small
//! crate both sides can depend on, and generates a typed proxy (`CounterProxy` for
//! `trait Counter`) whose methods are checked by the compiler. Use it through
//! `rpc_client::interface`; the generated code names only `::rpc_client` paths.
//!
//! ```ignore
//! #[interface(name = "Counter")]            // the server's type name (default: the trait's)
//! pub trait Counter {
//!     #[field] fn value(&self) -> i64;      // value(), set_value(v)
//!     #[field] fn note(&self) -> Option<String>; // note(), set_note(v), del_note()
//!     #[field(readonly)] fn changes(&self) -> u64; // changes()
//!     fn add(&mut self, n: i64) -> i64;     // add(n) -> Result<i64, CallError>
//!     fn child(&mut self, name: &str) -> Counter; // -> Result<CounterProxy, CallError>
//!     fn absorb(&mut self, other: &CounterProxy) -> i64; // a proxy passed as a handle
//! }
//! ```
//!
//! Parameters and results are owned data types; a parameter may also be `&str` or a typed
//! proxy `&XProxy`; a result (or field) of the trait's own name, `Self` or a type whose name
//! ends in `Proxy` comes back as that typed proxy. Items take `&self` or `&mut self`. The
//! trait is not emitted: the server side is an ordinary `#[remote]` type whose members match,
//! and the generated `checked()` verifies that at run time against the server's DIR.

#![deny(missing_docs)]

mod interface;
mod peer_path;
mod wire_type;

use peer_path::PEER;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    Attribute, Error, Fields, FnArg, GenericArgument, ImplItem, ImplItemFn, Item, ItemImpl,
    ItemStruct, Pat, PathArguments, ReturnType, Type, Visibility, parse_macro_input,
};

/// Makes a struct (fields) or its impl block (methods) remote. See the crate docs.
#[proc_macro_attribute]
pub fn remote(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr = TokenStream2::from(attr);
    if !attr.is_empty() {
        return Error::new(
            attr.span(),
            "#[remote] on a struct or impl block takes no arguments",
        )
        .to_compile_error()
        .into();
    }
    let result = match parse_macro_input!(item as Item) {
        Item::Struct(item) => expand_struct(item),
        Item::Impl(item) => expand_impl(item),
        other => Err(Error::new(
            other.span(),
            "#[remote] goes on a struct with named fields and on its impl block",
        )),
    };
    result.unwrap_or_else(Error::into_compile_error).into()
}

/// Generates a typed client proxy from a trait declaring a remote type's members. See the
/// crate docs and `rpc_client::typed`.
#[proc_macro_attribute]
pub fn interface(attr: TokenStream, item: TokenStream) -> TokenStream {
    interface::expand(attr.into(), item.into())
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

/// Options given as `#[remote(...)]` on a field or method.
#[derive(Default)]
struct Options {
    readonly: bool,
    skip: bool,
    constructor: bool,
    blocking: bool,
}

/// Reads and removes the `#[remote(...)]` attributes of a member.
fn take_options(attrs: &mut Vec<Attribute>, allowed: &[&str]) -> syn::Result<Options> {
    let mut options = Options::default();
    let mut error: Option<Error> = None;
    attrs.retain(|attr| {
        if !attr.path().is_ident("remote") {
            return true;
        }
        let parsed = attr.parse_nested_meta(|meta| {
            let Some(ident) = meta.path.get_ident() else {
                return Err(meta.error("expected an option name"));
            };
            let name = ident.to_string();
            if !allowed.contains(&name.as_str()) {
                return Err(meta.error(format!(
                    "unknown #[remote] option `{name}` here; expected one of: {}",
                    allowed.join(", ")
                )));
            }
            match name.as_str() {
                "readonly" => options.readonly = true,
                "skip" => options.skip = true,
                "constructor" => options.constructor = true,
                "blocking" => options.blocking = true,
                _ => {}
            }
            Ok(())
        });
        if let Err(e) = parsed {
            match &mut error {
                Some(first) => first.combine(e),
                None => error = Some(e),
            }
        }
        false
    });
    match error {
        Some(e) => Err(e),
        None => Ok(options),
    }
}

/// The text of the doc comments, one line per `///` line.
fn doc_text(attrs: &[Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|line| {
            line.strip_prefix(' ')
                .unwrap_or(&line)
                .trim_end()
                .to_owned()
        })
        .collect();
    lines.join("\n").trim().to_owned()
}

/// `Option < String >` -> `Option<String>`: token text as a reader writes it.
fn type_text(ty: &impl ToTokens) -> String {
    let raw = ty.to_token_stream().to_string();
    let mut out = raw
        .replace(" < ", "<")
        .replace("< ", "<")
        .replace(" <", "<")
        .replace(" >", ">")
        .replace(" :: ", "::")
        .replace(" ,", ",")
        .replace("& ", "&")
        .replace("( ", "(")
        .replace(" )", ")");
    while out.contains("  ") {
        out = out.replace("  ", " ");
    }
    out
}

/// The last path segment of a type, with its generic arguments, when it is a plain path.
fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        Type::Group(g) => last_segment(&g.elem),
        Type::Paren(p) => last_segment(&p.elem),
        _ => None,
    }
}

fn is_option(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|s| s.ident == "Option")
}

/// For `Result<T, E>` (any path ending in `Result` with two arguments, or `io::Result<T>` and
/// friends with one), the `Ok` type.
fn result_ok_type(ty: &Type) -> Option<&Type> {
    let segment = last_segment(ty)?;
    if segment.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &segment.arguments else {
        return None;
    };
    args.args.iter().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

/// Whether a method hands out a stream: it returns `impl Stream<Item = X>` or
/// `impl Iterator<Item = X>` (any path ending in those names); with `X` and whether the
/// return is an iterator.
fn stream_item(ty: &Type) -> Option<(&Type, bool)> {
    let Type::ImplTrait(bounds) = ty else {
        return None;
    };
    bounds.bounds.iter().find_map(|bound| {
        let syn::TypeParamBound::Trait(bound) = bound else {
            return None;
        };
        let segment = bound.path.segments.last()?;
        let iterator = match segment.ident.to_string().as_str() {
            "Stream" => false,
            "Iterator" => true,
            _ => return None,
        };
        let PathArguments::AngleBracketed(args) = &segment.arguments else {
            return None;
        };
        args.args.iter().find_map(|a| match a {
            GenericArgument::AssocType(assoc) if assoc.ident == "Item" => {
                Some((&assoc.ty, iterator))
            }
            _ => None,
        })
    })
}

fn member_name(ident: &syn::Ident) -> String {
    ident.unraw().to_string()
}

fn expand_struct(mut item: ItemStruct) -> syn::Result<TokenStream2> {
    if !item.generics.params.is_empty() {
        return Err(Error::new(
            item.generics.span(),
            "#[remote] structs cannot be generic: a remote type has one name clients can see",
        ));
    }
    let Fields::Named(fields) = &mut item.fields else {
        return Err(Error::new(
            item.fields.span(),
            "#[remote] needs a struct with named fields (they are the remote attributes)",
        ));
    };
    let ident = &item.ident;
    let type_name = ident.to_string();
    let doc = doc_text(&item.attrs);

    let mut infos = Vec::new();
    let mut gets = Vec::new();
    let mut sets = Vec::new();
    let mut dels = Vec::new();
    let mut alls = Vec::new();
    for field in &mut fields.named {
        let options = take_options(&mut field.attrs, &["readonly", "skip"])?;
        let Some(field_ident) = field.ident.clone() else {
            continue;
        };
        let name = member_name(&field_ident);
        if options.skip || !matches!(field.vis, Visibility::Public(_)) || name.starts_with('_') {
            continue;
        }
        let ty = &field.ty;
        let field_doc = doc_text(&field.attrs);
        let ty_text = wire_type::wire_type(ty);
        let read_only = options.readonly;
        infos.push(quote! {
            #PEER::MemberInfo {
                name: #name,
                kind: <#ty as #PEER::ToReply>::KIND,
                ty: #ty_text,
                params: &[],
                read_only: #read_only,
                doc: #field_doc,
            }
        });
        gets.push(quote! {
            #name => ::core::option::Option::Some(#PEER::ToReply::to_returned(&self.#field_ident)),
        });
        if options.readonly {
            sets.push(quote! {
                #name => ::core::option::Option::Some(::core::result::Result::Err(
                    #PEER::__private::read_only(#type_name, #name),
                )),
            });
        } else {
            sets.push(quote! {
                #name => ::core::option::Option::Some(
                    match <#ty as #PEER::FromArg>::from_arg(value, cx) {
                        ::core::result::Result::Ok(v) => {
                            self.#field_ident = v;
                            ::core::result::Result::Ok(())
                        }
                        ::core::result::Result::Err(e) => ::core::result::Result::Err(
                            #PEER::__private::set_error(#type_name, #name, e),
                        ),
                    },
                ),
            });
        }
        if is_option(ty) && !options.readonly {
            dels.push(quote! {
                #name => {
                    self.#field_ident = ::core::option::Option::None;
                    ::core::option::Option::Some(::core::result::Result::Ok(()))
                }
            });
        } else {
            dels.push(quote! {
                #name => ::core::option::Option::Some(::core::result::Result::Err(
                    #PEER::__private::not_deletable(#type_name, #name),
                )),
            });
        }
        alls.push(quote! {
            if let #PEER::Produced::Data(v) = #PEER::ToReply::to_returned(&self.#field_ident)? {
                pairs.push((#PEER::Value::Str(::std::string::String::from(#name)), v));
            }
        });
    }

    Ok(quote! {
        #item

        impl #PEER::RemoteFields for #ident {
            const TYPE_NAME: &'static str = #type_name;
            const DOC: &'static str = #doc;
            const FIELDS: &'static [#PEER::MemberInfo] = &[#(#infos),*];

            fn get_field(
                &self,
                name: &str,
            ) -> ::core::option::Option<::core::result::Result<#PEER::Produced, #PEER::RemoteError>> {
                match name {
                    #(#gets)*
                    _ => ::core::option::Option::None,
                }
            }

            #[allow(unused_variables)]
            fn set_field(
                &mut self,
                name: &str,
                value: #PEER::Value,
                cx: &#PEER::CallContext,
            ) -> ::core::option::Option<::core::result::Result<(), #PEER::RemoteError>> {
                match name {
                    #(#sets)*
                    _ => ::core::option::Option::None,
                }
            }

            fn del_field(
                &mut self,
                name: &str,
            ) -> ::core::option::Option<::core::result::Result<(), #PEER::RemoteError>> {
                match name {
                    #(#dels)*
                    _ => ::core::option::Option::None,
                }
            }

            fn all_fields(&self) -> ::core::result::Result<#PEER::Value, #PEER::RemoteError> {
                #[allow(unused_mut)]
                let mut pairs = ::std::vec::Vec::new();
                #(#alls)*
                ::core::result::Result::Ok(#PEER::Value::Map(pairs))
            }
        }
    })
}

/// One parameter of an exposed fn.
struct Param {
    ident: syn::Ident,
    name: String,
    ty: Type,
}

fn params_of(method: &ImplItemFn) -> syn::Result<Vec<Param>> {
    let mut params = Vec::new();
    for arg in &method.sig.inputs {
        let FnArg::Typed(typed) = arg else {
            continue;
        };
        let Pat::Ident(pat) = &*typed.pat else {
            return Err(Error::new(
                typed.pat.span(),
                "remote method parameters must be plain names (`n: i64`): clients pass them by position or by name",
            ));
        };
        if let Type::Reference(r) = &*typed.ty {
            return Err(Error::new(
                r.span(),
                "remote method parameters must be owned types (`String`, not `&str`): arguments arrive by value over the network",
            ));
        }
        params.push(Param {
            ident: pat.ident.clone(),
            name: member_name(&pat.ident),
            ty: (*typed.ty).clone(),
        });
    }
    Ok(params)
}

/// `let a: T = reader.take(i, "a")?;` for every parameter, then `reader.finish()?`.
fn read_params(params: &[Param]) -> TokenStream2 {
    let reads = params.iter().enumerate().map(|(i, p)| {
        let Param { ident, name, ty } = p;
        let take = if is_option(ty) {
            quote!(take_or_default)
        } else {
            quote!(take)
        };
        quote! { let #ident: #ty = __reader.#take(#i, #name)?; }
    });
    quote! {
        #(#reads)*
        __reader.finish()?;
    }
}

/// Converts the method's output `__out` into `Result<Produced, RemoteError>`.
fn convert_output(output: &ReturnType, location: &TokenStream2) -> TokenStream2 {
    if let ReturnType::Type(_, ty) = output {
        if let Some((item, iterator)) = stream_item(ty) {
            let fallible = result_ok_type(item).is_some();
            let make = match (iterator, fallible) {
                (false, false) => quote!(from_stream(__out)),
                (true, false) => quote!(from_iter(__out)),
                (false, true) => quote!(from_fallible_stream(__out, #location, &__cx)),
                (true, true) => quote!(from_fallible_iter(__out, #location, &__cx)),
            };
            return quote! { ::core::result::Result::Ok(#PEER::__private::#make) };
        }
    }
    let returns_result = match output {
        ReturnType::Type(_, ty) => result_ok_type(ty).is_some(),
        ReturnType::Default => false,
    };
    if returns_result {
        quote! {
            match __out {
                ::core::result::Result::Ok(v) => #PEER::ToReply::to_returned(&v),
                ::core::result::Result::Err(e) => ::core::result::Result::Err(
                    #PEER::raised(e, #location, &__cx),
                ),
            }
        }
    } else {
        quote! { #PEER::ToReply::to_returned(&__out) }
    }
}

fn expand_impl(mut item: ItemImpl) -> syn::Result<TokenStream2> {
    if let Some((_, path, _)) = &item.trait_ {
        return Err(Error::new(
            path.span(),
            "#[remote] goes on the type's own impl block, not on a trait impl",
        ));
    }
    if !item.generics.params.is_empty() {
        return Err(Error::new(
            item.generics.span(),
            "#[remote] impl blocks cannot be generic",
        ));
    }
    let self_ty = item.self_ty.clone();
    let type_name = last_segment(&self_ty)
        .map(|s| s.ident.to_string())
        .ok_or_else(|| Error::new(self_ty.span(), "#[remote] needs `impl TypeName { .. }`"))?;

    let mut infos = Vec::new();
    let mut arms = Vec::new();
    let mut constructor: Option<TokenStream2> = None;
    let mut errors: Option<Error> = None;
    let mut push_error = |e: Error| match &mut errors {
        Some(first) => first.combine(e),
        None => errors = Some(e),
    };

    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let options = match take_options(&mut method.attrs, &["constructor", "blocking", "skip"]) {
            Ok(o) => o,
            Err(e) => {
                push_error(e);
                continue;
            }
        };
        let public = matches!(method.vis, Visibility::Public(_));
        let name = member_name(&method.sig.ident);
        let fn_ident = method.sig.ident.clone();
        let span = method.sig.ident.span();
        let location =
            quote_spanned!(span=> ::core::concat!(::core::file!(), ":", ::core::line!()));
        let params = match params_of(method) {
            Ok(p) => p,
            Err(e) => {
                if public && !options.skip {
                    push_error(e);
                }
                continue;
            }
        };
        let receiver = method.sig.receiver().cloned();

        if options.constructor {
            if receiver.is_some() {
                push_error(Error::new(
                    span,
                    "a #[remote(constructor)] builds the object, so it takes no `self`",
                ));
                continue;
            }
            if constructor.is_some() {
                push_error(Error::new(span, "only one #[remote(constructor)] per type"));
                continue;
            }
            // A constructor taking one `Args` gets the arguments as they came (Python's
            // `*args, **kwargs`): it reads them itself.
            let raw_args =
                params.len() == 1 && last_segment(&params[0].ty).is_some_and(|s| s.ident == "Args");
            let count = params.len();
            let display = format!("{type_name}()");
            let (read, call) = if raw_args {
                (quote!(let _ = cx;), quote! { <#self_ty>::#fn_ident(args) })
            } else {
                let read = read_params(&params);
                let arg_idents = params.iter().map(|p| &p.ident);
                let read = quote! {
                    let mut __reader = #PEER::ArgReader::new(args, #display, #count, cx);
                    #read
                };
                (read, quote! { <#self_ty>::#fn_ident(#(#arg_idents),*) })
            };
            let returns_result = match &method.sig.output {
                ReturnType::Type(_, ty) => result_ok_type(ty).is_some(),
                ReturnType::Default => false,
            };
            let body = if returns_result {
                quote! {
                    match #call {
                        ::core::result::Result::Ok(v) => ::core::result::Result::Ok(v),
                        ::core::result::Result::Err(e) => ::core::result::Result::Err(
                            #PEER::raised(e, #location, cx),
                        ),
                    }
                }
            } else {
                quote! { ::core::result::Result::Ok(#call) }
            };
            if method.sig.asyncness.is_some() {
                push_error(Error::new(span, "a #[remote(constructor)] cannot be async"));
                continue;
            }
            constructor = Some(quote! {
                fn construct(
                    args: #PEER::Args,
                    cx: &#PEER::CallContext,
                ) -> ::core::result::Result<Self, #PEER::RemoteError> {
                    #read
                    #body
                }
            });
            continue;
        }

        if !public || options.skip || name.starts_with('_') {
            continue;
        }
        let Some(receiver) = receiver else {
            push_error(Error::new(
                span,
                format!(
                    "public fn `{name}` in a #[remote] impl has no `self`, so clients cannot call it on an object; \
                     mark a constructor with #[remote(constructor)] or hide it with #[remote(skip)]"
                ),
            ));
            continue;
        };
        if receiver.reference.is_none() {
            push_error(Error::new(
                receiver.span(),
                "remote methods take `&self` or `&mut self`: the object stays on the server",
            ));
            continue;
        }
        let mutable = receiver.mutability.is_some();
        let is_async = method.sig.asyncness.is_some();
        if is_async && options.blocking {
            push_error(Error::new(
                span,
                "#[remote(blocking)] is for sync methods; an async fn already yields",
            ));
            continue;
        }

        let doc = doc_text(&method.attrs);
        let param_infos = params.iter().map(|p| {
            let (name, ty) = (&p.name, wire_type::wire_type(&p.ty));
            quote!((#name, #ty))
        });
        let returns = wire_type::wire_result(&method.sig.output);
        infos.push(quote! {
            #PEER::MemberInfo {
                name: #name,
                kind: #PEER::__private::MemberKind::Method,
                ty: #returns,
                params: &[#(#param_infos),*],
                read_only: false,
                doc: #doc,
            }
        });

        let read = read_params(&params);
        let display = format!("{type_name}.{name}");
        let count = params.len();
        let arg_idents: Vec<_> = params.iter().map(|p| p.ident.clone()).collect();
        let convert = convert_output(&method.sig.output, &location);
        let run = if options.blocking {
            let blocking = if mutable {
                quote!(#PEER::__private::blocking_write)
            } else {
                quote!(#PEER::__private::blocking_read)
            };
            quote! {
                #blocking(__this, __cx, move |__object, __cx| {
                    let __out = __object.#fn_ident(#(#arg_idents),*);
                    #convert
                }).await
            }
        } else {
            let call = if is_async {
                quote!(__object.#fn_ident(#(#arg_idents),*).await)
            } else {
                quote!(__object.#fn_ident(#(#arg_idents),*))
            };
            let acquire = if mutable {
                let hold = is_async;
                quote!(__write(#type_name, #name, #hold))
            } else if is_async {
                // Marked with its chain while it holds the object, as `&mut self` is.
                quote!(__read_held(#type_name, #name))
            } else {
                quote!(__read(#type_name, #name))
            };
            quote! {
                #[allow(unused_mut)]
                let mut __object = __this.__cell().#acquire.await?;
                let __out = #call;
                drop(__object);
                #convert
            }
        };
        // A sync method whose object's lock is free runs at once, inside `call_method`: no
        // future, no allocation. Otherwise (and always for async and blocking methods) the
        // call is a future that waits for the lock.
        let at_once = if is_async || options.blocking {
            quote!()
        } else {
            let try_lock = if mutable {
                quote!(try_write)
            } else {
                quote!(try_read)
            };
            quote! {
                if let ::core::result::Result::Ok(mut __object) =
                    this.__cell().__lock().#try_lock()
                {
                    let __cx = cx;
                    let __out = __object.#fn_ident(#(#arg_idents),*);
                    drop(__object);
                    return ::core::result::Result::Ok(#PEER::Started::Done(#convert));
                }
            }
        };
        arms.push(quote! {
            #name => ::core::option::Option::Some((|| {
                let mut __reader = #PEER::ArgReader::new(args, #display, #count, cx);
                #read
                #at_once
                let __this = ::core::clone::Clone::clone(this);
                let __cx = ::core::clone::Clone::clone(cx);
                ::core::result::Result::Ok(#PEER::Started::Pending(
                    #PEER::__private::boxed(async move {
                        #run
                    }),
                ))
            })()),
        });
    }

    if let Some(e) = errors {
        return Err(e);
    }

    Ok(quote! {
        #item

        impl #PEER::RemoteMethods for #self_ty {
            const METHODS: &'static [#PEER::MemberInfo] = &[#(#infos),*];

            #[allow(unused_variables, clippy::redundant_closure_call)]
            fn call_method(
                this: &#PEER::Remote<Self>,
                name: &str,
                args: #PEER::Args,
                cx: &#PEER::CallContext,
            ) -> ::core::option::Option<::core::result::Result<
                #PEER::Started,
                #PEER::RemoteError,
            >> {
                match name {
                    #(#arms)*
                    _ => ::core::option::Option::None,
                }
            }

            #constructor
        }
    })
}
