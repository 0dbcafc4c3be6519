//! The protocol spoken byte by byte, without the client library: what any other client (or an
//! attacker) sees.

use rpc_core::{Args, ErrorKind, HandleId, Op, Reply, Value};
use rpc_tests::{RawClient, start_default};

#[tokio::test]
async fn ops_before_hello_are_refused_and_the_session_survives() {
    let server = start_default().await;
    let mut raw = RawClient::connect(server.local_addr())
        .await
        .expect("connect");
    let early = raw.call(1, Op::Ping).await.expect("answered");
    assert_eq!(early.err().map(|e| e.kind), Some(ErrorKind::Protocol));
    raw.hello().await.expect("hello after a refused op");
    assert_eq!(raw.call(2, Op::Ping).await.expect("ping"), Ok(Reply::Done));
}

#[tokio::test]
async fn wrong_protocol_version_is_a_clear_error() {
    let server = start_default().await;
    let mut raw = RawClient::connect(server.local_addr())
        .await
        .expect("connect");
    let reply = raw
        .call(
            1,
            Op::Hello {
                protocol: 999,
                client: "future".into(),
            },
        )
        .await
        .expect("answered");
    let err = reply.expect_err("refused");
    assert_eq!(err.kind, ErrorKind::VersionMismatch);
    assert!(err.message.contains("999"), "{}", err.message);
}

#[tokio::test]
async fn one_request_per_op_over_raw_frames() {
    let server = start_default().await;
    let mut raw = RawClient::connect(server.local_addr())
        .await
        .expect("connect");
    raw.hello().await.expect("hello");
    let counter = raw
        .open(1, "counter", Args::positional(vec![Value::Int(40)]))
        .await;
    assert_eq!(counter.type_name, "Counter");
    let added = raw
        .call(
            2,
            Op::Run {
                handle: counter.id,
                name: Some("add".into()),
                args: Args::positional(vec![Value::Int(2)]),
            },
        )
        .await
        .expect("run");
    assert_eq!(added, Ok(Reply::Value(Value::Int(42))));
    let unknown = raw
        .call(
            3,
            Op::Get {
                handle: HandleId(u64::MAX),
                name: "value".into(),
            },
        )
        .await
        .expect("get");
    assert_eq!(unknown.err().map(|e| e.kind), Some(ErrorKind::NoSuchHandle));
}
