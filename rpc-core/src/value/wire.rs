//! The wire form of a [`Value`]: a flat sequence of tokens, never a recursive enum.
//!
//! A list `[1, [2]]` travels as `List(2) Int(1) List(1) Int(2)`. Decoding reads the tokens in
//! a loop and builds the tree with an explicit stack, so no input can make the decoder recurse:
//! a value nested 100,000 deep costs 100,000 loop turns, not 100,000 stack frames. Past the
//! depth limit the rest of the value is read and dropped, and the decoder reports `TooDeep`;
//! inside a request it does so without failing the frame (see [`tolerate_too_deep`]), so the
//! server can answer `TooDeep` and keep the connection.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{TOO_DEEP_MESSAGE, VALUE_ENUM, Value, decode_depth_limit};
use crate::handle::{HandleDescriptor, HandleId};

/// A byte string serialized with `serialize_bytes` (one length, then raw bytes).
struct RawBytes<'a>(&'a [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// An owned byte string read with `deserialize_byte_buf`.
pub(super) struct ByteBuf(pub(super) Vec<u8>);

impl<'de> Deserialize<'de> for ByteBuf {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl<'de> Visitor<'de> for BytesVisitor {
            type Value = ByteBuf;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ByteBuf, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(ByteBuf(out))
            }
        }
        deserializer.deserialize_byte_buf(BytesVisitor)
    }
}

/// One token, borrowed from a value being encoded. Variant order is the wire format and must
/// match [`Token`].
#[derive(Serialize)]
#[serde(rename = "$rpc::Token")]
enum TokenRef<'a> {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
    Bytes(RawBytes<'a>),
    List(u32),
    Tuple(u32),
    Map(u32),
    Handle(u64),
    Hosted(u64, &'a str, &'a str),
}

/// One decoded token. Variant order is the wire format and must match [`TokenRef`].
#[derive(Deserialize)]
#[serde(rename = "$rpc::Token")]
pub(super) enum Token {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(ByteBuf),
    List(u32),
    Tuple(u32),
    Map(u32),
    Handle(u64),
    Hosted(u64, String, String),
}

/// A token that opens a container with elements: its kind and element count.
pub(super) enum Opening {
    Seq { tuple: bool, len: u32 },
    Map(u32),
}

impl Token {
    /// The value of a token that is a whole value (a scalar or an empty container), or what it
    /// opens.
    fn into_leaf(self) -> Result<Value, Opening> {
        Ok(match self {
            Token::None => Value::None,
            Token::Bool(b) => Value::Bool(b),
            Token::Int(i) => Value::Int(i),
            Token::Float(f) => Value::Float(f),
            Token::Str(s) => Value::Str(s),
            Token::Bytes(b) => Value::Bytes(b.0),
            Token::Handle(h) => Value::Handle(HandleId(h)),
            Token::Hosted(id, type_name, doc) => Value::Hosted(Box::new(HandleDescriptor {
                id: HandleId(id),
                type_name,
                doc,
            })),
            Token::List(0) => Value::List(Vec::new()),
            Token::Tuple(0) => Value::Tuple(Vec::new()),
            Token::Map(0) => Value::Map(Vec::new()),
            Token::List(len) => return Err(Opening::Seq { tuple: false, len }),
            Token::Tuple(len) => return Err(Opening::Seq { tuple: true, len }),
            Token::Map(len) => return Err(Opening::Map(len)),
        })
    }
}

fn container_len<E: serde::ser::Error>(len: usize) -> Result<u32, E> {
    u32::try_from(len).map_err(|_| E::custom("a list or map has more than 2^32 entries"))
}

/// Walks `value` in token order without recursion, calling `emit` for every token.
fn walk<'a, E: serde::ser::Error>(
    value: &'a Value,
    mut emit: impl FnMut(TokenRef<'a>) -> Result<(), E>,
) -> Result<(), E> {
    // The root is taken without the stack, so a scalar (the common argument and result)
    // walks without allocating.
    let mut stack: Vec<&'a Value> = Vec::new();
    let mut next = Some(value);
    while let Some(v) = next.take().or_else(|| stack.pop()) {
        let token = match v {
            Value::None => TokenRef::None,
            Value::Bool(b) => TokenRef::Bool(*b),
            Value::Int(i) => TokenRef::Int(*i),
            Value::Float(f) => TokenRef::Float(*f),
            Value::Str(s) => TokenRef::Str(s),
            Value::Bytes(b) => TokenRef::Bytes(RawBytes(b)),
            Value::Handle(h) => TokenRef::Handle(h.0),
            Value::Hosted(d) => TokenRef::Hosted(d.id.0, &d.type_name, &d.doc),
            Value::List(items) => {
                stack.extend(items.iter().rev());
                TokenRef::List(container_len(items.len())?)
            }
            Value::Tuple(items) => {
                stack.extend(items.iter().rev());
                TokenRef::Tuple(container_len(items.len())?)
            }
            Value::Map(pairs) => {
                for (k, v) in pairs.iter().rev() {
                    stack.push(v);
                    stack.push(k);
                }
                TokenRef::Map(container_len(pairs.len())?)
            }
        };
        emit(token)?;
    }
    Ok(())
}

/// The token sequence of a value: what `Value`'s `Serialize` writes inside its newtype.
struct Flat<'a>(&'a Value);

impl Serialize for Flat<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let count = match self.0 {
            Value::List(_) | Value::Tuple(_) | Value::Map(_) => {
                let mut count = 0usize;
                walk::<S::Error>(self.0, |_| {
                    count += 1;
                    Ok(())
                })?;
                count
            }
            // A scalar is its own single token.
            _ => {
                let mut seq = serializer.serialize_seq(Some(1))?;
                walk::<S::Error>(self.0, |token| seq.serialize_element(&token))?;
                return seq.end();
            }
        };
        let mut seq = serializer.serialize_seq(Some(count))?;
        walk::<S::Error>(self.0, |token| seq.serialize_element(&token))?;
        seq.end()
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(VALUE_ENUM, &Flat(self))
    }
}

/// A container being filled while tokens arrive.
enum Frame {
    Seq {
        tuple: bool,
        items: Vec<Value>,
        remaining: u32,
    },
    Map {
        pairs: Vec<(Value, Value)>,
        key: Option<Value>,
        remaining: u32,
    },
}

/// Builds a tree from tokens with an explicit stack.
pub(super) struct Builder {
    stack: Vec<Frame>,
    done: Option<Value>,
    limit: usize,
    too_deep: bool,
}

/// Never preallocate more than this many slots from a length read off the wire.
const MAX_PREALLOCATION: usize = 4096;

impl Builder {
    pub(super) fn new(limit: usize) -> Self {
        Builder {
            stack: Vec::new(),
            done: None,
            limit,
            too_deep: false,
        }
    }

    /// Feeds one token.
    pub(super) fn push(&mut self, token: Token) -> Result<(), String> {
        if self.too_deep {
            return Ok(());
        }
        if self.done.is_some() {
            return Err("tokens after the end of a value".to_owned());
        }
        let value = match token.into_leaf() {
            Ok(value) => value,
            Err(opening) => {
                self.open(opening);
                return Ok(());
            }
        };
        self.place(value);
        Ok(())
    }

    /// Starts a container with elements.
    fn open(&mut self, opening: Opening) {
        // A non-empty container at this level has children one level further down.
        if self.stack.len() + 2 > self.limit {
            self.too_deep = true;
            self.stack.clear();
            return;
        }
        self.stack.push(match opening {
            Opening::Map(n) => Frame::Map {
                pairs: Vec::with_capacity((n as usize).min(MAX_PREALLOCATION)),
                key: None,
                remaining: n,
            },
            Opening::Seq { tuple, len } => Frame::Seq {
                tuple,
                items: Vec::with_capacity((len as usize).min(MAX_PREALLOCATION)),
                remaining: len,
            },
        });
    }

    /// Puts a finished value into its parent, closing every parent it completes.
    fn place(&mut self, mut value: Value) {
        loop {
            let Some(top) = self.stack.last_mut() else {
                self.done = Some(value);
                return;
            };
            let complete = match top {
                Frame::Seq {
                    items, remaining, ..
                } => {
                    items.push(value);
                    *remaining -= 1;
                    *remaining == 0
                }
                Frame::Map {
                    pairs,
                    key,
                    remaining,
                } => match key.take() {
                    None => {
                        *key = Some(value);
                        false
                    }
                    Some(k) => {
                        pairs.push((k, value));
                        *remaining -= 1;
                        *remaining == 0
                    }
                },
            };
            if !complete {
                return;
            }
            value = match self.stack.pop() {
                Some(Frame::Seq {
                    tuple: true, items, ..
                }) => Value::Tuple(items),
                Some(Frame::Seq { items, .. }) => Value::List(items),
                Some(Frame::Map { pairs, .. }) => Value::Map(pairs),
                None => return,
            };
        }
    }

    /// The finished value, `Ok(None)` past the depth limit.
    pub(super) fn finish(self) -> Result<Option<Value>, String> {
        if self.too_deep {
            return Ok(None);
        }
        match self.done {
            Some(v) => Ok(Some(v)),
            None => Err("value ends before its last element".to_owned()),
        }
    }
}

thread_local! {
    /// Set while decoding a request: a too-deep value is recorded instead of failing the frame.
    static TOLERATE: Cell<bool> = const { Cell::new(false) };
    static TOO_DEEP: Cell<Option<String>> = const { Cell::new(None) };
}

/// Runs `f` (a decode) so that a value nested past the depth limit decodes as `None` instead
/// of failing; returns `f`'s result and the too-deep message, if any value was.
pub fn tolerate_too_deep<R>(f: impl FnOnce() -> R) -> (R, Option<String>) {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            TOLERATE.with(|t| t.set(self.0));
        }
    }
    let restore = Restore(TOLERATE.with(|t| t.replace(true)));
    TOO_DEEP.with(Cell::take);
    let out = f();
    drop(restore);
    (out, TOO_DEEP.with(Cell::take))
}

struct FlatVisitor;

impl<'de> Visitor<'de> for FlatVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value as a sequence of tokens")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        // One token is a scalar or an empty container (the common argument and result):
        // no builder, no depth bookkeeping.
        let mut first = None;
        if seq.size_hint() == Some(1) {
            if let Some(token) = seq.next_element::<Token>()? {
                match token.into_leaf() {
                    Ok(value) => return Ok(value),
                    Err(opening) => first = Some(opening),
                }
            }
        }
        let limit = decode_depth_limit();
        let mut builder = Builder::new(limit);
        if let Some(opening) = first {
            builder.open(opening);
        }
        while let Some(token) = seq.next_element::<Token>()? {
            builder.push(token).map_err(de::Error::custom)?;
        }
        match builder.finish().map_err(de::Error::custom)? {
            Some(value) => Ok(value),
            None => {
                let message = format!("{TOO_DEEP_MESSAGE} ({limit})");
                if TOLERATE.with(Cell::get) {
                    TOO_DEEP.with(|d| d.set(Some(message)));
                    Ok(Value::None)
                } else {
                    Err(de::Error::custom(message))
                }
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(VALUE_ENUM, FlatVisitor)
    }
}

/// The tokens of `value` as values, in the shape [`to_value`](super::to_value) gives a
/// token: `'None'` or `{'Int': 5}`. Used to read a `Value` out of a `Value` unchanged.
pub(super) fn token_values(value: Value) -> Value {
    let variant =
        |name: &str, payload: Value| Value::Map(vec![(Value::Str(name.to_owned()), payload)]);
    let count = |n: usize| Value::Int(i64::try_from(n).unwrap_or(i64::MAX));
    let mut out = Vec::new();
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        out.push(match v {
            Value::None => Value::Str("None".to_owned()),
            Value::Bool(_) => variant("Bool", v),
            Value::Int(_) => variant("Int", v),
            Value::Float(_) => variant("Float", v),
            Value::Str(_) => variant("Str", v),
            Value::Bytes(_) => variant("Bytes", v),
            Value::Handle(h) => {
                variant("Handle", Value::Int(i64::try_from(h.0).unwrap_or(i64::MAX)))
            }
            Value::Hosted(d) => variant(
                "Hosted",
                Value::Tuple(vec![
                    Value::Int(i64::try_from(d.id.0).unwrap_or(i64::MAX)),
                    Value::Str(d.type_name),
                    Value::Str(d.doc),
                ]),
            ),
            Value::List(items) => {
                let n = items.len();
                stack.extend(items.into_iter().rev());
                variant("List", count(n))
            }
            Value::Tuple(items) => {
                let n = items.len();
                stack.extend(items.into_iter().rev());
                variant("Tuple", count(n))
            }
            Value::Map(pairs) => {
                let n = pairs.len();
                for (k, v) in pairs.into_iter().rev() {
                    stack.push(v);
                    stack.push(k);
                }
                variant("Map", count(n))
            }
        });
    }
    Value::List(out)
}

/// Rebuilds a value from [`token_values`]' shape (what a `Value` serializes to through
/// [`to_value`](super::to_value)).
pub(super) fn from_token_values(tokens: Value) -> Result<Value, crate::ValueError> {
    let Value::List(tokens) = tokens else {
        return Err(crate::ValueError::new("a value's tokens must be a list"));
    };
    let mut builder = Builder::new(usize::MAX);
    for token in tokens {
        let token: Token = super::from_value(token)?;
        builder.push(token).map_err(crate::ValueError::new)?;
    }
    builder
        .finish()
        .map_err(crate::ValueError::new)?
        .ok_or_else(|| crate::ValueError::new("value nested too deep"))
}
