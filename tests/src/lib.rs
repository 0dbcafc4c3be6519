//! Shared helpers for the integration tests: a demo server on `127.0.0.1:0`, and a raw-frame
//! client that speaks the wire format byte by byte, so tests can send what no well-behaved
//! client would.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use rpc_core::codec::ServerFrame;
use rpc_core::protocol::{ObjectServiceRequest, ObjectServiceResponse};
use rpc_core::{Op, PROTOCOL_VERSION, Request, Response, WireCodec};
use rpc_server::{Allowlist, RunningServer, ServerConfig};
use serde::Serialize;
use tarpc::trace;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Starts the `server` example's server (roots `dict`, `list`, `counter`) on `127.0.0.1:0`.
pub async fn start_demo(allowlist: Allowlist, config: ServerConfig) -> RunningServer {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    rpc_examples::demo_server(allowlist, config)
        .expect("demo server builds")
        .spawn(listener)
        .expect("server starts")
}

/// Starts the demo server with the default (loopback) allowlist and config.
pub async fn start_default() -> RunningServer {
    start_demo(Allowlist::default(), ServerConfig::default()).await
}

/// Connects from a chosen loopback source address (all of 127.0.0.0/8 is loopback on Linux).
///
/// # Errors
/// Binding the source address or connecting failed.
pub async fn connect_from(source: &str, server: SocketAddr) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{source}:0").parse().map_err(io::Error::other)?)?;
    socket.connect(server).await
}

#[allow(clippy::large_enum_variant)] // built once per test frame, never stored
/// The wire form of a request with an explicit relative deadline, encoded exactly as tarpc's
/// client encodes `ClientMessage::Request`.
#[derive(Serialize)]
enum WireMessage {
    Request {
        context: (Duration, trace::Context),
        id: u64,
        message: ObjectServiceRequest,
    },
    Cancel {
        trace_context: trace::Context,
        request_id: u64,
    },
}

/// A client that writes frames by hand.
#[derive(Debug)]
pub struct RawClient {
    stream: TcpStream,
}

impl RawClient {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        Ok(RawClient {
            stream: TcpStream::connect(addr).await?,
        })
    }

    /// Wraps an already connected stream.
    pub fn from_stream(stream: TcpStream) -> Self {
        RawClient { stream }
    }

    /// Writes raw bytes, no framing.
    pub async fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Writes one frame: a 4-byte big-endian length and `payload`.
    pub async fn send_frame(&mut self, payload: &[u8]) -> io::Result<()> {
        let len = u32::try_from(payload.len()).map_err(io::Error::other)?;
        self.stream.write_all(&len.to_be_bytes()).await?;
        self.stream.write_all(payload).await
    }

    /// Encodes a request the way tarpc does, with `deadline` as sent on the wire.
    pub fn encode_request(id: u64, request: Request, deadline: Duration) -> Vec<u8> {
        WireCodec::default()
            .encode(&WireMessage::Request {
                context: (deadline, trace::Context::default()),
                id,
                message: ObjectServiceRequest::Call { request },
            })
            .expect("test requests fit the frame limit")
    }

    /// Encodes a cancel of `request_id`.
    pub fn encode_cancel(request_id: u64) -> Vec<u8> {
        WireCodec::default()
            .encode(&WireMessage::Cancel {
                trace_context: trace::Context::default(),
                request_id,
            })
            .expect("a cancel fits the frame limit")
    }

    /// Sends `op` as request `id` with a 10 s deadline.
    pub async fn send(&mut self, id: u64, op: Op) -> io::Result<()> {
        let bytes = Self::encode_request(
            id,
            Request {
                chain: 0,
                releases: vec![],
                op,
            },
            Duration::from_secs(10),
        );
        self.send_frame(&bytes).await
    }

    /// Reads one response frame, keeping tarpc's own server errors (throttling) apart;
    /// `Ok(None)` when the server closed the connection.
    pub async fn recv_any(
        &mut self,
    ) -> io::Result<Option<(u64, Result<Response, tarpc::ServerError>)>> {
        read_response(&mut self.stream).await
    }

    /// Closes the connection with a reset (RST) instead of an orderly FIN.
    pub fn reset(self) -> io::Result<()> {
        self.stream.set_zero_linger()?;
        drop(self.stream);
        Ok(())
    }

    /// Reads one response frame; `Ok(None)` when the server closed the connection. A tarpc
    /// server error (throttling) is an `io::Error` here; see [`recv_any`](Self::recv_any).
    pub async fn recv(&mut self) -> io::Result<Option<(u64, Response)>> {
        match self.recv_any().await? {
            None => Ok(None),
            Some((id, Ok(reply))) => Ok(Some((id, reply))),
            Some((_, Err(e))) => Err(io::Error::other(format!("server error: {e}"))),
        }
    }

    /// Sends `op` and waits for its reply (the first reply that arrives).
    pub async fn call(&mut self, id: u64, op: Op) -> io::Result<Response> {
        self.send(id, op).await?;
        self.recv()
            .await?
            .map(|(_, r)| r)
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "server closed"))
    }

    /// Sends `hello` and checks it is accepted.
    pub async fn hello(&mut self) -> io::Result<()> {
        match self
            .call(
                0,
                Op::Hello {
                    protocol: PROTOCOL_VERSION,
                    client: "raw".into(),
                },
            )
            .await?
        {
            Ok(_) => Ok(()),
            Err(e) => Err(io::Error::other(e.to_string())),
        }
    }

    /// Opens root `root` with `args` as request `id`; panics unless the reply is an object
    /// (a test helper: the failure message names the reply).
    pub async fn open(
        &mut self,
        id: u64,
        root: &str,
        args: rpc_core::Args,
    ) -> rpc_core::HandleDescriptor {
        match self
            .call(
                id,
                Op::Open {
                    root: root.into(),
                    args,
                },
            )
            .await
            .expect("open answered")
        {
            Ok(rpc_core::Reply::Object(descriptor)) => descriptor,
            other => panic!("open {root} returned {other:?}"),
        }
    }

    /// Closes this side for writing (a FIN): the server reads the end of the stream.
    pub async fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.shutdown().await
    }

    /// Waits until the server closes the connection, reading and discarding anything sent;
    /// `true` if it closed within `within`.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        let mut sink = [0u8; 4096];
        tokio::time::timeout(within, async {
            loop {
                match self.stream.read(&mut sink).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok()
    }
}

/// Reads one response frame from `reader`: its request id and answer, or `None` at the end of
/// the stream (or a reset). Peer frames (the server's calls to objects the reader named, and
/// its releases of them) are read and skipped: a raw client answers none of them.
pub async fn read_response<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> io::Result<Option<(u64, Result<Response, tarpc::ServerError>)>> {
    loop {
        let mut len = [0u8; 4];
        match reader.read_exact(&mut len).await {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        let mut payload = vec![0u8; u32::from_be_bytes(len) as usize];
        reader.read_exact(&mut payload).await?;
        let frame: ServerFrame<ObjectServiceResponse> = WireCodec::default().decode(&payload)?;
        let ServerFrame::Tarpc(response) = frame else {
            continue;
        };
        return Ok(Some((
            response.request_id,
            response
                .message
                .map(|ObjectServiceResponse::Call(reply)| reply),
        )));
    }
}

/// `len` bytes from a fixed-seed linear congruential generator (Knuth's MMIX constants), for
/// hostile input that is the same in every run.
pub fn lcg_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect()
}

/// Awaits `f`, failing the test (naming `what`) if it takes longer than `limit`: how tests
/// bound every wait instead of hanging.
pub async fn bounded<T>(
    what: &str,
    limit: std::time::Duration,
    f: impl std::future::Future<Output = T>,
) -> T {
    match tokio::time::timeout(limit, f).await {
        Ok(out) => out,
        Err(_) => panic!("{what} did not finish within {limit:?}"),
    }
}

/// The display signature of the DIR entry `name` in `members`; panics (failing the test)
/// when there is none.
pub fn signature_of(members: &[rpc_core::Member], name: &str) -> String {
    members
        .iter()
        .find(|m| m.name == name)
        .map(|m| m.signature())
        .unwrap_or_else(|| panic!("DIR lists no member {name}"))
}
