//! [`Callback`]: a closure passed to the peer as a callable remote object.
//!
//! `proxy.call("on_done", (&Callback::new(|n: i64| println!("{n}")),))` exports the closure
//! like any `#[remote]` object; the receiving method takes it as a [`Proxy`](crate::Proxy)
//! and calls it with [`invoke`](crate::Proxy::invoke). The closure's one parameter receives
//! the single argument, or a tuple of the arguments when there are several
//! (`|(a, b): (i64, String)|`); what it returns travels back by value.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use rpc_core::value::HOSTED_MARKER;
use rpc_core::{Args, ErrorKind, RemoteError, Value, from_value, to_value};
use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};

use crate::call::{CallContext, Produced, raised};
use crate::object::{Object, Started, no_such_member};

/// A closure the peer can call: see the module docs. Cheap to clone; every clone is the same
/// object on the peer's side.
#[derive(Clone)]
pub struct Callback(Arc<dyn Object>);

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Callback")
    }
}

impl Callback {
    /// Wraps `f`; see the module docs for how arguments reach it.
    pub fn new<A, R, F>(f: F) -> Callback
    where
        A: DeserializeOwned + 'static,
        R: Serialize + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        Callback::fallible(move |a: A| Ok::<R, RemoteError>(f(a)))
    }

    /// Wraps `f`, whose `Err` reaches the caller as a `Raised` remote error with this end's
    /// stack text, as an error returned by a `#[remote]` method does.
    pub fn fallible<A, R, E, F>(f: F) -> Callback
    where
        A: DeserializeOwned + 'static,
        R: Serialize + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>> + 'static,
        F: Fn(A) -> Result<R, E> + Send + Sync + 'static,
    {
        Callback(Arc::new(FnObject {
            run: Box::new(move |args: Args, cx: &CallContext| {
                let argument = if args.positional.len() == 1 {
                    args.positional.into_iter().next().unwrap_or_default()
                } else {
                    Value::Tuple(args.positional)
                };
                let kind = argument.kind_name();
                let argument: A = from_value(argument).map_err(|e| {
                    RemoteError::new(
                        ErrorKind::BadArguments,
                        format!("callback(): cannot read an argument of kind {kind}: {e}"),
                    )
                })?;
                let returned = f(argument).map_err(|e| raised(e, "a callback", cx))?;
                to_value(&returned).map_err(|e| {
                    RemoteError::new(
                        ErrorKind::WrongType,
                        format!("callback(): result cannot be sent as a value: {e}"),
                    )
                })
            }),
        }))
    }
}

impl Serialize for Callback {
    /// Exported like a `&Remote<T>`: only as an argument of a call on a proxy.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match crate::proxy::export(Arc::clone(&self.0)) {
            Some(Ok(desc)) => serializer.serialize_newtype_struct(
                HOSTED_MARKER,
                &(desc.id.0, desc.type_name.as_str(), desc.doc.as_str()),
            ),
            Some(Err(e)) => Err(serde::ser::Error::custom(e.message)),
            None => Err(serde::ser::Error::custom(
                "a Callback can only be sent as an argument of a call on a proxy",
            )),
        }
    }
}

type Run = Box<dyn Fn(Args, &CallContext) -> Result<Value, RemoteError> + Send + Sync>;

struct FnObject {
    run: Run,
}

impl Object for FnObject {
    fn type_name(&self) -> &'static str {
        "callback"
    }

    fn doc(&self) -> &'static str {
        "A closure of the peer; call it with invoke."
    }

    fn call(
        self: Arc<Self>,
        name: Option<&str>,
        args: Args,
        cx: &CallContext,
    ) -> Result<Started, RemoteError> {
        if let Some(name) = name {
            return Err(no_such_member("callback", name, "method"));
        }
        Ok(Started::Done((self.run)(args, cx).map(Produced::Data)))
    }

    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}
