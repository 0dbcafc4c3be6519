//! [`Host`]: the objects one end of a connection hosts for its peer, and the ops on them.
//!
//! Both ends run this: the server for its sessions' objects (GET, SET, DEL, RUN, DIR, ALL
//! arriving as requests), a client for the objects it passed to the server (the same ops
//! arriving as peer calls). What is policy of one end (the server's `hello`, `open`, call
//! slots and memory charges) stays with that end; this holds no sockets and no clock.
//!
//! Every op checks its member name with the one access check ([`rpc_core::check_name`]),
//! looks the handle up in the session's [`HandleTable`], and runs user code under panic
//! capture. Errors are decorated with the session, object and member, and cut to fit a frame.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use rpc_core::limits::work_budget;
use rpc_core::{
    ErrorKind, HandleId, Op, PeerMessage, Release, RemoteError, Reply, Value, WireCodec,
    WireLimits, check_name,
};
use tokio::sync::mpsc;
use tracing::{error, warn};

use crate::call::{CallContext, Produced};
use crate::handle_table::HandleTable;
use crate::link::{IncomingCall, PeerLink};
use crate::method::BoundMethod;
use crate::object::{Object, Started};
use crate::panic::{CatchPanic, PanicReport, catch_sync};

/// Bytes the envelope of a reply (request id, result tags) adds around it, at most.
const ENVELOPE_BYTES: usize = 64;

/// What a [`Host`] needs to know besides its objects.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// The session's id, in errors and logs.
    pub session: u64,
    /// The peer's address, in logs.
    pub peer: SocketAddr,
    /// Whether errors carry stack text (it discloses paths).
    pub stack_text: bool,
    /// Bytes of error text kept (message, chain, stack), before fitting the frame.
    pub max_error_text: usize,
    /// The frame and depth limits the peer decodes replies with.
    pub limits: WireLimits,
    /// Counts panics caught in user code (shared with the server's `stats`).
    pub panics: Arc<AtomicU64>,
}

/// How far [`Host::start`] got with an op.
#[derive(Debug)]
pub enum Step {
    /// The op is done.
    Done(Result<Reply, RemoteError>),
    /// The op must wait (a method that awaits, a contended lock): [`Host::finish`] ends it.
    Wait(Waiting),
}

/// The rest of an op that has to wait, for [`Host::finish`].
pub struct Waiting(Wait);

enum Wait {
    /// A method that started and awaits.
    Method(BoxFuture<'static, Result<Produced, RemoteError>>),
    /// A field op whose object is locked, or an op on it that is a future (SET, DEL, ALL).
    Object,
}

impl std::fmt::Debug for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Wait::Method(_) => "Waiting(method)",
            Wait::Object => "Waiting(object)",
        })
    }
}

/// One session's hosted objects and the ops on them; see the module docs.
#[derive(Debug)]
pub struct Host {
    cx: CallContext,
    config: HostConfig,
}

impl Host {
    /// A host running calls in `cx` (which holds the session's table).
    pub fn new(cx: CallContext, config: HostConfig) -> Self {
        Host { cx, config }
    }

    /// The context calls run in.
    pub fn cx(&self) -> &CallContext {
        &self.cx
    }

    /// The session's table of hosted objects.
    pub fn table(&self) -> &Arc<HandleTable> {
        self.cx.table()
    }

    /// The session's id.
    pub fn session(&self) -> u64 {
        self.config.session
    }

    /// Runs GET, SET, DEL, RUN, DIR or ALL as part of call chain `chain`; any other op is a
    /// protocol error (the end that owns the session answers those itself).
    pub async fn run(&self, op: &mut Op, chain: u64) -> Result<Reply, RemoteError> {
        match self.start(op) {
            Step::Done(result) => result,
            Step::Wait(waiting) => self.finish(waiting, op, chain).await,
        }
    }

    /// Does what an op can without waiting: all of it for most calls (a sync method, a field
    /// read or DIR of a free object), or up to where it must wait, which [`Host::finish`]
    /// then completes.
    ///
    /// This is the measured fast path of a call: an end that answers at once keeps no
    /// future for the op, so the call's state that its runtime moves around stays small
    /// (an `async` op future is several hundred bytes, copied at every hop of the call
    /// through tarpc's stream adaptors; callgrind, `scripts/callgrind.sh`).
    pub fn start(&self, op: &mut Op) -> Step {
        let table = self.cx.table();
        let result = match op {
            Op::Get { handle, name } => {
                let name = name.as_str();
                if let Err(e) = check_name(name) {
                    return Step::Done(Err(e));
                }
                let object = match table.get(*handle) {
                    Ok(object) => object,
                    Err(e) => return Step::Done(Err(e)),
                };
                if object.has_method(name) {
                    let bound: Arc<dyn Object> = Arc::new(BoundMethod::new(object, name));
                    return Step::Done(table.insert(bound).map(Reply::Object));
                }
                // A free lock: read at once, under the same panic capture as user code.
                match catch_sync(|| object.try_get(name)) {
                    Ok(Some(result)) => result.and_then(|produced| self.reply(produced)),
                    Ok(None) => return Step::Wait(Waiting(Wait::Object)),
                    Err(report) => Err(self.panicked(report)),
                }
            }
            Op::Run { handle, name, args } => {
                if let Some(name) = name.as_deref() {
                    if let Err(e) = check_name(name) {
                        return Step::Done(Err(e));
                    }
                }
                let object = match table.get(*handle) {
                    Ok(object) => object,
                    Err(e) => return Step::Done(Err(e)),
                };
                let args = std::mem::take(args);
                // A sync method whose object is free runs inside `call`, under this capture.
                match catch_sync(|| object.call(name.as_deref(), args, &self.cx)) {
                    Ok(Ok(Started::Done(result))) => {
                        result.and_then(|produced| self.reply(produced))
                    }
                    Ok(Ok(Started::Pending(work))) => {
                        return Step::Wait(Waiting(Wait::Method(work)));
                    }
                    Ok(Err(e)) => Err(e),
                    Err(report) => Err(self.panicked(report)),
                }
            }
            Op::Dir { handle } => table
                .get(*handle)
                .map(|object| Reply::Members(object.members())),
            // Their object methods are futures: they complete in `finish`.
            Op::Set { .. } | Op::Del { .. } | Op::All { .. } => {
                return Step::Wait(Waiting(Wait::Object));
            }
            other => Err(RemoteError::new(
                ErrorKind::Protocol,
                format!("{} is not an op on a hosted object", other.name()),
            )),
        };
        Step::Done(result)
    }

    /// Completes an op [`Host::start`] left waiting; `op` is the same op.
    ///
    /// The chain is made current only here, for work that waits: a method that ran at once
    /// cannot have called back, and the common call pays for no scope.
    pub async fn finish(
        &self,
        waiting: Waiting,
        op: &mut Op,
        chain: u64,
    ) -> Result<Reply, RemoteError> {
        if let Wait::Method(work) = waiting.0 {
            let produced = self.guarded(crate::chain::scope(chain, work)).await?;
            return self.reply(produced);
        }
        let table = self.cx.table();
        match op {
            Op::Get { handle, name } => {
                let object = table.get(*handle)?;
                let produced = self
                    .guarded(crate::chain::scope(chain, object.get(name)))
                    .await?;
                self.reply(produced)
            }
            Op::Set {
                handle,
                name,
                value,
            } => {
                let name = name.as_str();
                check_name(name)?;
                let object = table.get(*handle)?;
                self.guarded(crate::chain::scope(
                    chain,
                    object.set(name, std::mem::take(value), &self.cx),
                ))
                .await?;
                Ok(Reply::Done)
            }
            Op::Del { handle, name } => {
                let name = name.as_str();
                check_name(name)?;
                let object = table.get(*handle)?;
                self.guarded(crate::chain::scope(chain, object.del(name)))
                    .await?;
                Ok(Reply::Done)
            }
            Op::All { handle } => {
                let object = table.get(*handle)?;
                Ok(Reply::Value(
                    self.guarded(crate::chain::scope(chain, object.all()))
                        .await?,
                ))
            }
            other => Err(RemoteError::new(
                ErrorKind::Protocol,
                format!("{} did not wait in `start`", other.name()),
            )),
        }
    }

    /// The reply for what an op produced: data by value, or an object registered as a new
    /// handle.
    ///
    /// # Errors
    /// The table is full (`QuotaExceeded`).
    pub fn reply(&self, produced: Produced) -> Result<Reply, RemoteError> {
        match produced {
            Produced::Data(value) => Ok(Reply::Value(value)),
            Produced::Object(object) => Ok(Reply::Object(self.cx.table().insert(object)?)),
        }
    }

    /// Counts and logs a panic in user code and makes it a `Panicked` error.
    pub fn panicked(&self, report: PanicReport) -> RemoteError {
        self.config.panics.fetch_add(1, Ordering::Relaxed);
        error!(
            session = self.config.session,
            peer = %self.config.peer,
            message = %report.message,
            location = %report.location,
            "user code panicked; answered with a Panicked remote error"
        );
        report.into_error(self.config.stack_text)
    }

    /// Runs user code, turning a panic into a `Panicked` error.
    pub async fn guarded<T>(
        &self,
        work: impl Future<Output = Result<T, RemoteError>>,
    ) -> Result<T, RemoteError> {
        match CatchPanic::new(work).await {
            Ok(result) => result,
            Err(report) => Err(self.panicked(report)),
        }
    }

    /// Applies releases the peer sent; returns how many there were, or the first refusal
    /// (every one is applied whatever the others do).
    pub fn apply_releases(&self, releases: Vec<Release>) -> Result<usize, Box<RemoteError>> {
        let count = releases.len();
        let mut first_error = None;
        for release in releases {
            if let Err(e) = self.cx.table().release(release.handle, release.count) {
                warn!(session = self.config.session, error = %e, "release refused");
                first_error.get_or_insert_with(|| Box::new(e));
            }
        }
        first_error.map_or(Ok(count), Err)
    }

    /// Where `op` ran: its handle and member, if it names them.
    pub fn target(op: &Op) -> Option<(HandleId, Option<&str>)> {
        match op {
            Op::Get { handle, name } | Op::Set { handle, name, .. } | Op::Del { handle, name } => {
                Some((*handle, Some(name.as_str())))
            }
            Op::Run { handle, name, .. } => Some((*handle, name.as_deref())),
            Op::Dir { handle } | Op::All { handle } => Some((*handle, None)),
            _ => None,
        }
    }

    /// Names the session, object and member in an error about `op`, drops the stack text if
    /// it is switched off, and cuts the texts until the error fits a frame.
    pub fn decorate(&self, e: &mut RemoteError, op: &Op) {
        e.session = Some(self.config.session);
        if let Some((handle, member)) = Self::target(op) {
            if e.object.is_none() {
                if let Ok(object) = self.cx.table().get(handle) {
                    e.object = Some(object.type_name().to_owned());
                }
            }
            if e.member.is_none() {
                e.member = member.map(str::to_owned);
            }
        }
        if !self.config.stack_text {
            e.stack.clear();
        }
        self.fit_error(e);
    }

    /// A reply the peer could not decode (too big, too deep) becomes an error instead, so
    /// the connection is never broken by a reply.
    ///
    /// # Errors
    /// `TooDeep` or `TooLarge`.
    pub fn check_size(&self, reply: &Reply) -> Result<(), RemoteError> {
        let Reply::Value(value) = reply else {
            return Ok(());
        };
        let limits = self.config.limits;
        // Most replies are one small scalar: nothing to walk or measure.
        let small = match value {
            Value::Str(text) => text.len() < limits.max_frame_bytes / 2,
            Value::Bytes(bytes) => bytes.len() < limits.max_frame_bytes / 2,
            Value::List(_) | Value::Tuple(_) | Value::Map(_) => false,
            _ => true,
        };
        if small {
            return Ok(());
        }
        if value.depth() > limits.max_value_depth {
            return Err(RemoteError::new(
                ErrorKind::TooDeep,
                format!(
                    "reply is nested deeper than the limit of {} levels",
                    limits.max_value_depth
                ),
            ));
        }
        let budget = limits.max_frame_bytes.saturating_sub(ENVELOPE_BYTES) as u64;
        match WireCodec::new(limits).encoded_len(reply) {
            Ok(len) if len <= budget => Ok(()),
            _ => Err(RemoteError::new(
                ErrorKind::TooLarge,
                format!(
                    "reply is larger than the frame limit of {} bytes",
                    limits.max_frame_bytes
                ),
            )),
        }
    }

    /// Cuts an error's text to the configured size, and further until the whole error fits
    /// in a frame: an error reply must never be the thing that breaks the connection.
    fn fit_error(&self, e: &mut RemoteError) {
        let limits = self.config.limits;
        let codec = WireCodec::new(limits);
        let frame_budget = limits.max_frame_bytes.saturating_sub(ENVELOPE_BYTES) as u64;
        let mut text_budget = self.config.max_error_text;
        loop {
            e.truncate_text(text_budget);
            match codec.encoded_len(&Err::<Reply, _>(&*e)) {
                Ok(len) if len <= frame_budget => return,
                _ if text_budget == 0 => {
                    // Names alone overflow a tiny frame: keep only the kind.
                    e.type_name.clear();
                    e.object = None;
                    e.member = None;
                    e.chain.clear();
                    e.stack.clear();
                    e.message.clear();
                    return;
                }
                _ => text_budget /= 2,
            }
        }
    }
}

/// The host task of a client: serves the peer's calls to this end's exports until the
/// connection closes, each call concurrently with the others and with the user's own calls,
/// so a client awaiting a server call still answers the callbacks that call makes.
pub(crate) async fn serve_peer_calls(
    host: Arc<Host>,
    link: Arc<PeerLink>,
    mut calls: mpsc::UnboundedReceiver<IncomingCall>,
) {
    let mut running = FuturesUnordered::new();
    loop {
        tokio::select! {
            call = calls.recv() => match call {
                Some(call) => {
                    let chain = crate::chain::received(call.request.chain);
                    running.push(crate::chain::scope(chain, serve_one(&host, &link, call)));
                }
                // The connection closed; what still runs has nobody to answer.
                None => break,
            },
            Some(()) = running.next(), if !running.is_empty() => {}
        }
    }
}

/// Serves one call from the peer and sends the answer.
async fn serve_one(host: &Host, link: &PeerLink, call: IncomingCall) {
    let IncomingCall {
        id,
        timeout,
        mut request,
    } = call;
    // The peer's objects in the arguments live while the call does.
    let _imports = host.cx().peer().map(|conn| conn.hold_imports(&request.op));
    if let Err(e) = host.apply_releases(std::mem::take(&mut request.releases)) {
        tracing::debug!(error = %e, "a peer call carried a refused release");
    }
    let budget = work_budget(timeout);
    let chain = crate::chain::current();
    let mut result = match tokio::time::timeout(budget, host.run(&mut request.op, chain)).await {
        Ok(result) => result,
        Err(_) => Err(RemoteError::new(
            ErrorKind::TimedOut,
            format!("the call did not finish within its deadline ({budget:?})"),
        )),
    };
    if let Ok(reply) = &result {
        if let Err(e) = host.check_size(reply) {
            result = Err(e);
        }
    }
    if let Err(e) = &mut result {
        host.decorate(e, &request.op);
    }
    link.send(PeerMessage::Reply {
        id,
        response: result.map_err(Box::new),
    });
}
