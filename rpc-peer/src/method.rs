//! [`BoundMethod`]: what GET of a method name returns, a callable handle (the seed's
//! method-wrapper). RUN on it with no name calls the method.

use std::any::Any;
use std::sync::Arc;

use futures::future::BoxFuture;
use rpc_core::{Args, ErrorKind, RemoteError, Value};

use crate::call::CallContext;
use crate::object::{Object, Started, no_such_member};

/// A method of an object, bound to it.
pub struct BoundMethod {
    target: Arc<dyn Object>,
    name: String,
}

impl std::fmt::Debug for BoundMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BoundMethod({}.{})", self.target.type_name(), self.name)
    }
}

impl BoundMethod {
    /// The method `name` of `target`; RUN on it with no name calls the method.
    pub fn new(target: Arc<dyn Object>, name: &str) -> Self {
        BoundMethod {
            target,
            name: name.to_owned(),
        }
    }
}

impl Object for BoundMethod {
    fn type_name(&self) -> &'static str {
        "method"
    }

    fn doc(&self) -> &'static str {
        ""
    }

    fn all(&self) -> BoxFuture<'_, Result<Value, RemoteError>> {
        Box::pin(async move {
            Err(RemoteError::new(
                ErrorKind::NotCopyable,
                format!(
                    "{}.{} is a bound method; it has no by-value form",
                    self.target.type_name(),
                    self.name
                ),
            ))
        })
    }

    fn call(
        self: Arc<Self>,
        name: Option<&str>,
        args: Args,
        cx: &CallContext,
    ) -> Result<Started, RemoteError> {
        if let Some(name) = name {
            return Err(no_such_member("method", name, "method"));
        }
        Arc::clone(&self.target).call(Some(&self.name), args, cx)
    }

    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}
