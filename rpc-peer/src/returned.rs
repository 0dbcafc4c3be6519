//! [`Returned`]: what a GET or a call gives back, data or a remote object.

use std::fmt;

use rpc_core::{Value, from_value};
use serde::de::DeserializeOwned;

use crate::error::CallError;
use crate::proxy::Proxy;

/// The result of [`Proxy::get`], [`Proxy::call`] and [`Proxy::invoke`]: data by value, or a
/// proxy for an object that stays on the server.
///
/// `Display` prints a value like the seed's Python `repr` (`[(1, 2)]`) and an object as
/// `<remote Counter #3>`.
#[derive(Clone, Debug)]
pub enum Returned {
    /// Data, copied by value.
    Value(Value),
    /// A remote object (or a callable handle, for GET of a method).
    Object(Proxy),
}

impl Returned {
    /// The value.
    ///
    /// # Errors
    /// [`CallError::Unexpected`] when a remote object came back.
    pub fn into_value(self) -> Result<Value, CallError> {
        match self {
            Returned::Value(v) => Ok(v),
            Returned::Object(p) => Err(CallError::Unexpected(format!(
                "expected a value, got the remote object {}",
                describe(&p)
            ))),
        }
    }

    /// The proxy.
    ///
    /// # Errors
    /// [`CallError::Unexpected`] when data came back.
    pub fn into_proxy(self) -> Result<Proxy, CallError> {
        match self {
            Returned::Object(p) => Ok(p),
            Returned::Value(v) => Err(CallError::Unexpected(format!(
                "expected a remote object, got a value of kind {}",
                v.kind_name()
            ))),
        }
    }

    /// The value converted into `T`.
    ///
    /// # Errors
    /// [`CallError::Unexpected`] when a remote object came back or the value does not convert.
    pub fn typed<T: DeserializeOwned>(self) -> Result<T, CallError> {
        let value = self.into_value()?;
        let kind = value.kind_name();
        from_value(value).map_err(|e| {
            CallError::Unexpected(format!(
                "cannot read a value of kind {kind} as {}: {e}",
                std::any::type_name::<T>()
            ))
        })
    }

    /// The value, if data came back.
    pub fn as_value(&self) -> Option<&Value> {
        match self {
            Returned::Value(v) => Some(v),
            Returned::Object(_) => None,
        }
    }

    /// The proxy, if a remote object came back.
    pub fn as_proxy(&self) -> Option<&Proxy> {
        match self {
            Returned::Object(p) => Some(p),
            Returned::Value(_) => None,
        }
    }
}

fn describe(p: &Proxy) -> String {
    format!("<remote {} {}>", p.type_name(), p.id())
}

impl fmt::Display for Returned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Returned::Value(v) => fmt::Display::fmt(v, f),
            Returned::Object(p) => f.write_str(&describe(p)),
        }
    }
}

impl From<Value> for Returned {
    fn from(v: Value) -> Self {
        Returned::Value(v)
    }
}

impl From<Proxy> for Returned {
    fn from(p: Proxy) -> Self {
        Returned::Object(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_display_as_repr_and_convert() {
        let r = Returned::Value(Value::List(vec![Value::Tuple(vec![
            Value::Int(1),
            Value::Int(2),
        ])]));
        assert_eq!(r.to_string(), "[(1, 2)]");
        let pairs: Vec<(i64, i64)> = r.clone().typed().expect("converts");
        assert_eq!(pairs, [(1, 2)]);
        assert!(matches!(
            r.clone().into_proxy(),
            Err(CallError::Unexpected(_))
        ));
        assert!(matches!(r.typed::<String>(), Err(CallError::Unexpected(_))));
    }
}
