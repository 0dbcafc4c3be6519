//! Hostile framing and decoding (RELIABILITY.md cases 8, 9, 12 and 13): oversized length
//! headers, empty, random, trailing-byte and truncated frames, absurd deadlines, unknown op
//! variants, invalid UTF-8, duplicate request ids and cancels of unknown ids. Each ends the
//! offending connection or is answered/ignored, never in a panic or a hang, and after each a
//! fresh control client is served ("others unaffected").

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use rpc_core::{Args, Op, PROTOCOL_VERSION, Reply, Request, Response, Value};
use rpc_server::{Allowlist, ServerConfig};
use rpc_tests::{RawClient, lcg_bytes, start_default, start_demo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Generous bound for anything the server must do promptly (close, answer).
const WITHIN: Duration = Duration::from_secs(5);

/// A fresh connection says hello and pings: the server is alive and serving.
async fn assert_alive(addr: SocketAddr) {
    let mut control = RawClient::connect(addr).await.expect("control connects");
    control.hello().await.expect("control hello");
    assert_eq!(
        control.call(1, Op::Ping).await.expect("control ping"),
        Ok(Reply::Done)
    );
}

async fn greeted(addr: SocketAddr) -> RawClient {
    let mut raw = RawClient::connect(addr).await.expect("connect");
    raw.hello().await.expect("hello");
    raw
}

/// Sends `op` as request `id` on a connection that just got something hostile, and returns
/// its answer, or `None` if the server closed the connection instead. Replies to other ids,
/// and tarpc-level errors for them, are skipped. Panics if neither happens within `WITHIN`.
async fn probe(raw: &mut RawClient, id: u64, op: Op) -> Option<Response> {
    tokio::time::timeout(WITHIN, async {
        if raw.send(id, op).await.is_err() {
            return None;
        }
        loop {
            match raw.recv().await {
                Ok(Some((answered, response))) if answered == id => return Some(response),
                Ok(Some(_)) => {}
                // A tarpc `ServerError` for some other request: the connection is still open.
                Err(e) if e.kind() == io::ErrorKind::Other => {}
                Ok(None) | Err(_) => return None,
            }
        }
    })
    .await
    .expect("the server neither closed the connection nor answered within 5 s")
}

/// After a hostile frame on a greeted connection: closed, or still answering a Ping.
async fn closed_or_still_serving(raw: &mut RawClient, id: u64) {
    if let Some(response) = probe(raw, id, Op::Ping).await {
        assert_eq!(
            response,
            Ok(Reply::Done),
            "a surviving connection answers Ping"
        );
    }
}

fn ping_bytes(id: u64) -> Vec<u8> {
    RawClient::encode_request(
        id,
        Request {
            chain: 0,
            releases: vec![],
            op: Op::Ping,
        },
        Duration::from_secs(10),
    )
}

#[tokio::test]
async fn zero_length_frame() {
    let server = start_default().await;
    let mut raw = greeted(server.local_addr()).await;
    raw.send_frame(&[]).await.expect("send empty frame");
    closed_or_still_serving(&mut raw, 2).await;
    assert_alive(server.local_addr()).await;
}

#[tokio::test]
async fn frames_of_random_bytes() {
    let server = start_default().await;
    for (seed, len) in [(1_u64, 1_usize), (2, 17), (3, 256), (4, 4096)] {
        let mut raw = greeted(server.local_addr()).await;
        raw.send_frame(&lcg_bytes(seed, len))
            .await
            .expect("send random frame");
        closed_or_still_serving(&mut raw, 2).await;
        assert_alive(server.local_addr()).await;
    }
}

#[tokio::test]
async fn valid_request_with_a_trailing_byte() {
    let server = start_default().await;
    let mut raw = greeted(server.local_addr()).await;
    // The untouched frame is answered, so only the trailing byte can make a difference.
    raw.send_frame(&ping_bytes(2)).await.expect("send");
    assert_eq!(
        raw.recv().await.expect("recv").map(|(_, r)| r),
        Some(Ok(Reply::Done))
    );
    let mut bytes = ping_bytes(3);
    bytes.push(0);
    raw.send_frame(&bytes).await.expect("send");
    closed_or_still_serving(&mut raw, 4).await;
    assert_alive(server.local_addr()).await;
}

#[tokio::test]
async fn length_header_u32_max_is_closed_at_once() {
    let server = start_default().await;
    // Both as the very first bytes of a connection and in the middle of a session.
    for greet in [false, true] {
        let mut raw = if greet {
            greeted(server.local_addr()).await
        } else {
            RawClient::connect(server.local_addr())
                .await
                .expect("connect")
        };
        raw.write_raw(&u32::MAX.to_be_bytes())
            .await
            .expect("write header");
        // 4 GiB never follow: the server must close on the header alone.
        assert!(
            raw.closed_within(WITHIN).await,
            "not closed (greeted: {greet})"
        );
        assert_alive(server.local_addr()).await;
    }
}

#[tokio::test]
async fn frame_limit_is_exact_and_one_more_byte_is_closed() {
    const LIMIT: usize = 1024;
    let mut config = ServerConfig::default();
    config.max_frame_bytes = LIMIT;
    let server = start_demo(Allowlist::default(), config).await;
    let mut raw = greeted(server.local_addr()).await;

    // A request of exactly LIMIT bytes is read and answered (NoSuchHandle: no handle is held).
    let exact = (0..LIMIT)
        .map(|pad| {
            RawClient::encode_request(
                2,
                Request {
                    chain: 0,
                    releases: vec![],
                    op: Op::Set {
                        handle: rpc_core::HandleId(1),
                        name: "note".into(),
                        value: Value::Str("x".repeat(pad)),
                    },
                },
                Duration::from_secs(10),
            )
        })
        .find(|bytes| bytes.len() == LIMIT)
        .expect("some padding makes the request exactly LIMIT bytes");
    raw.send_frame(&exact).await.expect("send");
    let (_, response) = raw
        .recv()
        .await
        .expect("recv")
        .expect("a frame at the limit is answered, not closed");
    assert_eq!(
        response.err().map(|e| e.kind),
        Some(rpc_core::ErrorKind::NoSuchHandle)
    );

    // A header declaring LIMIT + 1 closes the connection without waiting for the body.
    let over = u32::try_from(LIMIT + 1).expect("small");
    raw.write_raw(&over.to_be_bytes())
        .await
        .expect("write header");
    assert!(raw.closed_within(WITHIN).await, "max_frame + 1 not closed");
    assert_alive(server.local_addr()).await;
}

/// Writes one frame and reads one reply frame, by hand on a bare stream.
async fn round_trip(stream: &mut TcpStream, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("small frame");
    stream
        .write_all(&len.to_be_bytes())
        .await
        .expect("write len");
    stream.write_all(payload).await.expect("write payload");
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).await.expect("read len");
    let mut reply = vec![0u8; u32::from_be_bytes(header) as usize];
    stream.read_exact(&mut reply).await.expect("read reply");
    reply
}

async fn sessions(control: &mut RawClient, id: u64) -> u64 {
    match control.call(id, Op::Stats).await.expect("stats answered") {
        Ok(Reply::Stats(stats)) => stats.sessions,
        other => panic!("stats returned {other:?}"),
    }
}

#[tokio::test]
async fn truncated_frame_then_eof_closes_and_frees_the_session() {
    let server = start_default().await;
    let mut control = greeted(server.local_addr()).await;
    let baseline = sessions(&mut control, 1).await;

    // A bare stream, because the write half must be shut down (RawClient cannot).
    let mut stream = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    let hello = RawClient::encode_request(
        1,
        Request {
            chain: 0,
            releases: vec![],
            op: Op::Hello {
                protocol: PROTOCOL_VERSION,
                client: "truncated".into(),
            },
        },
        Duration::from_secs(10),
    );
    round_trip(&mut stream, &hello).await;
    // The hello was answered, so the session is counted.
    assert_eq!(sessions(&mut control, 2).await, baseline + 1);

    stream
        .write_all(&100_u32.to_be_bytes())
        .await
        .expect("write header");
    stream.write_all(&[0u8; 10]).await.expect("write 10 of 100");
    stream.shutdown().await.expect("shut down the write half");
    let mut attacker = RawClient::from_stream(stream);
    assert!(attacker.closed_within(WITHIN).await, "not closed after EOF");

    // The session counter is decremented by the connection task just after the socket is
    // dropped, asynchronously to the close observed above: no event marks it, so poll the
    // counter (bounded by WITHIN). This waits on a counter, it does not stand in for one.
    let deadline = tokio::time::Instant::now() + WITHIN;
    let mut id = 3;
    loop {
        let now = sessions(&mut control, id).await;
        if now == baseline {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "sessions stuck at {now}, baseline {baseline}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        id += 1;
    }
    assert_alive(server.local_addr()).await;
}

#[tokio::test]
async fn absurd_deadlines_do_not_kill_the_server() {
    let server = start_default().await;

    // u64::MAX seconds: tarpc's decoder would panic adding it to an Instant; it is clamped to
    // MAX_DEADLINE (1 h), so the ping is simply answered.
    let mut raw = greeted(server.local_addr()).await;
    let huge = RawClient::encode_request(
        2,
        Request {
            chain: 0,
            releases: vec![],
            op: Op::Ping,
        },
        Duration::new(u64::MAX, 999_999_999),
    );
    raw.send_frame(&huge).await.expect("send");
    let answer = raw.recv().await.expect("recv");
    assert_eq!(answer, Some((2, Ok(Reply::Done))), "clamped, answered");
    assert_alive(server.local_addr()).await;

    // Zero: raised to MIN_DEADLINE (1 ms), so the request may expire before or after it runs
    // (an expired request gets no answer). Either way the connection survives or is closed,
    // and the server serves others.
    let mut raw = greeted(server.local_addr()).await;
    let zero = RawClient::encode_request(
        3,
        Request {
            chain: 0,
            releases: vec![],
            op: Op::Ping,
        },
        Duration::ZERO,
    );
    raw.send_frame(&zero).await.expect("send");
    closed_or_still_serving(&mut raw, 4).await;
    assert_alive(server.local_addr()).await;
}

#[tokio::test]
async fn cancel_of_an_unknown_request_is_ignored() {
    let server = start_default().await;
    let mut raw = greeted(server.local_addr()).await;
    raw.send_frame(&RawClient::encode_cancel(12_345))
        .await
        .expect("send cancel");
    // Ignored: the same connection answers the next request.
    assert_eq!(raw.call(2, Op::Ping).await.expect("ping"), Ok(Reply::Done));
    assert_alive(server.local_addr()).await;
}

/// Reads replies into `replies` until `done` holds; panics on a close or after `WITHIN`.
async fn read_until(
    raw: &mut RawClient,
    replies: &mut Vec<(u64, Response)>,
    done: impl Fn(&[(u64, Response)]) -> bool,
) {
    tokio::time::timeout(WITHIN, async {
        while !done(replies) {
            let reply = raw.recv().await.expect("recv").expect("not closed");
            replies.push(reply);
        }
    })
    .await
    .expect("the expected replies arrived within 5 s");
}

#[tokio::test]
async fn duplicate_request_id_in_flight_is_not_run_twice() {
    let server = start_default().await;
    let mut raw = greeted(server.local_addr()).await;
    let counter = raw
        .open(1, "counter", Args::positional(vec![Value::Int(5)]))
        .await;
    // Request 7 is in flight for 300 ms while a second request 7 (a Ping) arrives.
    raw.send(
        7,
        Op::Run {
            handle: counter.id,
            name: Some("slow_value".into()),
            args: Args::positional(vec![Value::Int(300)]),
        },
    )
    .await
    .expect("send slow call");
    raw.send(7, Op::Ping).await.expect("send duplicate id");
    raw.send(8, Op::Ping).await.expect("send ping");

    let mut replies = Vec::new();
    read_until(&mut raw, &mut replies, |r| {
        r.iter().any(|(id, _)| *id == 7) && r.iter().any(|(id, _)| *id == 8)
    })
    .await;
    // Anything more for id 7 would arrive before the answer to a later ping.
    raw.send(9, Op::Ping).await.expect("send ping");
    read_until(&mut raw, &mut replies, |r| r.iter().any(|(id, _)| *id == 9)).await;

    let sevens: Vec<&Response> = replies
        .iter()
        .filter(|(id, _)| *id == 7)
        .map(|(_, r)| r)
        .collect();
    let ran = sevens.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ran, 1, "exactly one request 7 ran: {sevens:?}");
    assert!(
        sevens.contains(&&Ok(Reply::Value(Value::Int(5)))),
        "the first request 7 (slow_value) is the one that ran: {sevens:?}"
    );
    assert!(replies.contains(&(8, Ok(Reply::Done))), "{replies:?}");
    assert!(replies.contains(&(9, Ok(Reply::Done))), "{replies:?}");
    assert_alive(server.local_addr()).await;
}

/// Encodes `a` and `b` and returns the one byte position where they differ.
fn only_difference(a: &[u8], b: &[u8]) -> usize {
    assert_eq!(a.len(), b.len(), "same layout expected");
    let diffs: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    assert_eq!(diffs.len(), 1, "exactly one differing byte: {diffs:?}");
    diffs[0]
}

#[tokio::test]
async fn unknown_op_variant() {
    let server = start_default().await;
    // Ping and Stats are unit variants differing only in their tag (a one-byte varint), so
    // the one differing byte of their encodings is the Op variant tag.
    let ping = ping_bytes(2);
    let stats = RawClient::encode_request(
        2,
        Request {
            chain: 0,
            releases: vec![],
            op: Op::Stats,
        },
        Duration::from_secs(10),
    );
    let tag = only_difference(&ping, &stats);
    assert_eq!(stats[tag], ping[tag] + 1, "Stats follows Ping in Op");

    let mut raw = greeted(server.local_addr()).await;
    let mut unknown = ping;
    unknown[tag] = 200;
    raw.send_frame(&unknown).await.expect("send");
    closed_or_still_serving(&mut raw, 3).await;
    assert_alive(server.local_addr()).await;
}

#[tokio::test]
async fn hello_with_invalid_utf8_client_name() {
    let server = start_default().await;
    const MARKER: &[u8] = b"MARKER-CLIENT-NAME";
    let mut bytes = RawClient::encode_request(
        1,
        Request {
            chain: 0,
            releases: vec![],
            op: Op::Hello {
                protocol: PROTOCOL_VERSION,
                client: String::from_utf8(MARKER.to_vec()).expect("ascii"),
            },
        },
        Duration::from_secs(10),
    );
    let at = bytes
        .windows(MARKER.len())
        .position(|w| w == MARKER)
        .expect("the name is stored verbatim");
    // Same length, so the string's length prefix still matches: only the UTF-8 is broken.
    bytes[at] = 0xFF;
    bytes[at + 1] = 0xFE;

    let mut raw = RawClient::connect(server.local_addr())
        .await
        .expect("connect");
    raw.send_frame(&bytes).await.expect("send");
    // Never greeted by the broken hello: a surviving connection takes a proper one.
    let proper = Op::Hello {
        protocol: PROTOCOL_VERSION,
        client: "proper".into(),
    };
    if let Some(response) = probe(&mut raw, 2, proper).await {
        assert!(
            matches!(response, Ok(Reply::Hello(_))),
            "a surviving connection accepts a proper hello: {response:?}"
        );
    }
    assert_alive(server.local_addr()).await;
}
