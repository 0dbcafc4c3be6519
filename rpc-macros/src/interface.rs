//! `#[interface]`: a typed client proxy from a trait that declares a remote type's members.
//!
//! The trait is only a declaration (like a `.proto` file) and is not emitted. For
//! `pub trait Counter` the attribute generates `pub struct CounterProxy`, wrapping an
//! `rpc_client::Proxy`, with one `async` method per trait item:
//!
//! | declared | generated on `CounterProxy` |
//! |---|---|
//! | `#[field] fn value(&self) -> T;` | `value()` (GET), `set_value(v: T)` (SET) |
//! | `#[field] fn note(&self) -> Option<T>;` | as above, and `del_note()` (DEL) |
//! | `#[field(readonly)] fn changes(&self) -> T;` | `changes()` only |
//! | `fn add(&mut self, n: i64) -> i64;` | `add(&self, n: i64) -> Result<i64, CallError>` (RUN) |
//! | `fn child(&mut self, name: &str) -> Counter;` | `child(..) -> Result<CounterProxy, CallError>` |
//!
//! plus `open`, `from_proxy`, `proxy`, `into_proxy`, `with_timeout`, `checked`, the
//! `rpc_client::TypedProxy` impl and a `Serialize` impl (a typed proxy passed as an argument
//! travels as a handle). The generated code names only `::rpc_client` paths.
//!
//! Types: parameters and results are owned data types (`Serialize` for parameters,
//! `DeserializeOwned` for results), checked by the compiler. A parameter may also be `&str`
//! (sent as a string) or `&XProxy` (a typed proxy, sent as a handle). A result, or a field,
//! whose type is the trait's own name, `Self`, or a path ending in `Proxy` is a remote object
//! and comes back as that typed proxy.

use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{ToTokens, format_ident, quote};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{
    Attribute, Error, FnArg, GenericArgument, Ident, Item, ItemTrait, LitStr, Pat, PathArguments,
    ReturnType, TraitItem, TraitItemFn, Type,
};

use crate::{is_option, last_segment, member_name, type_text};

/// The proxy methods every typed proxy has; interface members cannot take these names.
const RESERVED: &[&str] = &[
    "open",
    "from_proxy",
    "proxy",
    "into_proxy",
    "checked",
    "with_timeout",
];

/// Expands `#[interface(...)]` on `item`.
pub(crate) fn expand(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let mut name: Option<LitStr> = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            name = Some(meta.value()?.parse()?);
            Ok(())
        } else {
            Err(meta.error(
                "unknown #[interface] option; expected `name = \"ServerType\"` (the server's type name)",
            ))
        }
    });
    parser.parse2(attr)?;

    let item: Item = syn::parse2(item)?;
    let Item::Trait(item) = item else {
        return Err(Error::new(
            item.span(),
            "#[interface] goes on a trait that declares the remote type's fields and methods",
        ));
    };
    Interface::new(item, name)?.generate()
}

/// The type of a parameter, a field or a result.
enum Kind {
    /// Data sent by value, with its wire type text (as DIR shows it on the server).
    Data(String),
    /// A `&str` parameter: the server takes a `String`.
    Str,
    /// A remote object, as the typed proxy type that stands for it.
    Object(TokenStream2),
    /// `&Callback` or `&Remote<T>`: an object the caller hosts, which the server's method
    /// takes as a `Proxy`.
    Peer,
}

impl Kind {
    /// The `rpc_client::typed::TypeSpec` expression for this type.
    fn spec(&self) -> TokenStream2 {
        match self {
            Kind::Data(text) => quote!(::rpc_client::typed::TypeSpec::Data(#text)),
            Kind::Str => quote!(::rpc_client::typed::TypeSpec::Data("String")),
            Kind::Object(proxy) => quote! {
                ::rpc_client::typed::TypeSpec::Object(
                    <#proxy as ::rpc_client::TypedProxy>::TYPE_NAME
                )
            },
            Kind::Peer => quote!(::rpc_client::typed::TypeSpec::Peer),
        }
    }
}

struct Interface {
    item: ItemTrait,
    type_name: String,
    proxy: Ident,
}

/// What one trait item generates.
#[derive(Default)]
struct Generated {
    methods: Vec<TokenStream2>,
    specs: Vec<TokenStream2>,
}

impl Interface {
    fn new(item: ItemTrait, name: Option<LitStr>) -> syn::Result<Interface> {
        if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
            return Err(Error::new_spanned(
                &item.generics,
                "#[interface] traits cannot be generic: a remote type has one name clients can see",
            ));
        }
        if !item.supertraits.is_empty() {
            return Err(Error::new_spanned(
                &item.supertraits,
                "#[interface] traits have no supertraits: declare every member in the trait",
            ));
        }
        if let Some(unsafety) = &item.unsafety {
            return Err(Error::new(
                unsafety.span(),
                "#[interface] traits are not unsafe",
            ));
        }
        if let Some(attr) = item.attrs.iter().find(|a| !a.path().is_ident("doc")) {
            return Err(Error::new_spanned(
                attr,
                "an #[interface] trait takes only doc comments; put other attributes on its items",
            ));
        }
        let type_name = match name {
            Some(lit) => {
                let value = lit.value();
                if value.is_empty() || value.starts_with('_') {
                    return Err(Error::new(
                        lit.span(),
                        "`name` is the server's type name, e.g. `name = \"Counter\"`",
                    ));
                }
                value
            }
            None => member_name(&item.ident),
        };
        let proxy = format_ident!("{}Proxy", item.ident.unraw_text());
        Ok(Interface {
            item,
            type_name,
            proxy,
        })
    }

    fn generate(self) -> syn::Result<TokenStream2> {
        let mut errors: Option<Error> = None;
        let mut push_error = |e: Error| match &mut errors {
            Some(first) => first.combine(e),
            None => errors = Some(e),
        };
        let mut generated = Generated::default();
        let mut names: Vec<String> = Vec::new();
        for trait_item in &self.item.items {
            let TraitItem::Fn(method) = trait_item else {
                push_error(Error::new(
                    trait_item.span(),
                    "an #[interface] trait declares only fns, one per remote field or method",
                ));
                continue;
            };
            match self.item_fn(method, &mut names) {
                Ok(one) => {
                    generated.methods.extend(one.methods);
                    generated.specs.extend(one.specs);
                }
                Err(e) => push_error(e),
            }
        }
        if let Some(e) = errors {
            return Err(e);
        }

        let Interface {
            item,
            type_name,
            proxy,
        } = &self;
        let vis = &item.vis;
        let interface = item.ident.unraw_text();
        let docs = item.attrs.iter().filter(|a| a.path().is_ident("doc"));
        let struct_doc = format!(
            " Typed proxy of the remote type `{type_name}`, generated by `#[interface]` from the \
             trait `{interface}`: one async method (one round trip) per declared member. \
             `open` or `from_proxy` make one, `checked` compares the declaration with the \
             server, `proxy` gives the dynamic proxy underneath."
        );
        let methods = &generated.methods;
        let specs = &generated.specs;
        let result = quote!(::core::result::Result);
        let error = quote!(::rpc_client::CallError);

        Ok(quote! {
            #(#docs)*
            #[doc = ""]
            #[doc = #struct_doc]
            #[derive(Clone, Debug)]
            #vis struct #proxy {
                inner: ::rpc_client::Proxy,
            }

            impl #proxy {
                /// The server's type name this proxy stands for.
                pub const TYPE_NAME: &'static str = #type_name;

                /// Opens the root object `root` with positional constructor `args` (a tuple,
                /// `()` for none, or a single value), as `Client::open` does, and checks it is
                /// of this proxy's remote type. One round trip.
                pub async fn open(
                    client: &::rpc_client::Client,
                    root: &str,
                    args: impl ::rpc_client::__private::serde::Serialize,
                ) -> #result<Self, #error> {
                    Self::from_proxy(client.open(root, args).await?)
                }

                /// Wraps a dynamic proxy, checking that its object is of this proxy's remote
                /// type (no round trip).
                pub fn from_proxy(proxy: ::rpc_client::Proxy) -> #result<Self, #error> {
                    ::rpc_client::typed::check_type(&proxy, #type_name, #interface)?;
                    #result::Ok(Self { inner: proxy })
                }

                /// The dynamic proxy underneath, for the ops the interface does not declare.
                pub fn proxy(&self) -> &::rpc_client::Proxy {
                    &self.inner
                }

                /// Unwraps the dynamic proxy.
                pub fn into_proxy(self) -> ::rpc_client::Proxy {
                    self.inner
                }

                /// A proxy for the same object whose calls time out after `timeout`, as
                /// `Proxy::with_timeout`.
                pub fn with_timeout(&self, timeout: ::core::time::Duration) -> Self {
                    Self { inner: self.inner.with_timeout(timeout) }
                }

                /// Runs DIR once and checks that the server has every member this interface
                /// declares, with the same kind and signature; returns the proxy unchanged.
                /// Every mismatch is listed in one `CallError::Unexpected`.
                pub async fn checked(self) -> #result<Self, #error> {
                    ::rpc_client::typed::check_members(
                        &self.inner,
                        #interface,
                        &<Self as ::rpc_client::TypedProxy>::members(),
                    )
                    .await?;
                    #result::Ok(self)
                }

                #(#methods)*
            }

            impl ::rpc_client::TypedProxy for #proxy {
                const TYPE_NAME: &'static str = #type_name;
                const INTERFACE: &'static str = #interface;

                fn from_proxy(proxy: ::rpc_client::Proxy) -> #result<Self, #error> {
                    #proxy::from_proxy(proxy)
                }

                fn proxy(&self) -> &::rpc_client::Proxy {
                    &self.inner
                }

                fn into_proxy(self) -> ::rpc_client::Proxy {
                    self.inner
                }

                #[allow(clippy::vec_init_then_push)]
                fn members() -> ::std::vec::Vec<::rpc_client::typed::MemberSpec> {
                    #[allow(unused_mut)]
                    let mut members = ::std::vec::Vec::new();
                    #(#specs)*
                    members
                }
            }

            impl ::rpc_client::__private::serde::Serialize for #proxy {
                /// Serializes as the object's handle, like `Proxy`.
                fn serialize<S: ::rpc_client::__private::serde::Serializer>(
                    &self,
                    serializer: S,
                ) -> #result<S::Ok, S::Error> {
                    ::rpc_client::__private::serde::Serialize::serialize(&self.inner, serializer)
                }
            }
        })
    }

    /// Claims the proxy method name `name` for the item at `span`.
    fn claim(names: &mut Vec<String>, name: String, span: Span) -> syn::Result<()> {
        if RESERVED.contains(&name.as_str()) {
            return Err(Error::new(
                span,
                format!(
                    "`{name}` is a method every typed proxy has ({}); the interface cannot \
                     declare a member that needs it (use `proxy()` to reach it dynamically)",
                    RESERVED.join(", ")
                ),
            ));
        }
        if names.contains(&name) {
            return Err(Error::new(
                span,
                format!(
                    "the proxy method `{name}` would be generated twice (a member of that name, \
                     or a field's `set_`/`del_` accessor)"
                ),
            ));
        }
        names.push(name);
        Ok(())
    }

    fn item_fn(&self, method: &TraitItemFn, names: &mut Vec<String>) -> syn::Result<Generated> {
        let sig = &method.sig;
        let span = sig.ident.span();
        let name = member_name(&sig.ident);
        if let Some(body) = &method.default {
            return Err(Error::new(
                body.span(),
                "an #[interface] item is a declaration: end it with `;` (the implementation \
                 lives on the server)",
            ));
        }
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            return Err(Error::new_spanned(
                &sig.generics,
                "#[interface] items cannot be generic: name the concrete types the server uses",
            ));
        }
        if let Some(variadic) = &sig.variadic {
            return Err(Error::new(
                variadic.span(),
                "#[interface] items are not variadic",
            ));
        }
        let Some(receiver) = sig.receiver() else {
            return Err(Error::new(
                span,
                format!(
                    "`{name}` has no `self`: an #[interface] item is a member of the remote \
                     object, so it takes `&self` or `&mut self` (constructors are the server's \
                     business: open the object with `open`)"
                ),
            ));
        };
        if receiver.reference.is_none() || receiver.colon_token.is_some() {
            return Err(Error::new(
                receiver.span(),
                "#[interface] items take `&self` or `&mut self`: the object stays on the server",
            ));
        }
        if name.starts_with('_') {
            return Err(Error::new(
                span,
                "names starting with `_` are private: the server never exposes them",
            ));
        }
        let (field, attrs) = split_attrs(&method.attrs)?;
        match field {
            Some(readonly) => {
                if receiver.mutability.is_some() {
                    return Err(Error::new(
                        receiver.span(),
                        format!("a #[field] reads the field: declare it `fn {name}(&self) -> T;`"),
                    ));
                }
                self.field(method, &name, readonly, &attrs, names)
            }
            None => self.method(method, &name, &attrs, names),
        }
    }

    fn field(
        &self,
        method: &TraitItemFn,
        name: &str,
        readonly: bool,
        attrs: &[&Attribute],
        names: &mut Vec<String>,
    ) -> syn::Result<Generated> {
        let sig = &method.sig;
        let span = sig.ident.span();
        if let Some(arg) = sig.inputs.iter().find(|a| matches!(a, FnArg::Typed(_))) {
            return Err(Error::new(
                arg.span(),
                format!("a #[field] has no parameters: declare it `fn {name}(&self) -> T;`"),
            ));
        }
        let ReturnType::Type(_, ty) = &sig.output else {
            return Err(Error::new(
                span,
                format!("a #[field] has the field's type as its result: `fn {name}(&self) -> T;`"),
            ));
        };
        let kind = self.value_kind(ty, "field")?;
        let getter = &sig.ident;
        Self::claim(names, getter.unraw_text(), span)?;
        let cfgs: Vec<_> = attrs.iter().filter(|a| a.path().is_ident("cfg")).collect();
        let spec_ty = kind.spec();
        let writable = !readonly;
        let mut out = Generated::default();
        out.specs.push(quote! {
            #(#cfgs)*
            members.push(::rpc_client::typed::MemberSpec {
                name: #name,
                kind: ::rpc_client::typed::SpecKind::Field { ty: #spec_ty, writable: #writable },
            });
        });

        let docs = docs_of(&method.attrs);
        let (value_ty, convert) = match &kind {
            Kind::Object(proxy) => (
                quote!(#proxy),
                quote! {
                    <#proxy as ::rpc_client::TypedProxy>::from_proxy(__returned.into_proxy()?)
                },
            ),
            _ => (quote!(#ty), quote!(__returned.typed::<#ty>())),
        };
        let get_doc = format!(" Reads the field `{name}` (GET, one round trip).");
        out.methods.push(quote! {
            #(#attrs)*
            #(#docs)*
            #[doc = ""]
            #[doc = #get_doc]
            pub async fn #getter(&self) -> ::core::result::Result<#value_ty, ::rpc_client::CallError> {
                let __returned = self.inner.get(#name).await?;
                #convert
            }
        });
        if readonly {
            return Ok(out);
        }
        let setter = format_ident!("set_{}", getter.unraw_text(), span = span);
        Self::claim(names, setter.to_string(), span)?;
        let set_param = match &kind {
            Kind::Object(proxy) => quote!(&#proxy),
            _ => quote!(#ty),
        };
        let set_doc = format!(
            " Writes the field `{name}` (SET, type-checked by the server, one round trip)."
        );
        out.methods.push(quote! {
            #(#attrs)*
            #[doc = #set_doc]
            #[doc = ""]
            #(#docs)*
            pub async fn #setter(&self, value: #set_param) -> ::core::result::Result<(), ::rpc_client::CallError> {
                self.inner.set(#name, value).await
            }
        });
        if is_option(ty) {
            let deleter = format_ident!("del_{}", getter.unraw_text(), span = span);
            Self::claim(names, deleter.to_string(), span)?;
            let del_doc =
                format!(" Deletes the field `{name}`: it becomes `None` (DEL, one round trip).");
            out.methods.push(quote! {
                #(#attrs)*
                #[doc = #del_doc]
                #[doc = ""]
                #(#docs)*
                pub async fn #deleter(&self) -> ::core::result::Result<(), ::rpc_client::CallError> {
                    self.inner.del(#name).await
                }
            });
        }
        Ok(out)
    }

    fn method(
        &self,
        method: &TraitItemFn,
        name: &str,
        attrs: &[&Attribute],
        names: &mut Vec<String>,
    ) -> syn::Result<Generated> {
        let sig = &method.sig;
        let span = sig.ident.span();
        let mut params = Vec::new();
        let mut spec_params = Vec::new();
        let mut arg_idents = Vec::new();
        for arg in &sig.inputs {
            let FnArg::Typed(typed) = arg else {
                continue;
            };
            let ident = match &*typed.pat {
                Pat::Ident(p)
                    if p.by_ref.is_none() && p.mutability.is_none() && p.subpat.is_none() =>
                {
                    p.ident.clone()
                }
                other => {
                    return Err(Error::new(
                        other.span(),
                        "#[interface] parameters are plain names (`n: i64`)",
                    ));
                }
            };
            let kind = self.param_kind(&typed.ty)?;
            let param_name = member_name(&ident);
            let spec_ty = kind.spec();
            spec_params.push(quote!((#param_name, #spec_ty)));
            let ty = &typed.ty;
            params.push(quote!(#ident: #ty));
            arg_idents.push(ident);
        }
        if arg_idents.len() > 16 {
            return Err(Error::new(
                sig.inputs.span(),
                "#[interface] methods take at most 16 parameters (the arguments travel as a tuple)",
            ));
        }
        let (ret_ty, ret_spec, convert) = match &sig.output {
            ReturnType::Default => (
                quote!(()),
                quote!(::rpc_client::typed::TypeSpec::Data("()")),
                quote!(__returned.typed::<()>()),
            ),
            ReturnType::Type(_, ty) if crate::stream_item(ty).is_some() => {
                // `impl Stream<Item = T>` (or `impl Iterator<..>`): a typed stream of `T`.
                let (item, _) = crate::stream_item(ty)
                    .ok_or_else(|| Error::new_spanned(ty, "a stream result names its item type"))?;
                self.check_data(item)?;
                let item_text = crate::wire_type::wire_type(item);
                (
                    quote!(::rpc_client::RemoteStream<#item>),
                    quote!(::rpc_client::typed::TypeSpec::Stream(#item_text)),
                    quote!(__returned.into_proxy()?.into_stream::<#item>()),
                )
            }
            ReturnType::Type(_, ty) => {
                let kind = self.value_kind(ty, "result")?;
                let spec = kind.spec();
                match kind {
                    Kind::Object(proxy) => (
                        proxy.clone(),
                        spec,
                        quote! {
                            <#proxy as ::rpc_client::TypedProxy>::from_proxy(__returned.into_proxy()?)
                        },
                    ),
                    _ => (quote!(#ty), spec, quote!(__returned.typed::<#ty>())),
                }
            }
        };
        let fn_ident = &sig.ident;
        Self::claim(names, fn_ident.unraw_text(), span)?;
        let cfgs: Vec<_> = attrs.iter().filter(|a| a.path().is_ident("cfg")).collect();
        let docs = docs_of(&method.attrs);
        let run_doc = format!(" Calls the remote method `{name}` (RUN, one round trip).");
        let args = quote!((#(#arg_idents,)*));
        Ok(Generated {
            methods: vec![quote! {
                #(#attrs)*
                #(#docs)*
                #[doc = ""]
                #[doc = #run_doc]
                pub async fn #fn_ident(&self, #(#params),*) -> ::core::result::Result<#ret_ty, ::rpc_client::CallError> {
                    let __returned = self.inner.call(#name, #args).await?;
                    #convert
                }
            }],
            specs: vec![quote! {
                #(#cfgs)*
                members.push(::rpc_client::typed::MemberSpec {
                    name: #name,
                    kind: ::rpc_client::typed::SpecKind::Method {
                        params: ::std::vec![#(#spec_params),*],
                        ret: #ret_spec,
                    },
                });
            }],
        })
    }

    /// The typed proxy type that `ty` stands for, when it is a remote object: the trait's own
    /// name or `Self` (this interface's proxy), or a path ending in `Proxy` (another one).
    fn proxy_type(&self, ty: &Type) -> Option<TokenStream2> {
        let Type::Path(path) = strip_groups(ty) else {
            return None;
        };
        if path.qself.is_some() {
            return None;
        }
        let last = path.path.segments.last()?;
        if !matches!(last.arguments, PathArguments::None) {
            return None;
        }
        let text = last.ident.unraw_text();
        if path.path.segments.len() == 1 && (last.ident == self.item.ident || text == "Self") {
            let proxy = &self.proxy;
            return Some(quote!(#proxy));
        }
        (text.len() > "Proxy".len() && text.ends_with("Proxy")).then(|| path.to_token_stream())
    }

    /// The kind of a result or a field's type.
    fn value_kind(&self, ty: &Type, what: &str) -> syn::Result<Kind> {
        if let Some(proxy) = self.proxy_type(ty) {
            return Ok(Kind::Object(proxy));
        }
        if let Type::Reference(r) = strip_groups(ty) {
            return Err(Error::new_spanned(
                r,
                format!(
                    "unsupported {what} type `{}`: results travel by value, so name an owned \
                     type (`String`, not `&str`)",
                    type_text(ty)
                ),
            ));
        }
        self.check_data(ty)?;
        Ok(Kind::Data(crate::wire_type::wire_type(ty)))
    }

    /// The kind of a parameter's type.
    fn param_kind(&self, ty: &Type) -> syn::Result<Kind> {
        if let Type::Reference(r) = strip_groups(ty) {
            let elem = strip_groups(&r.elem);
            if r.mutability.is_none() {
                if let Type::Path(p) = elem {
                    if p.qself.is_none() && p.path.is_ident("str") {
                        return Ok(Kind::Str);
                    }
                }
                if is_hosted_path(elem) {
                    return Ok(Kind::Peer);
                }
                if let Some(proxy) = self.proxy_type(elem) {
                    if is_proxy_path(elem) {
                        return Ok(Kind::Object(proxy));
                    }
                    return Err(self.own_object_param(ty));
                }
            }
            return Err(Error::new_spanned(
                r,
                format!(
                    "unsupported parameter type `{}`: a reference parameter is `&str` (sent as a \
                     string), `&SomethingProxy` (a typed proxy, sent as a handle) or \
                     `&Callback` / `&Remote<T>` (an object of the caller's, which the server \
                     takes as a `Proxy`); other data is passed owned (`Vec<u8>`, not \
                     `&[u8]`) because arguments travel by value",
                    type_text(ty)
                ),
            ));
        }
        if let Some(proxy) = self.proxy_type(ty) {
            if !is_proxy_path(ty) {
                return Err(self.own_object_param(ty));
            }
            return Ok(Kind::Object(proxy));
        }
        self.check_data(ty)?;
        Ok(Kind::Data(crate::wire_type::wire_type(ty)))
    }

    /// The error for a parameter written as the trait's name or `Self`.
    fn own_object_param(&self, ty: &Type) -> Error {
        Error::new_spanned(
            ty,
            format!(
                "pass a remote `{}` object as `&{}` (it travels as a handle)",
                self.type_name, self.proxy
            ),
        )
    }

    /// Checks that `ty` is an owned data type the compiler can check: no references,
    /// `impl Trait`, trait objects, slices, pointers or fn types anywhere inside, and no remote
    /// objects nested in data.
    fn check_data(&self, ty: &Type) -> syn::Result<()> {
        let unsupported = |what: &str| {
            Err(Error::new_spanned(
                ty,
                format!("unsupported type `{}`: {what}", type_text(ty)),
            ))
        };
        match ty {
            Type::Path(path) => {
                if path.qself.is_some() {
                    return unsupported("name the type plainly, without `<T as Trait>::`");
                }
                if self.proxy_type(ty).is_some() {
                    return unsupported(
                        "a remote object travels as a handle only as a whole parameter, field \
                         or result, not inside data",
                    );
                }
                for segment in &path.path.segments {
                    match &segment.arguments {
                        PathArguments::None => {}
                        PathArguments::AngleBracketed(args) => {
                            for arg in &args.args {
                                match arg {
                                    GenericArgument::Type(t) => self.check_data(t)?,
                                    GenericArgument::Const(_) => {}
                                    GenericArgument::Lifetime(l) => {
                                        return Err(Error::new_spanned(
                                            l,
                                            format!(
                                                "unsupported type `{}`: data travels by value, \
                                                 so it borrows nothing",
                                                type_text(ty)
                                            ),
                                        ));
                                    }
                                    other => {
                                        return Err(Error::new_spanned(
                                            other,
                                            format!(
                                                "unsupported type `{}`: name a concrete data type",
                                                type_text(ty)
                                            ),
                                        ));
                                    }
                                }
                            }
                        }
                        PathArguments::Parenthesized(_) => {
                            return unsupported("fn traits cannot travel; name a data type");
                        }
                    }
                }
                Ok(())
            }
            Type::Tuple(tuple) => tuple.elems.iter().try_for_each(|t| self.check_data(t)),
            Type::Array(array) => self.check_data(&array.elem),
            Type::Paren(p) => self.check_data(&p.elem),
            Type::Group(g) => self.check_data(&g.elem),
            Type::Reference(_) => unsupported(
                "data travels by value, so it holds no references (`String`, not `&str`)",
            ),
            Type::Slice(_) => unsupported("a slice has no size; use `Vec<T>`"),
            Type::ImplTrait(_) => unsupported(
                "an interface names concrete types (the types the server's method takes and \
                 returns), not `impl Trait`",
            ),
            Type::TraitObject(_) => {
                unsupported("an interface names concrete data types, not trait objects")
            }
            _ => unsupported("an interface names owned data types (`i64`, `String`, `Vec<T>`)"),
        }
    }
}

/// Whether `ty` names an object the caller hosts: a path ending in `Callback` (no generic
/// arguments) or `Remote<T>`.
fn is_hosted_path(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|s| {
        (s.ident == "Callback" && matches!(s.arguments, PathArguments::None))
            || (s.ident == "Remote" && matches!(s.arguments, PathArguments::AngleBracketed(_)))
    })
}

/// Whether `ty` is written as a path ending in `...Proxy` (not the trait's name or `Self`).
fn is_proxy_path(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|s| {
        let text = s.ident.unraw_text();
        text.len() > "Proxy".len() && text.ends_with("Proxy")
    })
}

fn strip_groups(ty: &Type) -> &Type {
    match ty {
        Type::Group(g) => strip_groups(&g.elem),
        Type::Paren(p) => strip_groups(&p.elem),
        other => other,
    }
}

/// The doc attributes of an item.
fn docs_of(attrs: &[Attribute]) -> Vec<&Attribute> {
    attrs.iter().filter(|a| a.path().is_ident("doc")).collect()
}

/// Splits an item's attributes into its `#[field]` option (`Some(readonly)`) and the
/// attributes to copy onto the generated methods (all but docs and `#[field]`).
fn split_attrs(attrs: &[Attribute]) -> syn::Result<(Option<bool>, Vec<&Attribute>)> {
    let mut field = None;
    let mut rest = Vec::new();
    for attr in attrs {
        if attr.path().is_ident("doc") {
            continue;
        }
        if !attr.path().is_ident("field") {
            rest.push(attr);
            continue;
        }
        if field.is_some() {
            return Err(Error::new(attr.span(), "one #[field] per item"));
        }
        let mut readonly = false;
        if !matches!(attr.meta, syn::Meta::Path(_)) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("readonly") {
                    readonly = true;
                    Ok(())
                } else {
                    Err(meta.error("unknown #[field] option; expected `readonly`"))
                }
            })?;
        }
        field = Some(readonly);
    }
    Ok((field, rest))
}

/// An identifier's text without `r#`.
trait UnrawText {
    fn unraw_text(&self) -> String;
}

impl UnrawText for Ident {
    fn unraw_text(&self) -> String {
        member_name(self)
    }
}
