//! [`PeerLink`] and [`PeerMux`]: the peer protocol beside tarpc on one connection.
//!
//! tarpc carries the client's calls to the server and their replies. Everything else the two
//! ends say ([`PeerMessage`]: the server's calls to objects the client exported, their
//! answers, releases of exported objects) travels in the same byte stream, in frames tarpc's
//! own layout leaves free (see `rpc_core::codec`). So there is one connection, opened by the
//! client, and no dial-back.
//!
//! [`PeerMux`] sits between the framed transport and tarpc's dispatch on either end. Reading,
//! it hands tarpc's frames on and delivers peer messages to the [`PeerLink`] at once (a reply
//! wakes its caller, a release applies to the export table, a call goes to the host task).
//! Writing, it passes tarpc's frames through and, whenever tarpc flushes, writes the peer
//! messages queued meanwhile. tarpc flushes whenever it has nothing else to do and is woken
//! by the queue, so a queued message waits for no other traffic.
//!
//! Dropping the mux (the connection ended) closes the link: calls waiting for an answer fail
//! with `Disconnected`, the export table is cleared, and the host task ends.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;
use futures::{Sink, Stream};
use rpc_core::codec::{InFrame, OutFrame};
use rpc_core::{PeerMessage, Reply, Request, Response};
use tokio::sync::{mpsc, oneshot};

use crate::handle_table::HandleTable;
use crate::release::ReleaseQueue;

/// A call from the peer to an object this end exported, for the host task.
#[derive(Debug)]
pub struct IncomingCall {
    /// The peer's number for the call; the reply carries it.
    pub id: u64,
    /// How long the peer waits for the answer.
    pub timeout: Duration,
    /// The op and the releases it carries.
    pub request: Request,
}

/// Why a call over the link got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// The connection is gone (or went while waiting).
    Closed,
    /// No answer within the call's time.
    Timeout,
    /// This many calls already wait for the peer (the cap in flight).
    Busy(usize),
}

#[derive(Debug, Default)]
struct LinkState {
    /// Calls waiting for the peer's answer, by id.
    waiting: HashMap<u64, oneshot::Sender<Response>>,
    /// Where calls from the peer go; `None` when this end serves none (or after the close).
    host: Option<mpsc::UnboundedSender<IncomingCall>>,
    closed: bool,
}

/// Peer messages waiting to be written, and the task that writes them.
///
/// Not a channel: the mux looks for messages at every flush of tarpc's, several times per
/// call on both ends, and a channel's `poll_recv` on an empty queue cost about 1,000
/// instructions per call (callgrind); a flag read costs one, and the writer's waker is
/// registered only when the queue is empty (`AtomicWaker`, which keeps a waker it already has).
#[derive(Debug, Default)]
pub struct Outbox {
    messages: Mutex<VecDeque<PeerMessage>>,
    /// Set while `messages` is not empty.
    waiting: AtomicBool,
    writer: AtomicWaker,
    /// Set while `writer` holds a waker no push has used yet: the writer (one task for the
    /// transport's whole life, tarpc's dispatch or the connection's task) need not register
    /// again at every flush.
    armed: AtomicBool,
    /// Set when the connection is gone: nothing more is queued.
    closed: AtomicBool,
}

impl Outbox {
    fn push(&self, message: PeerMessage) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        self.messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(message);
        self.waiting.store(true, Ordering::Release);
        // The wake takes the waker: the writer registers again when it next finds nothing.
        self.armed.store(false, Ordering::Release);
        self.writer.wake();
    }

    /// The next message, or `None` with the writer registered to be woken by the next push.
    ///
    /// Inlined: the common case (nothing queued, the writer already registered) is two loads,
    /// and it runs at every flush on both ends.
    #[inline]
    fn poll_pop(&self, cx: &mut Context<'_>) -> Option<PeerMessage> {
        if !self.waiting.load(Ordering::Acquire) && self.armed.load(Ordering::Acquire) {
            return None;
        }
        self.poll_pop_slow(cx)
    }

    #[inline(never)]
    fn poll_pop_slow(&self, cx: &mut Context<'_>) -> Option<PeerMessage> {
        if !self.waiting.load(Ordering::Acquire) {
            self.writer.register(cx.waker());
            self.armed.store(true, Ordering::Release);
            // A push between the load and the registration would be missed without this.
            if !self.waiting.load(Ordering::Acquire) {
                return None;
            }
        }
        let mut messages = self.messages.lock().unwrap_or_else(PoisonError::into_inner);
        let message = messages.pop_front();
        if messages.is_empty() {
            self.waiting.store(false, Ordering::Release);
        }
        message
    }
}

/// One connection's peer protocol state: see the module docs.
#[derive(Debug)]
pub struct PeerLink {
    outgoing: Arc<Outbox>,
    state: Mutex<LinkState>,
    next_id: AtomicU64,
    /// The objects this end exported; the peer's releases apply here.
    exports: Arc<HandleTable>,
    /// References to the peer's objects; an answer nobody waits for any more is released here.
    imports: Mutex<Weak<ReleaseQueue>>,
    max_in_flight: usize,
}

impl PeerLink {
    /// A link whose releases from the peer apply to `exports`, whose calls from the peer go to
    /// `host` (if this end serves any), and which lets at most `max_in_flight` calls wait for
    /// the peer. Returns the queue of what is to be sent, for the [`PeerMux`].
    pub fn new(
        exports: Arc<HandleTable>,
        host: Option<mpsc::UnboundedSender<IncomingCall>>,
        max_in_flight: usize,
    ) -> (Arc<PeerLink>, Arc<Outbox>) {
        let outgoing = Arc::new(Outbox::default());
        let queued = Arc::clone(&outgoing);
        let link = Arc::new(PeerLink {
            outgoing,
            state: Mutex::new(LinkState {
                host,
                ..LinkState::default()
            }),
            next_id: AtomicU64::new(1),
            exports,
            imports: Mutex::new(Weak::new()),
            max_in_flight,
        });
        (link, queued)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where answers nobody waits for release the objects they carry.
    pub(crate) fn set_imports(&self, imports: &Arc<ReleaseQueue>) {
        *self.imports.lock().unwrap_or_else(PoisonError::into_inner) = Arc::downgrade(imports);
    }

    /// The objects this end exported.
    pub fn exports(&self) -> &Arc<HandleTable> {
        &self.exports
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// Queues `message` for the peer; dropped if the connection is gone.
    pub fn send(&self, message: PeerMessage) {
        self.outgoing.push(message);
    }

    /// Calls the peer: sends `request` and waits for the answer until `deadline`, telling
    /// the peer it has `timeout`.
    ///
    /// # Errors
    /// [`LinkError`].
    pub async fn call(
        &self,
        request: Request,
        timeout: Duration,
        deadline: Instant,
    ) -> Result<Response, LinkError> {
        let (answer, answered) = oneshot::channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut state = self.state();
            if state.closed {
                return Err(LinkError::Closed);
            }
            if state.waiting.len() >= self.max_in_flight {
                return Err(LinkError::Busy(self.max_in_flight));
            }
            state.waiting.insert(id, answer);
        }
        // Forgets the call if it ends here without an answer (a timeout, or the caller
        // dropped this future); a late answer is then released by `deliver`.
        struct Forget<'a>(&'a PeerLink, u64);
        impl Drop for Forget<'_> {
            fn drop(&mut self) {
                self.0.state().waiting.remove(&self.1);
            }
        }
        let _forget = Forget(self, id);
        self.send(PeerMessage::Call {
            id,
            timeout,
            request,
        });
        match tokio::time::timeout_at(deadline.into(), answered).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(LinkError::Closed),
            Err(_) => Err(LinkError::Timeout),
        }
    }

    /// Acts on a message from the peer; never blocks.
    pub fn deliver(&self, message: PeerMessage) {
        match message {
            PeerMessage::Reply { id, response } => {
                let waiting = self.state().waiting.remove(&id);
                let unanswered = match waiting {
                    Some(caller) => caller.send(response).err(),
                    None => Some(response),
                };
                // Nobody waits any more: an object in the answer is released at once.
                if let Some(Ok(Reply::Object(desc))) = unanswered {
                    let imports = self.imports.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(imports) = imports.upgrade() {
                        drop(imports.receive(desc));
                    }
                }
            }
            PeerMessage::Release(releases) => {
                for release in releases {
                    if let Err(e) = self.exports.release(release.handle, release.count) {
                        tracing::warn!(error = %e, "release from the peer refused");
                    }
                }
            }
            PeerMessage::Call {
                id,
                timeout,
                request,
            } => {
                let refused = {
                    let state = self.state();
                    match &state.host {
                        Some(host) => host
                            .send(IncomingCall {
                                id,
                                timeout,
                                request,
                            })
                            .is_err(),
                        None => true,
                    }
                };
                if refused {
                    self.send(PeerMessage::Reply {
                        id,
                        response: Err(Box::new(rpc_core::RemoteError::new(
                            rpc_core::ErrorKind::Protocol,
                            "this end takes calls as requests, not as peer calls",
                        ))),
                    });
                }
            }
        }
    }

    /// The connection ended: answers nobody, frees every export, stops the host task.
    pub fn close(&self) {
        let (waiting, host) = {
            let mut state = self.state();
            state.closed = true;
            (std::mem::take(&mut state.waiting), state.host.take())
        };
        self.outgoing.closed.store(true, Ordering::Release);
        let unsent = std::mem::take(
            &mut *self
                .outgoing
                .messages
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        // Outside the lock: waking callers and dropping objects runs their code.
        drop((waiting, host, unsent));
        self.exports.clear();
    }
}

/// The transport tarpc sees on either end: frames of type `In` read and `Out` written by
/// `inner`, with the peer messages among them taken out and put in. See the module docs.
#[derive(Debug)]
pub struct PeerMux<T, In, Out> {
    inner: T,
    link: Arc<PeerLink>,
    queued: Arc<Outbox>,
    /// A peer message taken from the queue while the transport was full.
    held: Option<PeerMessage>,
    _frames: PhantomData<fn(In) -> Out>,
}

impl<T, In, Out> PeerMux<T, In, Out> {
    /// Wraps `inner`, with `queued` the queue [`PeerLink::new`] returned for `link`.
    pub fn new(inner: T, link: Arc<PeerLink>, queued: Arc<Outbox>) -> Self {
        PeerMux {
            inner,
            link,
            queued,
            held: None,
            _frames: PhantomData,
        }
    }
}

impl<T, In, Out> Drop for PeerMux<T, In, Out> {
    fn drop(&mut self) {
        self.link.close();
    }
}

impl<T, In, Out> Stream for PeerMux<T, In, Out>
where
    T: Stream<Item = io::Result<In>> + Unpin,
    In: InFrame,
{
    type Item = io::Result<In::Tarpc>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match ready!(Pin::new(&mut self.inner).poll_next(cx)) {
                Some(Ok(frame)) => match frame.split() {
                    Ok(message) => return Poll::Ready(Some(Ok(message))),
                    Err(peer) => self.link.deliver(peer),
                },
                Some(Err(e)) => {
                    self.link.close();
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    self.link.close();
                    return Poll::Ready(None);
                }
            }
        }
    }
}

impl<T, In, Out> PeerMux<T, In, Out>
where
    T: Sink<Out, Error = io::Error> + Unpin,
    Out: OutFrame,
{
    /// Writes the queued peer messages into the transport, as far as it takes them.
    fn write_queued(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.held.is_none() {
                match self.queued.poll_pop(cx) {
                    Some(message) => self.held = Some(message),
                    None => return Poll::Ready(Ok(())),
                }
            }
            match Pin::new(&mut self.inner).poll_ready(cx)? {
                Poll::Ready(()) => {
                    if let Some(message) = self.held.take() {
                        Pin::new(&mut self.inner).start_send(Out::peer(message))?;
                    }
                }
                // Full: flush to make room, then try again.
                Poll::Pending => ready!(Pin::new(&mut self.inner).poll_flush(cx))?,
            }
        }
    }
}

impl<T, In, Out> Sink<Out::Tarpc> for PeerMux<T, In, Out>
where
    T: Sink<Out, Error = io::Error> + Unpin,
    Out: OutFrame,
{
    type Error = io::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Out::Tarpc) -> io::Result<()> {
        Pin::new(&mut self.inner).start_send(Out::tarpc(item))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.write_queued(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.write_queued(cx))?;
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
