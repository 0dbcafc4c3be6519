//! [`WireCodec`]: bincode framing payloads for tarpc, hardened for untrusted input.
//!
//! Differences from tarpc's stock `Bincode` codec, each closing a way a peer could take a
//! server down:
//!
//! - a byte limit on every encode and decode ([`WireLimits::max_frame_bytes`]);
//! - the [`Value`](crate::Value) depth limit applied to everything decoded;
//! - a request's deadline is decoded as the raw `Duration` it is on the wire and clamped into
//!   [`MIN_DEADLINE`, `MAX_DEADLINE`] before it becomes an `Instant`: tarpc's own decoder
//!   computes `Instant::now() + d`, which panics for a huge `d`, and its deadline queue panics
//!   for deadlines a few years out;
//! - decoding runs under `catch_unwind`, so a panic in any decoder becomes an `io::Error` that
//!   ends only that connection.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bincode::Options;
use bytes::{Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tarpc::tokio_serde::{Deserializer, Serializer};
use tarpc::{ClientMessage, context, trace};

use crate::limits::{DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_VALUE_DEPTH, clamp_deadline};
use crate::protocol::{PEER_FRAME_ID, PeerMessage};
use crate::value::with_decode_depth_limit;

/// The limits a [`WireCodec`] enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireLimits {
    /// Bytes one encoded message may take (default [`DEFAULT_MAX_FRAME_BYTES`]).
    pub max_frame_bytes: usize,
    /// Nesting depth of decoded values (default [`DEFAULT_MAX_VALUE_DEPTH`]).
    pub max_value_depth: usize,
}

impl Default for WireLimits {
    fn default() -> Self {
        WireLimits {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_value_depth: DEFAULT_MAX_VALUE_DEPTH,
        }
    }
}

/// The codec both ends use: see the module docs.
#[derive(Clone, Debug, Default)]
pub struct WireCodec {
    limits: WireLimits,
    /// When set, the largest message `encode` produces; shared so a client can lower it to
    /// the server's frame limit once `hello` has told it.
    send_limit: Option<Arc<AtomicUsize>>,
}

impl WireCodec {
    /// A codec enforcing `limits`.
    pub fn new(limits: WireLimits) -> Self {
        WireCodec {
            limits,
            send_limit: None,
        }
    }

    /// A codec enforcing `limits` on what it decodes and `send_limit` (read at each encode)
    /// on what it encodes.
    pub fn with_send_limit(limits: WireLimits, send_limit: Arc<AtomicUsize>) -> Self {
        WireCodec {
            limits,
            send_limit: Some(send_limit),
        }
    }

    fn options(&self) -> impl Options + Copy {
        bincode::DefaultOptions::new().with_limit(self.limits.max_frame_bytes as u64)
    }

    /// Encodes `item` as one frame payload.
    ///
    /// One pass: the size is checked after encoding (bincode's own limit would measure the
    /// whole item in a first pass, for every message).
    ///
    /// # Errors
    /// The item is larger than the frame limit (the message says "size limit").
    pub fn encode<T: Serialize + ?Sized>(&self, item: &T) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(128);
        bincode::DefaultOptions::new()
            .serialize_into(&mut bytes, item)
            .map_err(invalid_data)?;
        let limit = self
            .send_limit
            .as_ref()
            .map_or(self.limits.max_frame_bytes, |l| l.load(Ordering::Relaxed));
        if bytes.len() > limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "encoded message of {} bytes exceeds the size limit of {limit} bytes",
                    bytes.len()
                ),
            ));
        }
        Ok(bytes)
    }

    /// The encoded size of `item`, or an error if it exceeds the frame limit.
    ///
    /// # Errors
    /// The item is larger than the frame limit.
    pub fn encoded_len<T: Serialize + ?Sized>(&self, item: &T) -> io::Result<u64> {
        self.options().serialized_size(item).map_err(invalid_data)
    }

    /// Decodes one frame payload with every guard of this codec.
    ///
    /// # Errors
    /// Malformed, oversized, trailing or too deeply nested input; a panic inside a decoder.
    pub fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> io::Result<T> {
        let options = self.options();
        let depth = self.limits.max_value_depth;
        match catch_unwind(AssertUnwindSafe(|| {
            with_decode_depth_limit(depth, || options.deserialize::<T>(bytes))
        })) {
            Ok(result) => result.map_err(invalid_data),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "decoder panicked on malformed input",
            )),
        }
    }
}

fn invalid_data(e: bincode::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl<T: Serialize> Serializer<T> for WireCodec {
    type Error = io::Error;

    fn serialize(self: Pin<&mut Self>, item: &T) -> io::Result<Bytes> {
        self.encode(item).map(Bytes::from)
    }
}

/// tarpc's `ClientMessage` as it is on the wire, with the deadline left as a `Duration`.
/// Field order and variant order must match tarpc's derived encoding exactly.
#[derive(Deserialize)]
enum WireClientMessage<T> {
    Request(WireRequest<T>),
    Cancel {
        trace_context: trace::Context,
        request_id: u64,
    },
}

#[derive(Deserialize)]
struct WireRequest<T> {
    context: WireContext,
    id: u64,
    message: T,
}

#[derive(Deserialize)]
struct WireContext {
    deadline: Duration,
    trace_context: trace::Context,
}

/// A `Context` to fill in: the type cannot be built field by field outside tarpc, and
/// `context::current()` looks up the current tracing span and OpenTelemetry context on every
/// call, for two fields the decoder then overwrites.
fn context_template() -> context::Context {
    static TEMPLATE: OnceLock<context::Context> = OnceLock::new();
    *TEMPLATE.get_or_init(|| {
        let mut template = context::current();
        template.trace_context = trace::Context::default();
        template
    })
}

/// A request context with `deadline` and an empty trace context, for a client's requests.
///
/// Cheaper than `tarpc::context::current()` (which reads the current span's OpenTelemetry
/// context) and the same on the wire: tarpc's client sets each request's trace context from
/// the span current at the call anyway, a child of this one when no OpenTelemetry layer is
/// installed.
pub fn request_context(deadline: Instant) -> context::Context {
    let mut ctx = context_template();
    ctx.deadline = deadline;
    ctx
}

impl<T> WireClientMessage<T> {
    fn into_tarpc(self) -> ClientMessage<T> {
        match self {
            WireClientMessage::Request(WireRequest {
                context: wire,
                id,
                message,
            }) => {
                let mut context = context_template();
                context.deadline = Instant::now() + clamp_deadline(wire.deadline);
                context.trace_context = wire.trace_context;
                ClientMessage::Request(tarpc::Request {
                    context,
                    id,
                    message,
                })
            }
            WireClientMessage::Cancel {
                trace_context,
                request_id,
            } => ClientMessage::Cancel {
                trace_context,
                request_id,
            },
        }
    }
}

impl<T: DeserializeOwned> Deserializer<ClientMessage<T>> for WireCodec {
    type Error = io::Error;

    fn deserialize(self: Pin<&mut Self>, src: &BytesMut) -> io::Result<ClientMessage<T>> {
        self.decode::<WireClientMessage<T>>(src)
            .map(WireClientMessage::into_tarpc)
    }
}

impl<T: DeserializeOwned> Deserializer<tarpc::Response<T>> for WireCodec {
    type Error = io::Error;

    fn deserialize(self: Pin<&mut Self>, src: &BytesMut) -> io::Result<tarpc::Response<T>> {
        self.decode(src)
    }
}

/// A frame from client to server: one of tarpc's `ClientMessage`s, or a [`PeerMessage`]
/// (encoded as a third variant of `ClientMessage`, after `Request` and `Cancel`, so tarpc's
/// own frames keep their bytes).
#[derive(Debug)]
pub enum ClientFrame<T> {
    /// A tarpc request or cancel.
    Tarpc(ClientMessage<T>),
    /// A message of the peer protocol (an answer to a server's call, ...), boxed: it is
    /// larger than tarpc's messages, and every frame is moved several times on its way.
    Peer(Box<PeerMessage>),
}

/// A frame from server to client: one of tarpc's `Response`s, or a [`PeerMessage`] (encoded as
/// a `Response` whose request id is [`PEER_FRAME_ID`], so tarpc's own frames keep their bytes).
#[derive(Debug)]
pub enum ServerFrame<R> {
    /// A tarpc response.
    Tarpc(tarpc::Response<R>),
    /// A message of the peer protocol (a call to an object the client exported, ...), boxed
    /// as in [`ClientFrame`].
    Peer(Box<PeerMessage>),
}

/// A frame read from the wire: what goes to tarpc, or a peer message.
pub trait InFrame {
    /// The tarpc message it may carry.
    type Tarpc;
    /// The tarpc message, or the peer message.
    ///
    /// # Errors
    /// The frame is a peer message (handed back as the error).
    fn split(self) -> Result<Self::Tarpc, PeerMessage>;
}

/// A frame written to the wire: what tarpc sends, or a peer message.
pub trait OutFrame {
    /// The tarpc message it may carry.
    type Tarpc;
    /// Wraps a tarpc message.
    fn tarpc(message: Self::Tarpc) -> Self;
    /// Wraps a peer message.
    fn peer(message: PeerMessage) -> Self;
}

impl<T> InFrame for ClientFrame<T> {
    type Tarpc = ClientMessage<T>;
    fn split(self) -> Result<ClientMessage<T>, PeerMessage> {
        match self {
            ClientFrame::Tarpc(message) => Ok(message),
            ClientFrame::Peer(message) => Err(*message),
        }
    }
}

impl<T> OutFrame for ClientFrame<T> {
    type Tarpc = ClientMessage<T>;
    fn tarpc(message: ClientMessage<T>) -> Self {
        ClientFrame::Tarpc(message)
    }
    fn peer(message: PeerMessage) -> Self {
        ClientFrame::Peer(Box::new(message))
    }
}

impl<R> InFrame for ServerFrame<R> {
    type Tarpc = tarpc::Response<R>;
    fn split(self) -> Result<tarpc::Response<R>, PeerMessage> {
        match self {
            ServerFrame::Tarpc(response) => Ok(response),
            ServerFrame::Peer(message) => Err(*message),
        }
    }
}

impl<R> OutFrame for ServerFrame<R> {
    type Tarpc = tarpc::Response<R>;
    fn tarpc(response: tarpc::Response<R>) -> Self {
        ServerFrame::Tarpc(response)
    }
    fn peer(message: PeerMessage) -> Self {
        ServerFrame::Peer(Box::new(message))
    }
}

impl<T: Serialize> Serialize for ClientFrame<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ClientFrame::Tarpc(message) => message.serialize(serializer),
            ClientFrame::Peer(message) => {
                serializer.serialize_newtype_variant("ClientMessage", 2, "Peer", message)
            }
        }
    }
}

impl<R: Serialize> Serialize for ServerFrame<R> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        match self {
            ServerFrame::Tarpc(response) => response.serialize(serializer),
            ServerFrame::Peer(message) => {
                let mut frame = serializer.serialize_struct("Response", 2)?;
                frame.serialize_field("request_id", &PEER_FRAME_ID)?;
                frame.serialize_field("message", message)?;
                frame.end()
            }
        }
    }
}

impl<'de, R: Deserialize<'de>> Deserialize<'de> for ServerFrame<R> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Frame<R>(std::marker::PhantomData<R>);
        impl<'de, R: Deserialize<'de>> serde::de::Visitor<'de> for Frame<R> {
            type Value = ServerFrame<R>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a response or a peer message")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ServerFrame<R>, A::Error> {
                let missing = || serde::de::Error::custom("truncated response frame");
                let request_id: u64 = seq.next_element()?.ok_or_else(missing)?;
                if request_id == PEER_FRAME_ID {
                    return Ok(ServerFrame::Peer(seq.next_element()?.ok_or_else(missing)?));
                }
                let message = seq.next_element()?.ok_or_else(missing)?;
                Ok(ServerFrame::Tarpc(tarpc::Response {
                    request_id,
                    message,
                }))
            }
        }
        deserializer.deserialize_struct(
            "Response",
            &["request_id", "message"],
            Frame(std::marker::PhantomData),
        )
    }
}

/// [`WireClientMessage`] with the peer variant: what a server reads.
#[derive(Deserialize)]
enum WireClientFrame<T> {
    Request(WireRequest<T>),
    Cancel {
        trace_context: trace::Context,
        request_id: u64,
    },
    Peer(Box<PeerMessage>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ClientFrame<T> {
    /// Reads the wire layout with the deadline clamped (see the module docs).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match WireClientFrame::<T>::deserialize(deserializer)? {
            WireClientFrame::Request(request) => {
                ClientFrame::Tarpc(WireClientMessage::Request(request).into_tarpc())
            }
            WireClientFrame::Cancel {
                trace_context,
                request_id,
            } => ClientFrame::Tarpc(ClientMessage::Cancel {
                trace_context,
                request_id,
            }),
            WireClientFrame::Peer(message) => ClientFrame::Peer(message),
        })
    }
}

impl<T: DeserializeOwned> Deserializer<ClientFrame<T>> for WireCodec {
    type Error = io::Error;

    fn deserialize(self: Pin<&mut Self>, src: &BytesMut) -> io::Result<ClientFrame<T>> {
        self.decode(src)
    }
}

impl<T: DeserializeOwned> Deserializer<ServerFrame<T>> for WireCodec {
    type Error = io::Error;

    fn deserialize(self: Pin<&mut Self>, src: &BytesMut) -> io::Result<ServerFrame<T>> {
        self.decode(src)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::MAX_DEADLINE;
    use crate::protocol::{ObjectServiceRequest, Op, Request};

    fn request(deadline_in: Duration) -> ClientMessage<ObjectServiceRequest> {
        let mut ctx = context::current();
        ctx.deadline = Instant::now() + deadline_in;
        ClientMessage::Request(tarpc::Request {
            context: ctx,
            id: 9,
            message: ObjectServiceRequest::Call {
                request: Request {
                    chain: 0,
                    releases: vec![],
                    op: Op::Ping,
                },
            },
        })
    }

    #[test]
    fn requests_round_trip_with_tarpc_layout() {
        let codec = WireCodec::default();
        let bytes = codec
            .encode(&request(Duration::from_secs(5)))
            .expect("encode");
        // Our mirror decodes what tarpc's own derive encodes...
        let ours: ClientMessage<ObjectServiceRequest> = codec.decode_client(&bytes);
        let ClientMessage::Request(req) = ours else {
            panic!("expected a request")
        };
        assert_eq!(req.id, 9);
        let left = req.context.deadline - Instant::now();
        assert!(left > Duration::from_secs(4) && left <= Duration::from_secs(5));
        // ...and cancels too.
        let cancel: ClientMessage<ObjectServiceRequest> = ClientMessage::Cancel {
            trace_context: trace::Context::default(),
            request_id: 3,
        };
        let bytes = codec.encode(&cancel).expect("encode");
        assert!(matches!(
            codec.decode_client(&bytes),
            ClientMessage::Cancel { request_id: 3, .. }
        ));
    }

    #[test]
    fn absurd_deadlines_are_clamped_not_panics() {
        let codec = WireCodec::default();
        // Hand-build a frame whose deadline is u64::MAX seconds: re-encode with a patched
        // duration by encoding the mirror layout directly.
        #[derive(Serialize)]
        enum Msg {
            Request {
                context: (Duration, trace::Context),
                id: u64,
                message: ObjectServiceRequest,
            },
        }
        for deadline in [Duration::new(u64::MAX, 999_999_999), Duration::ZERO] {
            let bytes = codec
                .encode(&Msg::Request {
                    context: (deadline, trace::Context::default()),
                    id: 1,
                    message: ObjectServiceRequest::Call {
                        request: Request {
                            chain: 0,
                            releases: vec![],
                            op: Op::Ping,
                        },
                    },
                })
                .expect("encode");
            let ClientMessage::Request(req) = codec.decode_client(&bytes) else {
                panic!("expected a request")
            };
            let left = req
                .context
                .deadline
                .saturating_duration_since(Instant::now());
            assert!(left <= MAX_DEADLINE, "{left:?}");
        }
    }

    #[test]
    fn oversized_and_trailing_input_is_an_error() {
        let codec = WireCodec::new(WireLimits {
            max_frame_bytes: 64,
            max_value_depth: 8,
        });
        assert!(codec.encode(&vec![0u8; 100]).is_err());
        let mut bytes = WireCodec::default()
            .encode(&request(Duration::from_secs(1)))
            .expect("encode");
        bytes.push(0);
        assert!(
            WireCodec::default()
                .decode::<WireClientMessage<ObjectServiceRequest>>(&bytes)
                .is_err()
        );
        // A length field claiming 2^60 elements fails on the byte limit, without allocating.
        let mut huge = vec![252u8];
        huge.extend_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(codec.decode::<Vec<u8>>(&huge).is_err());
    }

    impl WireCodec {
        fn decode_client(&self, bytes: &[u8]) -> ClientMessage<ObjectServiceRequest> {
            self.decode::<WireClientMessage<ObjectServiceRequest>>(bytes)
                .expect("decode")
                .into_tarpc()
        }
    }
}
