//! Handle ids and descriptors: how a client names an object that lives on the server.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Names one entry of a session's handle table.
///
/// Ids are allocated per session, start at 1, only grow, and are never reused; they are not
/// addresses. An id is meaningless outside the session that issued it: another session's table
/// answers `NoSuchHandle` for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HandleId(pub u64);

impl fmt::Display for HandleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a client learns about an object when it receives a handle to it (the seed's `W`
/// message without the module): its id, its type name and its doc text. Members are listed by
/// DIR, not sent with every handle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandleDescriptor {
    /// The id in the session's handle table.
    pub id: HandleId,
    /// The object's type name, e.g. `Counter` or `Dict`.
    pub type_name: String,
    /// The type's doc comment (empty when it has none).
    pub doc: String,
}

/// One release: the client dropped its last proxy for `handle` after receiving it `count`
/// times. Carrying the count (not 1) means a reply and a release crossing on the wire can never
/// free an object the client still holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The handle being released.
    pub handle: HandleId,
    /// How many references to drop.
    pub count: u32,
}
