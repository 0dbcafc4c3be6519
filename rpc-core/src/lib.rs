//! # rpc-core: the wire contract and data model
//!
//! Everything both ends of a connection must agree on, and nothing that does I/O: the dynamic
//! [`Value`] model with serde conversions, handle ids and descriptors, the structured
//! [`RemoteError`], the tarpc service definition and its [`Request`]/[`Reply`] envelope, the
//! hardened [`WireCodec`], the access check on names, and the default limits. Protocol rules
//! are unit-tested here without a runtime.
//!
//! ```
//! use rpc_core::{Value, from_value, to_value};
//!
//! // Any serde type converts into a `Value` and back; `Display` reads like Python's repr.
//! let pairs = vec![(1, 2)];
//! let value = to_value(&pairs).expect("integers fit in a Value");
//! assert_eq!(value.to_string(), "[(1, 2)]");
//! let back: Vec<(i64, i64)> = from_value(value).expect("same shape");
//! assert_eq!(back, pairs);
//!
//! // Names are checked the same way by every op: private names are refused.
//! assert!(rpc_core::check_name("add").is_ok());
//! assert_eq!(
//!     rpc_core::check_name("_secret").map_err(|e| e.kind),
//!     Err(rpc_core::ErrorKind::AccessDenied)
//! );
//! ```
//!
//! # Layout
//!
//! - [`value`]: `Value`, `to_value`, `from_value`, depth-limited decoding.
//! - [`handle`]: `HandleId`, `HandleDescriptor`, `Release`.
//! - [`error`]: `RemoteError`, `ErrorKind`, `ValueError`.
//! - [`protocol`]: the tarpc service (`ObjectService`), `Request`, `Op`, `Reply`, DIR entries.
//! - [`codec`]: `WireCodec`, bincode with byte, depth and deadline guards.
//! - [`name`]: `check_name`, the one access check every op calls.
//! - [`limits`]: the default limits both ends share and what each one stops (a server's own
//!   policy, such as connection caps and clocks, is `rpc_server::limits`).
//!
//! # Default limits
//!
//! | limit | default |
//! |---|---|
//! | frame bytes | 8 MiB ([`limits::DEFAULT_MAX_FRAME_BYTES`]) |
//! | value depth | 64 ([`limits::DEFAULT_MAX_VALUE_DEPTH`]) |
//! | error text | 64 KiB ([`limits::DEFAULT_MAX_ERROR_TEXT`]) |
//! | deadline clamp | 1 ms .. 1 h ([`limits::MIN_DEADLINE`], [`limits::MAX_DEADLINE`]) |

#![deny(missing_docs)]

pub mod codec;
pub mod error;
pub mod handle;
pub mod limits;
pub mod name;
pub mod protocol;
pub mod value;

pub use codec::{WireCodec, WireLimits};
pub use error::{ErrorKind, RemoteError, ValueError};
pub use handle::{HandleDescriptor, HandleId, Release};
pub use name::check_name;
pub use protocol::{
    Args, Member, MemberKind, Op, PEER_FRAME_ID, PROTOCOL_VERSION, Param, PeerMessage, Reply,
    Request, Response,
};
pub use value::{Value, from_value, to_value};

/// Re-exports for the code `#[remote]` generates and for the server and client crates; not
/// part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use serde;
    pub use tarpc;
}
