//! Raw connections for attacks: a chosen loopback source address, frames written by hand,
//! replies read by hand, hand-built values (nested or wide past what a `Value` in this
//! process could hold), FIN and RST closes.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rpc_core::{Args, HandleId, Op, PROTOCOL_VERSION, Release, Reply, Request, Response, Value};
use rpc_core::{ErrorKind, WireCodec};
use rpc_tests::RawClient;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Deadline put on ordinary requests.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Bound on one request's answer in helpers that wait for it.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// Bound on a TCP connect.
const CONNECT_WITHIN: Duration = Duration::from_secs(5);

/// `127.0.0.n`.
pub fn ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, n)
}

/// What a reply frame carried: our response, or tarpc's own error (throttling).
pub type Answer = Result<Response, tarpc::ServerError>;

/// The error kind of an answer, `None` for a success.
pub fn kind_of(answer: &Answer) -> Option<String> {
    match answer {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(format!("{:?}", e.kind)),
        Err(server) => Some(format!("tarpc: {}", server.detail)),
    }
}

/// Whether `answer` is a remote error of `kind`.
pub fn is_kind(answer: &Answer, kind: ErrorKind) -> bool {
    matches!(answer, Ok(Err(e)) if e.kind == kind)
}

/// A frame: 4-byte big-endian length, then `payload`.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The payload of request `id` carrying `op` and `releases`, with `deadline` on the wire.
pub fn payload(id: u64, op: Op, releases: Vec<Release>, deadline: Duration) -> Vec<u8> {
    RawClient::encode_request(
        id,
        Request {
            chain: 0,
            releases,
            op,
        },
        deadline,
    )
}

/// A framed request with the default deadline and no releases.
pub fn framed(id: u64, op: Op) -> Vec<u8> {
    frame(&payload(id, op, vec![], DEADLINE))
}

/// RUN `name(args...)` on `handle`.
pub fn run(handle: HandleId, name: &str, args: Vec<Value>) -> Op {
    Op::Run {
        handle,
        name: Some(name.to_owned()),
        args: Args::positional(args),
    }
}

/// bincode's variable-length integer (the `DefaultOptions` encoding the wire uses).
pub fn varint(n: u64, out: &mut Vec<u8>) {
    if n < 251 {
        out.push(n as u8);
    } else if n <= u64::from(u16::MAX) {
        out.push(251);
        out.extend_from_slice(&(n as u16).to_le_bytes());
    } else if n <= u64::from(u32::MAX) {
        out.push(252);
        out.extend_from_slice(&(n as u32).to_le_bytes());
    } else {
        out.push(253);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

/// Wire tags of the value tokens (`rpc_core::value::wire`).
const TOKEN_NONE: u8 = 0;
const TOKEN_LIST: u8 = 6;
const TOKEN_TUPLE: u8 = 7;
const TOKEN_MAP: u8 = 8;

/// A value as encoded on the wire: its token count, then its tokens.
#[derive(Debug)]
pub struct RawValue {
    count: u64,
    tokens: Vec<u8>,
}

impl RawValue {
    /// A value nested `depth` levels: containers of one element around a `None`. `kind` 0 is
    /// lists, 1 tuples, 2 maps (the nesting goes through the map's value).
    pub fn nested(depth: u64, kind: u8) -> Self {
        let mut tokens = Vec::with_capacity(depth as usize * 3);
        for _ in 1..depth {
            match kind {
                0 => tokens.extend_from_slice(&[TOKEN_LIST, 1]),
                1 => tokens.extend_from_slice(&[TOKEN_TUPLE, 1]),
                // Map(1), key None, then the value nests further.
                _ => tokens.extend_from_slice(&[TOKEN_MAP, 1, TOKEN_NONE]),
            }
        }
        tokens.push(TOKEN_NONE);
        let count = if kind >= 2 { 2 * depth - 1 } else { depth };
        RawValue { count, tokens }
    }

    /// A list of `n` `None`s: one byte per element on the wire.
    pub fn nones(n: u64) -> Self {
        let mut tokens = Vec::with_capacity(n as usize + 6);
        tokens.push(TOKEN_LIST);
        varint(n, &mut tokens);
        tokens.resize(tokens.len() + n as usize, TOKEN_NONE);
        RawValue {
            count: n + 1,
            tokens,
        }
    }
}

/// Marks where a [`RawValue`] goes in a request built by [`spliced`].
const PLACEHOLDER: &str = "\u{1}blackbox-placeholder-5e1f\u{1}";

/// The payload of request `id` whose op is `make(placeholder)`, with the placeholder's
/// encoding replaced by `value`.
pub fn spliced(id: u64, make: impl FnOnce(Value) -> Op, value: &RawValue) -> io::Result<Vec<u8>> {
    let marker = WireCodec::default().encode(&Value::Str(PLACEHOLDER.to_owned()))?;
    let bytes = payload(
        id,
        make(Value::Str(PLACEHOLDER.to_owned())),
        vec![],
        DEADLINE,
    );
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker.as_slice())
        .ok_or_else(|| io::Error::other("placeholder not found in the encoded request"))?;
    let mut out = Vec::with_capacity(bytes.len() + value.tokens.len() + 16);
    out.extend_from_slice(&bytes[..at]);
    varint(value.count, &mut out);
    out.extend_from_slice(&value.tokens);
    out.extend_from_slice(&bytes[at + marker.len()..]);
    Ok(out)
}

/// Opens a TCP connection from `source` (any address of 127.0.0.0/8).
pub async fn connect_from(source: Ipv4Addr, server: SocketAddr) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source.into(), 0))?;
    match tokio::time::timeout(CONNECT_WITHIN, socket.connect(server)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
    }
}

/// Reads one reply frame from `reader`; `Ok(None)` when the server closed the connection.
pub async fn read_answer<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> io::Result<Option<(u64, Answer)>> {
    rpc_tests::read_response(reader).await
}

/// A connection driven frame by frame.
#[derive(Debug)]
pub struct Conn {
    /// The socket.
    pub stream: TcpStream,
    next_id: u64,
}

impl Conn {
    /// Connects from `source` without sending anything.
    pub async fn connect(source: Ipv4Addr, server: SocketAddr) -> io::Result<Conn> {
        Ok(Conn {
            stream: connect_from(source, server).await?,
            next_id: 1,
        })
    }

    /// Connects from `source` and says hello.
    pub async fn greeted(source: Ipv4Addr, server: SocketAddr) -> io::Result<Conn> {
        let mut conn = Conn::connect(source, server).await?;
        conn.hello().await?;
        Ok(conn)
    }

    /// A fresh request id.
    pub fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Writes bytes as they are.
    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Sends `op` as request `id`.
    pub async fn send(&mut self, id: u64, op: Op) -> io::Result<()> {
        self.stream.write_all(&framed(id, op)).await
    }

    /// Reads one reply frame; `Ok(None)` when the server closed the connection.
    pub async fn recv(&mut self) -> io::Result<Option<(u64, Answer)>> {
        read_answer(&mut self.stream).await
    }

    /// Sends `op` and returns its answer, skipping replies to other ids; bounded.
    pub async fn call(&mut self, op: Op) -> io::Result<Answer> {
        let id = self.id();
        self.send(id, op).await?;
        self.answer_to(id).await
    }

    /// Waits for the answer to `id`, skipping others; bounded.
    pub async fn answer_to(&mut self, id: u64) -> io::Result<Answer> {
        let wait = async {
            loop {
                match self.recv().await? {
                    Some((got, answer)) if got == id => return Ok(answer),
                    Some(_) => {}
                    None => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "server closed the connection",
                        ));
                    }
                }
            }
        };
        match tokio::time::timeout(ANSWER_WITHIN, wait).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "no answer")),
        }
    }

    /// Says hello.
    pub async fn hello(&mut self) -> io::Result<()> {
        let answer = self
            .call(Op::Hello {
                protocol: PROTOCOL_VERSION,
                client: "blackbox".into(),
            })
            .await?;
        match answer {
            Ok(Ok(Reply::Hello(_))) => Ok(()),
            other => Err(io::Error::other(format!("hello answered {other:?}"))),
        }
    }

    /// Opens root `root` with no arguments.
    pub async fn open(&mut self, root: &str) -> io::Result<HandleId> {
        let answer = self
            .call(Op::Open {
                root: root.into(),
                args: Args::new(),
            })
            .await?;
        match answer {
            Ok(Ok(Reply::Object(d))) => Ok(d.id),
            other => Err(io::Error::other(format!("open {root} answered {other:?}"))),
        }
    }

    /// Calls `op` and requires a success.
    pub async fn ok(&mut self, op: Op) -> io::Result<Reply> {
        match self.call(op).await? {
            Ok(Ok(reply)) => Ok(reply),
            other => Err(io::Error::other(format!("answered {:?}", kind_of(&other)))),
        }
    }

    /// Reads and discards until the server closes; the time it took, if within `within`.
    pub async fn closed_within(&mut self, within: Duration) -> Option<Duration> {
        let started = Instant::now();
        let mut sink = vec![0u8; 64 * 1024];
        tokio::time::timeout(within, async {
            loop {
                match self.stream.read(&mut sink).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .ok()
        .map(|()| started.elapsed())
    }

    /// Closes with a reset (RST) instead of a FIN.
    pub fn reset(self) {
        let _ = self.stream.set_zero_linger();
        drop(self.stream);
    }
}

/// Random bytes from a fixed-seed generator.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    rpc_tests::lcg_bytes(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1, len)
}
