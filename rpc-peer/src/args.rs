//! The positional-arguments convention of `open`, `call` and `invoke`.
//!
//! The `args` of those methods is any `Serialize` value, converted with
//! [`to_value`](rpc_core::to_value) and read as a list of positional arguments:
//!
//! | `args` | becomes | example |
//! |---|---|---|
//! | a tuple or a sequence (`Vec`, array, slice) | one argument per element | `(1, "a")`, `[1, 2]`, `(x,)` |
//! | `()` (or anything that converts to `Value::None`) | no arguments | `()` |
//! | anything else (a number, a string, a struct, a proxy) | one argument | `5`, `"a"`, `&proxy` |
//!
//! So a single argument that is itself a tuple, a sequence or `None` must be wrapped in a
//! one-element tuple: `(vec![1, 2],)` passes one list, `(None::<i64>,)` passes one `None`.
//! Named arguments go through the `*_with` methods taking an [`Args`].

use rpc_core::{Args, Value, to_value};
use serde::Serialize;

use crate::error::CallError;

/// Converts `args` into positional [`Args`] by the convention in the module docs.
pub fn positional<A: Serialize + ?Sized>(args: &A) -> Result<Args, CallError> {
    Ok(match to_value(args)? {
        Value::None => Args::new(),
        Value::Tuple(items) | Value::List(items) => Args::positional(items),
        single => Args::positional(vec![single]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rpc_core::HandleId;

    fn pos<A: Serialize>(args: A) -> Vec<Value> {
        let args = positional(&args).expect("converts");
        assert!(args.named.is_empty());
        args.positional
    }

    #[test]
    fn tuples_and_sequences_are_argument_lists() {
        assert_eq!(pos((1, "a")), [Value::Int(1), Value::Str("a".into())]);
        assert_eq!(pos(vec![1, 2]), [Value::Int(1), Value::Int(2)]);
        assert_eq!(pos([3]), [Value::Int(3)]);
        assert_eq!(pos((7,)), [Value::Int(7)]);
    }

    #[test]
    fn unit_and_none_are_no_arguments() {
        assert!(pos(()).is_empty());
        assert!(pos(None::<i64>).is_empty());
        assert!(pos(Vec::<i64>::new()).is_empty());
    }

    #[test]
    fn anything_else_is_one_argument() {
        assert_eq!(pos(5), [Value::Int(5)]);
        assert_eq!(pos("text"), [Value::Str("text".into())]);
        assert_eq!(pos(Some(2)), [Value::Int(2)]);
        let map = pos(std::collections::BTreeMap::from([(1, 2)]));
        assert_eq!(map, [Value::Map(vec![(Value::Int(1), Value::Int(2))])]);
    }

    #[test]
    fn wrapping_passes_a_list_or_none_as_one_argument() {
        assert_eq!(
            pos((vec![1, 2],)),
            [Value::List(vec![Value::Int(1), Value::Int(2)])]
        );
        assert_eq!(pos((None::<i64>,)), [Value::None]);
    }

    #[test]
    fn values_pass_through_and_handles_are_one_argument() {
        assert_eq!(
            pos(Value::Handle(HandleId(4))),
            [Value::Handle(HandleId(4))]
        );
        assert_eq!(
            pos(Value::Tuple(vec![Value::Bool(true)])),
            [Value::Bool(true)]
        );
    }

    #[test]
    fn conversion_failures_are_value_errors() {
        assert!(matches!(positional(&u64::MAX), Err(CallError::Value(_))));
    }
}
