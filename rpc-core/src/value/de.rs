//! Serde deserializer out of [`Value`]: the inverse of [`to_value`](super::to_value).
//!
//! Beyond reading back what `to_value` writes, it is lenient where that loses nothing: an `Int`
//! fills a float, a `List` fills a tuple, a `Bytes` fills a `Vec<u8>` and a list of small
//! integers fills a byte buffer. A [`Value::Handle`] is only accepted by a
//! `deserialize_newtype_struct(HANDLE_MARKER, ..)` call (a client proxy); as plain data it is
//! an error.

use std::vec;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess,
    SeqAccess, Unexpected, VariantAccess, Visitor,
};
use serde::forward_to_deserialize_any;

use super::{HANDLE_MARKER, VALUE_ENUM, Value};
use crate::error::ValueError;

/// Converts a [`Value`] into any `DeserializeOwned` type.
///
/// Fails with a message naming what was expected and what was found when the value does not
/// have the type's shape, and when a remote object handle appears where data is expected.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ValueError> {
    T::deserialize(ValueDeserializer(value))
}

/// Describes `value` for serde's `invalid_type` / `invalid_value` messages.
fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::None => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Int(i) => Unexpected::Signed(*i),
        Value::Float(f) => Unexpected::Float(*f),
        Value::Str(s) => Unexpected::Str(s),
        Value::Bytes(b) => Unexpected::Bytes(b),
        Value::List(_) | Value::Tuple(_) => Unexpected::Seq,
        Value::Map(_) => Unexpected::Map,
        Value::Handle(_) | Value::Hosted(_) => Unexpected::Other("remote object handle"),
    }
}

/// The error for a handle met where plain data is expected.
fn handle_is_not_data() -> ValueError {
    ValueError::new("a remote object handle cannot be converted to data")
}

/// Feeds `items` to `visitor` as a sequence; elements the visitor leaves unread are an error.
fn visit_items<'de, V: Visitor<'de>>(
    items: Vec<Value>,
    visitor: V,
) -> Result<V::Value, ValueError> {
    let len = items.len();
    let mut access = SeqDeserializer {
        items: items.into_iter(),
    };
    let out = visitor.visit_seq(&mut access)?;
    match access.items.len() {
        0 => Ok(out),
        left => Err(ValueError::new(format!(
            "trailing elements: {left} of {len} left unread"
        ))),
    }
}

/// Feeds `pairs` to `visitor` as a map; entries the visitor leaves unread are an error.
fn visit_pairs<'de, V: Visitor<'de>>(
    pairs: Vec<(Value, Value)>,
    visitor: V,
) -> Result<V::Value, ValueError> {
    let len = pairs.len();
    let mut access = MapDeserializer {
        pairs: pairs.into_iter(),
        value: None,
    };
    let out = visitor.visit_map(&mut access)?;
    match access.pairs.len() {
        0 => Ok(out),
        left => Err(ValueError::new(format!(
            "trailing entries: {left} of {len} left unread"
        ))),
    }
}

/// The error for a value that names no enum variant.
fn not_a_variant(value: &Value) -> ValueError {
    ValueError::new(format!(
        "expected an enum variant (a string or a one-entry map), found {}",
        value.kind_name()
    ))
}

/// Bytes as the list of integers a sequence visitor (`Vec<u8>`, `[u8; N]`) reads.
fn byte_items(bytes: Vec<u8>) -> Vec<Value> {
    bytes.into_iter().map(|b| Value::Int(b.into())).collect()
}

/// The deserializer behind [`from_value`]: owns the value it reads.
#[derive(Debug)]
struct ValueDeserializer(Value);

impl<'de> Deserializer<'de> for ValueDeserializer {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.0 {
            Value::None => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Int(i) => visitor.visit_i64(i),
            Value::Float(f) => visitor.visit_f64(f),
            Value::Str(s) => visitor.visit_string(s),
            Value::Bytes(b) => visitor.visit_byte_buf(b),
            Value::List(items) | Value::Tuple(items) => visit_items(items, visitor),
            Value::Map(pairs) => visit_pairs(pairs, visitor),
            Value::Handle(_) | Value::Hosted(_) => Err(handle_is_not_data()),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.0 {
            Value::None => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.0 {
            Value::None => visitor.visit_unit(),
            other => Err(de::Error::invalid_type(unexpected(&other), &visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        if name == VALUE_ENUM {
            // A `Value` is being read out of a `Value`: hand over its token sequence.
            return visitor
                .visit_newtype_struct(ValueDeserializer(super::wire::token_values(self.0)));
        }
        if name != HANDLE_MARKER {
            return visitor.visit_newtype_struct(self);
        }
        match self.0 {
            Value::Handle(id) => visitor.visit_newtype_struct(id.0.into_deserializer()),
            other => Err(de::Error::invalid_type(
                unexpected(&other),
                &"a remote object handle",
            )),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.0 {
            Value::Bytes(bytes) => visit_items(byte_items(bytes), visitor),
            other => ValueDeserializer(other).deserialize_any(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.0 {
            Value::Bytes(bytes) => visitor.visit_byte_buf(bytes),
            Value::List(items) | Value::Tuple(items) => visit_items(items, visitor),
            other => Err(de::Error::invalid_type(unexpected(&other), &visitor)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        let (variant, payload) = match self.0 {
            Value::Str(variant) => (variant, None),
            Value::Map(pairs) => match <[(Value, Value); 1]>::try_from(pairs) {
                Ok([(Value::Str(variant), payload)]) => (variant, Some(payload)),
                Ok([(key, _)]) => {
                    return Err(ValueError::new(format!(
                        "expected an enum variant name, found a {} key",
                        key.kind_name()
                    )));
                }
                Err(pairs) => return Err(not_a_variant(&Value::Map(pairs))),
            },
            other => return Err(not_a_variant(&other)),
        };
        visitor.visit_enum(EnumDeserializer { variant, payload })
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        // Skipping needs no look inside, so an ignored field may hold anything, handles too.
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        map struct identifier
    }
}

/// Reads the elements of a `List` or `Tuple`.
#[derive(Debug)]
struct SeqDeserializer {
    items: vec::IntoIter<Value>,
}

impl<'de> SeqAccess<'de> for SeqDeserializer {
    type Error = ValueError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ValueError> {
        self.items
            .next()
            .map(|item| seed.deserialize(ValueDeserializer(item)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// Reads the entries of a `Map`.
#[derive(Debug)]
struct MapDeserializer {
    pairs: vec::IntoIter<(Value, Value)>,
    /// The value of the entry whose key was just read.
    value: Option<Value>,
}

impl<'de> MapAccess<'de> for MapDeserializer {
    type Error = ValueError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ValueError> {
        match self.pairs.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(ValueDeserializer(key)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ValueError> {
        let value = self
            .value
            .take()
            .ok_or_else(|| ValueError::new("map value read before its key"))?;
        seed.deserialize(ValueDeserializer(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.pairs.len())
    }
}

/// Picks an enum variant by name; `payload` is absent for the bare-string form.
#[derive(Debug)]
struct EnumDeserializer {
    variant: String,
    payload: Option<Value>,
}

impl<'de> EnumAccess<'de> for EnumDeserializer {
    type Error = ValueError;
    type Variant = VariantDeserializer;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, VariantDeserializer), ValueError> {
        let variant = seed.deserialize(ValueDeserializer(Value::Str(self.variant)))?;
        Ok((
            variant,
            VariantDeserializer {
                payload: self.payload,
            },
        ))
    }
}

/// Reads the payload of the chosen enum variant.
#[derive(Debug)]
struct VariantDeserializer {
    payload: Option<Value>,
}

impl<'de> VariantAccess<'de> for VariantDeserializer {
    type Error = ValueError;

    fn unit_variant(self) -> Result<(), ValueError> {
        match self.payload {
            None | Some(Value::None) => Ok(()),
            Some(other) => Err(de::Error::invalid_type(
                unexpected(&other),
                &"a unit variant",
            )),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, ValueError> {
        match self.payload {
            Some(payload) => seed.deserialize(ValueDeserializer(payload)),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"a newtype variant",
            )),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self.payload {
            Some(Value::List(items) | Value::Tuple(items)) => visit_items(items, visitor),
            Some(other) => Err(de::Error::invalid_type(unexpected(&other), &visitor)),
            None => Err(de::Error::invalid_type(Unexpected::UnitVariant, &visitor)),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self.payload {
            Some(Value::Map(pairs)) => visit_pairs(pairs, visitor),
            Some(other) => Err(de::Error::invalid_type(unexpected(&other), &visitor)),
            None => Err(de::Error::invalid_type(Unexpected::UnitVariant, &visitor)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};
    use std::fmt;

    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::handle::HandleId;
    use crate::value::to_value;

    fn s(text: &str) -> Value {
        Value::Str(text.to_owned())
    }

    fn round_trip<T>(x: &T) -> T
    where
        T: Serialize + DeserializeOwned,
    {
        let value = to_value(x).expect("to_value");
        from_value(value).expect("from_value")
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Shape {
        Empty,
        Circle(f64),
        Rect(i32, i32),
        Named { name: String, sides: u8 },
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Inner {
        tag: char,
        pair: (u16, i8),
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Outer {
        id: u64,
        name: String,
        ratio: f32,
        items: Vec<Inner>,
        maybe: Option<Box<Inner>>,
        nothing: Option<String>,
        by_id: HashMap<i64, String>,
        sorted: BTreeMap<String, Vec<bool>>,
        shapes: Vec<Shape>,
        unit: (),
    }

    #[test]
    fn structs_round_trip() {
        let outer = Outer {
            id: i64::MAX as u64,
            name: "outer".into(),
            ratio: 0.1,
            items: vec![
                Inner {
                    tag: 'é',
                    pair: (65535, -128),
                },
                Inner {
                    tag: '\n',
                    pair: (0, 0),
                },
            ],
            maybe: Some(Box::new(Inner {
                tag: 'z',
                pair: (1, 2),
            })),
            nothing: None,
            by_id: [(-1, "neg".to_owned()), (10, "ten".to_owned())].into(),
            sorted: [
                ("a".to_owned(), vec![true, false]),
                ("b".to_owned(), vec![]),
            ]
            .into(),
            shapes: vec![
                Shape::Empty,
                Shape::Circle(0.5),
                Shape::Rect(-1, 1),
                Shape::Named {
                    name: "tri".into(),
                    sides: 3,
                },
            ],
            unit: (),
        };
        assert_eq!(round_trip(&outer), outer);

        // The map keeps integer keys rather than turning them into strings.
        let value = to_value(&outer).expect("to_value");
        let Value::Map(fields) = value else {
            panic!("a struct becomes a map: {value}");
        };
        let by_id = &fields
            .iter()
            .find(|(k, _)| k.as_str() == Some("by_id"))
            .expect("by_id field")
            .1;
        let Value::Map(entries) = by_id else {
            panic!("a HashMap becomes a map: {by_id}");
        };
        let mut keys: Vec<i64> = entries.iter().filter_map(|(k, _)| k.as_int()).collect();
        keys.sort_unstable();
        assert_eq!(keys, [-1, 10]);
    }

    #[test]
    fn enum_variants_round_trip() {
        for shape in [
            Shape::Empty,
            Shape::Circle(-2.25),
            Shape::Rect(3, 4),
            Shape::Named {
                name: "square".into(),
                sides: 4,
            },
        ] {
            assert_eq!(round_trip(&shape), shape);
        }
        // A unit variant written as a one-entry map with a `None` payload is accepted too.
        let empty: Shape =
            from_value(Value::Map(vec![(s("Empty"), Value::None)])).expect("unit variant as a map");
        assert_eq!(empty, Shape::Empty);
    }

    #[test]
    fn malformed_enums_are_errors() {
        let err = from_value::<Shape>(Value::Int(1)).expect_err("an int is no variant");
        assert_eq!(
            err.to_string(),
            "expected an enum variant (a string or a one-entry map), found int"
        );
        let two = Value::Map(vec![
            (s("Empty"), Value::None),
            (s("Circle"), Value::Float(1.0)),
        ]);
        let err = from_value::<Shape>(two).expect_err("two entries");
        assert!(err.to_string().contains("found map"), "{err}");
        let err = from_value::<Shape>(s("Hexagon")).expect_err("unknown variant");
        assert!(
            err.to_string().contains("unknown variant `Hexagon`"),
            "{err}"
        );
        let err = from_value::<Shape>(s("Circle")).expect_err("newtype variant without data");
        assert!(err.to_string().contains("newtype variant"), "{err}");
        let err = from_value::<Shape>(Value::Map(vec![(s("Rect"), Value::Int(1))]))
            .expect_err("tuple variant with a scalar payload");
        assert!(err.to_string().contains("integer `1`"), "{err}");
        let err = from_value::<Shape>(Value::Map(vec![(s("Named"), Value::List(vec![]))]))
            .expect_err("struct variant with a list payload");
        assert!(err.to_string().contains("sequence"), "{err}");
    }

    #[test]
    fn tuples_and_lists_are_interchangeable() {
        let pair = to_value(&(1, 2)).expect("tuple");
        assert_eq!(pair, Value::Tuple(vec![Value::Int(1), Value::Int(2)]));
        assert_eq!(from_value::<(i32, i32)>(pair).expect("tuple back"), (1, 2));

        let pairs = to_value(&vec![(1i64, 2i64)]).expect("list of tuples");
        assert_eq!(pairs.to_string(), "[(1, 2)]");
        assert_eq!(
            from_value::<Vec<(i64, i64)>>(pairs).expect("back"),
            vec![(1, 2)]
        );

        #[derive(Debug, PartialEq, Deserialize)]
        struct Point(i32, i32);
        let list = Value::List(vec![Value::Int(3), Value::Int(4)]);
        assert_eq!(from_value::<Point>(list).expect("from list"), Point(3, 4));
        let tuple = Value::Tuple(vec![Value::Int(5), Value::Int(6)]);
        assert_eq!(from_value::<Point>(tuple).expect("from tuple"), Point(5, 6));
        assert_eq!(
            from_value::<Vec<i32>>(Value::Tuple(vec![Value::Int(7)])).expect("vec from tuple"),
            vec![7]
        );
    }

    #[test]
    fn trailing_elements_are_an_error() {
        let three = Value::List(vec![Value::Int(1), Value::Int(2), Value::Int(3)]);
        let err = from_value::<(i64, i64)>(three).expect_err("one too many");
        assert_eq!(err.to_string(), "trailing elements: 1 of 3 left unread");
        let one = Value::List(vec![Value::Int(1)]);
        let err = from_value::<(i64, i64)>(one).expect_err("one too few");
        assert!(err.to_string().contains("invalid length 1"), "{err}");
    }

    #[test]
    fn options_round_trip() {
        assert_eq!(to_value(&None::<u8>).expect("none"), Value::None);
        assert_eq!(from_value::<Option<u8>>(Value::None).expect("none"), None);
        assert_eq!(
            from_value::<Option<u8>>(Value::Int(9)).expect("some"),
            Some(9)
        );
        assert_eq!(
            round_trip(&Some(vec!["x".to_owned()])),
            Some(vec!["x".to_owned()])
        );
    }

    #[test]
    fn scalars_convert_where_nothing_is_lost() {
        assert_eq!(from_value::<f64>(Value::Int(3)).expect("int into f64"), 3.0);
        assert_eq!(from_value::<char>(s("q")).expect("char"), 'q');
        assert_eq!(from_value::<u8>(Value::Int(255)).expect("u8"), 255);
        assert_eq!(from_value::<()>(Value::None).expect("unit"), ());
        assert_eq!(round_trip(&i64::MIN), i64::MIN);
        assert_eq!(
            round_trip(&u64::try_from(i64::MAX).expect("fits")),
            i64::MAX as u64
        );

        let err = from_value::<u8>(Value::Int(256)).expect_err("too big for u8");
        assert!(err.to_string().contains("expected u8"), "{err}");
        let err = from_value::<u64>(Value::Int(-1)).expect_err("negative into u64");
        assert!(err.to_string().contains("integer `-1`"), "{err}");
        let err = from_value::<char>(s("ab")).expect_err("two chars");
        assert!(err.to_string().contains("expected a character"), "{err}");
        let err = from_value::<()>(Value::Int(1)).expect_err("int into unit");
        assert_eq!(err.to_string(), "invalid type: integer `1`, expected unit");
    }

    #[test]
    fn type_mismatch_names_expected_and_found() {
        let err = from_value::<i64>(s("abc")).expect_err("str into i64");
        assert_eq!(
            err.to_string(),
            "invalid type: string \"abc\", expected i64"
        );

        #[derive(Debug, Deserialize)]
        struct Counter {
            count: i64,
        }
        let ok = from_value::<Counter>(Value::Map(vec![(s("count"), Value::Int(3))]))
            .expect("matching field");
        assert_eq!(ok.count, 3);
        let err = from_value::<Counter>(Value::Map(vec![(s("count"), Value::Bool(true))]))
            .expect_err("bool into an i64 field");
        assert!(err.to_string().contains("boolean `true`"), "{err}");
        assert!(err.to_string().contains("expected i64"), "{err}");
        let err = from_value::<Counter>(Value::Map(vec![])).expect_err("missing field");
        assert!(err.to_string().contains("missing field `count`"), "{err}");
    }

    /// A byte buffer that asks for `deserialize_byte_buf`, as `serde_bytes` does.
    #[derive(Debug, PartialEq)]
    struct ByteBuf(Vec<u8>);

    impl<'de> Deserialize<'de> for ByteBuf {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct BufVisitor;

            impl<'de> Visitor<'de> for BufVisitor {
                type Value = ByteBuf;

                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a byte buffer")
                }

                fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                    Ok(ByteBuf(v))
                }

                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ByteBuf, A::Error> {
                    let mut bytes = Vec::new();
                    while let Some(b) = seq.next_element()? {
                        bytes.push(b);
                    }
                    Ok(ByteBuf(bytes))
                }
            }

            deserializer.deserialize_byte_buf(BufVisitor)
        }
    }

    #[test]
    fn bytes_fill_byte_vectors_and_buffers() {
        let bytes = Value::Bytes(vec![0, 1, 255]);
        assert_eq!(
            from_value::<Vec<u8>>(bytes.clone()).expect("Vec<u8>"),
            vec![0, 1, 255]
        );
        assert_eq!(
            from_value::<[u8; 3]>(bytes.clone()).expect("array"),
            [0, 1, 255]
        );
        assert_eq!(
            from_value::<ByteBuf>(bytes).expect("byte buf"),
            ByteBuf(vec![0, 1, 255])
        );
        let ints = Value::List(vec![Value::Int(4), Value::Int(5)]);
        assert_eq!(
            from_value::<ByteBuf>(ints).expect("byte buf from ints"),
            ByteBuf(vec![4, 5])
        );
        let err = from_value::<ByteBuf>(s("no")).expect_err("str into bytes");
        assert_eq!(
            err.to_string(),
            "invalid type: string \"no\", expected a byte buffer"
        );
        let err = from_value::<Vec<u8>>(Value::List(vec![Value::Int(256)]))
            .expect_err("out-of-range byte");
        assert!(err.to_string().contains("expected u8"), "{err}");
    }

    /// A stand-in for a client proxy: serializes and deserializes through [`HANDLE_MARKER`].
    #[derive(Debug, PartialEq)]
    struct Proxy(u64);

    impl Serialize for Proxy {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_newtype_struct(HANDLE_MARKER, &self.0)
        }
    }

    impl<'de> Deserialize<'de> for Proxy {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct ProxyVisitor;

            impl<'de> Visitor<'de> for ProxyVisitor {
                type Value = Proxy;

                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a remote object handle")
                }

                fn visit_newtype_struct<D: Deserializer<'de>>(
                    self,
                    deserializer: D,
                ) -> Result<Proxy, D::Error> {
                    u64::deserialize(deserializer).map(Proxy)
                }
            }

            deserializer.deserialize_newtype_struct(HANDLE_MARKER, ProxyVisitor)
        }
    }

    #[test]
    fn handles_round_trip_through_the_marker() {
        let value = to_value(&Proxy(42)).expect("to_value");
        assert_eq!(value, Value::Handle(HandleId(42)));
        assert_eq!(value.to_string(), "<remote object #42>");
        assert_eq!(from_value::<Proxy>(value).expect("back"), Proxy(42));

        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Holder {
            main: Proxy,
            spare: Option<Proxy>,
            all: Vec<Proxy>,
        }
        let holder = Holder {
            main: Proxy(1),
            spare: Some(Proxy(2)),
            all: vec![Proxy(3)],
        };
        assert_eq!(round_trip(&holder), holder);

        let err = from_value::<Proxy>(Value::Int(42)).expect_err("an int is no handle");
        assert_eq!(
            err.to_string(),
            "invalid type: integer `42`, expected a remote object handle"
        );
    }

    #[test]
    fn handles_are_not_plain_data() {
        let handle = Value::Handle(HandleId(5));
        let err = from_value::<u64>(handle.clone()).expect_err("handle into u64");
        assert_eq!(
            err.to_string(),
            "a remote object handle cannot be converted to data"
        );
        let err = from_value::<HandleId>(handle.clone()).expect_err("into another newtype");
        assert!(err.to_string().contains("cannot be converted"), "{err}");
        let err = from_value::<Vec<String>>(Value::List(vec![handle.clone()]))
            .expect_err("handle in a list");
        assert!(err.to_string().contains("cannot be converted"), "{err}");

        // An unknown field is skipped without looking inside, so it may hold a handle.
        #[derive(Debug, PartialEq, Deserialize)]
        struct Known {
            a: i64,
        }
        let map = Value::Map(vec![(s("a"), Value::Int(1)), (s("extra"), handle)]);
        assert_eq!(
            from_value::<Known>(map).expect("extra field"),
            Known { a: 1 }
        );
    }

    #[test]
    fn values_round_trip_through_themselves() {
        let value = Value::Map(vec![
            (s("a"), Value::List(vec![Value::Float(1.5), Value::None])),
            (Value::Int(-3), Value::Handle(HandleId(7))),
            (
                Value::Bytes(vec![1, 2]),
                Value::Tuple(vec![Value::Bool(false)]),
            ),
        ]);
        assert_eq!(round_trip(&value), value);
    }
}
