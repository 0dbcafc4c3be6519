//! The wire contract: one tarpc service whose single method carries an envelope.
//!
//! # Why one method with an `Op` enum
//!
//! The seven ops of the seed (GET, SET, DEL, RUN, DIR, ALL, BYE) plus `hello` and `open` could
//! be seven tarpc methods. They are one method, [`ObjectService::call`], taking a [`Request`]
//! whose [`Op`] names the operation, because:
//!
//! - every request can carry pending [`Release`]s, so dropping a proxy costs no round trip of
//!   its own (the seed paid one per release);
//! - tarpc's generated client `unreachable!()`s on a reply of the wrong variant; with one method
//!   there is one variant, and our own [`Reply`] is matched with an error arm, so a confused or
//!   hostile server cannot panic a client;
//! - the protocol is versioned in one place ([`PROTOCOL_VERSION`], checked by `hello`) and a
//!   raw-frame test client has one shape to build.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorKind, RemoteError};
use crate::handle::{HandleDescriptor, HandleId, Release};
use crate::value::{Value, tolerate_too_deep};

/// The protocol version spoken by this build. `hello` with any other version is refused with
/// `VersionMismatch`: bincode is not self-describing, so peers must agree exactly.
pub const PROTOCOL_VERSION: u32 = 3;

/// One request: releases to apply first, then one operation.
///
/// Decoding never fails on a value nested past the depth limit: the request decodes with its
/// op replaced by [`Op::Rejected`] carrying a `TooDeep` error, so the server answers that
/// error and the connection stays usable.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Request {
    /// References the client dropped since its last request, applied before `op`.
    pub releases: Vec<Release>,
    /// The operation.
    pub op: Op,
    /// The chain of calls this one belongs to, when it is made from inside a call the peer
    /// made (a callback calling back); 0 starts a new chain. A call that comes back to an
    /// object its chain holds exclusively is refused with `Reentrant` instead of waiting.
    pub chain: u64,
}

/// [`Request`]'s derived wire form; its `Deserialize` adds the too-deep handling.
#[derive(Deserialize)]
#[serde(rename = "Request")]
struct RequestRepr {
    releases: Vec<Release>,
    op: Op,
    chain: u64,
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (repr, too_deep) = tolerate_too_deep(|| RequestRepr::deserialize(deserializer));
        let RequestRepr {
            releases,
            mut op,
            chain,
        } = repr?;
        if let Some(message) = too_deep {
            op = Op::Rejected(Box::new(RemoteError::new(ErrorKind::TooDeep, message)));
        }
        Ok(Request {
            releases,
            op,
            chain,
        })
    }
}

/// Positional and named arguments of a call (the seed's `*L, **D`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Args {
    /// Positional arguments, in order.
    pub positional: Vec<Value>,
    /// Named arguments, in the order given.
    pub named: Vec<(String, Value)>,
}

impl Args {
    /// No arguments.
    pub fn new() -> Self {
        Args::default()
    }

    /// Positional arguments only.
    pub fn positional(values: Vec<Value>) -> Self {
        Args {
            positional: values,
            named: Vec::new(),
        }
    }
}

/// The operations of the protocol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// First request of a connection: agree on the protocol version.
    Hello {
        /// The client's [`PROTOCOL_VERSION`].
        protocol: u32,
        /// A free-form client name for the server's log.
        client: String,
    },
    /// Build (per-session root) or fetch (shared root) the root object `root`; the seed's
    /// `userclass(*L, **D)`. Replies [`Reply::Object`].
    Open {
        /// The registered root name.
        root: String,
        /// Constructor arguments.
        args: Args,
    },
    /// GET: read a field (data by value) or a method (a callable handle).
    Get {
        /// The object.
        handle: HandleId,
        /// The member.
        name: String,
    },
    /// SET: write a field, type-checked.
    Set {
        /// The object.
        handle: HandleId,
        /// The field.
        name: String,
        /// The new value.
        value: Value,
    },
    /// DEL: delete an attribute (`Option` fields become `None`).
    Del {
        /// The object.
        handle: HandleId,
        /// The field.
        name: String,
    },
    /// RUN: call method `name` of the object in one round trip, or, with `name: None`, call
    /// the object itself (a bound method obtained by GET).
    Run {
        /// The object (or callable).
        handle: HandleId,
        /// The method, or `None` to call the handle itself.
        name: Option<String>,
        /// The arguments.
        args: Args,
    },
    /// DIR: list the public members.
    Dir {
        /// The object.
        handle: HandleId,
    },
    /// ALL: copy the object's public data by value.
    All {
        /// The object.
        handle: HandleId,
    },
    /// BYE: only apply the request's releases. Errors in them are reported (in other requests
    /// they are only logged, since the op's own answer takes the reply).
    Release,
    /// Liveness check; replies [`Reply::Done`].
    Ping,
    /// Server counters for operators and tests; replies [`Reply::Stats`].
    Stats,
    /// Never on the wire: what a request decodes to when its op could not be accepted (a
    /// value nested past the depth limit). The server answers with the error.
    #[serde(skip)]
    Rejected(Box<RemoteError>),
}

impl Op {
    /// The op's name as the seed spelled it (`GET`, `RUN`, ...), for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Hello { .. } => "HELLO",
            Op::Open { .. } => "OPEN",
            Op::Get { .. } => "GET",
            Op::Set { .. } => "SET",
            Op::Del { .. } => "DEL",
            Op::Run { .. } => "RUN",
            Op::Dir { .. } => "DIR",
            Op::All { .. } => "ALL",
            Op::Release => "BYE",
            Op::Ping => "PING",
            Op::Stats => "STATS",
            Op::Rejected(_) => "REJECTED",
        }
    }
}

/// What kind of member a DIR entry describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberKind {
    /// A data field: GET and SET (and DEL when optional).
    Field,
    /// A field holding a remote object: GET returns a handle.
    Object,
    /// A method: RUN by name, or GET for a callable handle.
    Method,
}

/// One DIR entry, with its types as data: a typed proxy compares them with its declaration
/// without reading display text, and [`signature`](Member::signature) writes them for people.
///
/// Types are written the way they travel (`#[remote]` and `#[interface]` write them alike):
/// paths dropped (`String`, not `std::string::String`), `&str` as `String` and `&[T]` as
/// `Vec<T>`, a method's `Result<T, E>` as `T` (an `Err` travels as a remote error), a
/// returned stream as `Stream<T>`, an object as `Remote<Name>`, an object of the caller's
/// (a callback) as `Proxy`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member's name.
    pub name: String,
    /// Field, object field or method.
    pub kind: MemberKind,
    /// A field's type, or what a method answers (`()` for nothing).
    pub ty: String,
    /// A method's parameters in order; empty for a field.
    pub params: Vec<Param>,
    /// A field SET refuses (`#[remote(readonly)]`).
    pub read_only: bool,
    /// The member's doc comment.
    pub doc: String,
}

/// One parameter of a method in DIR.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    /// The parameter's name (what a named argument uses).
    pub name: String,
    /// Its type, written as in [`Member`].
    pub ty: String,
}

impl Member {
    /// The member as people read it: `value: i64`, `note: Option<String> (read-only)`,
    /// `add(n: i64) -> i64`, `reset()`.
    pub fn signature(&self) -> String {
        use std::fmt::Write as _;
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = match self.kind {
            MemberKind::Field | MemberKind::Object => write!(text, "{}: {}", self.name, self.ty),
            MemberKind::Method => {
                let params: Vec<String> = self
                    .params
                    .iter()
                    .map(|p| format!("{}: {}", p.name, p.ty))
                    .collect();
                write!(text, "{}({})", self.name, params.join(", "))
            }
        };
        if self.kind == MemberKind::Method && self.ty != "()" {
            text.push_str(" -> ");
            text.push_str(&self.ty);
        }
        if self.read_only {
            text.push_str(" (read-only)");
        }
        text
    }
}

/// What `hello` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// The server's [`PROTOCOL_VERSION`].
    pub protocol: u32,
    /// The server software and version.
    pub server: String,
    /// This connection's session id (used in logs and remote error headers).
    pub session: u64,
    /// The largest frame the server accepts.
    pub max_frame_bytes: u64,
    /// The deepest value the server decodes.
    pub max_value_depth: u32,
    /// The names of the roots `open` accepts.
    pub roots: Vec<String>,
}

/// Server counters, all current values except the `*_total` ones, which only grow.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStats {
    /// Open sessions (connections past the allowlist).
    pub sessions: u64,
    /// Handles held over all sessions.
    pub handles: u64,
    /// Calls running now.
    pub calls_in_flight: u64,
    /// Connections refused by the allowlist since start.
    pub refused_allowlist_total: u64,
    /// Connections refused because the server was full (`max_connections`) since start.
    pub refused_full_total: u64,
    /// Connections refused because their IP held `max_connections_per_ip` since start.
    pub refused_per_ip_total: u64,
    /// Connections closed for stalling (no first frame, a stalled frame, a blocked write)
    /// since start.
    pub stalled_total: u64,
    /// Panics caught in user code since start.
    pub panics_total: u64,
    /// Calls answered since start.
    pub calls_total: u64,
}

/// A successful answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// Answer to `hello`.
    Hello(ServerInfo),
    /// Data by value (GET of a field, RUN returning data, ALL).
    Value(Value),
    /// A new reference to a server object; the client now holds one more count of it.
    Object(HandleDescriptor),
    /// Answer to DIR.
    Members(Vec<Member>),
    /// Answer to SET, DEL, BYE and ping.
    Done,
    /// Answer to `stats`.
    Stats(ServerStats),
}

/// The answer to every request. The error is boxed: it is large (texts, chain, stack) and rare,
/// and an unboxed error would size, and be copied with, every successful reply.
pub type Response = Result<Reply, Box<RemoteError>>;

/// The request id that marks a frame from server to client as a [`PeerMessage`] rather than
/// the reply to a tarpc request: tarpc numbers a client's requests from 0 upwards and never
/// reaches it. Frames of tarpc's own layout are unchanged; see `codec.rs`.
pub const PEER_FRAME_ID: u64 = u64::MAX;

/// What the two ends say to each other beside tarpc's requests and replies: calls from the
/// server to objects the client exported, their answers, and releases of exported objects.
///
/// From client to server it travels as a third variant of tarpc's `ClientMessage` (after
/// `Request` and `Cancel`); from server to client, as a tarpc `Response` whose request id is
/// [`PEER_FRAME_ID`]. Calls from client to server stay tarpc requests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PeerMessage {
    /// A call to an object the receiver exported; its releases are the receiver's exports
    /// the sender dropped, applied first.
    Call {
        /// Numbers the call among the sender's peer calls; the reply carries it.
        id: u64,
        /// How long the sender waits; the receiver stops the work a reply margin earlier.
        timeout: std::time::Duration,
        /// The op and the releases it carries.
        request: Request,
    },
    /// The answer to the receiver's call `id`.
    Reply {
        /// The call's id.
        id: u64,
        /// The answer.
        response: Response,
    },
    /// The sender dropped these references to objects the receiver exported.
    Release(Vec<Release>),
}

/// The tarpc service: one method carrying a [`Request`] (see the module docs for why).
#[tarpc::service]
pub trait ObjectService {
    /// Applies the request's releases, then runs its op.
    async fn call(request: Request) -> Response;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WireCodec;

    fn nested(depth: usize) -> Value {
        (1..depth).fold(Value::Int(0), |v, _| Value::List(vec![v]))
    }

    #[test]
    fn a_too_deep_argument_rejects_the_op_not_the_frame() {
        let codec = WireCodec::default();
        let request = Request {
            chain: 0,
            releases: vec![Release {
                handle: HandleId(3),
                count: 1,
            }],
            op: Op::Set {
                handle: HandleId(1),
                name: "value".into(),
                value: nested(100),
            },
        };
        let decoded: Request = codec
            .decode(&codec.encode(&request).expect("encode"))
            .expect("the frame decodes");
        assert_eq!(decoded.releases, request.releases, "releases survive");
        let Op::Rejected(err) = decoded.op else {
            panic!("expected a rejected op, got {:?}", decoded.op)
        };
        assert_eq!(err.kind, ErrorKind::TooDeep);
        let fine = Request {
            chain: 0,
            releases: vec![],
            op: Op::Set {
                handle: HandleId(1),
                name: "value".into(),
                value: nested(10),
            },
        };
        let decoded: Request = codec
            .decode(&codec.encode(&fine).expect("encode"))
            .expect("decodes");
        assert_eq!(decoded, fine);
    }
}
