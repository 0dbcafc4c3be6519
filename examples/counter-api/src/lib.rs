//! # counter-api: the interface of the example `Counter`
//!
//! This is the crate a client depends on to call the example server's `Counter`
//! (`rpc-examples`, `examples/src/counter.rs`) through a typed proxy. It holds no server code:
//! only the declaration below, from which `#[interface]` generates [`CounterProxy`]. The
//! server's `Counter` is an ordinary `#[remote]` type whose public members match this
//! declaration; [`CounterProxy::checked`] verifies that against the running server.
//!
//! ```
//! use counter_api::CounterProxy;
//! use rpc_client::{CallError, Client};
//!
//! async fn demo(client: &Client) -> Result<(), CallError> {
//!     let counter = CounterProxy::open(client, "counter", (40,)).await?.checked().await?;
//!     assert_eq!(counter.add(2).await?, 42);
//!     counter.set_note(Some("hello".to_owned())).await?;
//!     let child: CounterProxy = counter.child("a").await?;
//!     child.add(1).await?;
//!     assert_eq!(counter.absorb(&child).await?, 43);
//!     Ok(())
//! }
//! ```
//!
//! A failure on the server comes back as `CallError::Remote` with the full remote error (kind,
//! type, message, cause chain, stack text), as with the dynamic `rpc_client::Proxy`, which
//! stays available through [`CounterProxy::proxy`].

#![deny(missing_docs)]

use rpc_client::{Callback, interface};

/// A counter that lives on the server.
#[interface(name = "Counter")]
pub trait Counter {
    /// The current value.
    #[field]
    fn value(&self) -> i64;

    /// A free-form note; delete it to clear it.
    #[field]
    fn note(&self) -> Option<String>;

    /// How many method calls changed the value.
    #[field(readonly)]
    fn changes(&self) -> u64;

    /// Adds `n` and returns the new value.
    fn add(&mut self, n: i64) -> i64;

    /// Adds `n` to the value `times` times (`None`: once) and returns the new value.
    fn add_many(&mut self, n: i64, times: Option<u32>) -> i64;

    /// Returns the value after sleeping `millis` milliseconds without blocking the server.
    fn slow_value(&self, millis: u64) -> i64;

    /// The child counter called `name`, created at 0 on first use. Asking twice returns the
    /// same object (the same handle).
    fn child(&mut self, name: &str) -> Counter;

    /// Adds the value of `other` (a counter of the same session) to this one.
    fn absorb(&mut self, other: &CounterProxy) -> i64;

    /// Divides the value by `by`; dividing by zero raises a remote `DivideByZero` error.
    fn checked_div(&mut self, by: i64) -> i64;

    /// Parses `step` and adds it; a bad step raises an error with its cause.
    fn add_parsed(&mut self, step: &str) -> i64;

    /// Panics, on purpose: shows how a server panic reaches the client.
    fn explode(&self) -> i64;

    /// Sums 0..n on the server's blocking pool.
    fn crunch(&self, n: u64) -> u64;

    /// The values from the current one down to zero, as a stream.
    fn countdown(&self) -> impl Stream<Item = i64>;

    /// Items of a small summary, as a list of (name, value) pairs.
    fn summary(&self) -> Vec<(String, i64)>;

    /// Calls `observer(i, n)` for `i` in `1..=n` (`n` at most 1,000) as a progress callback;
    /// returns how many calls it made.
    fn count_to(&self, n: u64, observer: &Callback) -> u64;
}
