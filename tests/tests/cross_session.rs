//! Handle ids are per session (RELIABILITY.md cases 18, 19 and 21): another session's id, and
//! ids never issued (`0`, `u64::MAX`, random), are `NoSuchHandle` on every op including
//! release, and leave the owner's object untouched; a release of more references than held is
//! `OverRelease` and changes nothing.

use std::time::Duration;

use rpc_client::Client;
use rpc_core::{Args, ErrorKind, HandleId, Op, Release, Reply, Request, Response, Value};
use rpc_tests::{RawClient, start_default};

/// Every op that names a handle, aimed at `handle`.
fn every_handle_op(handle: HandleId) -> Vec<Op> {
    vec![
        Op::Get {
            handle,
            name: "value".into(),
        },
        Op::Set {
            handle,
            name: "value".into(),
            value: Value::Int(99),
        },
        Op::Del {
            handle,
            name: "note".into(),
        },
        Op::Run {
            handle,
            name: Some("add".into()),
            args: Args::positional(vec![Value::Int(1)]),
        },
        Op::Run {
            handle,
            name: None,
            args: Args::new(),
        },
        Op::Dir { handle },
        Op::All { handle },
    ]
}

/// Sends a `Release` op carrying `releases` and returns the answer.
async fn release(raw: &mut RawClient, id: u64, releases: Vec<Release>) -> Response {
    let bytes = RawClient::encode_request(
        id,
        Request {
            chain: 0,
            releases,
            op: Op::Release,
        },
        Duration::from_secs(10),
    );
    raw.send_frame(&bytes).await.expect("send release");
    let (answered, response) = raw
        .recv()
        .await
        .expect("read the answer")
        .expect("the server answers a release, not closes");
    assert_eq!(answered, id);
    response
}

fn kind(response: &Response) -> Option<ErrorKind> {
    response.as_ref().err().map(|e| e.kind)
}

async fn greeted(server: std::net::SocketAddr) -> RawClient {
    let mut raw = RawClient::connect(server).await.expect("connect");
    raw.hello().await.expect("hello");
    raw
}

async fn open_counter(raw: &mut RawClient, id: u64, start: i64) -> HandleId {
    raw.open(id, "counter", Args::positional(vec![Value::Int(start)]))
        .await
        .id
}

#[tokio::test]
async fn another_sessions_handle_is_no_such_handle_and_untouched() {
    let server = start_default().await;
    let a = Client::connect(server.local_addr())
        .await
        .expect("connect A");
    let counter = a.open("counter", (0,)).await.expect("A opens a counter");
    counter.set("value", 5).await.expect("A sets 5");
    counter.set("note", "mine").await.expect("A sets a note");
    let before = counter.all().await.expect("A's ALL");
    let stolen = counter.id();

    // B holds nothing, so no id of its own can shadow A's.
    let mut b = greeted(server.local_addr()).await;
    let mut id = 1;
    for op in every_handle_op(stolen) {
        let name = op.name();
        let response = b.call(id, op).await.expect("B's op answered");
        assert_eq!(
            kind(&response),
            Some(ErrorKind::NoSuchHandle),
            "{name} on A's handle from B: {response:?}"
        );
        id += 1;
    }
    let response = release(
        &mut b,
        id,
        vec![Release {
            handle: stolen,
            count: 1,
        }],
    )
    .await;
    assert_eq!(
        kind(&response),
        Some(ErrorKind::NoSuchHandle),
        "{response:?}"
    );

    // A's object is untouched and A still works with it.
    assert_eq!(counter.all().await.expect("A's ALL again"), before);
    assert_eq!(counter.get_as::<i64>("value").await.expect("value"), 5);
    assert_eq!(counter.call_as::<i64>("add", (1,)).await.expect("add"), 6);
    // B is still usable too.
    assert_eq!(b.call(100, Op::Ping).await.expect("ping"), Ok(Reply::Done));
}

#[tokio::test]
async fn never_issued_ids_are_no_such_handle_on_every_op() {
    let server = start_default().await;
    let mut raw = greeted(server.local_addr()).await;
    // The session holds one real handle, so the table is not trivially empty.
    let own = open_counter(&mut raw, 1, 5).await;
    // A fixed "random" id (one LCG step from a seed), far from any id the session issued.
    let random = 6_364_136_223_846_793_005_u64
        .wrapping_mul(0x5eed)
        .wrapping_add(1_442_695_040_888_963_407);
    let mut id = 10;
    for handle in [HandleId(0), HandleId(u64::MAX), HandleId(random)] {
        assert_ne!(handle, own);
        for op in every_handle_op(handle) {
            let name = op.name();
            let response = raw.call(id, op).await.expect("answered");
            assert_eq!(
                kind(&response),
                Some(ErrorKind::NoSuchHandle),
                "{name} on {handle}: {response:?}"
            );
            id += 1;
        }
        let response = release(&mut raw, id, vec![Release { handle, count: 1 }]).await;
        assert_eq!(
            kind(&response),
            Some(ErrorKind::NoSuchHandle),
            "release of {handle}: {response:?}"
        );
        id += 1;
    }
    // The real handle still works.
    let value = raw
        .call(
            id,
            Op::Get {
                handle: own,
                name: "value".into(),
            },
        )
        .await
        .expect("answered");
    assert_eq!(value, Ok(Reply::Value(Value::Int(5))));
}

#[tokio::test]
async fn over_release_is_refused_and_changes_nothing() {
    let server = start_default().await;
    let mut raw = greeted(server.local_addr()).await;
    let counter = open_counter(&mut raw, 1, 5).await;
    let get_value = |id| {
        (
            id,
            Op::Get {
                handle: counter,
                name: "value".into(),
            },
        )
    };

    // The session holds one reference: releasing two is refused, and so is releasing zero.
    for count in [2, u32::MAX, 0] {
        let response = release(
            &mut raw,
            2,
            vec![Release {
                handle: counter,
                count,
            }],
        )
        .await;
        assert_eq!(
            kind(&response),
            Some(ErrorKind::OverRelease),
            "release of {count}: {response:?}"
        );
        let (id, op) = get_value(3);
        assert_eq!(
            raw.call(id, op).await.expect("answered"),
            Ok(Reply::Value(Value::Int(5))),
            "the object works after a refused release of {count}"
        );
    }

    // The refused releases took nothing: exactly one reference is left to release.
    let response = release(
        &mut raw,
        4,
        vec![Release {
            handle: counter,
            count: 1,
        }],
    )
    .await;
    assert_eq!(response, Ok(Reply::Done));
    let (id, op) = get_value(5);
    let gone = raw.call(id, op).await.expect("answered");
    assert_eq!(kind(&gone), Some(ErrorKind::NoSuchHandle), "{gone:?}");
    // Releasing it again is an unknown id now.
    let again = release(
        &mut raw,
        6,
        vec![Release {
            handle: counter,
            count: 1,
        }],
    )
    .await;
    assert_eq!(kind(&again), Some(ErrorKind::NoSuchHandle), "{again:?}");
    assert_eq!(raw.call(7, Op::Ping).await.expect("ping"), Ok(Reply::Done));
}
