//! Serde serializer into `Value` (written next).
use super::Value;
/// Placeholder.
pub fn to_value<T: serde::Serialize + ?Sized>(_v: &T) -> Result<Value, crate::ValueError> { unimplemented!() }
