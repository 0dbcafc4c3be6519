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
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::limits::PENDING_BYTES_FROM;
use rpc_core::limits::work_budget;
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
use rpc_peer::connection::{Connection, HeldImports};
use rpc_peer::link::{Outbox, PeerLink};
use rpc_peer::panic::catch_sync;
use rpc_peer::{CallContext, HandleTable, Host, HostConfig, Step};

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

impl Outgoing {
    /// The answer to a request refused before its op ran.
    fn refused(error: RemoteError) -> Outgoing {
        Outgoing {
            response: Err(Box::new(error)),
            _charge: None,
        }
    }
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

/// A call admitted to run: while it lives it holds one of its connection's call slots,
/// counts as in flight, keeps alive the client's objects its arguments name (a method keeps
/// one longer by keeping the proxy it receives), and holds the memory charge of its large
/// arguments.
///
/// One guard rather than one per concern: a call that waits keeps it in its future, which
/// is the state its runtime moves, and each guard borrowing the session would need a
/// session of its own there.
struct Admitted {
    session: Session,
    _imports: HeldImports,
    arguments: Option<Charge>,
}

impl Admitted {
    /// Takes a call slot of `session`, or gives back an `Overloaded` error when
    /// `max_calls_in_flight` calls are running.
    fn enter(session: Session, imports: HeldImports) -> Result<Self, RemoteError> {
        let s = &session.0;
        let limit = s.shared.config.max_calls_in_flight;
        if s.running.fetch_add(1, Ordering::AcqRel) >= limit {
            s.running.fetch_sub(1, Ordering::AcqRel);
            let mut e = RemoteError::new(
                ErrorKind::Overloaded,
                format!("this connection already has {limit} calls running; retry later"),
            );
            e.session = Some(s.id);
            return Err(e);
        }
        s.shared
            .counters
            .calls_in_flight
            .fetch_add(1, Ordering::Relaxed);
        Ok(Admitted {
            session,
            _imports: imports,
            arguments: None,
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let s = &self.session.0;
        s.running.fetch_sub(1, Ordering::AcqRel);
        let counters = &s.shared.counters;
        counters.calls_total.fetch_add(1, Ordering::Relaxed);
        // Only a shutdown waits for the count to reach zero. It sets `shutting_down` before it
        // reads the count, and this reads the flag after writing the count (all `SeqCst`), so
        // one of the two sees the other: no wake-up is missed, and none is paid for otherwise.
        if counters.calls_in_flight.fetch_sub(1, Ordering::SeqCst) == 1
            && s.shared.shutting_down.load(Ordering::SeqCst)
        {
            s.shared.idle.notify_waiters();
        }
    }
}

/// What a request's log line says beside its outcome, read before the op ran.
struct Noted {
    /// The clock at the start, read only for the `call` log line.
    started: Option<Instant>,
    released: usize,
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

    /// Does all of a request that needs no waiting, which is the whole of most calls; a
    /// call that must wait (a method that awaits, a contended lock) comes back as the future
    /// that completes it.
    ///
    /// This is the measured fast path of the server (`scripts/callgrind.sh`): a call
    /// answered here leaves tarpc a response of a few words to hold, where an `async` handler
    /// is a future of several hundred bytes that tarpc's adaptors copy at every hop.
    fn start(self, mut request: Request) -> Result<Outgoing, Rest> {
        let s = &self.0;
        // Releases apply whatever happens to the op (overload, shutdown): they only free
        // memory, and the client never sends them twice.
        let releases = s.host.apply_releases(std::mem::take(&mut request.releases));
        let imports = s.client.hold_imports(&request.op);
        // Nothing of the op is done when it is refused here.
        let mut admitted = match Admitted::enter(self, imports) {
            Ok(admitted) => admitted,
            Err(e) => return Ok(Outgoing::refused(e)),
        };
        let s = &admitted.session.0;
        // Large arguments count against the connection's memory while the call holds them
        // (running, or waiting for its object's lock).
        match charge(&s.pending, arguments_size(&request.op), "a request") {
            Ok(charged) => admitted.arguments = charged,
            Err(mut e) => {
                e.session = Some(s.id);
                return Ok(Outgoing::refused(e));
            }
        }
        let noted = Noted {
            started: enabled!(Level::DEBUG).then(Instant::now),
            released: match &releases {
                Ok(n) => *n,
                Err(_) => 0,
            },
        };
        trace!(session = s.id, ?request, "request");
        let chain = rpc_peer::chain::received(request.chain);
        match admitted
            .session
            .dispatch(&mut request.op, releases.map(|_| ()))
        {
            Step::Done(result) => Ok(admitted.session.conclude(result, &request.op, &noted)),
            Step::Wait(waiting) => Err(Box::pin(async move {
                let session = &admitted.session;
                let result = session.0.host.finish(waiting, &mut request.op, chain).await;
                // Cancelling this future cannot lose a handle: the host registers them only
                // in its last, await-free step, and `conclude` has no await.
                session.conclude(result, &request.op, &noted)
            })),
        }
    }

    /// Checks and charges a reply, places an error, logs the call: the last step of every
    /// request that was admitted.
    fn conclude(&self, mut result: Outcome, op: &Op, noted: &Noted) -> Outgoing {
        let s = &self.0;
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
            s.host.decorate(e, op);
        }
        debug!(
            session = s.id,
            op = op.name(),
            handle = Host::target(op).map(|t| t.0.0),
            member = Host::target(op).and_then(|t| t.1),
            released = noted.released,
            ok = result.is_ok(),
            micros = noted.started.map(|t| t.elapsed().as_micros() as u64),
            "call"
        );
        trace!(session = s.id, ?result, "reply");
        Outgoing {
            response: result.map_err(Box::new),
            _charge: reply_charge,
        }
    }

    /// Starts one op: the session's own ops end here, ops on objects go to the host;
    /// `releases` is the outcome of the request's releases, answered by BYE.
    fn dispatch(&self, op: &mut Op, releases: Result<(), Box<RemoteError>>) -> Step {
        match op {
            Op::Get { .. }
            | Op::Set { .. }
            | Op::Del { .. }
            | Op::Run { .. }
            | Op::Dir { .. }
            | Op::All { .. }
                if self.admits(op).is_ok() =>
            {
                self.0.host.start(op)
            }
            op => Step::Done(self.answer(op, releases)),
        }
    }

    /// Whether the server takes `op` now: not while it shuts down, and only `hello` first.
    fn admits(&self, op: &Op) -> Result<(), RemoteError> {
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
        Ok(())
    }

    /// Answers an op the session owns (`hello`, `open`, BYE, ping, `stats`), or the error
    /// that `admits` gives an op on an object.
    fn answer(&self, op: &mut Op, releases: Result<(), Box<RemoteError>>) -> Outcome {
        let s = &self.0;
        self.admits(op)?;
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
            // Admitted ops on objects went to the host in `dispatch`.
            op => Err(RemoteError::new(
                ErrorKind::Protocol,
                format!("{} is not an op of the session", op.name()),
            )),
        }
    }
}

/// A request after [`Session::start`]: answered, or the future of its rest.
/// The rest of a request that has to wait, as [`Session::start`] leaves it.
type Rest = Pin<Box<dyn Future<Output = Outgoing> + Send>>;

/// A request's state between `serve` and its response.
enum Work {
    /// Answered in `serve`; taken by the one poll that follows.
    Ready(Option<Outgoing>),
    Waiting(Box<Waiting>),
}

/// A request's rest that waits, with what its deadline needs; boxed, so that a call
/// answered at once carries none of it.
struct Waiting {
    rest: Rest,
    span: Option<tracing::Span>,
    /// The request's deadline on the wire.
    deadline: Instant,
    session: u64,
    /// Armed at the first poll that finds the rest waiting (the clock is read only then),
    /// for the work budget: the deadline less the reply margin. With the budget it had.
    timer: Option<(Pin<Box<Sleep>>, Duration)>,
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
        // tarpc's trace id is zero without an OpenTelemetry layer: number requests per session.
        let number = self.0.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let span = tracing::debug_span!("call", request = number);
        // A disabled span (no subscriber wants it) is not entered at every poll.
        let span = (!span.is_disabled()).then_some(span);
        let session = self.0.id;
        // tarpc calls `serve` inside the first poll of the request's task, so the work that
        // needs no waiting is done here, before any future of it exists.
        let work = {
            let _entered = span.as_ref().map(tracing::Span::enter);
            self.start(request)
        };
        Respond(match work {
            Ok(out) => Work::Ready(Some(out)),
            // Stop the rest a reply margin before the request's deadline, so the reply is
            // written before tarpc expires the request (and drops a reply that could carry a
            // handle). Cancelling the rest cannot lose a handle (see `start`).
            Err(rest) => Work::Waiting(Box::new(Waiting {
                rest,
                span,
                deadline: ctx.deadline,
                session,
                timer: None,
            })),
        })
    }
}

/// One request's work until its deadline, answered as tarpc's response.
///
/// Most calls are answered in `serve` (an uncontended lock, no I/O): they pay for no timer
/// and no boxed future, and the future tarpc holds is a few words.
struct Respond(Work);

impl Future for Respond {
    type Output = Result<Outgoing, ServerError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let waiting = match &mut self.0 {
            Work::Ready(out) => {
                // tarpc polls a request's future until it is ready, once after `serve` here.
                let out = out.take().expect("a ready response is polled once");
                return Poll::Ready(Ok(out));
            }
            Work::Waiting(waiting) => waiting,
        };
        let _entered = waiting.span.as_ref().map(tracing::Span::enter);
        if let Poll::Ready(out) = waiting.rest.as_mut().poll(cx) {
            return Poll::Ready(Ok(out));
        }
        let deadline = waiting.deadline;
        let (timer, budget) = waiting.timer.get_or_insert_with(|| {
            let now = Instant::now();
            let budget = work_budget(deadline.saturating_duration_since(now));
            (
                Box::pin(tokio::time::sleep_until((now + budget).into())),
                budget,
            )
        });
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let mut e = RemoteError::new(
            ErrorKind::TimedOut,
            format!("the call did not finish within its deadline ({budget:?})"),
        );
        e.session = Some(waiting.session);
        Poll::Ready(Ok(Outgoing::refused(e)))
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
