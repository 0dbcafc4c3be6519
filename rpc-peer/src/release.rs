//! Releases: how dropping proxies tells the server it may free objects, at no round-trip cost.
//!
//! # Counting
//!
//! The server counts, per session and handle, how many times it sent the handle to the client.
//! The client keeps one [`HandleRef`] per live handle id (the registry deduplicates: a handle
//! received while a `HandleRef` for its id is alive only bumps that `HandleRef`'s `received`
//! count). When the last [`Proxy`](crate::Proxy) sharing a `HandleRef` is dropped, one
//! [`Release`] carrying `received` is queued.
//!
//! Because the release carries how many times *this* `HandleRef` received the handle, a reply
//! and a release crossing on the wire can never free a live object: if the server sends the
//! handle again while the release is travelling, the server's count is one more than the
//! release, and the new reply creates a new `HandleRef` (the old one is dead) that will release
//! its own count later.
//!
//! # Sending
//!
//! Queued releases ride on the next request ([`Request::releases`](rpc_core::Request)), so the
//! common path costs no round trip of its own. A background task per connection, woken on
//! every queued release, sends whatever is still pending in one `Release` op, and **awaits**
//! its answer: dropping an in-flight tarpc future makes tarpc send a `Cancel`, and the server
//! could abort the release. When the connection is dropped, the task flushes what is left and
//! ends.
//!
//! # Ordering
//!
//! A request sent after a proxy was dropped runs on the server after that proxy's release was
//! applied: either it carries the release itself (the server applies releases before the op),
//! or it waits, before taking the pending releases, until the background task's `Release` op
//! in flight has been answered (the `turn` lock). So `drop(proxy); client.stats()` sees the
//! handle gone, deterministically.
//!
//! # Locks
//!
//! `registry` and `pending` are std mutexes held only for a map or vector operation, never
//! across `.await`; `Drop` of a [`HandleRef`] takes them one after the other (never nested)
//! and never blocks on I/O or panics, with or without a runtime. `turn` is an async mutex,
//! held by the background task from taking a batch until its answer, and by a request only
//! while it takes its batch; `Drop` never touches it.

use std::collections::HashMap;
use std::future::Future;
use std::mem;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use rpc_core::{HandleDescriptor, HandleId, PeerMessage, Release};

use crate::link::PeerLink;
use tokio::sync::Notify;

/// The most releases one request carries; more stay queued for the next request or the
/// background task, so a burst of drops can never make a user's request too large.
pub(crate) const MAX_RELEASES_PER_REQUEST: usize = 4096;

/// The per-connection release state: the registry of live handles and the queue of releases.
#[derive(Debug, Default)]
pub(crate) struct ReleaseQueue {
    /// One entry per handle id with a live (or just dying) [`HandleRef`]. An entry whose weak
    /// pointer no longer upgrades is replaced by the next reply for that id.
    registry: Mutex<HashMap<HandleId, Weak<HandleRef>>>,
    /// Releases not yet handed to a request.
    pending: Mutex<Vec<Release>>,
    /// Wakes the background task when a release is queued or the connection closes.
    wake: Notify,
    /// Set when the connection is dropped: the task flushes and ends.
    closed: AtomicBool,
    /// Whose turn it is to take pending releases and have them applied (see the module docs).
    turn: tokio::sync::Mutex<()>,
    /// `pending.len()`, written under the `pending` lock, read without it.
    pending_len: AtomicUsize,
    /// Set by the background task while it holds `turn` with a batch taken.
    in_flight: AtomicBool,
    /// On a server's end of a session: releases go straight to the client as one-way peer
    /// messages (they need no answer, so no task and no batching turn).
    direct: Option<Arc<PeerLink>>,
}

impl ReleaseQueue {
    /// A new, empty queue.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(ReleaseQueue::default())
    }

    /// A queue whose releases are sent at once over `link`.
    pub(crate) fn direct(link: Arc<PeerLink>) -> Arc<Self> {
        Arc::new(ReleaseQueue {
            direct: Some(link),
            ..ReleaseQueue::default()
        })
    }

    /// The live reference to handle `id`, if there is one, without counting a reception.
    pub(crate) fn lookup(&self, id: HandleId) -> Option<Arc<HandleRef>> {
        let registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        registry.get(&id).and_then(Weak::upgrade)
    }

    /// Accounts for one reception of the handle `desc` and returns the `HandleRef` to share:
    /// the live one for that id (its count bumped), or a new one with count 1.
    pub(crate) fn receive(self: &Arc<Self>, desc: HandleDescriptor) -> Arc<HandleRef> {
        let mut registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(live) = registry.get(&desc.id).and_then(Weak::upgrade) {
            // Every increment happens under the registry lock, so load + store cannot lose
            // one; `Drop` reads the count only after the last strong reference is gone.
            let received = live.received.load(Ordering::Acquire);
            if received == u32::MAX {
                // The count field of a release is a u32: hand the server what we have so far
                // and start counting again; the object stays alive with one reference.
                self.push(Release {
                    handle: desc.id,
                    count: received,
                });
                live.received.store(1, Ordering::Release);
            } else {
                live.received.store(received + 1, Ordering::Release);
            }
            return live;
        }
        let fresh = Arc::new(HandleRef {
            desc,
            received: AtomicU32::new(1),
            queue: Arc::clone(self),
        });
        registry.insert(fresh.desc.id, Arc::downgrade(&fresh));
        fresh
    }

    /// Waits until no `Release` op of the background task is in flight, then takes up to `max`
    /// pending releases for a request to carry.
    pub(crate) async fn take_for_request(&self, max: usize) -> Vec<Release> {
        let _turn = self.turn.lock().await;
        self.take_pending(max)
    }

    /// [`take_for_request`](Self::take_for_request) without waiting: `None` while a `Release`
    /// op of the background task is in flight.
    pub(crate) fn try_take_for_request(&self, max: usize) -> Option<Vec<Release>> {
        // The common case, nothing queued and nothing in flight, takes no lock. The background
        // task sets `in_flight` before it empties `pending`, so a zero length that comes from
        // its batch is seen with `in_flight` set (both `SeqCst`, read in this order).
        if self.pending_len.load(Ordering::SeqCst) == 0 && !self.in_flight.load(Ordering::SeqCst) {
            return Some(Vec::new());
        }
        let _turn = self.turn.try_lock().ok()?;
        Some(self.take_pending(max))
    }

    /// Takes up to `max` pending releases, oldest first.
    pub(crate) fn take_pending(&self, max: usize) -> Vec<Release> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let taken = if pending.len() <= max {
            mem::take(&mut *pending)
        } else {
            pending.drain(..max).collect()
        };
        self.pending_len.store(pending.len(), Ordering::SeqCst);
        taken
    }

    /// Puts back releases a request took but never sent, and wakes the background task.
    pub(crate) fn requeue(&self, releases: Vec<Release>) {
        if releases.is_empty() {
            return;
        }
        {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            pending.splice(0..0, releases);
            self.pending_len.store(pending.len(), Ordering::SeqCst);
        }
        self.wake.notify_one();
    }

    /// Marks the connection closed: the background task flushes what is pending and ends.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn push(&self, release: Release) {
        if let Some(link) = &self.direct {
            link.send(PeerMessage::Release(vec![release]));
            return;
        }
        {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            pending.push(release);
            self.pending_len.store(pending.len(), Ordering::SeqCst);
        }
        // `Notify` needs no runtime: this is safe in `Drop` during runtime shutdown.
        self.wake.notify_one();
    }

    #[cfg(test)]
    fn registered(&self) -> usize {
        self.registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// The client's side of one handle: what the server told about it and how many times the
/// client received it. Shared by every [`Proxy`](crate::Proxy) for that handle; dropping the
/// last one queues the release.
#[derive(Debug)]
pub struct HandleRef {
    desc: HandleDescriptor,
    /// How many times the server sent this handle since this `HandleRef` was created.
    received: AtomicU32,
    queue: Arc<ReleaseQueue>,
}

impl HandleRef {
    /// The descriptor the server sent with the handle.
    pub(crate) fn descriptor(&self) -> &HandleDescriptor {
        &self.desc
    }

    #[cfg(test)]
    fn received(&self) -> u32 {
        self.received.load(Ordering::Acquire)
    }
}

impl Drop for HandleRef {
    fn drop(&mut self) {
        let id = self.desc.id;
        let count = *self.received.get_mut();
        let this: *const HandleRef = self;
        {
            let mut registry = self
                .queue
                .registry
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // A reply for the same id may have replaced the entry with a new `HandleRef`
            // between our last strong reference going away and this lock: leave that one.
            if registry
                .get(&id)
                .is_some_and(|weak| std::ptr::eq(weak.as_ptr(), this))
            {
                registry.remove(&id);
            }
        }
        if count > 0 {
            self.queue.push(Release { handle: id, count });
        }
    }
}

/// The background release task of one connection: on every wake-up, sends what is pending
/// with `send` (which must await the server's answer), and after the connection closes,
/// flushes once more and returns.
pub(crate) async fn run_release_task<F, Fut>(queue: Arc<ReleaseQueue>, mut send: F)
where
    F: FnMut(Vec<Release>) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        queue.wake.notified().await;
        // Let the drops of one burst (a dropped Vec of proxies, the rest of a scope) and a
        // request about to carry them get in first.
        tokio::task::yield_now().await;
        // Read before draining: everything queued before the close is sent.
        let closing = queue.is_closed();
        loop {
            // Held until the server answered, so later requests run after these releases.
            let _turn = queue.turn.lock().await;
            queue.in_flight.store(true, Ordering::SeqCst);
            let batch = queue.take_pending(MAX_RELEASES_PER_REQUEST);
            if batch.is_empty() {
                queue.in_flight.store(false, Ordering::SeqCst);
                break;
            }
            send(batch).await;
            queue.in_flight.store(false, Ordering::SeqCst);
        }
        if closing {
            tracing::debug!("connection dropped; release task done");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(id: u64) -> HandleDescriptor {
        HandleDescriptor {
            id: HandleId(id),
            type_name: "Counter".into(),
            doc: String::new(),
        }
    }

    fn release(id: u64, count: u32) -> Release {
        Release {
            handle: HandleId(id),
            count,
        }
    }

    #[test]
    fn the_same_id_twice_is_one_handle_with_count_two() {
        let queue = ReleaseQueue::new();
        let a = queue.receive(desc(3));
        let b = queue.receive(desc(3));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.received(), 2);
        assert_eq!(queue.registered(), 1);
        let other = queue.receive(desc(4));
        assert!(!Arc::ptr_eq(&a, &other));
        assert_eq!(queue.registered(), 2);
    }

    #[test]
    fn dropping_the_last_reference_queues_one_release_with_the_count() {
        let queue = ReleaseQueue::new();
        let a = queue.receive(desc(3));
        let b = queue.receive(desc(3));
        drop(a);
        assert!(
            queue.take_pending(usize::MAX).is_empty(),
            "b is still alive"
        );
        drop(b);
        assert_eq!(queue.take_pending(usize::MAX), [release(3, 2)]);
        assert_eq!(queue.registered(), 0);
        assert!(queue.take_pending(usize::MAX).is_empty());
    }

    #[test]
    fn a_reply_after_the_last_drop_creates_a_new_handle_with_its_own_count() {
        let queue = ReleaseQueue::new();
        let first = queue.receive(desc(5));
        let again = queue.receive(desc(5));
        drop(again);
        drop(first);
        // The release of count 2 is queued (maybe already on the wire) when the server's
        // next reply for id 5 arrives.
        let second = queue.receive(desc(5));
        assert_eq!(second.received(), 1);
        drop(second);
        assert_eq!(
            queue.take_pending(usize::MAX),
            [release(5, 2), release(5, 1)]
        );
    }

    #[test]
    fn a_stale_registry_entry_is_replaced_not_removed_by_the_old_drop() {
        let queue = ReleaseQueue::new();
        let old = queue.receive(desc(8));
        // Simulate the race: the registry already points at a newer `HandleRef` when the old
        // one's `Drop` runs.
        let newer = Arc::new(HandleRef {
            desc: desc(8),
            received: AtomicU32::new(1),
            queue: Arc::clone(&queue),
        });
        queue
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(HandleId(8), Arc::downgrade(&newer));
        drop(old);
        assert_eq!(queue.registered(), 1, "the newer entry survives");
        assert!(Arc::ptr_eq(&queue.receive(desc(8)), &newer));
        assert_eq!(newer.received(), 2);
        assert_eq!(queue.take_pending(usize::MAX), [release(8, 1)]);
    }

    #[test]
    fn take_pending_is_bounded_and_requeue_goes_first() {
        let queue = ReleaseQueue::new();
        for id in 0..5 {
            drop(queue.receive(desc(id)));
        }
        let batch = queue.take_pending(2);
        assert_eq!(batch, [release(0, 1), release(1, 1)]);
        queue.requeue(batch);
        let all = queue.take_pending(usize::MAX);
        let ids: Vec<u64> = all.iter().map(|r| r.handle.0).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn drop_works_without_a_runtime() {
        // No tokio runtime exists in a plain #[test]: dropping must neither panic nor block.
        let queue = ReleaseQueue::new();
        drop(queue.receive(desc(1)));
        queue.close();
        assert_eq!(queue.take_pending(usize::MAX), [release(1, 1)]);
    }

    #[tokio::test]
    async fn the_task_sends_batches_and_flushes_at_close() {
        let queue = ReleaseQueue::new();
        let sent = Arc::new(Mutex::new(Vec::<Vec<Release>>::new()));
        let task = tokio::spawn(run_release_task(Arc::clone(&queue), {
            let sent = Arc::clone(&sent);
            move |batch| {
                sent.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(batch);
                async {}
            }
        }));
        let handles: Vec<_> = (1..=3).map(|id| queue.receive(desc(id))).collect();
        drop(handles);
        // Wait until the task sent them.
        for _ in 0..100 {
            if !sent
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
            {
                break;
            }
            tokio::task::yield_now().await;
        }
        let last = queue.receive(desc(9));
        drop(last);
        queue.close();
        task.await.expect("the release task ends after close");
        let sent = sent.lock().unwrap_or_else(PoisonError::into_inner);
        let all: Vec<Release> = sent.iter().flatten().copied().collect();
        assert_eq!(
            all,
            [release(1, 1), release(2, 1), release(3, 1), release(9, 1)]
        );
        assert!(queue.take_pending(usize::MAX).is_empty());
    }
}
