//! [`Value`]: the dynamic data model that crosses the wire.
//!
//! Arguments, field values and results travel as `Value`s. Any `Serialize` type converts into a
//! `Value` with [`to_value`] and any `DeserializeOwned` type comes back out with [`from_value`],
//! so typed code never builds a `Value` by hand.
//!
//! Decoding a `Value` is depth-limited (see [`decode_depth_limit`]): a recursive enum decoded by
//! bincode recurses on the thread stack, and a few tens of kilobytes of nested lists would
//! otherwise overflow it and abort the process.

mod de;
mod ser;
mod wire;

use std::cell::Cell;
use std::fmt;

use crate::handle::{HandleDescriptor, HandleId};
use crate::limits::DEFAULT_MAX_VALUE_DEPTH;

pub use de::from_value;
pub use ser::to_value;
pub use wire::tolerate_too_deep;

/// The name of the newtype struct by which a remote object reference serializes itself.
///
/// [`to_value`] turns `serialize_newtype_struct(HANDLE_MARKER, &id_u64)` into
/// [`Value::Handle`], and [`from_value`] hands a [`Value::Handle`] to a
/// `deserialize_newtype_struct(HANDLE_MARKER, ..)` call. Client proxies use it so they can be
/// passed as arguments.
pub const HANDLE_MARKER: &str = "$rpc::Handle";

/// The name of the newtype struct by which an object the sender exports serializes itself:
/// [`to_value`] turns `serialize_newtype_struct(HOSTED_MARKER, &(id, type_name, doc))` into
/// [`Value::Hosted`]. `Remote<T>` uses it when it is sent as an argument.
pub const HOSTED_MARKER: &str = "$rpc::Hosted";

/// The serde name of [`Value`] itself: a value serializes as a newtype struct of this name
/// around its flat token sequence (see `wire.rs`). [`to_value`] and [`from_value`] recognise it
/// so that converting a `Value` into a `Value` is the identity (a method taking a `Value`
/// parameter receives the argument as sent).
pub(crate) const VALUE_ENUM: &str = "$rpc::Value";

/// A dynamically typed value: argument, field, result or whole-object copy.
///
/// `Display` reads like the seed library's Python `repr`: `None`, `True`, `'text'`, `[1, 2]`,
/// `(1, 2)`, `{1: 2}`.
///
/// Conversions: [`to_value`] / [`from_value`] for any serde type; `From` for the common scalars.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    /// No value: Rust's `()` and `None`, Python's `None`.
    #[default]
    None,
    /// A boolean.
    Bool(bool),
    /// A signed integer; unsigned integers up to `i64::MAX` convert losslessly.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A UTF-8 string (also `char`s and unit enum variants).
    Str(String),
    /// A byte string (`serde_bytes`-style byte buffers).
    Bytes(Vec<u8>),
    /// A sequence (`Vec`, slices, sets).
    List(Vec<Value>),
    /// A fixed-size tuple (Rust tuples, tuple structs, arrays serialized as tuples).
    Tuple(Vec<Value>),
    /// An ordered map of key/value pairs (maps, structs, enum variants with data). Keys may be
    /// any value; structs use `Str` keys named after their fields.
    Map(Vec<(Value, Value)>),
    /// A reference to an object the *receiver* of the message hosts (a proxy passed back to
    /// its owner), valid within one session.
    Handle(HandleId),
    /// A reference to an object the *sender* of the message hosts and exports with this
    /// message (a client's callback passed to a server method, a server object passed to a
    /// client's callback): the receiver holds one more count of it and releases it when its
    /// last proxy is dropped. Boxed: a descriptor is three words larger than any other value.
    Hosted(Box<HandleDescriptor>),
}

thread_local! {
    /// The depth past which decoding fails; set by the codec from its limits.
    static LIMIT: Cell<usize> = const { Cell::new(DEFAULT_MAX_VALUE_DEPTH) };
}

/// Returns the nesting depth past which decoding a [`Value`] on this thread fails.
pub fn decode_depth_limit() -> usize {
    LIMIT.with(Cell::get)
}

/// Runs `f` with the [`Value`] decoding depth limit set to `limit` on this thread.
///
/// The codec wraps every frame it decodes in this call, so the limit configured on a server or
/// client applies to everything that arrives from its peer.
pub fn with_decode_depth_limit<R>(limit: usize, f: impl FnOnce() -> R) -> R {
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            LIMIT.with(|l| l.set(self.0));
        }
    }
    let _restore = Restore(LIMIT.with(|l| l.replace(limit)));
    f()
}

/// The message of the decoding error raised past the depth limit; the codec recognises it to
/// answer `TooDeep` rather than a generic protocol error.
pub const TOO_DEEP_MESSAGE: &str = "value nested deeper than the decoding limit";

impl Value {
    /// A short name of the variant, used in type-mismatch messages (`"int"`, `"str"`, ...).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::None => "none",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Map(_) => "map",
            Value::Handle(_) => "handle",
            Value::Hosted(_) => "remote object",
        }
    }

    /// The nesting depth of this value: scalars are 1, `[1]` is 2. Computed without
    /// recursion, so any value can be measured.
    pub fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(self, 1usize)];
        while let Some((value, level)) = stack.pop() {
            deepest = deepest.max(level);
            match value {
                Value::List(items) | Value::Tuple(items) => {
                    stack.extend(items.iter().map(|v| (v, level + 1)));
                }
                Value::Map(pairs) => {
                    for (k, v) in pairs {
                        stack.push((k, level + 1));
                        stack.push((v, level + 1));
                    }
                }
                _ => {}
            }
        }
        deepest
    }

    /// About how many bytes of memory this value holds: every node, plus the text and bytes
    /// it owns and the spare capacity of its containers. Computed without recursion.
    pub fn memory_size(&self) -> usize {
        let node = std::mem::size_of::<Value>();
        let own = |value: &Value| match value {
            Value::Str(s) => s.capacity(),
            Value::Bytes(b) => b.capacity(),
            Value::List(items) | Value::Tuple(items) => (items.capacity() - items.len()) * node,
            Value::Map(pairs) => pairs.capacity() * 2 * node,
            _ => 0,
        };
        // Scalars, the common case, need no stack.
        if !matches!(self, Value::List(_) | Value::Tuple(_) | Value::Map(_)) {
            return node + own(self);
        }
        let mut total = 0usize;
        let mut stack = vec![self];
        while let Some(value) = stack.pop() {
            total = total.saturating_add(node + own(value));
            match value {
                Value::List(items) | Value::Tuple(items) => stack.extend(items),
                Value::Map(pairs) => {
                    // The pairs' nodes are counted by their capacity above.
                    total = total.saturating_sub(pairs.len() * 2 * node);
                    for (k, v) in pairs {
                        stack.push(k);
                        stack.push(v);
                    }
                }
                _ => {}
            }
        }
        total
    }

    /// Returns the string if this is a `Str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Returns the integer if this is an `Int`.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

macro_rules! from_scalar {
    ($($t:ty => $variant:ident via $conv:expr),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::$variant($conv(v))
            }
        }
    )*};
}

from_scalar! {
    bool => Bool via std::convert::identity,
    i32 => Int via i64::from,
    i64 => Int via std::convert::identity,
    u32 => Int via i64::from,
    f64 => Float via std::convert::identity,
    String => Str via std::convert::identity,
    &str => Str via str::to_owned,
    Vec<u8> => Bytes via std::convert::identity,
}

impl From<()> for Value {
    fn from((): ()) -> Self {
        Value::None
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::List(items)
    }
}

fn write_str_repr(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    // Python's repr picks the quote that needs no escaping.
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    f.write_fmt(format_args!("{quote}"))?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c == quote => write!(f, "\\{c}")?,
            c if c.is_control() => write!(f, "\\x{:02x}", c as u32)?,
            c => f.write_fmt(format_args!("{c}"))?,
        }
    }
    f.write_fmt(format_args!("{quote}"))
}

fn write_seq(f: &mut fmt::Formatter<'_>, items: &[Value]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::None => f.write_str("None"),
            Value::Bool(true) => f.write_str("True"),
            Value::Bool(false) => f.write_str("False"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) if x.is_nan() => f.write_str("nan"),
            Value::Float(x) if x.is_infinite() => {
                f.write_str(if *x > 0.0 { "inf" } else { "-inf" })
            }
            Value::Float(x) if x.fract() == 0.0 && x.abs() < 1e16 => write!(f, "{x:.1}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => write_str_repr(f, s),
            Value::Bytes(b) => {
                f.write_str("b'")?;
                for &byte in b {
                    match byte {
                        b'\\' => f.write_str("\\\\")?,
                        b'\'' => f.write_str("\\'")?,
                        0x20..=0x7e => write!(f, "{}", byte as char)?,
                        _ => write!(f, "\\x{byte:02x}")?,
                    }
                }
                f.write_str("'")
            }
            Value::List(items) => {
                f.write_str("[")?;
                write_seq(f, items)?;
                f.write_str("]")
            }
            Value::Tuple(items) => {
                f.write_str("(")?;
                write_seq(f, items)?;
                if items.len() == 1 {
                    f.write_str(",")?;
                }
                f.write_str(")")
            }
            Value::Map(pairs) => {
                f.write_str("{")?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            Value::Handle(id) => write!(f, "<remote object {id}>"),
            Value::Hosted(desc) => write!(f, "<remote {} {}>", desc.type_name, desc.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(v: &Value) -> Vec<u8> {
        bincode::serialize(v).expect("encoding a value into a Vec cannot fail")
    }

    #[test]
    fn display_reads_like_python_repr() {
        let items = Value::List(vec![Value::Tuple(vec![Value::Int(1), Value::Int(2)])]);
        assert_eq!(items.to_string(), "[(1, 2)]");
        let map = Value::Map(vec![(Value::Int(1), Value::Int(2))]);
        assert_eq!(map.to_string(), "{1: 2}");
        assert_eq!(Value::Str("it's".into()).to_string(), "\"it's\"");
        assert_eq!(Value::Str("a\nb".into()).to_string(), "'a\\nb'");
        assert_eq!(Value::Tuple(vec![Value::None]).to_string(), "(None,)");
        assert_eq!(Value::Float(2.0).to_string(), "2.0");
        assert_eq!(Value::Bool(true).to_string(), "True");
        assert_eq!(Value::Bytes(b"a\x00'".to_vec()).to_string(), "b'a\\x00\\''");
    }

    #[test]
    fn wire_round_trip() {
        let v = Value::Map(vec![
            (Value::Str("a".into()), Value::List(vec![Value::Float(1.5)])),
            (Value::Int(-3), Value::Handle(HandleId(7))),
            (Value::Bytes(vec![1, 2]), Value::Tuple(vec![Value::None])),
        ]);
        let back: Value = bincode::deserialize(&encode(&v)).expect("round trip");
        assert_eq!(back, v);
    }

    fn nested(depth: usize) -> Value {
        let mut v = Value::Int(0);
        for _ in 1..depth {
            v = Value::List(vec![v]);
        }
        v
    }

    #[test]
    fn decoding_stops_at_the_depth_limit() {
        let limit = decode_depth_limit();
        let at_limit = nested(limit);
        assert_eq!(at_limit.depth(), limit);
        let ok: Value = bincode::deserialize(&encode(&at_limit)).expect("limit itself is fine");
        assert_eq!(ok, at_limit);
        let err = bincode::deserialize::<Value>(&encode(&nested(limit + 1)))
            .expect_err("one past the limit fails");
        assert!(err.to_string().contains(TOO_DEEP_MESSAGE), "{err}");
        // The depth counter is restored after a failure.
        let again: Value = bincode::deserialize(&encode(&at_limit)).expect("still usable");
        assert_eq!(again, at_limit);
    }

    /// 100,000 levels of `[[..[0]..]]` in the flat wire form: a sequence length, then
    /// `List(1)` 100,000 times, then `Int(0)` (bincode's fixed-int layout).
    fn hostile_deep_bytes() -> Vec<u8> {
        let depth = 100_000u64;
        let mut bytes = (depth + 1).to_le_bytes().to_vec();
        for _ in 0..depth {
            bytes.extend_from_slice(&6u32.to_le_bytes());
            bytes.extend_from_slice(&1u32.to_le_bytes());
        }
        bytes.extend_from_slice(&2u32.to_le_bytes());
        bytes.extend_from_slice(&0i64.to_le_bytes());
        bytes
    }

    #[test]
    fn hostile_deep_input_is_an_error_not_a_stack_overflow() {
        let err = bincode::deserialize::<Value>(&hostile_deep_bytes()).expect_err("too deep");
        assert!(err.to_string().contains(TOO_DEEP_MESSAGE), "{err}");
    }

    #[test]
    fn tolerated_too_deep_values_decode_as_none_and_are_reported() {
        let bytes = hostile_deep_bytes();
        let (decoded, too_deep) = tolerate_too_deep(|| bincode::deserialize::<Value>(&bytes));
        assert_eq!(decoded.expect("the frame itself decodes"), Value::None);
        assert!(too_deep.expect("reported").contains(TOO_DEEP_MESSAGE));
        // Outside the tolerant scope the same input is an error again.
        assert!(bincode::deserialize::<Value>(&bytes).is_err());
        let fine = encode(&Value::List(vec![Value::Int(1)]));
        let (ok, none) = tolerate_too_deep(|| bincode::deserialize::<Value>(&fine));
        assert_eq!(ok.expect("decodes"), Value::List(vec![Value::Int(1)]));
        assert_eq!(none, None);
    }

    #[test]
    fn truncated_and_overlong_token_streams_are_errors() {
        // `List(3)` with one element, and `Int(1) Int(2)` (two values in one).
        let mut short = 2u64.to_le_bytes().to_vec();
        short.extend_from_slice(&6u32.to_le_bytes());
        short.extend_from_slice(&3u32.to_le_bytes());
        short.extend_from_slice(&0u32.to_le_bytes());
        assert!(bincode::deserialize::<Value>(&short).is_err());
        let mut two = 2u64.to_le_bytes().to_vec();
        for _ in 0..2 {
            two.extend_from_slice(&2u32.to_le_bytes());
            two.extend_from_slice(&1i64.to_le_bytes());
        }
        assert!(bincode::deserialize::<Value>(&two).is_err());
    }

    #[test]
    fn the_limit_can_be_lowered_per_call() {
        let v = nested(5);
        let bytes = encode(&v);
        assert!(with_decode_depth_limit(4, || bincode::deserialize::<Value>(&bytes)).is_err());
        assert!(with_decode_depth_limit(5, || bincode::deserialize::<Value>(&bytes)).is_ok());
        assert_eq!(decode_depth_limit(), DEFAULT_MAX_VALUE_DEPTH);
    }
}

#[cfg(test)]
mod identity_tests {
    use super::*;

    #[test]
    fn converting_a_value_into_a_value_is_the_identity() {
        let v = Value::Map(vec![
            (
                Value::Int(1),
                Value::Tuple(vec![Value::Str("a".into()), Value::None]),
            ),
            (Value::Str("k".into()), Value::Bytes(vec![0, 255])),
            (
                Value::Bool(true),
                Value::List(vec![Value::Float(0.5), Value::Handle(HandleId(4))]),
            ),
        ]);
        assert_eq!(to_value(&v).expect("to"), v);
        assert_eq!(from_value::<Value>(v.clone()).expect("from"), v);
        assert_eq!(
            from_value::<Value>(Value::Int(3)).expect("scalar"),
            Value::Int(3)
        );
        let pair: (Value, i64) =
            from_value(Value::Tuple(vec![Value::Str("x".into()), Value::Int(2)])).expect("mixed");
        assert_eq!(pair, (Value::Str("x".into()), 2));
    }
}
