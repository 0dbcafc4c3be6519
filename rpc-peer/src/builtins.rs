//! The built-in remote [`Dict`] and [`List`], so the seed's own demo works unchanged
//! (`d[1] = 2`, `dir(d)`, `d._all()`, `d.items()`, `d[1]`).
//!
//! Item access uses ordinary method names (`set_item`, `get_item`, `del_item`) since names
//! starting with `_` are never reachable remotely.

use std::fmt;
use std::hash::{Hash, Hasher};

use indexmap::IndexMap;
use rpc_core::protocol::MemberKind;
use rpc_core::{Args, ErrorKind, RemoteError, Value};

use crate::call::{ArgReader, CallContext, Produced};
use crate::object::{MemberInfo, Remote, RemoteFields, RemoteMethods, Started};

/// A key of a [`Dict`]: any value but a float (NaN breaks equality) or a handle.
#[derive(Clone, Debug, PartialEq)]
struct Key(Value);

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        fn walk<H: Hasher>(v: &Value, state: &mut H) {
            std::mem::discriminant(v).hash(state);
            match v {
                Value::None => {}
                Value::Bool(b) => b.hash(state),
                Value::Int(i) => i.hash(state),
                Value::Float(f) => f.to_bits().hash(state),
                Value::Str(s) => s.hash(state),
                Value::Bytes(b) => b.hash(state),
                Value::List(items) | Value::Tuple(items) => {
                    items.len().hash(state);
                    items.iter().for_each(|i| walk(i, state));
                }
                Value::Map(pairs) => {
                    pairs.len().hash(state);
                    for (k, v) in pairs {
                        walk(k, state);
                        walk(v, state);
                    }
                }
                Value::Handle(h) => h.hash(state),
                Value::Hosted(d) => d.id.hash(state),
            }
        }
        walk(&self.0, state);
    }
}

/// Walks `value` and refuses floats (as keys) and handles (anywhere stored data goes):
/// a handle stored in data would outlive its session's meaning.
fn check_storable(value: &Value, as_key: bool) -> Result<(), RemoteError> {
    match value {
        Value::Float(_) if as_key => Err(RemoteError::new(
            ErrorKind::WrongType,
            "float keys are not supported (NaN breaks equality); use an int or str key",
        )),
        Value::Handle(_) | Value::Hosted(_) => Err(RemoteError::new(
            ErrorKind::WrongType,
            "remote objects cannot be stored inside a Dict or List; store data",
        )),
        Value::List(items) | Value::Tuple(items) => {
            items.iter().try_for_each(|v| check_storable(v, as_key))
        }
        Value::Map(pairs) => pairs.iter().try_for_each(|(k, v)| {
            check_storable(k, as_key)?;
            check_storable(v, as_key)
        }),
        _ => Ok(()),
    }
}

fn key(value: Value) -> Result<Key, RemoteError> {
    check_storable(&value, true)?;
    Ok(Key(value))
}

fn storable(value: Value) -> Result<Value, RemoteError> {
    check_storable(&value, false)?;
    Ok(value)
}

/// The error `get_item`, `del_item` and `pop` raise for a missing key or index (Python's
/// `KeyError` / `IndexError`).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyError(pub Value);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key not found: {}", self.0)
    }
}

impl std::error::Error for KeyError {}

fn key_error(missing: Value, location: &'static str, cx: &CallContext) -> RemoteError {
    crate::call::raised(KeyError(missing), location, cx)
}

const fn method(name: &'static str, signature: &'static str, doc: &'static str) -> MemberInfo {
    MemberInfo {
        name,
        kind: MemberKind::Method,
        signature,
        doc,
    }
}

/// Starts `dispatch` on the object under its write lock. Every built-in method is short and
/// synchronous, so one exclusive lock per call keeps them simple.
fn start<T, F>(
    this: &Remote<T>,
    methods: &'static [MemberInfo],
    name: &str,
    args: Args,
    cx: &CallContext,
    dispatch: F,
) -> Option<Result<Started, RemoteError>>
where
    T: RemoteMethods,
    F: FnOnce(&mut T, &'static str, Args, &CallContext) -> Result<Produced, RemoteError>
        + Send
        + 'static,
{
    let info = methods.iter().find(|m| m.name == name)?;
    // Run at once when the lock is free: no future, no allocation.
    if let Ok(mut object) = this.__cell().__lock().try_write() {
        return Some(Ok(Started::Done(dispatch(
            &mut object,
            info.name,
            args,
            cx,
        ))));
    }
    let this = this.clone();
    let cx = cx.clone();
    Some(Ok(Started::Pending(Box::pin(async move {
        let mut object = this.write().await;
        dispatch(&mut object, info.name, args, &cx)
    }))))
}

fn data(value: Value) -> Result<Produced, RemoteError> {
    Ok(Produced::Data(value))
}

/// A remote dictionary: ordered, keys of any non-float value, as in the seed's demo.
#[derive(Debug, Default, Clone)]
pub struct Dict {
    entries: IndexMap<Key, Value>,
}

impl Dict {
    /// An empty dictionary.
    pub fn new() -> Self {
        Dict::default()
    }

    /// Inserts `value` under `key`.
    ///
    /// # Errors
    /// A float key, or a handle anywhere in key or value.
    pub fn insert(&mut self, key_value: Value, value: Value) -> Result<(), RemoteError> {
        self.entries.insert(key(key_value)?, storable(value)?);
        Ok(())
    }

    /// The value under `key`.
    pub fn get(&self, key: &Value) -> Option<&Value> {
        self.entries.get(&Key(key.clone()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn items(&self) -> Value {
        Value::List(
            self.entries
                .iter()
                .map(|(k, v)| Value::Tuple(vec![k.0.clone(), v.clone()]))
                .collect(),
        )
    }

    fn update_from(&mut self, source: Value) -> Result<(), RemoteError> {
        match source {
            Value::Map(pairs) => pairs.into_iter().try_for_each(|(k, v)| self.insert(k, v)),
            Value::List(items) | Value::Tuple(items) => {
                items.into_iter().try_for_each(|item| match item {
                    Value::Tuple(mut pair) | Value::List(mut pair) if pair.len() == 2 => {
                        let v = pair.pop().unwrap_or_default();
                        let k = pair.pop().unwrap_or_default();
                        self.insert(k, v)
                    }
                    other => Err(RemoteError::new(
                        ErrorKind::BadArguments,
                        format!("expected (key, value) pairs, found {}", other.kind_name()),
                    )),
                })
            }
            Value::None => Ok(()),
            other => Err(RemoteError::new(
                ErrorKind::BadArguments,
                format!(
                    "expected a map or a list of (key, value) pairs, found {}",
                    other.kind_name()
                ),
            )),
        }
    }

    fn dispatch(
        &mut self,
        name: &'static str,
        args: Args,
        cx: &CallContext,
    ) -> Result<Produced, RemoteError> {
        const HERE: &str = concat!(file!(), " (Dict)");
        let params = match name {
            "set_item" | "get" | "pop" | "setdefault" => 2,
            "get_item" | "del_item" | "contains" | "update" => 1,
            _ => 0,
        };
        let method = DICT_METHODS
            .iter()
            .find(|m| m.name == name)
            .map_or("Dict.?", |m| m.signature);
        let mut a = ArgReader::new(args, method, params, cx);
        match name {
            "set_item" => {
                let (k, v): (Value, Value) = (a.take(0, "key")?, a.take(1, "value")?);
                a.finish()?;
                self.insert(k, v)?;
                data(Value::None)
            }
            "get_item" => {
                let k: Value = a.take(0, "key")?;
                a.finish()?;
                match self.entries.get(&key(k.clone())?) {
                    Some(v) => data(v.clone()),
                    None => Err(key_error(k, HERE, cx)),
                }
            }
            "del_item" => {
                let k: Value = a.take(0, "key")?;
                a.finish()?;
                match self.entries.shift_remove(&key(k.clone())?) {
                    Some(_) => data(Value::None),
                    None => Err(key_error(k, HERE, cx)),
                }
            }
            "get" => {
                let k: Value = a.take(0, "key")?;
                let default: Value = a.take_or_default(1, "default")?;
                a.finish()?;
                data(self.entries.get(&key(k)?).cloned().unwrap_or(default))
            }
            "pop" => {
                let k: Value = a.take(0, "key")?;
                let default: Option<Value> = a.take_or_default(1, "default")?;
                a.finish()?;
                match (self.entries.shift_remove(&key(k.clone())?), default) {
                    (Some(v), _) | (None, Some(v)) => data(v),
                    (None, None) => Err(key_error(k, HERE, cx)),
                }
            }
            "setdefault" => {
                let k: Value = a.take(0, "key")?;
                let default: Value = a.take_or_default(1, "default")?;
                a.finish()?;
                let entry = self.entries.entry(key(k)?).or_insert(storable(default)?);
                data(entry.clone())
            }
            "contains" => {
                let k: Value = a.take(0, "key")?;
                a.finish()?;
                data(Value::Bool(self.entries.contains_key(&key(k)?)))
            }
            "update" => {
                let source: Value = a.take(0, "other")?;
                a.finish()?;
                self.update_from(source)?;
                data(Value::None)
            }
            "len" => {
                a.finish()?;
                data(Value::Int(self.entries.len() as i64))
            }
            "keys" => {
                a.finish()?;
                data(Value::List(
                    self.entries.keys().map(|k| k.0.clone()).collect(),
                ))
            }
            "values" => {
                a.finish()?;
                data(Value::List(self.entries.values().cloned().collect()))
            }
            "items" => {
                a.finish()?;
                data(self.items())
            }
            "clear" => {
                a.finish()?;
                self.entries.clear();
                data(Value::None)
            }
            "copy" => {
                a.finish()?;
                Ok(Produced::Object(Remote::new(self.clone()).into_object()))
            }
            other => Err(crate::object::no_such_member("Dict", other, "method")),
        }
    }
}

const DICT_METHODS: &[MemberInfo] = &[
    method("clear", "clear()", "Removes every entry."),
    method(
        "contains",
        "contains(key)",
        "Whether `key` is present (Python's `key in d`).",
    ),
    method(
        "copy",
        "copy() -> Dict",
        "A shallow copy, as a new remote Dict.",
    ),
    method(
        "del_item",
        "del_item(key)",
        "Removes `key` (Python's `del d[key]`); raises KeyError when missing.",
    ),
    method(
        "get",
        "get(key, default=None)",
        "The value under `key`, or `default`.",
    ),
    method(
        "get_item",
        "get_item(key)",
        "The value under `key` (Python's `d[key]`); raises KeyError when missing.",
    ),
    method(
        "items",
        "items() -> [(key, value)]",
        "The entries as (key, value) tuples, in insertion order.",
    ),
    method("keys", "keys() -> [key]", "The keys, in insertion order."),
    method(
        "len",
        "len() -> int",
        "The number of entries (Python's `len(d)`).",
    ),
    method(
        "pop",
        "pop(key, default=None)",
        "Removes `key` and returns its value, or `default`; raises KeyError when missing and no default.",
    ),
    method(
        "set_item",
        "set_item(key, value)",
        "Sets `key` to `value` (Python's `d[key] = value`).",
    ),
    method(
        "setdefault",
        "setdefault(key, default=None)",
        "The value under `key`, inserting `default` first when missing.",
    ),
    method(
        "update",
        "update(other)",
        "Inserts every entry of a map or list of (key, value) pairs.",
    ),
    method(
        "values",
        "values() -> [value]",
        "The values, in insertion order.",
    ),
];

impl RemoteFields for Dict {
    const TYPE_NAME: &'static str = "Dict";
    const DOC: &'static str =
        "A dictionary on the server: ordered entries whose keys are any non-float value.";
    fn all_fields(&self) -> Result<Value, RemoteError> {
        Ok(Value::Map(
            self.entries
                .iter()
                .map(|(k, v)| (k.0.clone(), v.clone()))
                .collect(),
        ))
    }
}

impl RemoteMethods for Dict {
    const METHODS: &'static [MemberInfo] = DICT_METHODS;

    fn call_method(
        this: &Remote<Self>,
        name: &str,
        args: Args,
        cx: &CallContext,
    ) -> Option<Result<Started, RemoteError>> {
        start(this, DICT_METHODS, name, args, cx, Dict::dispatch)
    }

    /// `Dict(mapping_or_pairs=None, **entries)`, like Python's `dict(...)`.
    fn construct(args: Args, cx: &CallContext) -> Result<Self, RemoteError> {
        let Args { positional, named } = args;
        let mut a = ArgReader::new(Args::positional(positional), "Dict()", 1, cx);
        let initial: Value = a.take_or_default(0, "initial")?;
        a.finish()?;
        let mut dict = Dict::new();
        dict.update_from(initial)?;
        for (k, v) in named {
            dict.insert(Value::Str(k), v)?;
        }
        Ok(dict)
    }
}

/// A remote list, as Python's `list`.
#[derive(Debug, Default, Clone)]
pub struct List {
    items: Vec<Value>,
}

impl List {
    /// An empty list.
    pub fn new() -> Self {
        List::default()
    }

    /// The items.
    pub fn items(&self) -> &[Value] {
        &self.items
    }

    /// Appends `value`.
    ///
    /// # Errors
    /// A handle anywhere in `value`.
    pub fn push(&mut self, value: Value) -> Result<(), RemoteError> {
        self.items.push(storable(value)?);
        Ok(())
    }

    /// Resolves a Python-style index (negative counts from the end).
    fn index(&self, i: i64, insert: bool) -> Option<usize> {
        let len = self.items.len() as i64;
        let resolved = if i < 0 { i + len } else { i };
        let bound = if insert { len } else { len - 1 };
        if insert {
            return Some(resolved.clamp(0, bound) as usize);
        }
        (0..=bound).contains(&resolved).then_some(resolved as usize)
    }

    fn dispatch(
        &mut self,
        name: &'static str,
        args: Args,
        cx: &CallContext,
    ) -> Result<Produced, RemoteError> {
        const HERE: &str = concat!(file!(), " (List)");
        let params = match name {
            "set_item" | "insert" => 2,
            "append" | "extend" | "get_item" | "del_item" | "index" | "contains" | "pop" => 1,
            _ => 0,
        };
        let method = LIST_METHODS
            .iter()
            .find(|m| m.name == name)
            .map_or("List.?", |m| m.signature);
        let mut a = ArgReader::new(args, method, params, cx);
        match name {
            "append" => {
                let v: Value = a.take(0, "value")?;
                a.finish()?;
                self.push(v)?;
                data(Value::None)
            }
            "extend" => {
                let v: Vec<Value> = a.take(0, "values")?;
                a.finish()?;
                for item in v {
                    self.push(item)?;
                }
                data(Value::None)
            }
            "get_item" | "del_item" | "set_item" => {
                let i: i64 = a.take(0, "index")?;
                let value: Option<Value> = if name == "set_item" {
                    Some(a.take(1, "value")?)
                } else {
                    None
                };
                a.finish()?;
                let Some(at) = self.index(i, false) else {
                    return Err(key_error(Value::Int(i), HERE, cx));
                };
                match (name, value) {
                    ("get_item", _) => data(self.items[at].clone()),
                    ("set_item", Some(v)) => {
                        self.items[at] = storable(v)?;
                        data(Value::None)
                    }
                    _ => {
                        self.items.remove(at);
                        data(Value::None)
                    }
                }
            }
            "insert" => {
                let i: i64 = a.take(0, "index")?;
                let v: Value = a.take(1, "value")?;
                a.finish()?;
                let at = self.index(i, true).unwrap_or(self.items.len());
                self.items.insert(at, storable(v)?);
                data(Value::None)
            }
            "pop" => {
                let i: Option<i64> = a.take_or_default(0, "index")?;
                a.finish()?;
                let i = i.unwrap_or(-1);
                match self.index(i, false) {
                    Some(at) => data(self.items.remove(at)),
                    None => Err(key_error(Value::Int(i), HERE, cx)),
                }
            }
            "index" => {
                let v: Value = a.take(0, "value")?;
                a.finish()?;
                match self.items.iter().position(|x| *x == v) {
                    Some(at) => data(Value::Int(at as i64)),
                    None => Err(key_error(v, HERE, cx)),
                }
            }
            "contains" => {
                let v: Value = a.take(0, "value")?;
                a.finish()?;
                data(Value::Bool(self.items.contains(&v)))
            }
            "len" => {
                a.finish()?;
                data(Value::Int(self.items.len() as i64))
            }
            "clear" => {
                a.finish()?;
                self.items.clear();
                data(Value::None)
            }
            "reverse" => {
                a.finish()?;
                self.items.reverse();
                data(Value::None)
            }
            other => Err(crate::object::no_such_member("List", other, "method")),
        }
    }
}

const LIST_METHODS: &[MemberInfo] = &[
    method("append", "append(value)", "Appends `value`."),
    method("clear", "clear()", "Removes every item."),
    method(
        "contains",
        "contains(value)",
        "Whether `value` is an item (Python's `value in l`).",
    ),
    method(
        "del_item",
        "del_item(index)",
        "Removes the item at `index` (negative counts from the end).",
    ),
    method(
        "extend",
        "extend(values)",
        "Appends every item of `values`.",
    ),
    method(
        "get_item",
        "get_item(index)",
        "The item at `index` (Python's `l[index]`).",
    ),
    method(
        "index",
        "index(value) -> int",
        "The position of the first item equal to `value`.",
    ),
    method(
        "insert",
        "insert(index, value)",
        "Inserts `value` before `index`.",
    ),
    method("len", "len() -> int", "The number of items."),
    method(
        "pop",
        "pop(index=-1)",
        "Removes and returns the item at `index` (default: the last).",
    ),
    method("reverse", "reverse()", "Reverses the items in place."),
    method(
        "set_item",
        "set_item(index, value)",
        "Replaces the item at `index` (Python's `l[index] = value`).",
    ),
];

impl RemoteFields for List {
    const TYPE_NAME: &'static str = "List";
    const DOC: &'static str = "A list on the server.";
    fn all_fields(&self) -> Result<Value, RemoteError> {
        Ok(Value::List(self.items.clone()))
    }
}

impl RemoteMethods for List {
    const METHODS: &'static [MemberInfo] = LIST_METHODS;

    fn call_method(
        this: &Remote<Self>,
        name: &str,
        args: Args,
        cx: &CallContext,
    ) -> Option<Result<Started, RemoteError>> {
        start(this, LIST_METHODS, name, args, cx, List::dispatch)
    }

    /// `List(items=None)`, like Python's `list(...)`.
    fn construct(args: Args, cx: &CallContext) -> Result<Self, RemoteError> {
        let mut a = ArgReader::new(args, "List()", 1, cx);
        let items: Option<Vec<Value>> = a.take_or_default(0, "items")?;
        a.finish()?;
        let mut list = List::new();
        for item in items.unwrap_or_default() {
            list.push(item)?;
        }
        Ok(list)
    }
}
