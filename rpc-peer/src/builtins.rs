//! The built-in remote [`Dict`] and [`List`], so the seed's own demo works unchanged
//! (`d[1] = 2`, `dir(d)`, `d._all()`, `d.items()`, `d[1]`).
//!
//! Item access uses ordinary method names (`set_item`, `get_item`, `del_item`) since names
//! starting with `_` are never reachable remotely.
//!
//! Both are written with `#[remote]` on their impl blocks, like any user type: the macro
//! generates their dispatch and DIR. Only the data side is written by hand
//! ([`RemoteFields`]): ALL of a `Dict` is its entries as a map, of a `List` its items.

use std::fmt;
use std::hash::{Hash, Hasher};

use indexmap::IndexMap;
use rpc_core::{Args, ErrorKind, RemoteError, Value};

use crate::object::{Remote, RemoteFields};
use crate::remote;

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

/// The error `get_item`, `del_item`, `index` and `pop` raise for a missing key, index or
/// value (Python's `KeyError` / `IndexError`).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyError(pub Value);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key not found: {}", self.0)
    }
}

impl std::error::Error for KeyError {}

impl From<KeyError> for RemoteError {
    /// A raised `KeyError` naming the missing key. It carries no stack: its frames would all
    /// be the built-in's own.
    fn from(missing: KeyError) -> RemoteError {
        let mut e = RemoteError::new(ErrorKind::Raised, missing.to_string());
        e.type_name = std::any::type_name::<KeyError>().to_owned();
        e
    }
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

    /// The value under `key`, if any.
    pub fn value(&self, key: &Value) -> Option<&Value> {
        self.entries.get(&Key(key.clone()))
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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
}

#[remote]
impl Dict {
    /// `Dict(mapping_or_pairs=None, **entries)`, like Python's `dict(...)`.
    #[remote(constructor)]
    fn construct(args: Args) -> Result<Dict, RemoteError> {
        let Args {
            mut positional,
            named,
        } = args;
        if positional.len() > 1 {
            return Err(RemoteError::new(
                ErrorKind::BadArguments,
                format!(
                    "Dict() takes at most 1 positional argument (a map or (key, value) pairs), \
                     got {}",
                    positional.len()
                ),
            ));
        }
        let mut dict = Dict::new();
        dict.update_from(positional.pop().unwrap_or_default())?;
        for (k, v) in named {
            dict.insert(Value::Str(k), v)?;
        }
        Ok(dict)
    }

    /// Sets `key` to `value` (Python's `d[key] = value`).
    pub fn set_item(&mut self, key: Value, value: Value) -> Result<(), RemoteError> {
        self.insert(key, value)
    }

    /// The value under `key` (Python's `d[key]`); raises KeyError when missing.
    pub fn get_item(&self, key: Value) -> Result<Value, RemoteError> {
        match self.entries.get(&self::key(key.clone())?) {
            Some(v) => Ok(v.clone()),
            None => Err(KeyError(key).into()),
        }
    }

    /// Removes `key` (Python's `del d[key]`); raises KeyError when missing.
    pub fn del_item(&mut self, key: Value) -> Result<(), RemoteError> {
        match self.entries.shift_remove(&self::key(key.clone())?) {
            Some(_) => Ok(()),
            None => Err(KeyError(key).into()),
        }
    }

    /// The value under `key`, or `default`.
    pub fn get(&self, key: Value, default: Option<Value>) -> Result<Value, RemoteError> {
        Ok(self
            .entries
            .get(&self::key(key)?)
            .cloned()
            .or(default)
            .unwrap_or_default())
    }

    /// Removes `key` and returns its value, or `default`; raises KeyError when missing and
    /// no default.
    pub fn pop(&mut self, key: Value, default: Option<Value>) -> Result<Value, RemoteError> {
        match (self.entries.shift_remove(&self::key(key.clone())?), default) {
            (Some(v), _) | (None, Some(v)) => Ok(v),
            (None, None) => Err(KeyError(key).into()),
        }
    }

    /// The value under `key`, inserting `default` first when missing.
    pub fn setdefault(&mut self, key: Value, default: Option<Value>) -> Result<Value, RemoteError> {
        let key = self::key(key)?;
        let entry = match self.entries.entry(key) {
            indexmap::map::Entry::Occupied(entry) => entry.into_mut(),
            indexmap::map::Entry::Vacant(entry) => {
                entry.insert(storable(default.unwrap_or_default())?)
            }
        };
        Ok(entry.clone())
    }

    /// Whether `key` is present (Python's `key in d`).
    pub fn contains(&self, key: Value) -> Result<bool, RemoteError> {
        Ok(self.entries.contains_key(&self::key(key)?))
    }

    /// Inserts every entry of a map or list of (key, value) pairs.
    pub fn update(&mut self, other: Value) -> Result<(), RemoteError> {
        self.update_from(other)
    }

    /// The number of entries (Python's `len(d)`).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The keys, in insertion order.
    pub fn keys(&self) -> Vec<Value> {
        self.entries.keys().map(|k| k.0.clone()).collect()
    }

    /// The values, in insertion order.
    pub fn values(&self) -> Vec<Value> {
        self.entries.values().cloned().collect()
    }

    /// The entries as (key, value) tuples, in insertion order.
    pub fn items(&self) -> Vec<(Value, Value)> {
        self.entries
            .iter()
            .map(|(k, v)| (k.0.clone(), v.clone()))
            .collect()
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// A shallow copy, as a new remote Dict.
    pub fn copy(&self) -> Remote<Dict> {
        Remote::new(self.clone())
    }
}

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
    pub fn as_slice(&self) -> &[Value] {
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

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Resolves a Python-style index (negative counts from the end) of an item.
    fn at(&self, i: i64) -> Result<usize, RemoteError> {
        let len = self.items.len() as i64;
        let resolved = if i < 0 { i + len } else { i };
        if (0..len).contains(&resolved) {
            Ok(resolved as usize)
        } else {
            Err(KeyError(Value::Int(i)).into())
        }
    }
}

#[remote]
impl List {
    /// `List(items=None)`, like Python's `list(...)`.
    #[remote(constructor)]
    fn construct(items: Option<Vec<Value>>) -> Result<List, RemoteError> {
        let mut list = List::new();
        for item in items.unwrap_or_default() {
            list.push(item)?;
        }
        Ok(list)
    }

    /// Appends `value`.
    pub fn append(&mut self, value: Value) -> Result<(), RemoteError> {
        self.push(value)
    }

    /// Appends every item of `values`.
    pub fn extend(&mut self, values: Vec<Value>) -> Result<(), RemoteError> {
        values.into_iter().try_for_each(|item| self.push(item))
    }

    /// The item at `index` (Python's `l[index]`; negative counts from the end).
    pub fn get_item(&self, index: i64) -> Result<Value, RemoteError> {
        Ok(self.items[self.at(index)?].clone())
    }

    /// Replaces the item at `index` (Python's `l[index] = value`).
    pub fn set_item(&mut self, index: i64, value: Value) -> Result<(), RemoteError> {
        let at = self.at(index)?;
        self.items[at] = storable(value)?;
        Ok(())
    }

    /// Removes the item at `index` (negative counts from the end).
    pub fn del_item(&mut self, index: i64) -> Result<(), RemoteError> {
        let at = self.at(index)?;
        self.items.remove(at);
        Ok(())
    }

    /// Inserts `value` before `index` (clamped to the list, as in Python).
    pub fn insert(&mut self, index: i64, value: Value) -> Result<(), RemoteError> {
        let len = self.items.len() as i64;
        let at = if index < 0 { index + len } else { index }.clamp(0, len) as usize;
        self.items.insert(at, storable(value)?);
        Ok(())
    }

    /// Removes and returns the item at `index` (default: the last).
    pub fn pop(&mut self, index: Option<i64>) -> Result<Value, RemoteError> {
        let at = self.at(index.unwrap_or(-1))?;
        Ok(self.items.remove(at))
    }

    /// The position of the first item equal to `value`.
    pub fn index(&self, value: Value) -> Result<usize, RemoteError> {
        self.items
            .iter()
            .position(|x| *x == value)
            .ok_or_else(|| KeyError(value).into())
    }

    /// Whether `value` is an item (Python's `value in l`).
    pub fn contains(&self, value: Value) -> bool {
        self.items.contains(&value)
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Removes every item.
    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// Reverses the items in place.
    pub fn reverse(&mut self) {
        self.items.reverse();
    }
}

impl RemoteFields for List {
    const TYPE_NAME: &'static str = "List";
    const DOC: &'static str = "A list on the server.";
    fn all_fields(&self) -> Result<Value, RemoteError> {
        Ok(Value::List(self.items.clone()))
    }
}
