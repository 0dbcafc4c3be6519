//! # rpc-server: host Rust objects for remote clients
//!
//! A [`Server`] hosts ordinary Rust objects. Mark a struct and its impl block with
//! [`#[remote]`](remote), register it as a root, and clients can GET and SET its public
//! fields, DEL `Option` fields, RUN its public methods, list it with DIR, copy it with ALL and
//! release it. Each connection is a session with its own refcounted handle table; everything it
//! holds is released when it closes. An [`Allowlist`] guards the door; errors and panics in
//! user code travel back as structured remote errors with the server's stack text.
//!
//! ```
//! use rpc_server::{Server, remote};
//!
//! /// A counter that lives on the server.
//! #[remote]
//! pub struct Counter {
//!     /// Current value.
//!     pub value: i64,
//! }
//!
//! #[remote]
//! impl Counter {
//!     /// Builds a counter from the client's `open` arguments.
//!     #[remote(constructor)]
//!     pub fn new(start: Option<i64>) -> Self {
//!         Counter { value: start.unwrap_or(0) }
//!     }
//!
//!     /// Adds `n` and returns the new value.
//!     pub fn add(&mut self, n: i64) -> i64 {
//!         self.value += n;
//!         self.value
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::builder().root::<Counter>("counter").build()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! // `serve(listener)` runs until the process ends; `spawn` runs it in the background.
//! let running = server.spawn(listener)?;
//!
//! // A client (the rpc-client crate) opens its own Counter and calls it.
//! let client = rpc_client::Client::connect(running.local_addr()).await?;
//! let counter = client.open("counter", (40,)).await?;
//! assert_eq!(counter.call_as::<i64>("add", (2,)).await?, 42);
//! assert_eq!(counter.get_as::<i64>("value").await?, 42);
//! # drop((counter, client));
//! running.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! A method may take a [`Proxy`] parameter: the client passed an object of its own (a
//! `#[remote]` type or a [`Callback`]), and the method calls it with the same ops a client
//! uses, over the client's connection ([`ServerConfig::callback_timeout`],
//! [`ServerConfig::max_callbacks_in_flight`]). A method returning `impl Stream` or
//! `impl Iterator` hands the client a stream it reads as it arrives.
//!
//! # Layout
//!
//! A request flows top to bottom:
//!
//! - `server.rs`: [`Server`], [`ServerBuilder`]: accept loop, allowlist check, connection
//!   permits, one task per connection (its socket options, transport and stall watcher),
//!   shutdown.
//! - `admission.rs`: connection slots in total and per address.
//! - `framing.rs`: the one parser of frames: the frame limit, the server-wide budget for
//!   incomplete frames, the stall clock's frame marks, the frame-in log.
//! - `connection_clock.rs`: the stall clock (first frame, frame progress, blocked writes, a
//!   closed peer) and the stream that records writes and the peer's end.
//! - `session.rs`: one connection's session: `hello`, `open`, `stats`, BYE, call slots, the
//!   memory charges of arguments and replies, the call log; ops on objects (GET, SET, DEL,
//!   RUN, DIR, ALL) go to the `rpc-peer` host, which also catches panics and decorates errors.
//! - `budget.rs`: the byte budget both memory bounds use.
//! - `allowlist.rs`: [`Allowlist`]; `config.rs`: [`ServerConfig`]; [`limits`]: the default
//!   policy each config field starts from.
//!
//! The object model (the handle table, [`Object`], [`Remote`], argument and result
//! conversion, panic capture, the built-in [`Dict`] and [`List`]) is the `rpc-peer` crate's,
//! shared with the client; this crate re-exports what a server's user names.
//!
//! # Default limits
//!
//! See [`ServerConfig`]: 8 MiB frames, value depth 64, 65,536 handles per session, 256 calls
//! in flight per connection (then `Overloaded`), 1,024 connections, 64 KiB of error text,
//! 10 s shutdown grace, deadlines clamped to 1 ms .. 1 h.

#![deny(missing_docs)]

mod admission;
mod allowlist;
mod budget;
mod config;
mod connection_clock;
mod framing;
pub mod limits;
mod server;
mod session;

pub use allowlist::{Allowlist, AllowlistError};
pub use config::ServerConfig;
pub use rpc_core::{Args, ErrorKind, RemoteError, Value};
pub use rpc_macros::remote;
pub use rpc_peer::{
    ArgError, ArgReader, CallContext, CallError, Callback, Dict, FromArg, KeyError, List,
    MemberInfo, Object, Produced, Proxy, Remote, RemoteFailure, RemoteFields, RemoteMethods,
    Returned, Side, Started, ToReply, raised,
};
pub use server::{BuildError, RunningServer, Server, ServerBuilder};

/// The object model `#[remote]` generates code against; not part of the public API.
#[doc(hidden)]
pub use rpc_peer as __peer;
