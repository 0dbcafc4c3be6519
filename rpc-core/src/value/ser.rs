//! Serde serializer into [`Value`].
//!
//! The mapping, by serde data-model type:
//!
//! | serde | `Value` |
//! |---|---|
//! | `bool` | `Bool` |
//! | every integer | `Int` (an error when it does not fit in `i64`) |
//! | `f32`, `f64` | `Float` |
//! | `char`, `str` | `Str` |
//! | bytes | `Bytes` |
//! | `none`, `unit`, unit struct | `None` |
//! | `some(x)`, newtype struct `S(x)` | `x` |
//! | newtype struct [`HANDLE_MARKER`]`(id)` | `Handle(HandleId(id))` |
//! | newtype struct [`HOSTED_MARKER`]`((id, type_name, doc))` | `Hosted(descriptor)` |
//! | seq | `List` |
//! | tuple, tuple struct | `Tuple` |
//! | map | `Map`, any keys, in order |
//! | struct | `Map` with `Str` field names as keys, in declaration order |
//! | unit variant `V` | `Str("V")` |
//! | newtype variant `V(x)` | `Map([(Str("V"), x)])` |
//! | tuple variant `V(a, b)` | `Map([(Str("V"), Tuple([a, b]))])` |
//! | struct variant `V { f }` | `Map([(Str("V"), Map([(Str("f"), f)]))])` |

use std::fmt::Display;

use serde::ser::{self, Serialize};

use super::{HANDLE_MARKER, HOSTED_MARKER, VALUE_ENUM, Value};
use crate::error::ValueError;
use crate::handle::{HandleDescriptor, HandleId};

/// Converts any `Serialize` value into a [`Value`].
///
/// Fails when an integer does not fit in `i64`, when a [`HANDLE_MARKER`] newtype does not wrap
/// a non-negative integer id, or when the value's own `Serialize` impl reports an error.
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, ValueError> {
    value.serialize(ValueSerializer)
}

/// Converts an integer of any width into `Value::Int`, or fails when it does not fit in `i64`.
fn int<N>(n: N) -> Result<Value, ValueError>
where
    N: TryInto<i64> + Display + Copy,
{
    n.try_into()
        .map(Value::Int)
        .map_err(|_| ValueError::new(format!("integer {n} does not fit in i64")))
}

/// Wraps `payload` as the one entry of a map keyed by the variant name: the form of every enum
/// variant that carries data.
fn variant(name: &'static str, payload: Value) -> Value {
    Value::Map(vec![(Value::Str(name.to_owned()), payload)])
}

/// The serializer behind [`to_value`]: each call produces one `Value`.
#[derive(Clone, Copy, Debug)]
struct ValueSerializer;

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = ValueError;

    type SerializeSeq = SeqSerializer;
    type SerializeTuple = SeqSerializer;
    type SerializeTupleStruct = SeqSerializer;
    type SerializeTupleVariant = TupleVariantSerializer;
    type SerializeMap = MapSerializer;
    type SerializeStruct = MapSerializer;
    type SerializeStructVariant = StructVariantSerializer;

    fn serialize_bool(self, v: bool) -> Result<Value, ValueError> {
        Ok(Value::Bool(v))
    }

    fn serialize_i8(self, v: i8) -> Result<Value, ValueError> {
        Ok(Value::Int(v.into()))
    }

    fn serialize_i16(self, v: i16) -> Result<Value, ValueError> {
        Ok(Value::Int(v.into()))
    }

    fn serialize_i32(self, v: i32) -> Result<Value, ValueError> {
        Ok(Value::Int(v.into()))
    }

    fn serialize_i64(self, v: i64) -> Result<Value, ValueError> {
        Ok(Value::Int(v))
    }

    fn serialize_i128(self, v: i128) -> Result<Value, ValueError> {
        int(v)
    }

    fn serialize_u8(self, v: u8) -> Result<Value, ValueError> {
        Ok(Value::Int(v.into()))
    }

    fn serialize_u16(self, v: u16) -> Result<Value, ValueError> {
        Ok(Value::Int(v.into()))
    }

    fn serialize_u32(self, v: u32) -> Result<Value, ValueError> {
        Ok(Value::Int(v.into()))
    }

    fn serialize_u64(self, v: u64) -> Result<Value, ValueError> {
        int(v)
    }

    fn serialize_u128(self, v: u128) -> Result<Value, ValueError> {
        int(v)
    }

    fn serialize_f32(self, v: f32) -> Result<Value, ValueError> {
        Ok(Value::Float(v.into()))
    }

    fn serialize_f64(self, v: f64) -> Result<Value, ValueError> {
        Ok(Value::Float(v))
    }

    fn serialize_char(self, v: char) -> Result<Value, ValueError> {
        Ok(Value::Str(v.to_string()))
    }

    fn serialize_str(self, v: &str) -> Result<Value, ValueError> {
        Ok(Value::Str(v.to_owned()))
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<Value, ValueError> {
        Ok(Value::Bytes(v.to_vec()))
    }

    fn serialize_none(self) -> Result<Value, ValueError> {
        Ok(Value::None)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, ValueError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<Value, ValueError> {
        Ok(Value::None)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, ValueError> {
        Ok(Value::None)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
    ) -> Result<Value, ValueError> {
        Ok(Value::Str(variant.to_owned()))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Value, ValueError> {
        let inner = value.serialize(self)?;
        if name == VALUE_ENUM {
            // A `Value` serialized itself as its token sequence; rebuild it unchanged.
            return super::wire::from_token_values(inner);
        }
        if name == HOSTED_MARKER {
            return hosted(inner);
        }
        if name != HANDLE_MARKER {
            return Ok(inner);
        }
        match inner {
            Value::Int(id) => u64::try_from(id)
                .map(|id| Value::Handle(HandleId(id)))
                .map_err(|_| ValueError::new(format!("a handle id cannot be negative ({id})"))),
            other => Err(ValueError::new(format!(
                "a handle must wrap an integer id, found {}",
                other.kind_name()
            ))),
        }
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant_name: &'static str,
        value: &T,
    ) -> Result<Value, ValueError> {
        Ok(variant(variant_name, value.serialize(self)?))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<SeqSerializer, ValueError> {
        Ok(SeqSerializer::with_capacity(len.unwrap_or(0)))
    }

    fn serialize_tuple(self, len: usize) -> Result<SeqSerializer, ValueError> {
        Ok(SeqSerializer::with_capacity(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SeqSerializer, ValueError> {
        Ok(SeqSerializer::with_capacity(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<TupleVariantSerializer, ValueError> {
        Ok(TupleVariantSerializer {
            variant,
            items: SeqSerializer::with_capacity(len),
        })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<MapSerializer, ValueError> {
        Ok(MapSerializer::with_capacity(len.unwrap_or(0)))
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<MapSerializer, ValueError> {
        Ok(MapSerializer::with_capacity(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<StructVariantSerializer, ValueError> {
        Ok(StructVariantSerializer {
            variant,
            fields: MapSerializer::with_capacity(len),
        })
    }
}

/// Collects the elements of a seq (into `List`) or of a tuple or tuple struct (into `Tuple`).
#[derive(Debug)]
struct SeqSerializer {
    items: Vec<Value>,
}

impl SeqSerializer {
    fn with_capacity(len: usize) -> Self {
        SeqSerializer {
            items: Vec::with_capacity(len),
        }
    }

    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.items.push(to_value(value)?);
        Ok(())
    }
}

impl ser::SerializeSeq for SeqSerializer {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(Value::List(self.items))
    }
}

impl ser::SerializeTuple for SeqSerializer {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(Value::Tuple(self.items))
    }
}

impl ser::SerializeTupleStruct for SeqSerializer {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(Value::Tuple(self.items))
    }
}

/// Collects the fields of a tuple variant into `Map([(Str(variant), Tuple(..))])`.
#[derive(Debug)]
struct TupleVariantSerializer {
    variant: &'static str,
    items: SeqSerializer,
}

impl ser::SerializeTupleVariant for TupleVariantSerializer {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.items.push(value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(variant(self.variant, Value::Tuple(self.items.items)))
    }
}

/// Collects the entries of a map, or the fields of a struct, into `Map`, in order.
#[derive(Debug)]
struct MapSerializer {
    pairs: Vec<(Value, Value)>,
    /// A key given by `serialize_key` whose value has not come yet.
    pending_key: Option<Value>,
}

impl MapSerializer {
    fn with_capacity(len: usize) -> Self {
        MapSerializer {
            pairs: Vec::with_capacity(len),
            pending_key: None,
        }
    }

    fn push_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        self.pairs
            .push((Value::Str(key.to_owned()), to_value(value)?));
        Ok(())
    }

    fn finish(self) -> Result<Vec<(Value, Value)>, ValueError> {
        match self.pending_key {
            Some(key) => Err(ValueError::new(format!(
                "map key {key} was serialized without a value"
            ))),
            None => Ok(self.pairs),
        }
    }
}

impl ser::SerializeMap for MapSerializer {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ValueError> {
        if let Some(pending) = &self.pending_key {
            return Err(ValueError::new(format!(
                "map key {pending} was serialized without a value"
            )));
        }
        self.pending_key = Some(to_value(key)?);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        let key = self
            .pending_key
            .take()
            .ok_or_else(|| ValueError::new("map value serialized before its key"))?;
        self.pairs.push((key, to_value(value)?));
        Ok(())
    }

    fn end(self) -> Result<Value, ValueError> {
        self.finish().map(Value::Map)
    }
}

impl ser::SerializeStruct for MapSerializer {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        self.push_field(key, value)
    }

    fn end(self) -> Result<Value, ValueError> {
        self.finish().map(Value::Map)
    }
}

/// Collects the fields of a struct variant into `Map([(Str(variant), Map(fields))])`.
#[derive(Debug)]
struct StructVariantSerializer {
    variant: &'static str,
    fields: MapSerializer,
}

impl ser::SerializeStructVariant for StructVariantSerializer {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        self.fields.push_field(key, value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(variant(self.variant, Value::Map(self.fields.finish()?)))
    }
}

/// The [`Value::Hosted`] a [`HOSTED_MARKER`] newtype around `(id, type_name, doc)` stands for.
fn hosted(inner: Value) -> Result<Value, ValueError> {
    if let Value::Tuple(parts) = inner {
        if let [Value::Int(id), Value::Str(type_name), Value::Str(doc)] = parts.as_slice() {
            if let Ok(id) = u64::try_from(*id) {
                return Ok(Value::Hosted(Box::new(HandleDescriptor {
                    id: HandleId(id),
                    type_name: type_name.clone(),
                    doc: doc.clone(),
                })));
            }
        }
    }
    Err(ValueError::new(
        "an exported object must wrap (id, type name, doc)",
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;
    use serde::ser::SerializeMap;

    use super::*;

    fn s(text: &str) -> Value {
        Value::Str(text.to_owned())
    }

    #[test]
    fn scalars_map_to_their_variants() {
        assert_eq!(to_value(&true).expect("bool"), Value::Bool(true));
        assert_eq!(to_value(&-5i8).expect("i8"), Value::Int(-5));
        assert_eq!(to_value(&7u32).expect("u32"), Value::Int(7));
        assert_eq!(to_value(&1.5f32).expect("f32"), Value::Float(1.5));
        assert_eq!(to_value(&'x').expect("char"), s("x"));
        assert_eq!(to_value("hi").expect("str"), s("hi"));
        assert_eq!(to_value(&()).expect("unit"), Value::None);
        assert_eq!(to_value(&None::<i32>).expect("none"), Value::None);
        assert_eq!(to_value(&Some(3)).expect("some"), Value::Int(3));
        assert_eq!(
            to_value(&(i64::MAX as u64)).expect("u64 at i64::MAX"),
            Value::Int(i64::MAX)
        );
    }

    #[test]
    fn integers_outside_i64_are_errors() {
        let big = i64::MAX as u64 + 1;
        let err = to_value(&big).expect_err("u64 above i64::MAX");
        assert_eq!(
            err.to_string(),
            "integer 9223372036854775808 does not fit in i64"
        );
        let err = to_value(&u128::MAX).expect_err("u128::MAX");
        assert!(err.to_string().contains("does not fit in i64"), "{err}");
        let err = to_value(&(i128::from(i64::MIN) - 1)).expect_err("below i64::MIN");
        assert!(err.to_string().contains("does not fit in i64"), "{err}");
        assert_eq!(to_value(&-1i128).expect("small i128"), Value::Int(-1));
    }

    #[test]
    fn tuples_are_tuples_and_sequences_are_lists() {
        assert_eq!(
            to_value(&(1, 2)).expect("tuple"),
            Value::Tuple(vec![Value::Int(1), Value::Int(2)])
        );
        let pairs = to_value(&vec![(1i64, 2i64)]).expect("list of tuples");
        assert_eq!(pairs.to_string(), "[(1, 2)]");
        #[derive(Serialize)]
        struct Point(i32, i32);
        assert_eq!(
            to_value(&Point(3, 4)).expect("tuple struct"),
            Value::Tuple(vec![Value::Int(3), Value::Int(4)])
        );
        #[derive(Serialize)]
        struct Meters(f64);
        assert_eq!(to_value(&Meters(2.5)).expect("newtype"), Value::Float(2.5));
        #[derive(Serialize)]
        struct Marker;
        assert_eq!(to_value(&Marker).expect("unit struct"), Value::None);
    }

    #[test]
    fn structs_keep_field_order_and_maps_keep_their_keys() {
        #[derive(Serialize)]
        struct Config {
            zeta: u8,
            alpha: Vec<String>,
        }
        let v = to_value(&Config {
            zeta: 1,
            alpha: vec!["a".into()],
        })
        .expect("struct");
        assert_eq!(
            v,
            Value::Map(vec![
                (s("zeta"), Value::Int(1)),
                (s("alpha"), Value::List(vec![s("a")])),
            ])
        );

        let map: BTreeMap<i64, &str> = [(2, "two"), (-1, "minus one")].into();
        assert_eq!(
            to_value(&map).expect("map"),
            Value::Map(vec![
                (Value::Int(-1), s("minus one")),
                (Value::Int(2), s("two")),
            ])
        );
        assert_eq!(
            to_value(&map).expect("map").to_string(),
            "{-1: 'minus one', 2: 'two'}"
        );
    }

    #[test]
    fn enum_variants_are_tagged_by_name() {
        #[derive(Serialize)]
        enum Shape {
            Empty,
            Circle(f64),
            Rect(i32, i32),
            Named { name: String, sides: u8 },
        }
        assert_eq!(to_value(&Shape::Empty).expect("unit variant"), s("Empty"));
        assert_eq!(
            to_value(&Shape::Circle(1.0)).expect("newtype variant"),
            Value::Map(vec![(s("Circle"), Value::Float(1.0))])
        );
        assert_eq!(
            to_value(&Shape::Rect(2, 3)).expect("tuple variant"),
            Value::Map(vec![(
                s("Rect"),
                Value::Tuple(vec![Value::Int(2), Value::Int(3)])
            )])
        );
        assert_eq!(
            to_value(&Shape::Named {
                name: "tri".into(),
                sides: 3
            })
            .expect("struct variant"),
            Value::Map(vec![(
                s("Named"),
                Value::Map(vec![(s("name"), s("tri")), (s("sides"), Value::Int(3))])
            )])
        );
    }

    /// Serializes itself as a remote object reference, as client proxies do.
    struct Marked<T>(T);

    impl<T: Serialize> Serialize for Marked<T> {
        fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_newtype_struct(HANDLE_MARKER, &self.0)
        }
    }

    #[test]
    fn the_handle_marker_becomes_a_handle() {
        assert_eq!(
            to_value(&Marked(7u64)).expect("handle"),
            Value::Handle(HandleId(7))
        );
        assert_eq!(
            to_value(&vec![Marked(1u64)]).expect("nested handle"),
            Value::List(vec![Value::Handle(HandleId(1))])
        );
        let err = to_value(&Marked(-1i64)).expect_err("negative id");
        assert!(err.to_string().contains("negative"), "{err}");
        let err = to_value(&Marked("seven")).expect_err("non-integer id");
        assert!(err.to_string().contains("found str"), "{err}");
    }

    /// A map written with separate `serialize_key` / `serialize_value` calls.
    struct SplitMap<'a>(&'a [(&'a str, i32)]);

    impl Serialize for SplitMap<'_> {
        fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(None)?;
            for (k, v) in self.0 {
                map.serialize_key(k)?;
                map.serialize_value(v)?;
            }
            map.end()
        }
    }

    /// A map that writes a value with no key before it.
    struct ValueWithoutKey;

    impl Serialize for ValueWithoutKey {
        fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_value(&1)?;
            map.end()
        }
    }

    /// A map that writes a key and never its value.
    struct KeyWithoutValue;

    impl Serialize for KeyWithoutValue {
        fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_key("k")?;
            map.end()
        }
    }

    #[test]
    fn map_keys_and_values_may_arrive_separately() {
        assert_eq!(
            to_value(&SplitMap(&[("b", 2), ("a", 1)])).expect("split map"),
            Value::Map(vec![(s("b"), Value::Int(2)), (s("a"), Value::Int(1))])
        );
        let err = to_value(&ValueWithoutKey).expect_err("value before key");
        assert!(err.to_string().contains("before its key"), "{err}");
        let err = to_value(&KeyWithoutValue).expect_err("key without value");
        assert!(err.to_string().contains("without a value"), "{err}");
    }
}
