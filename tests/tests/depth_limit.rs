//! The value nesting limit (RELIABILITY.md case 11): a SET or RUN argument nested past the
//! server's depth limit is answered `TooDeep` instead of overflowing the stack, at exactly the
//! documented limit (a value of depth `DEFAULT_MAX_VALUE_DEPTH` round-trips, one level more is
//! refused), even 100,000 levels deep; the process lives and the same connection keeps working.

use std::time::Duration;

use rpc_client::{CallError, Client, ErrorKind};
use rpc_core::limits::DEFAULT_MAX_VALUE_DEPTH;
use rpc_core::{Args, HandleId, Op, Reply, Request, Value};
use rpc_tests::{RawClient, start_default};

/// A value of nesting depth `depth` as `Value::depth` counts it (a scalar is 1, `[0]` is 2),
/// built iteratively.
fn nested(depth: usize) -> Value {
    (1..depth).fold(Value::Int(0), |v, _| Value::List(vec![v]))
}

fn remote_kind<T: std::fmt::Debug>(result: Result<T, CallError>, what: &str) -> ErrorKind {
    match result {
        Ok(v) => panic!("{what}: expected a remote error, got {v:?}"),
        Err(e) => e
            .kind()
            .unwrap_or_else(|| panic!("{what}: expected a remote error, got {e}")),
    }
}

#[tokio::test]
async fn too_deep_arguments_are_refused_and_the_connection_survives() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    assert_eq!(
        client.server_info().max_value_depth as usize,
        DEFAULT_MAX_VALUE_DEPTH
    );
    let counter = client.open("counter", (5,)).await.expect("open counter");
    let dict = client.open("dict", ()).await.expect("open dict");

    let kind = remote_kind(counter.set("note", nested(100)).await, "SET note");
    assert_eq!(kind, ErrorKind::TooDeep);
    assert_eq!(
        counter
            .call_as::<i64>("add", (1,))
            .await
            .expect("add after"),
        6
    );

    let kind = remote_kind(dict.call("set_item", (1, nested(100))).await, "set_item");
    assert_eq!(kind, ErrorKind::TooDeep);
    assert_eq!(dict.call_as::<i64>("len", ()).await.expect("len"), 0);
    dict.call("set_item", (1, "fine"))
        .await
        .expect("set_item after");
    assert_eq!(
        dict.call_as::<String>("get_item", (1,)).await.expect("get"),
        "fine"
    );
}

#[tokio::test]
async fn the_limit_is_exact_at_the_documented_depth() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let dict = client.open("dict", ()).await.expect("open dict");
    let limit = DEFAULT_MAX_VALUE_DEPTH;

    for depth in [limit - 1, limit] {
        let value = nested(depth);
        assert_eq!(value.depth(), depth);
        let key = depth as i64;
        dict.call("set_item", (key, value.clone()))
            .await
            .unwrap_or_else(|e| panic!("depth {depth} is within the limit: {e}"));
        let back = dict
            .call("get_item", (key,))
            .await
            .unwrap_or_else(|e| panic!("reading back depth {depth}: {e}"))
            .into_value()
            .expect("a value");
        assert_eq!(back, value, "depth {depth} round-trips");
    }

    let kind = remote_kind(
        dict.call("set_item", (0, nested(limit + 1))).await,
        "set_item at limit + 1",
    );
    assert_eq!(kind, ErrorKind::TooDeep, "depth {} is refused", limit + 1);
    assert!(
        !dict
            .call_as::<bool>("contains", (0,))
            .await
            .expect("contains"),
        "nothing was stored"
    );
    assert_eq!(dict.call_as::<i64>("len", ()).await.expect("len"), 2);
}

/// Encodes request `id` carrying `op` built around a value nested `depth` deep.
///
/// On a thread with a large stack: encoding is iterative, but `Value` has no iterative `Drop`,
/// so dropping a value ~15,000 deep overflows a default 2 MiB test-thread stack;
/// `encode_request` consumes, and so drops, the request.
fn encode_deep(id: u64, depth: usize, op: fn(Value) -> Op) -> Vec<u8> {
    std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(move || {
            let request = Request {
                chain: 0,
                releases: vec![],
                op: op(nested(depth)),
            };
            RawClient::encode_request(id, request, Duration::from_secs(10))
        })
        .expect("spawn encoder thread")
        .join()
        .expect("encoding does not panic")
}

#[tokio::test]
async fn a_value_nested_100_000_deep_is_too_deep_not_a_crash() {
    const DEPTH: usize = 100_000;
    const COUNTER: HandleId = HandleId(1);
    let server = start_default().await;
    let mut raw = RawClient::connect(server.local_addr())
        .await
        .expect("connect");
    raw.hello().await.expect("hello");
    let counter = raw
        .open(1, "counter", Args::positional(vec![Value::Int(5)]))
        .await;
    assert_eq!(counter.id, COUNTER, "first handle of the session");

    let set = encode_deep(2, DEPTH, |value| Op::Set {
        handle: COUNTER,
        name: "note".into(),
        value,
    });
    let run = encode_deep(3, DEPTH, |value| Op::Run {
        handle: COUNTER,
        name: Some("add".into()),
        args: Args::positional(vec![value]),
    });
    for (id, bytes) in [(2, set), (3, run)] {
        raw.send_frame(&bytes).await.expect("send deep request");
        let (answered, response) = raw
            .recv()
            .await
            .expect("read the answer")
            .expect("the server answers, not closes");
        assert_eq!(answered, id);
        assert_eq!(
            response.as_ref().err().map(|e| e.kind),
            Some(ErrorKind::TooDeep),
            "request {id}: {response:?}"
        );
        // The same connection keeps working.
        assert_eq!(
            raw.call(10 + id, Op::Ping).await.expect("ping"),
            Ok(Reply::Done)
        );
    }
    // Nothing was applied to the counter.
    let value = raw
        .call(
            20,
            Op::Get {
                handle: COUNTER,
                name: "value".into(),
            },
        )
        .await
        .expect("get answered");
    assert_eq!(value, Ok(Reply::Value(Value::Int(5))));

    // The process is alive and serves others.
    let control = Client::connect(server.local_addr())
        .await
        .expect("control connects");
    let stats = control.stats().await.expect("control stats");
    assert_eq!(stats.panics_total, 0, "{stats:?}");
}
