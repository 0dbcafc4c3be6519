//! [`Session`]: one connection's state and the dispatch of every op.
//!
//! A request arrives here from the connection task (`server.rs`), applies its releases, takes
//! a call slot and the memory charge of large arguments, answers `hello`, `open` and `stats`
//! itself, and hands the ops on objects to the session's [`Host`] (the `rpc-peer` crate's,
//! shared with the client), which runs them under panic capture.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use rpc_core::limits::{PENDING_BYTES_FROM, work_budget};
use rpc_core::protocol::{ObjectServiceRequest, ServerInfo};
use rpc_core::{
    ErrorKind, Op, PROTOCOL_VERSION, RemoteError, Reply, Request, Response, Value, check_name,
};
use serde::Serialize;
use tarpc::ServerError;
use tarpc::context;
use tarpc::server::Serve;
use tokio::time::Sleep;
use tracing::{Level, debug, enabled, trace};

use crate::budget::ByteBudget;
use crate::server::{Root, ServerShared};
use rpc_peer::connection::Connection;
use rpc_peer::link::{Outbox, PeerLink};
use rpc_peer::panic::catch_sync;
use rpc_peer::{CallContext, HandleTable, Host, HostConfig};

/// An op's result inside the session; its error is boxed at the wire (`rpc_core::Response`).
type Outcome = Result<Reply, RemoteError>;

/// One connection's session. Cheap to clone: tarpc clones it for every request.
#[derive(Clone)]
pub(crate) struct Session(Arc<SessionState>);

pub(crate) struct SessionState {
    id: u64,
    shared: Arc<ServerShared>,
    /// Set by a successful `hello`; every other op before it is a protocol error.
    greeted: AtomicBool,
    /// Calls of this connection running now, capped by `max_calls_in_flight`.
    running: AtomicUsize,
    /// Requests received, to number them in the log.
    requests: AtomicU64,
    /// Large values this connection holds, capped by `max_pending_bytes`.
    pending: Arc<ByteBudget>,
    /// The session's objects and the ops on them.
    host: Host,
    /// The session's end of the connection for calls to objects the client exported: the
    /// proxies methods receive for them call through it.
    client: Arc<Connection>,
}

/// Counts `bytes` against a connection's allowance (`ServerConfig::max_pending_bytes`) until
/// the returned charge is dropped; `None` for a small value (not counted), an `Overloaded`
/// error when the allowance would be passed.
fn charge(
    pending: &Arc<ByteBudget>,
    bytes: usize,
    what: &str,
) -> Result<Option<Charge>, RemoteError> {
    if bytes < PENDING_BYTES_FROM {
        return Ok(None);
    }
    match pending.take(bytes) {
        Ok(()) => Ok(Some(Charge {
            pending: Arc::clone(pending),
            bytes,
        })),
        Err(before) => Err(RemoteError::new(
            ErrorKind::Overloaded,
            format!(
                "{what} of about {bytes} bytes was dropped: this connection already holds \
                 {before} bytes of large arguments and unwritten replies, and its limit is {} \
                 bytes; read the replies, or retry later",
                pending.limit()
            ),
        )),
    }
}

/// Bytes counted against a connection's allowance while this lives.
pub(crate) struct Charge {
    pending: Arc<ByteBudget>,
    bytes: usize,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.pending.give_back(self.bytes);
    }
}

/// What the server sends for a request: the response, and the charge for a large reply,
/// which ends when tarpc has encoded the response into the connection's write buffer.
pub(crate) struct Outgoing {
    response: Response,
    _charge: Option<Charge>,
}

impl Serialize for Outgoing {
    /// The same bytes as `ObjectServiceResponse::Call(response)`, which clients decode.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_variant("ObjectServiceResponse", 0, "Call", &self.response)
    }
}

/// The size of a request's argument values in memory.
fn arguments_size(op: &Op) -> usize {
    let heap = |v: &Value| {
        matches!(
            v,
            Value::Str(_) | Value::Bytes(_) | Value::List(_) | Value::Tuple(_) | Value::Map(_)
        )
    };
    match op {
        // Scalar arguments hold no memory of their own worth counting.
        Op::Run { args, .. } if !args.positional.iter().any(heap) && args.named.is_empty() => 0,
        Op::Run { args, .. } | Op::Open { args, .. } => args
            .positional
            .iter()
            .chain(args.named.iter().map(|(_, v)| v))
            .map(Value::memory_size)
            .fold(0, usize::saturating_add),
        Op::Set { value, .. } => value.memory_size(),
        _ => 0,
    }
}

/// Holds one of the connection's call slots.
struct Slot<'a>(&'a AtomicUsize);

impl<'a> Slot<'a> {
    /// Takes a slot, or `None` when `limit` calls are running.
    fn take(running: &'a AtomicUsize, limit: usize) -> Option<Self> {
        let before = running.fetch_add(1, Ordering::AcqRel);
        if before >= limit {
            running.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot(running))
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counts a call as in flight for as long as it lives.
struct InFlight<'a>(&'a ServerShared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a ServerShared) -> Self {
        shared
            .counters
            .calls_in_flight
            .fetch_add(1, Ordering::Relaxed);
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let counters = &self.0.counters;
        counters.calls_total.fetch_add(1, Ordering::Relaxed);
        // Only a shutdown waits for the count to reach zero. It sets `shutting_down` before it
        // reads the count, and this reads the flag after writing the count (all `SeqCst`), so
        // one of the two sees the other: no wake-up is missed, and none is paid for otherwise.
        if counters.calls_in_flight.fetch_sub(1, Ordering::SeqCst) == 1
            && self.0.shutting_down.load(Ordering::SeqCst)
        {
            self.0.idle.notify_waiters();
        }
    }
}

impl Session {
    /// A session for the connection from `peer`, with the queue of the peer messages it
    /// will send (calls to the client's exports, releases of them), for the connection's
    /// [`PeerMux`](rpc_peer::link::PeerMux).
    pub(crate) fn new(id: u64, peer: SocketAddr, shared: Arc<ServerShared>) -> (Self, Arc<Outbox>) {
        let config = &shared.config;
        let table = Arc::new(HandleTable::new(
            config.max_handles_per_session,
            Arc::clone(&shared.counters.handles),
        ));
        // The server takes the client's calls as tarpc requests, so its link has no host.
        let (link, queued) =
            PeerLink::new(Arc::clone(&table), None, config.max_callbacks_in_flight);
        let client = Connection::peer_end(
            link,
            peer,
            id,
            config.callback_timeout,
            config.wire_limits(),
        );
        let cx = CallContext::new(id, table, config.stack_text).with_peer(Arc::downgrade(&client));
        let host = Host::new(
            cx,
            HostConfig {
                session: id,
                peer,
                stack_text: shared.config.stack_text,
                max_error_text: shared.config.max_error_text,
                limits: shared.config.wire_limits(),
                panics: Arc::clone(&shared.counters.panics),
            },
        );
        let pending = ByteBudget::new(shared.config.max_pending_bytes);
        let session = Session(Arc::new(SessionState {
            id,
            shared,
            greeted: AtomicBool::new(false),
            running: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            pending,
            host,
            client,
        }));
        (session, queued)
    }

    /// The peer protocol of this session's connection.
    pub(crate) fn link(&self) -> Arc<PeerLink> {
        Arc::clone(self.0.client.link())
    }

    pub(crate) fn id(&self) -> u64 {
        self.0.id
    }

    /// Releases every handle (the connection ended); returns how many there were.
    pub(crate) fn close(&self) -> usize {
        let held = self.0.host.table().len();
        self.0.host.table().clear();
        held
    }

    async fn handle(self, mut request: Request) -> (Outcome, Option<Charge>) {
        let s = &self.0;
        // Releases apply whatever happens to the op (overload, shutdown): they only free
        // memory, and the client never sends them twice.
        let releases = s.host.apply_releases(std::mem::take(&mut request.releases));
        // The client's objects in the arguments live while the call does (a method keeps
        // them by keeping the proxy it receives).
        let _imports = s.client.hold_imports(&request.op);
        let limit = s.shared.config.max_calls_in_flight;
        let Some(_slot) = Slot::take(&s.running, limit) else {
            // Nothing of the op was done.
            let mut e = RemoteError::new(
                ErrorKind::Overloaded,
                format!("this connection already has {limit} calls running; retry later"),
            );
            e.session = Some(s.id);
            return (Err(e), None);
        };
        let _in_flight = InFlight::enter(&s.shared);
        // Large arguments count against the connection's memory while the call holds them
        // (running, or waiting for its object's lock).
        let _arguments = match charge(&s.pending, arguments_size(&request.op), "a request") {
            Ok(charge) => charge,
            Err(mut e) => {
                e.session = Some(s.id);
                return (Err(e), None);
            }
        };
        // The clock is read only for the `call` log line below.
        let started = enabled!(Level::DEBUG).then(Instant::now);
        let op = request.op.name();
        let released = match &releases {
            Ok(n) => *n,
            Err(_) => 0,
        };
        trace!(session = s.id, ?request, "request");
        let chain = rpc_peer::chain::received(request.chain);
        let mut result = self
            .dispatch(&mut request.op, releases.map(|_| ()), chain)
            .await;
        let mut reply_charge = None;
        if let Ok(reply) = &result {
            // A large reply counts until it is written to the connection's buffer.
            let checked = s.host.check_size(reply).and_then(|()| match reply {
                Reply::Value(value) => charge(&s.pending, value.memory_size(), "a reply"),
                _ => Ok(None),
            });
            match checked {
                Ok(charged) => reply_charge = charged,
                Err(e) => result = Err(e),
            }
        }
        if let Err(e) = &mut result {
            // Where the op ran, from what is left of it (its values were taken).
            s.host.decorate(e, &request.op);
        }
        debug!(
            session = s.id,
            op,
            handle = Host::target(&request.op).map(|t| t.0.0),
            member = Host::target(&request.op).and_then(|t| t.1),
            released,
            ok = result.is_ok(),
            micros = started.map(|t| t.elapsed().as_micros() as u64),
            "call"
        );
        trace!(session = s.id, ?result, "reply");
        (result, reply_charge)
    }

    /// Runs one op of call chain `chain`; `releases` is the outcome of the request's
    /// releases, answered by BYE.
    async fn dispatch(
        &self,
        op: &mut Op,
        releases: Result<(), Box<RemoteError>>,
        chain: u64,
    ) -> Outcome {
        let s = &self.0;
        if s.shared.shutting_down.load(Ordering::Relaxed) {
            return Err(RemoteError::new(
                ErrorKind::ShuttingDown,
                "the server is shutting down",
            ));
        }
        if !matches!(op, Op::Hello { .. } | Op::Rejected(_)) && !s.greeted.load(Ordering::Acquire) {
            return Err(RemoteError::new(
                ErrorKind::Protocol,
                "the first request of a connection must be hello",
            ));
        }
        match op {
            Op::Hello { protocol, client } => {
                let protocol = *protocol;
                if protocol != PROTOCOL_VERSION {
                    return Err(RemoteError::new(
                        ErrorKind::VersionMismatch,
                        format!(
                            "client speaks protocol {protocol}, this server speaks {PROTOCOL_VERSION}"
                        ),
                    ));
                }
                s.greeted.store(true, Ordering::Release);
                debug!(session = s.id, client, "hello");
                let config = &s.shared.config;
                let mut roots: Vec<String> = s.shared.roots.keys().cloned().collect();
                roots.sort();
                Ok(Reply::Hello(ServerInfo {
                    protocol: PROTOCOL_VERSION,
                    server: config.name.clone(),
                    session: s.id,
                    max_frame_bytes: config.max_frame_bytes as u64,
                    max_value_depth: u32::try_from(config.max_value_depth).unwrap_or(u32::MAX),
                    roots,
                }))
            }
            Op::Open { root, args } => {
                let root = root.as_str();
                check_name(root)?;
                let args = std::mem::take(args);
                let object = match s.shared.roots.get(root) {
                    None => {
                        let mut known: Vec<&str> =
                            s.shared.roots.keys().map(String::as_str).collect();
                        known.sort_unstable();
                        return Err(RemoteError::new(
                            ErrorKind::NoSuchRoot,
                            format!("no root named {root:?}; this server has {known:?}"),
                        ));
                    }
                    Some(Root::Shared(object)) => Arc::clone(object),
                    Some(Root::PerSession(build)) => {
                        match catch_sync(|| build(args, s.host.cx())) {
                            Ok(built) => built.map_err(|e| e.at(root, None))?,
                            Err(report) => return Err(s.host.panicked(report).at(root, None)),
                        }
                    }
                };
                Ok(Reply::Object(s.host.table().insert(object)?))
            }
            Op::Release => releases.map(|()| Reply::Done).map_err(|e| *e),
            Op::Ping => Ok(Reply::Done),
            Op::Rejected(error) => Err((**error).clone()),
            Op::Stats => Ok(Reply::Stats(s.shared.stats())),
            op => s.host.run(op, chain).await,
        }
    }
}

impl Serve for Session {
    type Req = ObjectServiceRequest;
    type Resp = Outgoing;

    // Written out rather than generated by `#[tarpc::service]`: the generated `serve` and the
    // service method are two more `async fn` layers, each a copy of the request and context in
    // the call's future, which is moved several times per call (measured with callgrind).
    fn serve(
        self,
        ctx: context::Context,
        req: ObjectServiceRequest,
    ) -> impl Future<Output = Result<Outgoing, ServerError>> {
        let ObjectServiceRequest::Call { request } = req;
        // Stop the work a reply margin before the request's deadline, so the reply is written
        // before tarpc expires the request (and drops a reply that could carry a handle).
        // Cancelling `handle` cannot lose a handle: it registers them only in its last,
        // await-free step.
        // tarpc's trace id is zero without an OpenTelemetry layer: number requests per session.
        let number = self.0.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let span = tracing::debug_span!("call", request = number);
        let session = self.0.id;
        Respond {
            // A disabled span (no subscriber wants it) is not entered at every poll.
            span: (!span.is_disabled()).then_some(span),
            work: self.handle(request),
            deadline: ctx.deadline,
            session,
            timer: None,
        }
    }
}

pin_project_lite::pin_project! {
    /// One request's work until its deadline, answered as tarpc's response.
    ///
    /// Most calls finish on their first poll (an uncontended lock, no I/O), so the timer is
    /// armed only when the work has to wait: a call that needs no timer pays for none, and the
    /// timer lives in a box of its own rather than in every call's future.
    struct Respond<F> {
        #[pin]
        work: F,
        span: Option<tracing::Span>,
        // The request's deadline on the wire.
        deadline: Instant,
        session: u64,
        // Armed at the first poll that finds the work waiting (the clock is read only then),
        // for the work budget: the deadline less the reply margin. With the budget it had.
        timer: Option<(Pin<Box<Sleep>>, Duration)>,
    }
}

impl<F: Future<Output = (Outcome, Option<Charge>)>> Future for Respond<F> {
    type Output = Result<Outgoing, ServerError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.as_ref().map(tracing::Span::enter);
        let (response, charge) = if let Poll::Ready((outcome, charge)) = this.work.poll(cx) {
            (outcome.map_err(Box::new), charge)
        } else {
            let deadline = *this.deadline;
            let (timer, budget) = this.timer.get_or_insert_with(|| {
                let now = Instant::now();
                let budget = work_budget(deadline.saturating_duration_since(now));
                (
                    Box::pin(tokio::time::sleep_until((now + budget).into())),
                    budget,
                )
            });
            ready!(timer.as_mut().poll(cx));
            let mut e = RemoteError::new(
                ErrorKind::TimedOut,
                format!("the call did not finish within its deadline ({budget:?})"),
            );
            e.session = Some(*this.session);
            (Err(Box::new(e)), None)
        };
        Poll::Ready(Ok(Outgoing {
            response,
            _charge: charge,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rpc_core::WireCodec;
    use rpc_core::protocol::ObjectServiceResponse;

    #[test]
    fn outgoing_encodes_as_the_service_response_clients_decode() {
        let codec = WireCodec::default();
        for response in [
            Ok(Reply::Value(Value::Str("x".repeat(300)))),
            Ok(Reply::Done),
            Err(Box::new(RemoteError::new(ErrorKind::Overloaded, "busy"))),
        ] {
            let ours = codec
                .encode(&Outgoing {
                    response: response.clone(),
                    _charge: None,
                })
                .expect("encodes");
            let theirs = codec
                .encode(&ObjectServiceResponse::Call(response))
                .expect("encodes");
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn charges_are_refused_past_the_limit_and_returned_on_drop() {
        let pending = ByteBudget::new(3 * PENDING_BYTES_FROM);
        assert!(
            matches!(charge(&pending, 100, "a reply"), Ok(None)),
            "small: not counted"
        );
        let a = charge(&pending, 2 * PENDING_BYTES_FROM, "a reply").expect("fits");
        let b = charge(&pending, PENDING_BYTES_FROM, "a reply").expect("fits exactly");
        let refused = charge(&pending, PENDING_BYTES_FROM, "a reply")
            .err()
            .expect("over the limit");
        assert_eq!(refused.kind, ErrorKind::Overloaded);
        assert_eq!(pending.held(), 3 * PENDING_BYTES_FROM);
        drop((a, b));
        assert_eq!(pending.held(), 0);
    }
}
