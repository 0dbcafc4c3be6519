//! [`Connection`]: one TCP session with a server. Opens it (TCP, framing, `hello`), sends
//! every request with its deadline and piggybacked releases, and maps transport failures to
//! [`CallError`]s.
//!
//! # Timeouts
//!
//! Each call's deadline is `now + timeout`, where `timeout` is the per-call override, else the
//! proxy's, else the client's default, clamped into
//! [`MIN_DEADLINE`](rpc_core::limits::MIN_DEADLINE) ..
//! [`MAX_DEADLINE`](rpc_core::limits::MAX_DEADLINE). The deadline travels with the request and
//! the server aborts the call when it passes, so a timeout frees the server too.
//!
//! # Calls run to completion
//!
//! Each call runs in its own task, which the caller's future only waits for. Dropping that
//! future (a `select!`, an outer `tokio::time::timeout`) therefore never drops the tarpc
//! future, which would send a `Cancel` and could abort the piggybacked releases on the server;
//! and a handle in a reply that arrives after the caller stopped waiting still goes through the
//! release registry and is released.

use std::fmt;
use std::future::Future;
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::FutureExt;
use rpc_core::codec::request_context;
use rpc_core::codec::{ClientFrame, ServerFrame};
use rpc_core::limits::{DEFAULT_MAX_ERROR_TEXT, clamp_deadline, wire_deadline};
use rpc_core::protocol::{ObjectServiceRequest, ObjectServiceResponse, ServerInfo};
use rpc_core::{
    ErrorKind, HandleDescriptor, Op, PROTOCOL_VERSION, Release, RemoteError, Reply, Request,
    Response, Value, WireCodec, WireLimits,
};
use tarpc::client::{NewClient, RpcError};
use tarpc::context;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::codec::LengthDelimitedCodec;

use crate::call::CallContext;
use crate::error::{CallError, ConnectError, RemoteFailure, Side};
use crate::handle_table::HandleTable;
use crate::host::{Host, HostConfig, serve_peer_calls};
use crate::link::{LinkError, PeerLink, PeerMux};
use crate::release::{HandleRef, MAX_RELEASES_PER_REQUEST, ReleaseQueue, run_release_task};

/// Bytes tarpc's envelope adds around our [`Request`]: message and op tags, request id,
/// deadline and trace context, all varint-encoded (at most about 52 bytes).
const ENVELOPE_BYTES: u64 = 64;

/// How long the background task waits for the server to answer one batch of releases.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(60);

/// Calls with a timeout shorter than this get a timer of their own, so they fail at the
/// timeout even when the server does not answer. Longer ones (the default is an hour) rely on
/// the server's `TimedOut` answer and on tarpc's deadline, which is at most
/// [`REPLY_MARGIN`](rpc_core::limits::REPLY_MARGIN) (500 ms, 10 % of this) later: one timer
/// less per call (see `docs/DECISIONS.md`).
const OWN_TIMER_BELOW: Duration = Duration::from_secs(5);

/// What [`Connection::start`] needs to know (the fields of
/// `rpc_client::ClientBuilder`).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Default per-call timeout.
    pub timeout: Duration,
    /// Time for TCP connect plus `hello`.
    pub connect_timeout: Duration,
    /// Frame and depth limits for both directions.
    pub limits: WireLimits,
    /// Sent in `hello`.
    pub client_name: String,
    /// Objects this client may export to the server at once (handles in its table).
    pub max_exports: usize,
    /// Whether errors raised by this client's exported objects carry stack text.
    pub stack_text: bool,
}

/// The peer's objects an incoming request names, kept alive while it lives
/// ([`Connection::hold_imports`]).
#[derive(Debug)]
pub struct HeldImports {
    // Kept for their drop, which releases what the request's work did not keep.
    _held: Vec<Arc<HandleRef>>,
}

/// One session with a server, shared by every `rpc_client::Client` clone and
/// [`Proxy`](crate::Proxy) of it. Dropping the last one closes the release queue; the
/// background task flushes and ends, and tarpc closes the socket once nothing uses it.
pub struct Connection {
    route: Route,
    releases: Arc<ReleaseQueue>,
    /// The objects this end exports to the peer: a client's callbacks, a server session's
    /// objects.
    exports: Arc<HandleTable>,
    /// The peer protocol on this connection.
    link: Arc<PeerLink>,
    session: u64,
    peer: SocketAddr,
    default_timeout: Duration,
    /// The largest request the server and this client both accept.
    frame_limit: u64,
    /// Measures requests; its own limit is unbounded so it reports the real size.
    measure: WireCodec,
}

/// How a connection's calls reach the peer's objects.
enum Route {
    /// A client's: tarpc requests to the server, which answered `hello` with `info`.
    Requests { stub: Stub, info: ServerInfo },
    /// A server session's: peer calls to objects the client exported.
    Peer,
}

/// A successful answer, with a returned handle already accounted for in the registry.
#[derive(Debug)]
pub enum Answer {
    /// Any reply but `Object`.
    Reply(Reply),
    /// A handle, registered.
    Object(Arc<HandleRef>),
}

impl Connection {
    /// Opens a session over `stream`, a connection to the server at `peer` made at
    /// `started`: says `hello` (within what is left of the connect timeout) and starts the
    /// release task.
    ///
    /// # Errors
    /// See [`ConnectError`].
    pub async fn start<S>(
        stream: S,
        peer: SocketAddr,
        started: Instant,
        settings: &Settings,
    ) -> Result<Arc<Connection>, ConnectError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let framed = LengthDelimitedCodec::builder()
            .max_frame_length(settings.limits.max_frame_bytes)
            .new_framed(stream);
        // What the codec may send; lowered to the server's frame limit after `hello`.
        let send_limit = Arc::new(AtomicUsize::new(settings.limits.max_frame_bytes));
        // tokio-serde over the framed stream, as tarpc's `serde_transport` is, without its
        // wrapper (which maps every item's error again): 156 instructions per call fewer.
        let transport = tarpc::tokio_serde::Framed::new(
            framed,
            WireCodec::with_send_limit(settings.limits, Arc::clone(&send_limit)),
        );
        // Calls from the server to this client's exports arrive beside tarpc's replies.
        let exports = Arc::new(HandleTable::new(
            settings.max_exports,
            Arc::new(AtomicU64::new(0)),
        ));
        let (calls, incoming) = mpsc::unbounded_channel();
        let (link, queued) = PeerLink::new(Arc::clone(&exports), Some(calls), usize::MAX);
        let transport: PeerMux<_, ServerFrame<ObjectServiceResponse>, ClientFrame<_>> =
            PeerMux::new(transport, Arc::clone(&link), queued);
        let NewClient {
            client: stub,
            dispatch,
        } = tarpc::client::new(tarpc::client::Config::default(), transport);
        tokio::spawn(async move {
            match dispatch.await {
                Ok(()) => tracing::debug!(%peer, "connection closed"),
                Err(e) => tracing::info!(%peer, error = %chain_text(&e), "connection broken"),
            }
        });

        let remaining = settings.connect_timeout.saturating_sub(started.elapsed());
        let ctx = request_context(Instant::now() + clamp_deadline(remaining));
        let hello = Request {
            chain: 0,
            releases: Vec::new(),
            op: Op::Hello {
                protocol: PROTOCOL_VERSION,
                client: settings.client_name.clone(),
            },
        };
        let info = match call(&stub, ctx, hello).await {
            Ok(Ok(Reply::Hello(info))) => info,
            Ok(Ok(other)) => {
                return Err(ConnectError::Protocol(format!(
                    "expected server info in answer to hello, got {}",
                    reply_kind(&other)
                )));
            }
            Ok(Err(remote)) => return Err(ConnectError::Refused(*remote)),
            Err(RpcError::DeadlineExceeded) => return Err(ConnectError::Timeout),
            Err(RpcError::Shutdown | RpcError::Channel(_) | RpcError::Send(_)) => {
                tracing::warn!(%peer, "server closed the connection at connect");
                return Err(ConnectError::Closed { addr: peer });
            }
            Err(RpcError::Server(e)) => {
                return Err(ConnectError::Protocol(format!(
                    "the server aborted hello: {e}"
                )));
            }
        };
        if info.protocol != PROTOCOL_VERSION {
            return Err(ConnectError::Refused(RemoteError::new(
                ErrorKind::VersionMismatch,
                format!(
                    "the server speaks protocol {}, this client {PROTOCOL_VERSION}",
                    info.protocol
                ),
            )));
        }
        tracing::info!(
            %peer,
            session = info.session,
            server = %info.server,
            "connected"
        );

        let releases = ReleaseQueue::new();
        tokio::spawn(run_release_task(Arc::clone(&releases), {
            let stub = stub.clone();
            move |batch| send_releases(stub.clone(), peer, batch)
        }));
        let frame_limit = (settings.limits.max_frame_bytes as u64).min(info.max_frame_bytes);
        send_limit.store(
            usize::try_from(frame_limit).unwrap_or(usize::MAX),
            Ordering::Relaxed,
        );
        let session = info.session;
        let limits = settings.limits;
        let conn = Arc::new(Connection {
            route: Route::Requests { stub, info },
            releases,
            exports,
            link: Arc::clone(&link),
            session,
            peer,
            default_timeout: settings.timeout,
            frame_limit,
            measure: WireCodec::new(WireLimits {
                max_frame_bytes: usize::MAX,
                max_value_depth: settings.limits.max_value_depth,
            }),
        });
        conn.link.set_imports(&conn.releases);
        // The host task serves the server's calls to this client's exports, while the user's
        // own calls wait or not. It holds the connection weakly: the connection closes when
        // the user drops it, whatever the server still holds.
        let cx = CallContext::new(session, Arc::clone(&conn.exports), settings.stack_text)
            .with_peer(Arc::downgrade(&conn));
        let host = Host::new(
            cx,
            HostConfig {
                session,
                peer,
                stack_text: settings.stack_text,
                max_error_text: DEFAULT_MAX_ERROR_TEXT,
                limits,
                panics: Arc::new(AtomicU64::new(0)),
            },
        );
        tokio::spawn(serve_peer_calls(Arc::new(host), link, incoming));
        Ok(conn)
    }

    /// The end of a server session that calls the client's exports: calls go over `link` and
    /// wait `timeout` by default; the session's objects in `exports` are what the session
    /// sends the client. `limits` are the client's (the server's own, which it enforces on
    /// what it reads).
    pub fn peer_end(
        link: Arc<PeerLink>,
        peer: SocketAddr,
        session: u64,
        timeout: Duration,
        limits: WireLimits,
    ) -> Arc<Connection> {
        let releases = ReleaseQueue::direct(Arc::clone(&link));
        let conn = Arc::new(Connection {
            route: Route::Peer,
            releases,
            exports: Arc::clone(link.exports()),
            link,
            session,
            peer,
            default_timeout: timeout,
            frame_limit: limits.max_frame_bytes as u64,
            measure: WireCodec::new(WireLimits {
                max_frame_bytes: usize::MAX,
                max_value_depth: limits.max_value_depth,
            }),
        });
        conn.link.set_imports(&conn.releases);
        conn
    }

    /// What the server said in answer to `hello`; `None` on a server's end of a session.
    pub fn server_info(&self) -> Option<&ServerInfo> {
        match &self.route {
            Route::Requests { info, .. } => Some(info),
            Route::Peer => None,
        }
    }

    /// The session's id.
    pub fn session(&self) -> u64 {
        self.session
    }

    /// The peer protocol on this connection.
    pub fn link(&self) -> &Arc<PeerLink> {
        &self.link
    }

    /// The objects this end exports on this connection.
    pub fn exports(&self) -> &Arc<HandleTable> {
        &self.exports
    }

    /// Accounts for one reception of the peer's object `desc`, or finds the live reference
    /// to it that the call being served holds.
    pub fn import(&self, desc: HandleDescriptor) -> Arc<HandleRef> {
        match self.releases.lookup(desc.id) {
            Some(held) => held,
            None => self.releases.receive(desc),
        }
    }

    /// Accounts for one reception of each of the peer's objects in `op`'s arguments; the
    /// references live while the returned list does (the call that carries them), so an
    /// object a method did not keep is released when the call ends.
    pub fn hold_imports(&self, op: &Op) -> HeldImports {
        let mut held = Vec::new();
        for_each_hosted(op, |desc| held.push(self.releases.receive(desc.clone())));
        HeldImports { _held: held }
    }

    /// The server's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Sends `op` with the pending releases and waits for the answer, at most `timeout` (or
    /// the connection's default).
    pub async fn request(
        self: &Arc<Self>,
        op: Op,
        timeout: Option<Duration>,
    ) -> Result<Answer, CallError> {
        let op_name = op.name();
        let timeout = clamp_deadline(timeout.unwrap_or(self.default_timeout));
        let mut request = Request {
            // A call made while serving the peer's call continues its chain.
            chain: crate::chain::current(),
            releases: Vec::new(),
            op,
        };
        // A large op is checked before it takes releases; small ones are checked by the
        // codec as it encodes (one pass), failing with `TooLarge` and their releases put back.
        let large = op_may_be_large(&request.op, self.frame_limit);
        if large {
            self.check_size(&request)?;
        }
        let started = Instant::now();
        // One clock reading for both waits below.
        let give_up = tokio::time::Instant::from_std(started + timeout);
        request.releases = match self.releases.try_take_for_request(MAX_RELEASES_PER_REQUEST) {
            Some(releases) => releases,
            None => tokio::time::timeout_at(
                give_up,
                self.releases.take_for_request(MAX_RELEASES_PER_REQUEST),
            )
            .await
            .map_err(|_| CallError::Timeout { after: timeout })?,
        };
        if (large || request.releases.len() > 64) && self.check_size(&request).is_err() {
            // The op fits only without them: the background task sends them instead.
            self.releases.requeue(mem::take(&mut request.releases));
        }
        tracing::debug!(
            op = op_name,
            releases = request.releases.len(),
            ?timeout,
            "call"
        );
        tracing::trace!(op = ?request.op, "call op");

        // The server stops the work at `timeout` and any reply it sends arrives before this
        // later wire deadline, so a reply (and a handle in it) is never dropped by tarpc.
        let ctx = request_context(started + wire_deadline(timeout));
        // One reference for the stub and the release queue the call needs if it is detached.
        let conn = Arc::clone(self);
        let call = Detaching::new(async move {
            // Kept to put back if the request is never written.
            let carried: Vec<Release> = request.releases.clone();
            let answered = match &conn.route {
                Route::Requests { stub, .. } => call(stub, ctx, request).await,
                // Boxed: its timer would otherwise size every call's future, the client's too,
                // and be copied with it (+980 instructions per client call, callgrind).
                Route::Peer => Box::pin(conn.link.call(
                    request,
                    wire_deadline(timeout),
                    ctx.deadline,
                ))
                .await
                .map_err(|e| match e {
                    LinkError::Closed => RpcError::Shutdown,
                    LinkError::Timeout => RpcError::DeadlineExceeded,
                    LinkError::Busy(limit) => RpcError::Server(busy(limit)),
                }),
            };
            match answered {
                Ok(Ok(Reply::Object(desc))) => Ok(Ok(Answer::Object(conn.releases.receive(desc)))),
                Ok(Ok(reply)) => Ok(Ok(Answer::Reply(reply))),
                Ok(Err(remote)) => Ok(Err(remote)),
                Err(e) => {
                    if matches!(e, RpcError::Send(_)) {
                        conn.releases.requeue(carried);
                    }
                    Err(e)
                }
            }
        });
        let outcome = if timeout < OWN_TIMER_BELOW {
            // Stop waiting at the timeout; the call, detached, still takes a late reply and
            // registers (and so releases) any handle in it.
            match tokio::time::timeout_at(give_up, call).await {
                Ok(outcome) => outcome,
                Err(_) => return Err(CallError::Timeout { after: timeout }),
            }
        } else {
            // A live server answers `TimedOut` at the timeout; tarpc's deadline, at most
            // `REPLY_MARGIN` later, covers a dead one. No second timer per call.
            call.await
        };
        match outcome {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(remote)) if remote.kind == ErrorKind::TimedOut => {
                Err(CallError::Timeout { after: timeout })
            }
            Ok(Err(remote)) => Err(self.remote_error(*remote, op_name)),
            Err(e) => Err(self.rpc_error(e, op_name, timeout)),
        }
    }

    /// The error for a reply variant that does not fit `op_name`. A handle in it is released
    /// when `answer` is dropped.
    pub fn unexpected(op_name: &str, answer: &Answer) -> CallError {
        let kind = match answer {
            Answer::Reply(reply) => reply_kind(reply),
            Answer::Object(_) => "an object",
        };
        CallError::Protocol(format!("unexpected reply to {op_name}: {kind}"))
    }

    fn check_size(&self, request: &Request) -> Result<(), CallError> {
        let bytes = self
            .measure
            .encoded_len(request)
            .map_err(|e| CallError::Protocol(format!("cannot encode the request: {e}")))?
            .saturating_add(ENVELOPE_BYTES);
        if bytes > self.frame_limit {
            return Err(CallError::TooLarge {
                bytes,
                limit: self.frame_limit,
            });
        }
        Ok(())
    }

    fn remote_error(&self, mut error: RemoteError, op: &'static str) -> CallError {
        if error.session.is_none() {
            error.session = Some(self.session);
        }
        // A client's connection calls the server's objects; a session's end, the client's.
        let side = match self.route {
            Route::Requests { .. } => Side::Server,
            Route::Peer => Side::Client,
        };
        CallError::Remote(Box::new(RemoteFailure {
            error,
            side,
            peer: self.peer,
            op,
        }))
    }

    fn rpc_error(&self, e: RpcError, op: &'static str, timeout: Duration) -> CallError {
        match e {
            RpcError::DeadlineExceeded => CallError::Timeout { after: timeout },
            RpcError::Shutdown | RpcError::Channel(_) => CallError::Disconnected,
            RpcError::Send(e) => {
                let text = chain_text(&*e);
                if text.to_ascii_lowercase().contains("size limit") {
                    CallError::TooLarge {
                        bytes: 0,
                        limit: self.frame_limit,
                    }
                } else {
                    CallError::Protocol(format!("cannot send the request: {text}"))
                }
            }
            // tarpc 0.38 encodes the kind as an `i32` but decodes a `u32`; with bincode's
            // varint encoding `WouldBlock` (10) arrives as 20 and decodes as `Other`. Its
            // throttle is recognised by its detail text as well.
            RpcError::Server(e)
                if e.kind == io::ErrorKind::WouldBlock || e.detail.contains("throttled") =>
            {
                self.remote_error(RemoteError::new(ErrorKind::Overloaded, e.detail), op)
            }
            RpcError::Server(e) => {
                CallError::Protocol(format!("the server aborted the request: {e}"))
            }
        }
    }
}

/// Whether `op` could come near `frame_limit`: it has containers, many arguments, or a string
/// longer than an eighth of the limit. A cheap look, no encoding; ops it passes over are still
/// checked by the codec as it encodes them.
fn op_may_be_large(op: &Op, frame_limit: u64) -> bool {
    let long = |len: usize| len as u64 > frame_limit / 8;
    let value_large = |v: &Value| match v {
        Value::Str(s) => long(s.len()),
        Value::Bytes(b) => long(b.len()),
        Value::List(_) | Value::Tuple(_) | Value::Map(_) => true,
        _ => false,
    };
    let args_large = |args: &rpc_core::Args| {
        args.positional.len() + args.named.len() > 6
            || args.positional.iter().any(value_large)
            || args
                .named
                .iter()
                .any(|(n, v)| long(n.len()) || value_large(v))
    };
    match op {
        Op::Open { root, args } => long(root.len()) || args_large(args),
        Op::Run { name, args, .. } => {
            name.as_ref().is_some_and(|n| long(n.len())) || args_large(args)
        }
        Op::Set { name, value, .. } => long(name.len()) || value_large(value),
        Op::Get { name, .. } | Op::Del { name, .. } => long(name.len()),
        Op::Hello { client, .. } => long(client.len()),
        _ => false,
    }
}

/// A call's future, polled by the caller; if the caller drops it before it completes (an outer
/// timeout, a `select!`), the rest of it is spawned instead of dropped. Dropping a tarpc call
/// would send a `Cancel` that could abort the call after the server registered a handle for
/// its reply; detached, the reply is received and its handles are released. Calls that
/// complete, the common case, cost no task of their own.
struct Detaching<T: 'static> {
    inner: Option<Pin<Box<dyn Future<Output = T> + Send>>>,
}

impl<T: Send + 'static> Detaching<T> {
    fn new(call: impl Future<Output = T> + Send + 'static) -> Self {
        Detaching {
            inner: Some(Box::pin(call)),
        }
    }
}

impl<T: 'static> Future for Detaching<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<T> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Pending;
        };
        let output = std::task::ready!(inner.as_mut().poll(cx));
        self.inner = None;
        Poll::Ready(output)
    }
}

impl<T: 'static> Drop for Detaching<T> {
    fn drop(&mut self) {
        let Some(rest) = self.inner.take() else {
            return;
        };
        // Without a runtime (it is shutting down) the connection is going away too, and the
        // server frees the session's handles with it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let rest: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
                let _ = rest.await;
            });
            runtime.spawn(rest);
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.releases.close();
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// The tarpc channel to the server. Used directly rather than through the client type
/// `#[tarpc::service]` generates: that type's `call` wraps this one in two more futures, a
/// copy of each kept in every call's state (measured with callgrind).
type Stub = tarpc::client::Channel<ObjectServiceRequest, ObjectServiceResponse>;

/// tarpc's answer for a call refused because `limit` calls already wait for the peer.
fn busy(limit: usize) -> tarpc::ServerError {
    tarpc::ServerError::new(
        io::ErrorKind::WouldBlock,
        format!("throttled: {limit} calls to this peer are already waiting; retry later"),
    )
}

/// One request on `stub`.
fn call(
    stub: &Stub,
    ctx: context::Context,
    request: Request,
) -> impl Future<Output = Result<Response, RpcError>> + '_ {
    stub.call(ctx, ObjectServiceRequest::Call { request })
        .map(|result| result.map(|ObjectServiceResponse::Call(response)| response))
}

/// Sends one batch of releases and waits for the answer; never dropped while in flight.
async fn send_releases(stub: Stub, peer: SocketAddr, batch: Vec<Release>) {
    let count = batch.len();
    let ctx = request_context(Instant::now() + RELEASE_TIMEOUT);
    let request = Request {
        chain: 0,
        releases: batch,
        op: Op::Release,
    };
    match call(&stub, ctx, request).await {
        Ok(Ok(Reply::Done)) => tracing::debug!(%peer, count, "releases sent"),
        Ok(Ok(other)) => tracing::warn!(
            %peer,
            count,
            reply = reply_kind(&other),
            "unexpected reply to a release"
        ),
        Ok(Err(remote)) => tracing::warn!(%peer, count, error = %remote, "release failed"),
        // The session is gone, and the server freed all its handles with it.
        Err(RpcError::Shutdown | RpcError::Channel(_)) => {
            tracing::debug!(%peer, count, "releases not sent: connection closed");
        }
        Err(e) => tracing::warn!(%peer, count, error = %chain_text(&e), "releases not sent"),
    }
}

/// A short name of a reply variant, for error messages.
fn reply_kind(reply: &Reply) -> &'static str {
    match reply {
        Reply::Hello(_) => "server info",
        Reply::Value(_) => "a value",
        Reply::Object(_) => "an object",
        Reply::Members(_) => "a member list",
        Reply::Done => "done",
        Reply::Stats(_) => "server stats",
    }
}

/// `error: cause: cause`, the whole `source()` chain on one line.
fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        // Wrappers often repeat their source's text; print it once.
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// Calls `f` for every object of the sender in `op`'s arguments (a walk without recursion;
/// scalar arguments, the common case, need no stack).
fn for_each_hosted(op: &Op, mut f: impl FnMut(&HandleDescriptor)) {
    let values: &[Value] = match op {
        Op::Run { args, .. } | Op::Open { args, .. } => &args.positional,
        Op::Set { value, .. } => std::slice::from_ref(value),
        _ => return,
    };
    let named = match op {
        Op::Run { args, .. } | Op::Open { args, .. } => &args.named[..],
        _ => &[],
    };
    let mut stack: Vec<&Value> = Vec::new();
    for value in values.iter().chain(named.iter().map(|(_, v)| v)) {
        match value {
            Value::Hosted(desc) => f(desc),
            Value::List(_) | Value::Tuple(_) | Value::Map(_) => stack.push(value),
            _ => {}
        }
        while let Some(value) = stack.pop() {
            match value {
                Value::Hosted(desc) => f(desc),
                Value::List(items) | Value::Tuple(items) => stack.extend(items),
                Value::Map(pairs) => {
                    for (k, v) in pairs {
                        stack.push(k);
                        stack.push(v);
                    }
                }
                _ => {}
            }
        }
    }
}
