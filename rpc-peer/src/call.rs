//! What a call sees and returns: [`CallContext`], argument decoding ([`ArgReader`],
//! [`FromArg`]), result encoding ([`ToReply`], [`Produced`]) and error raising.
//!
//! `#[remote]` generates calls to these; user code rarely names them.

use std::error::Error;
use std::fmt;
use std::sync::{Arc, Weak};

use rpc_core::protocol::MemberKind;
use rpc_core::{Args, ErrorKind, HandleId, RemoteError, Value, from_value, to_value};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::connection::Connection;
use crate::handle_table::HandleTable;
use crate::object::{Object, ObjectCell, Remote, RemoteMethods};
use crate::panic::stack_here;
use crate::proxy::Proxy;

/// The session a call runs in: resolves handles passed as arguments.
#[derive(Clone)]
pub struct CallContext {
    pub(crate) session_id: u64,
    pub(crate) table: Arc<HandleTable>,
    pub(crate) stack_text: bool,
    /// The connection to the peer whose objects arrive in arguments (held weakly: a client's
    /// own connection must be able to close under its host task).
    pub(crate) peer: Weak<Connection>,
}

impl fmt::Debug for CallContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallContext")
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

impl CallContext {
    /// The context of calls in session `session_id`, resolving handles in `table`; errors carry
    /// stack text when `stack_text` is set.
    #[doc(hidden)]
    pub fn new(session_id: u64, table: Arc<HandleTable>, stack_text: bool) -> Self {
        CallContext {
            session_id,
            table,
            stack_text,
            peer: Weak::new(),
        }
    }

    /// The same context, with `peer` the connection the peer's objects are called through.
    #[doc(hidden)]
    pub fn with_peer(mut self, peer: Weak<Connection>) -> Self {
        self.peer = peer;
        self
    }

    /// The connection to the peer, while it is open.
    pub(crate) fn peer(&self) -> Option<Arc<Connection>> {
        self.peer.upgrade()
    }

    /// The session's handle table.
    #[doc(hidden)]
    pub fn table(&self) -> &Arc<HandleTable> {
        &self.table
    }

    /// The id of the session the call runs in.
    pub fn session_id(&self) -> u64 {
        self.session_id
    }

    pub(crate) fn resolve(&self, id: HandleId) -> Result<Arc<dyn Object>, RemoteError> {
        self.table.get(id)
    }
}

/// What an op produced: data by value, or an object that becomes a new handle.
pub enum Produced {
    /// Data, sent by value.
    Data(Value),
    /// An object, registered in the session's table and sent as a handle.
    Object(Arc<dyn Object>),
}

impl fmt::Debug for Produced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Produced::Data(v) => f.debug_tuple("Data").field(v).finish(),
            Produced::Object(o) => f.debug_tuple("Object").field(&o.type_name()).finish(),
        }
    }
}

/// Converts a field or a method's result into what crosses the wire.
///
/// Implemented for every `Serialize` type (sent by value) and for [`Remote<T>`] (sent as a
/// handle).
pub trait ToReply {
    /// How DIR lists a field of this type.
    const KIND: MemberKind;
    /// The value or object to send.
    ///
    /// # Errors
    /// The data cannot be represented as a [`Value`] (an integer above `i64::MAX`, ...).
    fn to_returned(&self) -> Result<Produced, RemoteError>;
}

impl<T: Serialize + ?Sized> ToReply for T {
    const KIND: MemberKind = MemberKind::Field;

    fn to_returned(&self) -> Result<Produced, RemoteError> {
        to_value(self).map(Produced::Data).map_err(|e| {
            RemoteError::new(
                ErrorKind::WrongType,
                format!("result cannot be sent as a value: {e}"),
            )
        })
    }
}

impl<T: RemoteMethods> ToReply for Remote<T> {
    const KIND: MemberKind = MemberKind::Object;

    fn to_returned(&self) -> Result<Produced, RemoteError> {
        Ok(Produced::Object(self.clone().into_object()))
    }
}

/// Converts an argument (or a SET value) into a parameter's type.
///
/// Implemented for every `DeserializeOwned` type and for [`Remote<T>`], which accepts a proxy
/// of the same session and yields the real object.
pub trait FromArg: Sized {
    /// Converts `value`.
    ///
    /// # Errors
    /// `BadArguments`-style text for a type mismatch, or a full `NoSuchHandle` error.
    fn from_arg(value: Value, cx: &CallContext) -> Result<Self, ArgError>;
}

/// Why an argument did not convert.
#[derive(Debug)]
pub enum ArgError {
    /// The value has the wrong shape for the parameter.
    Mismatch(String),
    /// The failure is already a complete remote error (an unknown handle, for instance).
    Remote(RemoteError),
}

impl<T: DeserializeOwned> FromArg for T {
    fn from_arg(value: Value, _cx: &CallContext) -> Result<Self, ArgError> {
        from_value(value).map_err(|e| ArgError::Mismatch(e.to_string()))
    }
}

impl<T: RemoteMethods> FromArg for Remote<T> {
    fn from_arg(value: Value, cx: &CallContext) -> Result<Self, ArgError> {
        let Value::Handle(id) = value else {
            return Err(ArgError::Mismatch(format!(
                "expected a remote {} object, found {}",
                T::TYPE_NAME,
                value.kind_name()
            )));
        };
        let object = cx.resolve(id).map_err(ArgError::Remote)?;
        let found = object.type_name();
        object
            .as_any()
            .downcast::<ObjectCell<T>>()
            .map(Remote)
            .map_err(|_| {
                ArgError::Mismatch(format!(
                    "expected a remote {} object, found a {found} handle",
                    T::TYPE_NAME
                ))
            })
    }
}

impl FromArg for Proxy {
    /// An object the caller passed (a client's callback, a server object handed to a
    /// callback) becomes a proxy to it, called through the same connection.
    fn from_arg(value: Value, cx: &CallContext) -> Result<Self, ArgError> {
        let Value::Hosted(desc) = value else {
            return Err(ArgError::Mismatch(format!(
                "expected a remote object of the caller, found {}",
                value.kind_name()
            )));
        };
        let Some(conn) = cx.peer() else {
            return Err(ArgError::Remote(RemoteError::new(
                ErrorKind::Protocol,
                "the connection the object came from is closed",
            )));
        };
        let handle = conn.import(*desc);
        Ok(Proxy::new(handle, conn, None))
    }
}

/// Reads a call's positional and named arguments into parameters, then checks nothing is
/// left over. Used by generated dispatch code.
#[derive(Debug)]
pub struct ArgReader<'a> {
    positional: Vec<Option<Value>>,
    named: Vec<(String, Option<Value>)>,
    method: &'static str,
    params: usize,
    cx: &'a CallContext,
}

impl<'a> ArgReader<'a> {
    /// Starts reading `args` for `method` (`Type.method`), which takes `params` parameters.
    pub fn new(args: Args, method: &'static str, params: usize, cx: &'a CallContext) -> Self {
        ArgReader {
            positional: args.positional.into_iter().map(Some).collect(),
            named: args
                .named
                .into_iter()
                .map(|(name, value)| (name, Some(value)))
                .collect(),
            method,
            params,
            cx,
        }
    }

    fn bad(&self, message: String) -> RemoteError {
        RemoteError::new(
            ErrorKind::BadArguments,
            format!("{}(): {message}", self.method),
        )
    }

    fn raw(&mut self, index: usize, name: &str) -> Result<Option<Value>, RemoteError> {
        let positional = self.positional.get_mut(index).and_then(Option::take);
        let named = self
            .named
            .iter_mut()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.take());
        match (positional, named) {
            (Some(_), Some(_)) => {
                Err(self.bad(format!("got multiple values for argument `{name}`")))
            }
            (p, n) => Ok(p.or(n)),
        }
    }

    fn convert<T: FromArg>(&self, value: Value, name: &str) -> Result<T, RemoteError> {
        T::from_arg(value, self.cx).map_err(|e| match e {
            ArgError::Mismatch(text) => self.bad(format!("argument `{name}`: {text}")),
            ArgError::Remote(err) => err,
        })
    }

    /// Takes required parameter `name` at position `index`.
    ///
    /// # Errors
    /// Missing, given twice, or of the wrong type.
    pub fn take<T: FromArg>(&mut self, index: usize, name: &str) -> Result<T, RemoteError> {
        match self.raw(index, name)? {
            Some(value) => self.convert(value, name),
            None => Err(self.bad(format!("missing argument `{name}`"))),
        }
    }

    /// Takes optional parameter `name` (an `Option<_>`); missing means `Default` (`None`).
    ///
    /// # Errors
    /// Given twice or of the wrong type.
    pub fn take_or_default<T: FromArg + Default>(
        &mut self,
        index: usize,
        name: &str,
    ) -> Result<T, RemoteError> {
        match self.raw(index, name)? {
            Some(value) => self.convert(value, name),
            None => Ok(T::default()),
        }
    }

    /// Checks that every argument was used.
    ///
    /// # Errors
    /// Extra positional arguments or unknown named ones.
    pub fn finish(self) -> Result<(), RemoteError> {
        if self.positional.len() > self.params {
            return Err(self.bad(format!(
                "takes {} argument{} but {} were given",
                self.params,
                if self.params == 1 { "" } else { "s" },
                self.positional.len()
            )));
        }
        if let Some((name, _)) = self.named.iter().find(|(_, v)| v.is_some()) {
            return Err(self.bad(format!("unexpected argument `{name}`")));
        }
        Ok(())
    }
}

/// Turns an error a method returned into a `Raised` remote error.
///
/// `E` is anything `?` could turn into a boxed error: every `std::error::Error`, `String`,
/// `&str`, `anyhow::Error`. A [`RemoteError`] passes through unchanged, so a method can raise
/// a chosen [`ErrorKind`]. `location` is the method's source location; the stack text holds it
/// and the server's frames at the point of return.
pub fn raised<E>(err: E, location: &'static str, cx: &CallContext) -> RemoteError
where
    E: Into<Box<dyn Error + Send + Sync + 'static>>,
{
    let type_name = std::any::type_name::<E>();
    let boxed: Box<dyn Error + Send + Sync> = err.into();
    let boxed = match boxed.downcast::<RemoteError>() {
        Ok(remote) => return *remote,
        Err(other) => other,
    };
    let mut remote = RemoteError::new(ErrorKind::Raised, boxed.to_string());
    remote.type_name = type_name.to_owned();
    let mut source = boxed.source();
    while let Some(cause) = source {
        remote.chain.push(cause.to_string());
        source = cause.source();
    }
    if cx.stack_text {
        remote.stack = format!("returned at {location}\n{}", stack_here());
    }
    remote
}
