//! Hostile peers in both directions: a client that never answers a callback costs the server
//! a bounded number of calls for a bounded time and nobody else anything; a hostile server can
//! reach only what the client exported, and malformed frames from it end the connection, never
//! the client. Every wait is bounded in time.

use std::time::Duration;

use futures::future::join_all;
use rpc_client::{CallError, Client, ErrorKind, Proxy, Remote, remote};
use rpc_core::codec::{ClientFrame, ServerFrame};
use rpc_core::protocol::{ObjectServiceRequest, ObjectServiceResponse, ServerInfo};
use rpc_core::{HandleId, Op, PROTOCOL_VERSION, PeerMessage, Reply, Request, WireCodec, limits};
use rpc_server::{Server, ServerConfig};
use tarpc::ClientMessage;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const STEP: Duration = Duration::from_secs(20);

/// Awaits `f` for at most [`STEP`].
async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    rpc_tests::bounded(what, STEP, f).await
}

/// The server's object: calls what it is given.
#[rpc_server::remote]
#[derive(Debug, Default)]
pub struct Caller {}

#[rpc_server::remote]
impl Caller {
    /// A fresh caller.
    #[remote(constructor)]
    pub fn new() -> Self {
        Caller {}
    }

    /// Calls `target.wait()` `n` times at once; what each call gave.
    pub async fn call_many(&self, target: Proxy, n: usize) -> Vec<String> {
        let calls = (0..n).map(|_| {
            let target = target.clone();
            async move { target.call("wait", ()).await }
        });
        join_all(calls)
            .await
            .into_iter()
            .map(|outcome| match outcome {
                Ok(_) => "ok".to_owned(),
                Err(CallError::Timeout { .. }) => "timeout".to_owned(),
                Err(e) if e.kind() == Some(ErrorKind::Overloaded) => "overloaded".to_owned(),
                Err(e) => format!("other: {e}"),
            })
            .collect()
    }

    /// Answers at once.
    pub fn ping(&self) -> &'static str {
        "pong"
    }
}

/// A client object that never answers.
#[remote]
#[derive(Debug, Default)]
pub struct Silent {}

#[remote]
impl Silent {
    /// Waits forever.
    pub async fn wait(&self) {
        std::future::pending::<()>().await
    }
}

#[tokio::test]
async fn a_client_that_never_answers_holds_a_bounded_number_of_calls_for_a_bounded_time() {
    let mut config = ServerConfig::default();
    config.callback_timeout = Duration::from_millis(300);
    config.max_callbacks_in_flight = 2;
    let server = Server::builder()
        .root::<Caller>("caller")
        .config(config)
        .build()
        .expect("valid")
        .spawn(TcpListener::bind("127.0.0.1:0").await.expect("bind"))
        .expect("spawn");
    let hostile = Client::connect(server.local_addr()).await.expect("connect");
    let caller = hostile.open("caller", ()).await.expect("open");
    let silent = Remote::new(Silent {});
    let waiting = tokio::spawn({
        let caller = caller.clone();
        let silent = silent.clone();
        async move {
            caller
                .call_as::<Vec<String>>("call_many", (&silent, 3))
                .await
        }
    });
    // While those wait, another client is served as usual.
    let other = Client::connect(server.local_addr()).await.expect("connect");
    let its_caller = other.open("caller", ()).await.expect("open");
    let pong: String = bounded("another client's call", its_caller.call_as("ping", ()))
        .await
        .expect("ping");
    assert_eq!(pong, "pong");
    let mut outcomes = bounded("the unanswered callbacks", waiting)
        .await
        .expect("joined")
        .expect("call_many");
    outcomes.sort();
    // Two waited until the callback timeout; the third was refused at once (the cap).
    assert_eq!(outcomes, ["overloaded", "timeout", "timeout"]);
    server.shutdown().await.expect("shutdown");
}

/// One length-prefixed frame.
async fn write_frame(stream: &mut TcpStream, payload: &[u8]) {
    let len = u32::try_from(payload.len()).expect("small frame");
    stream.write_all(&len.to_be_bytes()).await.expect("write");
    stream.write_all(payload).await.expect("write");
}

async fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await.ok()?;
    let mut payload = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut payload).await.ok()?;
    Some(payload)
}

/// A fake server speaking the wire format by hand: answers `hello`, then sends what the test
/// says.
struct FakeServer {
    stream: TcpStream,
    codec: WireCodec,
}

impl FakeServer {
    async fn accept(listener: &TcpListener) -> FakeServer {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let codec = WireCodec::default();
        let hello = read_frame(&mut stream).await.expect("hello frame");
        let ClientFrame::Tarpc(ClientMessage::Request(request)) = codec
            .decode::<ClientFrame<ObjectServiceRequest>>(&hello)
            .expect("decodes")
        else {
            panic!("expected hello")
        };
        let info = ServerInfo {
            protocol: PROTOCOL_VERSION,
            server: "fake".into(),
            session: 1,
            max_frame_bytes: limits::DEFAULT_MAX_FRAME_BYTES as u64,
            max_value_depth: 64,
            roots: vec![],
        };
        let reply: ServerFrame<ObjectServiceResponse> = ServerFrame::Tarpc(tarpc::Response {
            request_id: request.id,
            message: Ok(ObjectServiceResponse::Call(Ok(Reply::Hello(info)))),
        });
        write_frame(&mut stream, &codec.encode(&reply).expect("encode")).await;
        FakeServer { stream, codec }
    }

    async fn send_peer(&mut self, message: PeerMessage) {
        let frame: ServerFrame<ObjectServiceResponse> = ServerFrame::Peer(Box::new(message));
        let bytes = self.codec.encode(&frame).expect("encode");
        write_frame(&mut self.stream, &bytes).await;
    }

    /// The next peer message from the client.
    async fn peer_reply(&mut self) -> PeerMessage {
        loop {
            let frame = read_frame(&mut self.stream).await.expect("a frame");
            if let ClientFrame::Peer(message) = self
                .codec
                .decode::<ClientFrame<ObjectServiceRequest>>(&frame)
                .expect("decodes")
            {
                return *message;
            }
        }
    }
}

fn call(id: u64, handle: u64, name: &str) -> PeerMessage {
    PeerMessage::Call {
        id,
        timeout: Duration::from_secs(5),
        request: Request {
            releases: vec![],
            op: Op::Run {
                handle: HandleId(handle),
                name: Some(name.into()),
                args: rpc_core::Args::new(),
            },
            chain: 0,
        },
    }
}

#[tokio::test]
async fn a_hostile_server_reaches_only_what_the_client_exported() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (client, mut server) = tokio::join!(
        async { Client::connect(addr).await.expect("connect") },
        FakeServer::accept(&listener)
    );
    // Nothing exported: every id is unknown, 0 and u64::MAX included.
    for (id, handle) in [(1, 1), (2, 0), (3, u64::MAX)] {
        server.send_peer(call(id, handle, "wait")).await;
        let PeerMessage::Reply {
            id: answered,
            response,
        } = bounded("the client's answer", server.peer_reply()).await
        else {
            panic!("expected a reply")
        };
        assert_eq!(answered, id);
        let err = response.expect_err("no such object");
        assert_eq!(err.kind, ErrorKind::NoSuchHandle, "{err}");
    }
    // Ops the client does not host at all are refused too.
    server
        .send_peer(PeerMessage::Call {
            id: 9,
            timeout: Duration::from_secs(5),
            request: Request {
                releases: vec![],
                op: Op::Stats,
                chain: 0,
            },
        })
        .await;
    let PeerMessage::Reply { response, .. } = bounded("the answer", server.peer_reply()).await
    else {
        panic!("expected a reply")
    };
    assert_eq!(response.expect_err("refused").kind, ErrorKind::Protocol);
    // A release of something never exported and a reply nobody asked for change nothing.
    server
        .send_peer(PeerMessage::Release(vec![rpc_core::Release {
            handle: HandleId(5),
            count: 3,
        }]))
        .await;
    server
        .send_peer(PeerMessage::Reply {
            id: 77,
            response: Ok(Reply::Done),
        })
        .await;
    assert_eq!(client.exports_held(), 0);
    // Garbage ends the connection, not the client: its calls fail cleanly.
    write_frame(&mut server.stream, &[0xff; 32]).await;
    let failed = bounded("a call on the broken connection", client.ping()).await;
    assert!(matches!(failed, Err(CallError::Disconnected)), "{failed:?}");
}
