//! The type text DIR carries and typed proxies compare: what a value is on the wire, written
//! from the syntax tree the same way by `#[remote]` (the server's members) and `#[interface]`
//! (the declaration), so neither end parses the other's text.
//!
//! - paths are dropped: `std::string::String` is `String`, `rpc_server::Remote<crate::Counter>`
//!   is `Remote<Counter>`; lifetimes are dropped;
//! - references are what they point at, `str` is `String` and a slice `[T]` is `Vec<T>`
//!   (a `&str` parameter takes a string, a `&[T]` a list);
//! - `Callback` is `Proxy` (the receiving end takes an object of the caller's as a proxy);
//! - in [`wire_result`] only: a method's `Result<T, E>` is `T` (an `Err` travels as a remote
//!   error), and `impl Stream<Item = X>` / `impl Iterator<Item = X>` is `Stream<X>`, with `X`
//!   a `Result`'s `T` too.

use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{GenericArgument, PathArguments, ReturnType, Type};

use crate::{result_ok_type, stream_item, type_text};

/// The wire text of a field's or a parameter's type.
pub(crate) fn wire_type(ty: &Type) -> String {
    let mut out = String::new();
    write(ty, &mut out);
    out
}

/// The wire text of what a method answers: `()` for no result.
pub(crate) fn wire_result(output: &ReturnType) -> String {
    match output {
        ReturnType::Default => "()".to_owned(),
        ReturnType::Type(_, ty) => wire_returned(ty),
    }
}

/// The wire text of a returned type (see the module docs).
pub(crate) fn wire_returned(ty: &Type) -> String {
    if let Some((item, _)) = stream_item(ty) {
        return format!(
            "Stream<{}>",
            wire_type(result_ok_type(item).unwrap_or(item))
        );
    }
    wire_type(result_ok_type(ty).unwrap_or(ty))
}

fn write(ty: &Type, out: &mut String) {
    match ty {
        Type::Reference(r) => write(&r.elem, out),
        Type::Group(g) => write(&g.elem, out),
        Type::Paren(p) => write(&p.elem, out),
        Type::Slice(s) => {
            out.push_str("Vec<");
            write(&s.elem, out);
            out.push('>');
        }
        Type::Array(a) => {
            out.push('[');
            write(&a.elem, out);
            out.push_str("; ");
            out.push_str(&type_text(&a.len));
            out.push(']');
        }
        Type::Tuple(t) => {
            out.push('(');
            for (i, elem) in t.elems.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(elem, out);
            }
            if t.elems.len() == 1 {
                out.push(',');
            }
            out.push(')');
        }
        Type::Path(p) if p.qself.is_none() => {
            let Some(last) = p.path.segments.last() else {
                return;
            };
            let name = last.ident.unraw().to_string();
            match name.as_str() {
                "str" => return out.push_str("String"),
                "Callback" => return out.push_str("Proxy"),
                _ => out.push_str(&name),
            }
            let PathArguments::AngleBracketed(args) = &last.arguments else {
                return;
            };
            let mut first = true;
            for arg in &args.args {
                let text = match arg {
                    GenericArgument::Type(t) => wire_type(t),
                    GenericArgument::AssocType(a) => format!("{} = {}", a.ident, wire_type(&a.ty)),
                    GenericArgument::Const(c) => type_text(c),
                    _ => continue,
                };
                out.push_str(if first { "<" } else { ", " });
                first = false;
                out.push_str(&text);
            }
            if !first {
                out.push('>');
            }
        }
        Type::ImplTrait(_) if stream_item(ty).is_some() => out.push_str(&wire_returned(ty)),
        other => out.push_str(&type_text(&other.to_token_stream())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(text: &str) -> String {
        wire_type(&syn::parse_str(text).expect("a type"))
    }

    fn result(text: &str) -> String {
        wire_returned(&syn::parse_str(text).expect("a type"))
    }

    #[test]
    fn paths_references_and_lifetimes_are_dropped() {
        assert_eq!(wire("std::string::String"), "String");
        assert_eq!(wire("&'a str"), "String");
        assert_eq!(wire("&[u8]"), "Vec<u8>");
        assert_eq!(
            wire("rpc_server::Remote<crate::Counter>"),
            "Remote<Counter>"
        );
        assert_eq!(
            wire("std::collections::HashMap<String, Vec<(i64, ::core::option::Option<u8>)>>"),
            "HashMap<String, Vec<(i64, Option<u8>)>>"
        );
        assert_eq!(wire("(i64,)"), "(i64,)");
        assert_eq!(wire("()"), "()");
        assert_eq!(wire("[u8; 4]"), "[u8; 4]");
        assert_eq!(wire("&rpc_client::Callback"), "Proxy");
    }

    #[test]
    fn results_and_streams_are_what_travels() {
        assert_eq!(result("Result<i64, MyError>"), "i64");
        assert_eq!(result("std::io::Result<Vec<u8>>"), "Vec<u8>");
        assert_eq!(
            result("impl futures::Stream<Item = Result<u64, E>> + Send + 'static"),
            "Stream<u64>"
        );
        assert_eq!(
            result("impl Iterator<Item = (String, i64)>"),
            "Stream<(String, i64)>"
        );
        // Only the method's own result is unwrapped: data keeps its Results.
        assert_eq!(
            result("Vec<Result<i64, String>>"),
            "Vec<Result<i64, String>>"
        );
        assert_eq!(wire("Result<i64, String>"), "Result<i64, String>");
    }
}
