//! # rpc-client: call objects that live on a server
//!
//! Connect to a server with [`Client::connect`], open a root object with [`Client::open`],
//! and use the [`Proxy`] it returns: [`get`](Proxy::get), [`set`](Proxy::set),
//! [`del`](Proxy::del), [`call`](Proxy::call) a method (one round trip),
//! [`invoke`](Proxy::invoke) a callable handle, list members with [`dir`](Proxy::dir), copy
//! the object with [`all`](Proxy::all). Results that are data come back by value; results that
//! are objects come back as new proxies ([`Returned`]). Dropping the last proxy of an object
//! releases it on the server at no round-trip cost.
//!
//! A failure on the server comes back as [`CallError::Remote`], whose `Display` (and
//! `Debug`, so `?` in `main` shows it) prints the server's message, cause chain and stack
//! text under a `--- remote stack (server .., session .., Type.member) ---` header.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # // A server with the built-in Dict as root `dict`, on a free loopback port.
//! # let server = rpc_server::Server::builder().root::<rpc_server::Dict>("dict").build()?;
//! # let running = server.spawn(tokio::net::TcpListener::bind("127.0.0.1:0").await?)?;
//! # let addr = running.local_addr();
//! let client = rpc_client::Client::connect(addr).await?;
//! let d = client.open("dict", ()).await?;
//! d.call("set_item", (1, 2)).await?;
//! assert_eq!(d.call_as::<i64>("get_item", (1,)).await?, 2);
//! assert_eq!(d.all().await?.to_string(), "{1: 2}");
//! # Ok(())
//! # }
//! ```
//!
//! # Positional arguments
//!
//! `open`, `call` and `invoke` take their positional arguments as one `Serialize` value:
//!
//! | `args` | passes |
//! |---|---|
//! | a tuple or a sequence: `(1, "a")`, `[1, 2]`, `vec![x, y]` | one argument per element |
//! | `()` or `None` | no arguments |
//! | any other single value: `5`, `"a"`, a struct, `&proxy` | that one argument |
//!
//! A single argument that is itself a tuple, a sequence or `None` goes in a one-element tuple:
//! `(vec![1, 2],)`. Named arguments: the `*_with` methods taking [`Args`].
//!
//! # Timeouts
//!
//! Per client ([`ClientBuilder::timeout`], [`Client::with_timeout`]) and per proxy
//! ([`Proxy::with_timeout`], inherited by the proxies it returns). The default is the 1 h
//! deadline maximum: no short default silently kills long calls.
//!
//! # Layout
//!
//! - `client`: [`Client`], [`ClientBuilder`]: connecting, opening roots, server info.
//! - `proxy`: [`Proxy`]: the ops on one remote object.
//! - `returned`: [`Returned`]: a value or a proxy.
//! - `connection`: one session: TCP and framing, `hello`, deadlines, sending requests, mapping
//!   transport errors.
//! - `release`: the handle registry, release counting and batching, the background release
//!   task.
//! - `args`: the positional-arguments convention.
//! - `error`: [`CallError`], [`RemoteFailure`], [`ConnectError`].

#![warn(missing_docs)]

mod args;
mod client;
mod connection;
mod error;
mod proxy;
mod release;
mod returned;

pub use client::{Client, ClientBuilder, DEFAULT_CLIENT_NAME, DEFAULT_CONNECT_TIMEOUT};
pub use error::{CallError, ConnectError, RemoteFailure};
pub use proxy::Proxy;
pub use returned::Returned;
pub use rpc_core::protocol::{Member, MemberKind, ServerInfo, ServerStats};
pub use rpc_core::{Args, ErrorKind, HandleId, RemoteError, Value};

#[cfg(test)]
mod tests;
