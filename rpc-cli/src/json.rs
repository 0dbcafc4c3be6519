//! The mapping between JSON and [`Value`], both ways.
//!
//! # JSON to `Value` (arguments, `--open`, `rpc set`)
//!
//! | JSON | `Value` |
//! |---|---|
//! | `null` | `None` |
//! | `true`, `false` | `Bool` |
//! | an integer within `i64` | `Int` (an integer outside `i64` is refused) |
//! | any other number (`1.5`, `1e3`, `1.0`) | `Float` |
//! | a string | `Str` |
//! | an array | `List` |
//! | an object | `Map` with `Str` keys, in the order written |
//!
//! JSON has no tuples, bytes or handles: `{"$handle": 3}` arriving from JSON is a plain map.
//! (The shell's own literal syntax has tuples and bytes.)
//!
//! # `Value` to JSON (`--json` output)
//!
//! | `Value` | JSON |
//! |---|---|
//! | `None` | `null` |
//! | `Bool`, `Int`, `Str` | the same |
//! | `Float` | a number; NaN and the infinities, which JSON cannot spell, as the strings `"nan"`, `"inf"`, `"-inf"` |
//! | `Bytes` | an array of integers 0..=255 (no base64: readable with `jq` and no decoder needed) |
//! | `List`, `Tuple` | an array |
//! | `Map` whose keys are all distinct strings | an object, in the server's order |
//! | any other `Map` (`{1: 2}`) | an array of `[key, value]` pairs |
//! | `Handle` | `{"$handle": ID}` |
//!
//! A remote object returned by GET or a call (rather than a handle inside data) prints as
//! `{"$handle": ID, "$type": "Counter"}`.

use std::collections::HashSet;
use std::fmt;

use rpc_client::{Member, MemberKind, Returned};
use rpc_core::{Args, Value};
use serde_json::{Map, Number, Value as Json};

/// Why a JSON text could not become a [`Value`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    message: String,
}

impl JsonError {
    fn new(message: impl Into<String>) -> Self {
        JsonError {
            message: message.into(),
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for JsonError {}

/// Parses a JSON text into a [`Value`] (see the [module docs](self) for the mapping).
///
/// # Errors
/// The text is not JSON (the message suggests quoting a bare word as a string), or holds an
/// integer outside `i64`.
pub fn parse(text: &str) -> Result<Value, JsonError> {
    let json: Json = serde_json::from_str(text).map_err(|e| {
        let hint = if text.starts_with(|c: char| c.is_alphabetic()) {
            format!(" (a string must be quoted: '\"{text}\"')")
        } else {
            String::new()
        };
        JsonError::new(format!("not valid JSON: {text:?}: {e}{hint}"))
    })?;
    from_json(&json)
}

/// Converts parsed JSON into a [`Value`] (see the [module docs](self) for the mapping).
///
/// # Errors
/// An integer outside `i64`.
pub fn from_json(json: &Json) -> Result<Value, JsonError> {
    Ok(match json {
        Json::Null => Value::None,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => number(n)?,
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(items) => Value::List(items.iter().map(from_json).collect::<Result<_, _>>()?),
        Json::Object(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| Ok((Value::Str(k.clone()), from_json(v)?)))
                .collect::<Result<_, JsonError>>()?,
        ),
    })
}

fn number(n: &Number) -> Result<Value, JsonError> {
    if let Some(i) = n.as_i64() {
        Ok(Value::Int(i))
    } else if n.is_u64() {
        Err(JsonError::new(format!(
            "the integer {n} is out of range (values are 64-bit signed integers)"
        )))
    } else {
        // Not an integer: serde_json (without arbitrary precision) holds it as an f64.
        Ok(Value::Float(n.as_f64().unwrap_or(f64::NAN)))
    }
}

/// Converts a [`Value`] into JSON (see the [module docs](self) for the mapping).
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::None => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(x) => match Number::from_f64(*x) {
            Some(n) => Json::Number(n),
            None if x.is_nan() => Json::from("nan"),
            None if *x > 0.0 => Json::from("inf"),
            None => Json::from("-inf"),
        },
        Value::Str(s) => Json::from(s.as_str()),
        Value::Bytes(bytes) => Json::Array(bytes.iter().map(|&b| Json::from(b)).collect()),
        Value::List(items) | Value::Tuple(items) => {
            Json::Array(items.iter().map(to_json).collect())
        }
        Value::Map(pairs) => map_to_json(pairs),
        Value::Handle(id) => handle_json(id.0, None),
        Value::Hosted(desc) => handle_json(desc.id.0, Some(&desc.type_name)),
    }
}

fn map_to_json(pairs: &[(Value, Value)]) -> Json {
    let mut seen = HashSet::new();
    let object_keys = pairs
        .iter()
        .all(|(k, _)| k.as_str().is_some_and(|s| seen.insert(s)));
    if object_keys {
        let mut object = Map::new();
        for (k, v) in pairs {
            if let Value::Str(key) = k {
                object.insert(key.clone(), to_json(v));
            }
        }
        Json::Object(object)
    } else {
        Json::Array(
            pairs
                .iter()
                .map(|(k, v)| Json::Array(vec![to_json(k), to_json(v)]))
                .collect(),
        )
    }
}

fn handle_json(id: u64, type_name: Option<&str>) -> Json {
    let mut object = Map::new();
    object.insert("$handle".to_owned(), Json::from(id));
    if let Some(type_name) = type_name {
        object.insert("$type".to_owned(), Json::from(type_name));
    }
    Json::Object(object)
}

/// Converts the result of a GET or a call: data as [`to_json`], a remote object as
/// `{"$handle": ID, "$type": TYPE}`.
pub fn returned_to_json(returned: &Returned) -> Json {
    match returned {
        Returned::Value(v) => to_json(v),
        Returned::Object(p) => handle_json(p.id().0, Some(p.type_name())),
    }
}

/// Converts DIR entries into an array of `{"name", "kind", "signature", "type", "params",
/// "read_only", "doc"}` objects, kind being `"field"`, `"object"` or `"method"`, `type` a
/// field's type or a method's result, `params` a method's `[{"name", "type"}]`.
pub fn members_to_json(members: &[Member]) -> Json {
    Json::Array(
        members
            .iter()
            .map(|m| {
                let mut object = Map::new();
                object.insert("name".to_owned(), Json::from(m.name.as_str()));
                object.insert("kind".to_owned(), Json::from(kind_name(m.kind)));
                object.insert("signature".to_owned(), Json::from(m.signature()));
                object.insert("type".to_owned(), Json::from(m.ty.as_str()));
                let params = m.params.iter().map(|p| {
                    let mut param = Map::new();
                    param.insert("name".to_owned(), Json::from(p.name.as_str()));
                    param.insert("type".to_owned(), Json::from(p.ty.as_str()));
                    Json::Object(param)
                });
                object.insert("params".to_owned(), Json::Array(params.collect()));
                object.insert("read_only".to_owned(), Json::from(m.read_only));
                object.insert("doc".to_owned(), Json::from(m.doc.as_str()));
                Json::Object(object)
            })
            .collect(),
    )
}

/// A member kind as a lowercase word: `field`, `object`, `method`.
pub fn kind_name(kind: MemberKind) -> &'static str {
    match kind {
        MemberKind::Field => "field",
        MemberKind::Object => "object",
        MemberKind::Method => "method",
    }
}

/// The constructor arguments given with `--open`: a list is the positional arguments, a map
/// with string keys the named ones, anything else one positional argument. (A single argument
/// that is itself a list or a map goes inside a list: `--open '[[1, 2]]'`.)
pub fn open_args(value: Value) -> Args {
    match value {
        Value::List(items) => Args::positional(items),
        Value::Map(pairs) if pairs.iter().all(|(k, _)| k.as_str().is_some()) => Args {
            positional: Vec::new(),
            named: pairs
                .into_iter()
                .filter_map(|(k, v)| match k {
                    Value::Str(name) => Some((name, v)),
                    _ => None,
                })
                .collect(),
        },
        other => Args::positional(vec![other]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rpc_core::HandleId;
    use serde_json::json;

    #[test]
    fn json_scalars_and_containers_become_values() {
        let v = parse(r#"{"a": [1, 2.5, "x", null, true], "b": {}, "c": 1e2}"#).expect("valid");
        assert_eq!(
            v,
            Value::Map(vec![
                (
                    Value::Str("a".into()),
                    Value::List(vec![
                        Value::Int(1),
                        Value::Float(2.5),
                        Value::Str("x".into()),
                        Value::None,
                        Value::Bool(true),
                    ])
                ),
                (Value::Str("b".into()), Value::Map(vec![])),
                (Value::Str("c".into()), Value::Float(100.0)),
            ])
        );
        assert_eq!(parse("-7").expect("int"), Value::Int(-7));
        assert_eq!(parse("1.0").expect("float"), Value::Float(1.0));
    }

    #[test]
    fn out_of_range_integers_and_bad_text_are_refused() {
        let err = parse("18446744073709551615").expect_err("over i64");
        assert!(err.to_string().contains("out of range"), "{err}");
        let err = parse("hello").expect_err("bare word");
        assert!(err.to_string().contains(r#"'"hello"'"#), "{err}");
        assert_eq!(
            parse(&i64::MIN.to_string()).expect("min"),
            Value::Int(i64::MIN)
        );
    }

    #[test]
    fn values_become_json() {
        let v = Value::List(vec![
            Value::Tuple(vec![Value::Int(1), Value::Str("a".into())]),
            Value::Bytes(vec![0, 255]),
            Value::Handle(HandleId(4)),
            Value::Float(f64::INFINITY),
            Value::Float(f64::NAN),
            Value::Float(0.5),
        ]);
        assert_eq!(
            to_json(&v),
            json!([[1, "a"], [0, 255], {"$handle": 4}, "inf", "nan", 0.5])
        );
    }

    #[test]
    fn maps_are_objects_only_with_distinct_string_keys() {
        let strings = Value::Map(vec![
            (Value::Str("z".into()), Value::Int(1)),
            (Value::Str("a".into()), Value::None),
        ]);
        assert_eq!(
            serde_json::to_string(&to_json(&strings)).expect("json"),
            r#"{"z":1,"a":null}"#,
            "the server's order is kept"
        );
        let ints = Value::Map(vec![(Value::Int(1), Value::Int(2))]);
        assert_eq!(to_json(&ints), json!([[1, 2]]));
        let twice = Value::Map(vec![
            (Value::Str("a".into()), Value::Int(1)),
            (Value::Str("a".into()), Value::Int(2)),
        ]);
        assert_eq!(to_json(&twice), json!([["a", 1], ["a", 2]]));
        assert_eq!(to_json(&Value::Map(vec![])), json!({}));
    }

    #[test]
    fn round_trip_of_json_data() {
        let text = r#"{"k":[1,-2,3.25,"s",null,false,{"n":{}}]}"#;
        let v = parse(text).expect("valid");
        assert_eq!(serde_json::to_string(&to_json(&v)).expect("json"), text);
    }

    #[test]
    fn open_arguments() {
        assert_eq!(
            open_args(parse("[40, \"x\"]").expect("json")),
            Args::positional(vec![Value::Int(40), Value::Str("x".into())])
        );
        assert_eq!(
            open_args(parse(r#"{"start": 40}"#).expect("json")),
            Args {
                positional: vec![],
                named: vec![("start".into(), Value::Int(40))],
            }
        );
        assert_eq!(
            open_args(parse("40").expect("json")),
            Args::positional(vec![Value::Int(40)])
        );
    }

    #[test]
    fn members_list_with_lowercase_kinds() {
        let members = vec![Member {
            name: "add".into(),
            kind: MemberKind::Method,
            ty: "i64".into(),
            params: vec![rpc_client::Param {
                name: "n".into(),
                ty: "i64".into(),
            }],
            read_only: false,
            doc: "Adds.".into(),
        }];
        assert_eq!(
            members_to_json(&members),
            json!([{
                "name": "add",
                "kind": "method",
                "signature": "add(n: i64) -> i64",
                "type": "i64",
                "params": [{"name": "n", "type": "i64"}],
                "read_only": false,
                "doc": "Adds.",
            }])
        );
    }
}
