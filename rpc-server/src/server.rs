//! [`Server`] and [`ServerBuilder`]: registration, the accept loop, connection tasks and
//! shutdown.
//!
//! The accept loop checks the peer against the [`Allowlist`] before a byte is read, takes a
//! connection permit, and spawns one task per connection. A connection's failure is logged in
//! its own task and never reaches the accept loop. Accept errors (such as running out of file
//! descriptors) back off from 5 ms to 1 s instead of spinning.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures::future::{AbortHandle, Abortable, Either};
use futures::{FutureExt, StreamExt};
use rpc_core::codec::{ClientFrame, ServerFrame};
use rpc_core::protocol::ServerStats;
use rpc_core::{Args, RemoteError, WireCodec, check_name};
use rpc_peer::link::PeerMux;
use rpc_peer::panic::install_hook;
use rpc_peer::{CallContext, Object, Remote, RemoteMethods};
use tarpc::server::{BaseChannel, Channel};
use tarpc::tokio_serde;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, warn};

use crate::admission::{Admission, Refusal, Ticket};
use crate::allowlist::Allowlist;
use crate::budget::ByteBudget;
use crate::config::ServerConfig;
use crate::connection_clock::ClockedStream;
use crate::framing::FrameCodec;
use crate::session::Session;

/// Builds a per-session root from the client's `open` arguments.
type Factory =
    Box<dyn Fn(Args, &CallContext) -> Result<Arc<dyn Object>, RemoteError> + Send + Sync>;

pub(crate) enum Root {
    /// Built anew for each `open`, like the seed's `userclass(*L, **D)`.
    PerSession(Factory),
    /// One object shared by every session.
    Shared(Arc<dyn Object>),
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) sessions: AtomicU64,
    pub(crate) handles: Arc<AtomicU64>,
    pub(crate) calls_in_flight: AtomicU64,
    pub(crate) calls_total: AtomicU64,
    pub(crate) refused_allowlist: AtomicU64,
    pub(crate) refused_full: AtomicU64,
    pub(crate) refused_per_ip: AtomicU64,
    pub(crate) stalled: AtomicU64,
    pub(crate) panics: Arc<AtomicU64>,
}

/// State shared by the accept loop and every session.
pub(crate) struct ServerShared {
    pub(crate) config: ServerConfig,
    pub(crate) roots: HashMap<String, Root>,
    pub(crate) allowlist: Allowlist,
    pub(crate) counters: Counters,
    pub(crate) shutting_down: AtomicBool,
    /// Notified when `calls_in_flight` drops to zero.
    pub(crate) idle: Notify,
    /// Incoming frames being buffered by every connection (`max_partial_frame_bytes`).
    frame_budget: Arc<ByteBudget>,
    next_session: AtomicU64,
}

impl ServerShared {
    pub(crate) fn stats(&self) -> ServerStats {
        let c = &self.counters;
        ServerStats {
            sessions: c.sessions.load(Ordering::Relaxed),
            handles: c.handles.load(Ordering::Relaxed),
            calls_in_flight: c.calls_in_flight.load(Ordering::Relaxed),
            refused_allowlist_total: c.refused_allowlist.load(Ordering::Relaxed),
            refused_full_total: c.refused_full.load(Ordering::Relaxed),
            refused_per_ip_total: c.refused_per_ip.load(Ordering::Relaxed),
            stalled_total: c.stalled.load(Ordering::Relaxed),
            panics_total: c.panics.load(Ordering::Relaxed),
            calls_total: c.calls_total.load(Ordering::Relaxed),
        }
    }
}

/// Why a server could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A root name is not a public identifier (it could never be opened).
    #[error("root name {name:?} is not usable: {reason}")]
    BadRootName {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: String,
    },
    /// Two roots were registered under one name.
    #[error("root {0:?} is registered twice")]
    DuplicateRoot(String),
    /// A limit is zero, which would refuse everything.
    #[error("config field {0} must be greater than zero")]
    ZeroLimit(&'static str),
    /// A keepalive time under one second: the kernel counts these in whole seconds and
    /// refuses zero, which would leave dead peers to the system's defaults.
    #[error("config field {0} must be at least one second")]
    UnderOneSecond(&'static str),
}

/// Registers roots, the allowlist and the config; `build` checks them all at once.
#[must_use = "a builder does nothing until build() is called"]
pub struct ServerBuilder {
    roots: Vec<(String, Root)>,
    config: ServerConfig,
    allowlist: Allowlist,
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field(
                "roots",
                &self.roots.iter().map(|r| &r.0).collect::<Vec<_>>(),
            )
            .field("config", &self.config)
            .field("allowlist", &self.allowlist)
            .finish()
    }
}

impl ServerBuilder {
    /// Registers a per-session root: each `open(name, args)` builds a new `T` with its
    /// `#[remote(constructor)]` from the client's arguments.
    pub fn root<T: RemoteMethods>(self, name: &str) -> Self {
        self.root_with(name, |args, cx| T::construct(args, cx))
    }

    /// Registers a per-session root built by `build` from the client's `open` arguments.
    pub fn root_with<T, F>(mut self, name: &str, build: F) -> Self
    where
        T: RemoteMethods,
        F: Fn(Args, &CallContext) -> Result<T, RemoteError> + Send + Sync + 'static,
    {
        let factory: Factory =
            Box::new(move |args, cx| build(args, cx).map(|value| Remote::new(value).into_object()));
        self.roots
            .push((name.to_owned(), Root::PerSession(factory)));
        self
    }

    /// Registers an object shared by every session: `open(name)` returns a handle to it.
    /// The server keeps it alive; sessions releasing it never drop it.
    pub fn shared<T: RemoteMethods>(mut self, name: &str, object: Remote<T>) -> Self {
        self.roots
            .push((name.to_owned(), Root::Shared(object.into_object())));
        self
    }

    /// Sets the allowlist (default: loopback only).
    pub fn allowlist(mut self, allowlist: Allowlist) -> Self {
        self.allowlist = allowlist;
        self
    }

    /// Sets the limits and switches (default: [`ServerConfig::default`]).
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Checks the registration and builds the server.
    ///
    /// # Errors
    /// A root name that is not a public identifier, a name registered twice, a zero limit, or
    /// a keepalive time under one second.
    pub fn build(self) -> Result<Server, BuildError> {
        let c = &self.config;
        for (value, field) in [
            (c.max_frame_bytes, "max_frame_bytes"),
            (c.max_value_depth, "max_value_depth"),
            (c.max_handles_per_session, "max_handles_per_session"),
            (c.max_calls_in_flight, "max_calls_in_flight"),
            (c.max_pending_bytes, "max_pending_bytes"),
            (c.max_partial_frame_bytes, "max_partial_frame_bytes"),
            (c.max_connections, "max_connections"),
            (c.max_connections_per_ip, "max_connections_per_ip"),
            (c.keepalive_retries as usize, "keepalive_retries"),
        ] {
            if value == 0 {
                return Err(BuildError::ZeroLimit(field));
            }
        }
        if let Some(idle) = c.keepalive {
            for (time, field) in [
                (idle, "keepalive"),
                (c.keepalive_interval, "keepalive_interval"),
            ] {
                if time < Duration::from_secs(1) {
                    return Err(BuildError::UnderOneSecond(field));
                }
            }
        }
        let mut roots = HashMap::new();
        for (name, root) in self.roots {
            check_name(&name).map_err(|e| BuildError::BadRootName {
                name: name.clone(),
                reason: e.message,
            })?;
            if roots.insert(name.clone(), root).is_some() {
                return Err(BuildError::DuplicateRoot(name));
            }
        }
        let frame_budget = ByteBudget::new(self.config.max_partial_frame_bytes);
        Ok(Server {
            shared: Arc::new(ServerShared {
                frame_budget,
                config: self.config,
                roots,
                allowlist: self.allowlist,
                counters: Counters::default(),
                shutting_down: AtomicBool::new(false),
                idle: Notify::new(),
                next_session: AtomicU64::new(1),
            }),
        })
    }
}

/// A configured server. Cheap to clone; all clones share roots, counters and shutdown state.
#[derive(Clone)]
pub struct Server {
    shared: Arc<ServerShared>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("allowlist", &self.shared.allowlist)
            .field("stats", &self.shared.stats())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Starts registration.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            roots: Vec::new(),
            config: ServerConfig::default(),
            allowlist: Allowlist::default(),
        }
    }

    /// Current counters: sessions, handles, calls in flight, refusals, panics.
    pub fn stats(&self) -> ServerStats {
        self.shared.stats()
    }

    /// Serves connections from `listener` until the process ends.
    ///
    /// # Errors
    /// Only if the listener itself fails to report its address; accept errors are retried.
    pub async fn serve(self, listener: TcpListener) -> io::Result<()> {
        self.serve_with_shutdown(listener, std::future::pending())
            .await
    }

    /// Serves connections until `signal` completes, then shuts down: stops accepting, answers
    /// new calls with `ShuttingDown`, lets calls in flight finish for up to
    /// [`ServerConfig::shutdown_grace`], and closes every connection.
    ///
    /// # Errors
    /// Only if the listener itself fails to report its address; accept errors are retried.
    pub async fn serve_with_shutdown(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()>,
    ) -> io::Result<()> {
        install_hook();
        let local = listener.local_addr()?;
        let shared = self.shared;
        info!(%local, allow = %shared.allowlist, "listening");
        let admission = Admission::new(
            shared.config.max_connections,
            shared.config.max_connections_per_ip,
        );
        let tracker = TaskTracker::new();
        let closing = CancellationToken::new();
        let mut signal = pin!(signal);
        let mut backoff = Duration::ZERO;
        loop {
            let accepted = tokio::select! {
                biased;
                () = &mut signal => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    backoff = Duration::ZERO;
                    if !shared.allowlist.allows(peer.ip()) {
                        shared
                            .counters
                            .refused_allowlist
                            .fetch_add(1, Ordering::Relaxed);
                        warn!(%peer, "connection refused: peer not in the allowlist");
                        drop(stream);
                        continue;
                    }
                    let ticket = match admission.admit(peer.ip()) {
                        Ok(ticket) => ticket,
                        Err(refusal) => {
                            let (counter, why) = match refusal {
                                Refusal::Full => (&shared.counters.refused_full, "server full"),
                                Refusal::PerIp => {
                                    (&shared.counters.refused_per_ip, "too many from this IP")
                                }
                            };
                            counter.fetch_add(1, Ordering::Relaxed);
                            warn!(%peer, reason = why, "connection refused");
                            drop(stream);
                            continue;
                        }
                    };
                    let id = shared.next_session.fetch_add(1, Ordering::Relaxed);
                    // Every line logged for this connection, its calls included, carries
                    // the session id and the peer.
                    let span = tracing::info_span!("session", id, %peer);
                    let connection = serve_connection(
                        Arc::clone(&shared),
                        stream,
                        peer,
                        id,
                        closing.clone(),
                        ticket,
                    );
                    // A span no subscriber wants is not entered at every poll.
                    tracker.spawn(if span.is_disabled() {
                        Either::Left(connection)
                    } else {
                        Either::Right(connection.instrument(span))
                    });
                }
                Err(error) => {
                    backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                    warn!(%error, ?backoff, "accept failed; backing off");
                    tokio::select! {
                        () = &mut signal => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                }
            }
        }
        drop(listener);
        shared.shutting_down.store(true, Ordering::SeqCst);
        info!(grace = ?shared.config.shutdown_grace, "shutting down: no new connections or calls");
        let drained = tokio::time::timeout(shared.config.shutdown_grace, async {
            loop {
                let idle = shared.idle.notified();
                let mut idle = pin!(idle);
                idle.as_mut().enable();
                // `SeqCst`, after the flag: see `InFlight`'s drop.
                if shared.counters.calls_in_flight.load(Ordering::SeqCst) == 0 {
                    break;
                }
                idle.await;
            }
        })
        .await;
        if drained.is_err() {
            warn!("grace period over; closing connections with calls still running");
        }
        closing.cancel();
        tracker.close();
        tracker.wait().await;
        info!("server stopped");
        Ok(())
    }

    /// Spawns [`serve_with_shutdown`](Self::serve_with_shutdown) on the current runtime and
    /// returns a handle that knows the bound address and can stop it.
    ///
    /// # Errors
    /// The listener cannot report its local address.
    pub fn spawn(self, listener: TcpListener) -> io::Result<RunningServer> {
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(self.serve_with_shutdown(listener, async move {
            // A dropped sender is a stop request too.
            let _ = stopped.await;
        }));
        Ok(RunningServer {
            addr,
            stop: Some(stop),
            task,
        })
    }
}

/// A server running in the background (from [`Server::spawn`]).
///
/// Dropping it stops the server, as [`shutdown`](Self::shutdown) does, without waiting.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

impl RunningServer {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and waits until every connection is closed.
    ///
    /// # Errors
    /// The server task failed or panicked.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(join) => Err(io::Error::other(join)),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn serve_connection(
    shared: Arc<ServerShared>,
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    closing: CancellationToken,
    _ticket: Ticket,
) {
    if let Err(error) = stream.set_nodelay(true) {
        debug!(%peer, %error, "could not set TCP_NODELAY");
    }
    if let Some((keepalive, user_timeout)) = shared.config.tcp_keepalive() {
        let socket = socket2::SockRef::from(&stream);
        if let Err(error) = socket.set_tcp_keepalive(&keepalive) {
            debug!(%peer, %error, "could not set TCP keepalive");
        }
        // Keepalive does not probe while sent data awaits acknowledgement; the user timeout
        // drops a peer that stops acknowledging after the same time.
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
        if let Err(error) = socket.set_tcp_user_timeout(Some(user_timeout)) {
            debug!(%peer, %error, "could not set TCP_USER_TIMEOUT");
        }
        #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "fuchsia")))]
        let _ = user_timeout;
    }
    let (stream, clock) = ClockedStream::new(stream);
    let frames = FrameCodec::new(
        shared.config.max_frame_bytes,
        Arc::clone(&clock),
        Arc::clone(&shared.frame_budget),
    );
    let reads = Arc::clone(&clock);
    let (session, queued) = Session::new(id, peer, Arc::clone(&shared));
    shared.counters.sessions.fetch_add(1, Ordering::Relaxed);
    info!(session = id, %peer, "session opened");
    let config = &shared.config;
    // Our framing under tarpc's message layout: `FrameCodec` is the one parser of frames
    // (limits, budget, clock), so the transport is tokio-serde over it, as tarpc's own
    // `serde_transport` is over `LengthDelimitedCodec`.
    let transport = tokio_serde::Framed::new(
        Framed::new(stream, frames),
        WireCodec::new(config.wire_limits()),
    );
    // The session's calls to the client's objects travel beside tarpc's replies.
    let transport: PeerMux<_, ClientFrame<_>, ServerFrame<_>> =
        PeerMux::new(transport, session.link(), queued);
    let requests = BaseChannel::new(tarpc::server::Config::default(), transport)
        // The session answers `Overloaded` past `max_calls_in_flight`; tarpc's own throttle is
        // only a backstop for requests arriving faster than those answers drain.
        .max_concurrent_requests(
            config
                .max_calls_in_flight
                .saturating_mul(4)
                .saturating_add(64),
        )
        .execute(session.clone());
    let spawn = config.spawn_per_call;
    // The handler itself, not an `async` block around it: the block would hold the handler
    // twice (as its capture and as what it awaits), and the future is moved at every call.
    let requests = requests.for_each_concurrent(None, |handler| {
        if spawn {
            // Each call on a task of its own: parallel on a multi-thread runtime.
            Either::Left(tokio::spawn(handler.instrument(tracing::Span::current())).map(|_| ()))
        } else {
            Either::Right(handler)
        }
    });
    let mut requests = pin!(requests);
    // The stall clock runs on a task of its own and stops the connection by aborting
    // `requests`, as a shutdown does: polled here, its timer (and a shutdown token) would be
    // polled again at every wake-up of this task, that is at every request and reply
    // (measured with callgrind). An abort flag costs one load per poll.
    let (abort, registration) = AbortHandle::new_pair();
    let mut watcher = AbortOnDrop(tokio::spawn({
        let limits = config.clock_limits();
        async move {
            let stall = tokio::select! {
                stall = clock.watch(limits) => Some(stall),
                () = closing.cancelled() => None,
            };
            abort.abort();
            stall
        }
    }));
    if Abortable::new(&mut requests, registration).await.is_err() {
        match (&mut watcher.0).await {
            Ok(Some(stall)) => {
                shared.counters.stalled.fetch_add(1, Ordering::Relaxed);
                warn!(session = id, %peer, reason = stall.describe(), "connection closed: stalled");
            }
            // Shutdown (the watcher saw `closing` and ended without a stall).
            _ => {
                // Stop reading; the session finishes what it has and writes the replies,
                // bounded.
                reads.close_reads();
                let flush = config.shutdown_grace.min(Duration::from_secs(1));
                if tokio::time::timeout(flush, &mut requests).await.is_err() {
                    debug!(session = id, "closed at shutdown with replies unsent");
                }
            }
        }
    }
    let released = session.close();
    shared.counters.sessions.fetch_sub(1, Ordering::Relaxed);
    info!(session = session.id(), %peer, released, "session closed");
}

/// A task aborted when this handle is dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
