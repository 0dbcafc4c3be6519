//! Serde deserializer out of `Value` (written next).
use super::Value;
/// Placeholder.
pub fn from_value<T: serde::de::DeserializeOwned>(_v: Value) -> Result<T, crate::ValueError> { unimplemented!() }
