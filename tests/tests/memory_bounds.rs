//! Memory a connection holds in large values is bounded (`max_pending_bytes`): a peer that
//! pipelines large replies and does not read them, or sends arguments that expand in memory,
//! is answered `Overloaded` instead of growing the server, and the connection keeps working.

use std::time::Duration;

use rpc_core::{Args, ErrorKind, Op, Reply, Value};
use rpc_server::{Allowlist, ServerConfig};
use rpc_tests::{RawClient, start_demo};

fn pending_limit(bytes: usize) -> ServerConfig {
    let mut config = ServerConfig::default();
    config.max_pending_bytes = bytes;
    config
}

async fn greeted(server: &rpc_server::RunningServer) -> RawClient {
    let mut raw = RawClient::connect(server.local_addr())
        .await
        .expect("connect");
    raw.hello().await.expect("hello");
    raw
}

#[tokio::test]
async fn unread_large_replies_are_bounded_and_the_rest_answered_overloaded() {
    let server = start_demo(Allowlist::loopback(), pending_limit(4 << 20)).await;
    let mut raw = greeted(&server).await;
    // About 1 MiB of text in a dict, then 200 ALLs of it pipelined before reading anything.
    let dict = raw.open(1, "dict", Args::new()).await;
    for i in 0..8 {
        let set = Op::Run {
            handle: dict.id,
            name: Some("set_item".into()),
            args: Args::positional(vec![Value::Int(i), Value::Str("x".repeat(128 * 1024))]),
        };
        assert!(raw.call(2 + i as u64, set).await.expect("set").is_ok());
    }
    for id in 100..300 {
        raw.send(id, Op::All { handle: dict.id })
            .await
            .expect("request");
    }
    let (mut copies, mut overloaded) = (0, 0);
    for _ in 100..300 {
        let (_, response) = tokio::time::timeout(Duration::from_secs(30), raw.recv())
            .await
            .expect("every request is answered")
            .expect("read")
            .expect("the connection stays open");
        match response {
            Ok(Reply::Value(Value::Map(entries))) => {
                assert_eq!(entries.len(), 8);
                copies += 1;
            }
            Err(e) if e.kind == ErrorKind::Overloaded => {
                assert!(e.message.contains("unwritten replies"), "{}", e.message);
                overloaded += 1;
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    // What the socket buffers and the 4 MiB allowance hold got through; the rest was refused.
    assert!(copies >= 1, "{copies} copies, {overloaded} refused");
    assert!(overloaded >= 100, "{copies} copies, {overloaded} refused");
    // Once read, the allowance is back: the next ALL is answered in full.
    let again = raw
        .call(400, Op::All { handle: dict.id })
        .await
        .expect("read");
    assert!(matches!(again, Ok(Reply::Value(_))), "{again:?}");
}

#[tokio::test]
async fn arguments_that_expand_in_memory_are_refused_past_the_limit() {
    let server = start_demo(Allowlist::loopback(), pending_limit(1 << 20)).await;
    let mut raw = greeted(&server).await;
    let dict = raw.open(1, "dict", Args::new()).await;
    // 100,000 `None`s: about 200 KiB on the wire, over 3 MiB in memory.
    let expanding = Op::Run {
        handle: dict.id,
        name: Some("set_item".into()),
        args: Args::positional(vec![Value::Int(1), Value::List(vec![Value::None; 100_000])]),
    };
    let refused = raw.call(2, expanding).await.expect("answered");
    let err = refused.expect_err("over the limit");
    assert_eq!(err.kind, ErrorKind::Overloaded, "{err:?}");
    assert!(err.message.contains("a request"), "{}", err.message);
    // Under the limit it is stored; nothing was kept of the refused call.
    let fits = Op::Run {
        handle: dict.id,
        name: Some("set_item".into()),
        args: Args::positional(vec![Value::Int(1), Value::List(vec![Value::None; 10_000])]),
    };
    assert!(raw.call(3, fits).await.expect("answered").is_ok());
    let len = Op::Run {
        handle: dict.id,
        name: Some("len".into()),
        args: Args::new(),
    };
    assert_eq!(
        raw.call(4, len).await.expect("answered"),
        Ok(Reply::Value(Value::Int(1)))
    );
}
