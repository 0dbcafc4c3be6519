//! The one access check every op calls on a member or root name.

use crate::error::{ErrorKind, RemoteError};
use crate::limits::MAX_NAME_BYTES;

/// Checks a member or root name before any lookup.
///
/// A name must be an ASCII identifier (`[A-Za-z_][A-Za-z0-9_]*`, at most
/// [`MAX_NAME_BYTES`] bytes): no dots, so no traversal; no NUL; not empty. Anything else is
/// [`ErrorKind::BadName`]. A valid name starting with `_` (`_x`, `_`, `__x`, `__x__`) is
/// private and refused with [`ErrorKind::AccessDenied`]: the seed let `__dunder__` names
/// through, but Rust objects have no protocol methods to reach that way, so the simpler rule
/// leaves nothing private reachable.
///
/// # Errors
/// `BadName` or `AccessDenied` as above.
pub fn check_name(name: &str) -> Result<(), RemoteError> {
    if name.is_empty() {
        return Err(RemoteError::new(ErrorKind::BadName, "empty member name"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(RemoteError::new(
            ErrorKind::BadName,
            format!(
                "member name of {} bytes is longer than {MAX_NAME_BYTES}",
                name.len()
            ),
        ));
    }
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(RemoteError::new(
            ErrorKind::BadName,
            format!("{name:?} is not a member name (an ASCII identifier)"),
        ));
    }
    if name.starts_with('_') {
        return Err(RemoteError::new(
            ErrorKind::AccessDenied,
            format!("{name:?} is private: names starting with '_' are not reachable remotely"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str) -> Option<ErrorKind> {
        check_name(name).err().map(|e| e.kind)
    }

    #[test]
    fn public_identifiers_pass() {
        for name in ["a", "value", "add2", "set_item", "A_b_9"] {
            assert_eq!(kind(name), None, "{name}");
        }
    }

    #[test]
    fn private_names_are_denied() {
        for name in ["_", "_x", "__x", "__init__", "_0"] {
            assert_eq!(kind(name), Some(ErrorKind::AccessDenied), "{name}");
        }
    }

    #[test]
    fn malformed_names_are_bad() {
        let long = "a".repeat(MAX_NAME_BYTES + 1);
        for name in ["", "a.b", "a\0b", "9a", "a-b", "é", " a", long.as_str()] {
            assert_eq!(kind(name), Some(ErrorKind::BadName), "{name:?}");
        }
        assert_eq!(kind(&"a".repeat(MAX_NAME_BYTES)), None);
    }
}
