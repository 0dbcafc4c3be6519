//! How generated code names the object model: `::rpc_peer`, re-exported as
//! `::rpc_server::__peer` and `::rpc_client::__peer`.
//!
//! A proc macro cannot know which crate its user imported it from, so it reads the user's
//! `Cargo.toml` (through `proc-macro-crate`) and names the first of `rpc-peer`, `rpc-server`
//! and `rpc-client` found there, under the name it was given (a renamed dependency works).

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::Ident;

/// Interpolated as `#PEER` in `quote!`: the path of the object model crate.
pub(crate) const PEER: PeerPath = PeerPath;

/// See [`PEER`].
pub(crate) struct PeerPath;

impl ToTokens for PeerPath {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(resolve());
    }
}

fn resolve() -> TokenStream {
    use proc_macro_crate::{FoundCrate, crate_name};
    // The object model crate itself: it declares `extern crate self as rpc_peer`.
    if let Ok(found) = crate_name("rpc-peer") {
        return match found {
            FoundCrate::Itself => quote!(::rpc_peer),
            FoundCrate::Name(name) => {
                let name = Ident::new(&name, Span::call_site());
                quote!(::#name)
            }
        };
    }
    for facade in ["rpc-server", "rpc-client"] {
        if let Ok(found) = crate_name(facade) {
            let name = match found {
                // The facade's own tests, examples and doctests name it as a dependency.
                FoundCrate::Itself => facade.replace('-', "_"),
                FoundCrate::Name(name) => name,
            };
            let name = Ident::new(&name, Span::call_site());
            return quote!(::#name::__peer);
        }
    }
    // No manifest to read (or none of the crates in it): the usual name.
    quote!(::rpc_server::__peer)
}
