//! Chains of calls across the wire, and the one deadlock they make detectable.
//!
//! A client calls `a` on the server; `a` calls a callback on the client; the callback calls
//! `b` on the server. All three belong to one chain, numbered by the end where it started and
//! carried with every call ([`Request::chain`](rpc_core::Request)). While a call runs, its
//! chain is the current one of the task polling it ([`scope`]), so a call it makes itself
//! carries the number on.
//!
//! An `async fn` method taking `&mut self` holds its object's lock across its awaits, and
//! marks the object with its chain. A call that needs the lock of an object held by its own
//! chain would wait for itself forever (RPyC and Pyro hang there); it is refused at once with
//! a `Reentrant` error naming the object and the member instead.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use rpc_core::{ErrorKind, RemoteError};

tokio::task_local! {
    static CHAIN: u64;
}

/// Numbers chains started on this end; 0 means none.
static NEXT_CHAIN: AtomicU64 = AtomicU64::new(1);

/// The chain of the call being run, or 0 outside one.
pub fn current() -> u64 {
    CHAIN.try_with(|c| *c).unwrap_or(0)
}

/// The chain a call received from the peer runs in: the one it carries, or a new one.
pub fn received(chain: u64) -> u64 {
    if chain != 0 {
        chain
    } else {
        NEXT_CHAIN.fetch_add(1, Ordering::Relaxed)
    }
}

/// Runs `work` as part of `chain`.
pub fn scope<F: Future>(chain: u64, work: F) -> impl Future<Output = F::Output> {
    CHAIN.scope(chain, work)
}

/// The error for a call of `chain` that needs `type_name`'s lock, held by that same chain
/// (`shared`: by an `async` `&self` call, which a writer now waits behind).
pub(crate) fn reentrant(type_name: &str, member: &str, chain: u64, shared: bool) -> RemoteError {
    let text = if shared {
        format!(
            "{type_name}.{member} was refused: this {type_name} is held shared by an `async` \
             `&self` call of the same chain (chain {chain}), which is waiting for this one \
             through a callback, and a write to it waits for that call to end; waiting would \
             never end. Make the change in the method that calls back, not in a callback of it"
        )
    } else {
        format!(
            "{type_name}.{member} was refused: this {type_name} is held exclusively by a call of \
             the same chain (chain {chain}), which is waiting for this one through a callback; \
             waiting would never end. Take `&self` in the method that calls back, or release \
             the object before calling back"
        )
    };
    let mut e = RemoteError::new(ErrorKind::Reentrant, text);
    e.object = Some(type_name.to_owned());
    e.member = Some(member.to_owned());
    e
}
