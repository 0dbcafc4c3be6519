//! [`Proxy`]: a handle to an object that lives on the server.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use rpc_core::protocol::Member;
use rpc_core::value::HANDLE_MARKER;
use rpc_core::{Args, HandleDescriptor, HandleId, Op, Reply, Value, from_value, to_value};
use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};

use crate::args::positional;
use crate::connection::{Answer, Connection};
use crate::error::CallError;
use crate::handle_table::HandleTable;
use crate::release::HandleRef;
use crate::returned::Returned;
use crate::stream::RemoteStream;

/// A handle to an object that lives on the server: read and write its fields, call its
/// methods, list its members, copy it by value.
///
/// Every method is one round trip. A `Proxy` is cheap to clone (two reference counts) and
/// `Send + Sync`: use it from as many tasks as you like; calls run concurrently on one
/// connection.
///
/// # Dropping
///
/// The object stays alive on the server while any clone of any proxy for it exists on the
/// client. Dropping the last one queues a release, which rides on the next request or is sent
/// by a background task; it never blocks. A proxy keeps its connection open, even after every
/// `rpc_client::Client` clone is dropped.
///
/// # As an argument
///
/// A proxy serializes as a handle, so passing it in the arguments of a call (or as the value
/// of a `set`) makes the server pass the real object. Only proxies of the same connection can
/// be passed; any other is refused with [`CallError::Value`].
#[derive(Clone)]
pub struct Proxy {
    // Declared before `conn`, so the release is queued before a last reference to the
    // connection closes its release queue.
    handle: Arc<HandleRef>,
    conn: Arc<Connection>,
    timeout: Option<Duration>,
}

thread_local! {
    /// The connection whose request is being serialized on this thread (its address), or 0.
    static SENDING_ON: Cell<usize> = const { Cell::new(0) };
    /// The export table of that connection: a [`Remote`](crate::Remote) serialized into the
    /// request is exported there.
    static EXPORTING: RefCell<Option<Arc<HandleTable>>> = const { RefCell::new(None) };
}

/// Runs `f` (a conversion to [`Value`]) with `conn` as the connection proxies are being sent
/// on, so a proxy of another connection refuses to serialize and a `Remote` is exported to
/// `conn`'s peer.
pub fn sending_on<R>(conn: &Arc<Connection>, f: impl FnOnce() -> R) -> R {
    struct Restore(usize, Option<Arc<HandleTable>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SENDING_ON.with(|c| c.set(self.0));
            let table = self.1.take();
            EXPORTING.with(|e| *e.borrow_mut() = table);
        }
    }
    let table = EXPORTING.with(|e| e.borrow_mut().replace(Arc::clone(conn.exports())));
    let _restore = Restore(SENDING_ON.with(|c| c.replace(connection_key(conn))), table);
    f()
}

/// Exports `object` to the peer of the connection a request is being serialized for, and
/// describes it; `None` outside [`sending_on`].
pub(crate) fn export(
    object: Arc<dyn crate::Object>,
) -> Option<Result<HandleDescriptor, rpc_core::RemoteError>> {
    EXPORTING.with(|e| e.borrow().as_ref().map(|table| table.insert(object)))
}

fn connection_key(conn: &Arc<Connection>) -> usize {
    Arc::as_ptr(conn) as usize
}

impl Proxy {
    /// A proxy for a registered handle, calling with `timeout` (or the connection's default).
    #[doc(hidden)]
    pub fn new(handle: Arc<HandleRef>, conn: Arc<Connection>, timeout: Option<Duration>) -> Proxy {
        Proxy {
            handle,
            conn,
            timeout,
        }
    }

    /// The object's id in this session's handle table.
    pub fn id(&self) -> HandleId {
        self.handle.descriptor().id
    }

    /// The object's type name, e.g. `Counter`.
    pub fn type_name(&self) -> &str {
        &self.handle.descriptor().type_name
    }

    /// The object type's doc comment (empty when it has none).
    pub fn doc(&self) -> &str {
        &self.handle.descriptor().doc
    }

    /// This proxy's own timeout, if set with [`with_timeout`](Self::with_timeout) (or
    /// inherited); `None` means the client's default.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// A proxy for the same object whose calls time out after `timeout` (clamped into
    /// 1 ms .. 1 h). Proxies it returns inherit the timeout. The object is the same: it is
    /// released when the last proxy of either timeout is dropped.
    ///
    /// For one call, `proxy.with_timeout(d).call(..)`.
    pub fn with_timeout(&self, timeout: Duration) -> Proxy {
        Proxy {
            timeout: Some(timeout),
            ..self.clone()
        }
    }

    /// GET: reads `name`. A data field comes back by value; a field holding an object, or a
    /// method, comes back as a proxy (a method's proxy is callable with
    /// [`invoke`](Self::invoke)).
    ///
    /// # Errors
    /// [`CallError::Remote`] with `NoSuchMember`, `AccessDenied`, ... from the server; the
    /// transport errors of every call.
    pub async fn get(&self, name: &str) -> Result<Returned, CallError> {
        let op = Op::Get {
            handle: self.id(),
            name: name.to_owned(),
        };
        self.returning(op).await
    }

    /// GET of a data field, converted into `T`.
    ///
    /// # Errors
    /// As [`get`](Self::get), and [`CallError::Unexpected`] when the value does not convert.
    pub async fn get_as<T: DeserializeOwned>(&self, name: &str) -> Result<T, CallError> {
        self.get(name).await?.typed()
    }

    /// SET: writes `value` into the field `name` (type-checked by the server).
    ///
    /// # Errors
    /// [`CallError::Value`] when `value` does not convert; [`CallError::Remote`] with
    /// `WrongType`, `ReadOnly`, `NoSuchMember`, ...
    pub async fn set(&self, name: &str, value: impl Serialize) -> Result<(), CallError> {
        let converted = sending_on(&self.conn, || to_value(&value))?;
        let op = Op::Set {
            handle: self.id(),
            name: name.to_owned(),
            value: converted,
        };
        let result = self.done(op).await;
        // Proxies inside `value` stay alive (unreleased) until the server has used them.
        drop(value);
        result
    }

    /// DEL: deletes the attribute `name` (an `Option` field becomes `None`).
    ///
    /// # Errors
    /// [`CallError::Remote`] with `ReadOnly` for a field that cannot be deleted, ...
    pub async fn del(&self, name: &str) -> Result<(), CallError> {
        let op = Op::Del {
            handle: self.id(),
            name: name.to_owned(),
        };
        self.done(op).await
    }

    /// RUN: calls the method `name` with positional `args` in one round trip.
    ///
    /// `args` is a tuple or sequence of arguments, `()` for none, or a single other value: see
    /// [the convention](crate#positional-arguments).
    ///
    /// # Errors
    /// [`CallError::Value`] when `args` does not convert; [`CallError::Remote`] with `Raised`
    /// (the method returned `Err`), `Panicked`, `BadArguments`, `NoSuchMember`, ...
    pub async fn call(&self, name: &str, args: impl Serialize) -> Result<Returned, CallError> {
        let op = self.run_op(name, &args)?;
        let result = self.returning(op).await;
        // Proxies inside `args` stay alive (unreleased) until the server has used them.
        drop(args);
        result
    }

    /// RUN with positional and named arguments.
    ///
    /// Handles in `args` are plain ids: keep the proxies they came from alive until the call
    /// returns.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn call_with(&self, name: &str, args: Args) -> Result<Returned, CallError> {
        let op = Op::Run {
            handle: self.id(),
            name: Some(name.to_owned()),
            args,
        };
        self.returning(op).await
    }

    /// The RUN op calling `name` with positional `args`.
    fn run_op(&self, name: &str, args: &impl Serialize) -> Result<Op, CallError> {
        Ok(Op::Run {
            handle: self.id(),
            name: Some(name.to_owned()),
            args: sending_on(&self.conn, || positional(args))?,
        })
    }

    /// RUN, with the result converted into `T`.
    ///
    /// # Errors
    /// As [`call`](Self::call), and [`CallError::Unexpected`] when the result does not
    /// convert.
    pub async fn call_as<T: DeserializeOwned>(
        &self,
        name: &str,
        args: impl Serialize,
    ) -> Result<T, CallError> {
        // `call`'s body rather than a call to it: one future less in every call's state.
        let op = self.run_op(name, &args)?;
        let result = self.returning(op).await;
        drop(args);
        result?.typed()
    }

    /// RUN of this proxy itself, for a callable handle (a bound method obtained by
    /// [`get`](Self::get)). `args` as for [`call`](Self::call).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn invoke(&self, args: impl Serialize) -> Result<Returned, CallError> {
        let converted = sending_on(&self.conn, || positional(&args))?;
        let result = self.invoke_with(converted).await;
        drop(args);
        result
    }

    /// RUN of this proxy itself with positional and named arguments.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn invoke_with(&self, args: Args) -> Result<Returned, CallError> {
        let op = Op::Run {
            handle: self.id(),
            name: None,
            args,
        };
        self.returning(op).await
    }

    /// RUN of this proxy itself, with the result converted into `T`.
    ///
    /// # Errors
    /// As [`call_as`](Self::call_as).
    pub async fn invoke_as<T: DeserializeOwned>(
        &self,
        args: impl Serialize,
    ) -> Result<T, CallError> {
        self.invoke(args).await?.typed()
    }

    /// DIR: the object's public members, with kind, signature and doc.
    ///
    /// # Errors
    /// The transport errors of every call; [`CallError::Remote`] with `NoSuchHandle` if the
    /// session lost the object.
    pub async fn dir(&self) -> Result<Vec<Member>, CallError> {
        let op = Op::Dir { handle: self.id() };
        match self.conn.request(op, self.timeout).await? {
            Answer::Reply(Reply::Members(members)) => Ok(members),
            other => Err(Connection::unexpected("DIR", &other)),
        }
    }

    /// ALL: a copy of the object's public data, by value.
    ///
    /// # Errors
    /// [`CallError::Remote`] with `NotCopyable` for objects without a by-value form.
    pub async fn all(&self) -> Result<Value, CallError> {
        let op = Op::All { handle: self.id() };
        match self.conn.request(op, self.timeout).await? {
            Answer::Reply(Reply::Value(value)) => Ok(value),
            other => Err(Connection::unexpected("ALL", &other)),
        }
    }

    /// ALL, converted into `T` (a struct mirroring the object's public fields, a map, ...).
    ///
    /// # Errors
    /// As [`all`](Self::all), and [`CallError::Unexpected`] when the copy does not convert.
    pub async fn all_as<T: DeserializeOwned>(&self) -> Result<T, CallError> {
        let value = self.all().await?;
        let kind = value.kind_name();
        from_value(value).map_err(|e| {
            CallError::Unexpected(format!(
                "cannot read a copy of kind {kind} as {}: {e}",
                std::any::type_name::<T>()
            ))
        })
    }

    /// RUN of a method that returns a stream: its items as an async `Stream`, each converted
    /// into `T`, read in batches with a window of calls in flight (see [`RemoteStream`]).
    /// Dropping the stream stops the producer.
    ///
    /// # Errors
    /// As [`call`](Self::call), and [`CallError::Unexpected`] when the method does not return
    /// a stream. Each item is a `Result`: a failure of the producer (with the peer's stack
    /// text) or of the conversion ends the stream.
    pub async fn stream<T: DeserializeOwned>(
        &self,
        name: &str,
        args: impl Serialize,
    ) -> Result<RemoteStream<T>, CallError> {
        self.call(name, args).await?.into_proxy()?.into_stream()
    }

    /// Reads this proxy, a stream object (what a streaming method returned), as an async
    /// `Stream` of `T`.
    ///
    /// # Errors
    /// [`CallError::Unexpected`] when the object is not a stream.
    pub fn into_stream<T: DeserializeOwned>(self) -> Result<RemoteStream<T>, CallError> {
        RemoteStream::new(self)
    }

    /// Sends an op that answers data or an object.
    // `returning` and `done` map the request's future instead of awaiting it in an `async fn`
    // of their own: one future less, and one copy less of it, in every call's state.
    fn returning(&self, op: Op) -> impl Future<Output = Result<Returned, CallError>> + '_ {
        let op_name = op.name();
        self.conn
            .request(op, self.timeout)
            .map(move |answer| match answer? {
                Answer::Reply(Reply::Value(value)) => Ok(Returned::Value(value)),
                Answer::Object(handle) => Ok(Returned::Object(Proxy::new(
                    handle,
                    Arc::clone(&self.conn),
                    self.timeout,
                ))),
                other => Err(Connection::unexpected(op_name, &other)),
            })
    }

    /// Sends an op that answers `Done`.
    fn done(&self, op: Op) -> impl Future<Output = Result<(), CallError>> + '_ {
        let op_name = op.name();
        self.conn
            .request(op, self.timeout)
            .map(move |answer| match answer? {
                Answer::Reply(Reply::Done) => Ok(()),
                other => Err(Connection::unexpected(op_name, &other)),
            })
    }
}

impl Serialize for Proxy {
    /// Serializes as the handle marker newtype, which [`to_value`] turns into
    /// [`Value::Handle`].
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let sending_on = SENDING_ON.with(Cell::get);
        if sending_on != 0 && sending_on != connection_key(&self.conn) {
            return Err(serde::ser::Error::custom(format_args!(
                "the proxy {} {} belongs to another connection (server {}, session {}); \
                 handles are only valid in their own session",
                self.type_name(),
                self.id(),
                self.conn.peer(),
                self.conn.session()
            )));
        }
        serializer.serialize_newtype_struct(HANDLE_MARKER, &self.id().0)
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("type_name", &self.type_name())
            .field("id", &format_args!("{}", self.id()))
            .field("server", &self.conn.peer())
            .field("timeout", &self.timeout)
            .finish()
    }
}
