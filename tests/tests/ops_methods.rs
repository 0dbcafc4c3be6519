//! RUN: methods called by name in one round trip, with positional and named arguments, sync,
//! async and blocking, returning data or objects, taking proxies as arguments.

use rpc_client::{Args, CallError, Client, ErrorKind, Value};
use rpc_tests::start_default;

fn kind<T: std::fmt::Debug>(r: Result<T, CallError>) -> Option<ErrorKind> {
    r.expect_err("the call must fail").kind()
}

#[tokio::test]
async fn positional_named_and_omitted_arguments() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", (0,)).await.expect("open");
    assert_eq!(counter.call_as::<i64>("add", (5,)).await.expect("add"), 5);
    assert_eq!(
        counter.call_as::<i64>("add", 5).await.expect("single arg"),
        10
    );
    let named = Args {
        positional: vec![],
        named: vec![("n".into(), Value::Int(2)), ("times".into(), Value::Int(3))],
    };
    assert_eq!(
        counter
            .call_with("add_many", named)
            .await
            .expect("named")
            .typed::<i64>()
            .expect("int"),
        16
    );
    // `times: Option<u32>` may be left out.
    assert_eq!(
        counter
            .call_as::<i64>("add_many", (1,))
            .await
            .expect("omitted"),
        17
    );
    assert_eq!(
        counter
            .call_as::<u64>("changes_never_called", ())
            .await
            .err()
            .and_then(|e| e.kind()),
        Some(ErrorKind::NoSuchMember)
    );
}

#[tokio::test]
async fn bad_arguments_are_refused_before_any_work() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", (0,)).await.expect("open");
    assert_eq!(
        kind(counter.call("add", ()).await),
        Some(ErrorKind::BadArguments)
    );
    assert_eq!(
        kind(counter.call("add", (1, 2)).await),
        Some(ErrorKind::BadArguments)
    );
    assert_eq!(
        kind(counter.call("add", ("one",)).await),
        Some(ErrorKind::BadArguments)
    );
    let unknown = Args {
        positional: vec![Value::Int(1)],
        named: vec![("m".into(), Value::Int(1))],
    };
    assert_eq!(
        kind(counter.call_with("add", unknown).await),
        Some(ErrorKind::BadArguments)
    );
    let twice = Args {
        positional: vec![Value::Int(1)],
        named: vec![("n".into(), Value::Int(1))],
    };
    assert_eq!(
        kind(counter.call_with("add", twice).await),
        Some(ErrorKind::BadArguments)
    );
    assert_eq!(
        kind(counter.call("value", ()).await),
        Some(ErrorKind::NoSuchMember)
    );
    assert_eq!(
        kind(counter.call("nope", ()).await),
        Some(ErrorKind::NoSuchMember)
    );
    assert_eq!(
        counter.get_as::<u64>("changes").await.expect("get"),
        0,
        "nothing ran"
    );
}

#[tokio::test]
async fn async_and_blocking_methods() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", (9,)).await.expect("open");
    assert_eq!(
        counter
            .call_as::<i64>("slow_value", (5,))
            .await
            .expect("async"),
        9
    );
    assert_eq!(
        counter
            .call_as::<u64>("crunch", (101,))
            .await
            .expect("blocking"),
        5050
    );
}

#[tokio::test]
async fn calls_on_one_connection_run_concurrently() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let a = client.open("counter", (1,)).await.expect("open");
    let b = client.open("counter", (2,)).await.expect("open");
    // Both are in flight at once on one connection: the replies come back in any order.
    let (x, y) = tokio::join!(
        a.call_as::<i64>("slow_value", (50,)),
        b.call_as::<i64>("slow_value", (50,))
    );
    assert_eq!((x.expect("a"), y.expect("b")), (1, 2));
}

#[tokio::test]
async fn methods_return_objects_as_proxies() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", ()).await.expect("open");
    let child = counter
        .call("child", ("a",))
        .await
        .expect("child")
        .into_proxy()
        .expect("object");
    assert_eq!(child.type_name(), "Counter");
    assert!(!child.doc().is_empty());
    assert_eq!(
        child.call_as::<i64>("add", (4,)).await.expect("child add"),
        4
    );
    let same = counter
        .call("child", ("a",))
        .await
        .expect("child")
        .into_proxy()
        .expect("object");
    assert_eq!(same.id(), child.id(), "the same object is the same handle");
    assert_eq!(same.get_as::<i64>("value").await.expect("get"), 4);
    let other = counter
        .call("child", ("b",))
        .await
        .expect("child")
        .into_proxy()
        .expect("object");
    assert_ne!(other.id(), child.id());
}

#[tokio::test]
async fn proxies_passed_as_arguments_arrive_as_the_real_object() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", (1,)).await.expect("open");
    let other = client.open("counter", (41,)).await.expect("open");
    assert_eq!(
        counter
            .call_as::<i64>("absorb", (&other,))
            .await
            .expect("absorb"),
        42
    );
    let dict = client.open("dict", ()).await.expect("open");
    assert_eq!(
        kind(counter.call("absorb", (&dict,)).await),
        Some(ErrorKind::BadArguments)
    );
    assert_eq!(
        kind(counter.call("absorb", (5,)).await),
        Some(ErrorKind::BadArguments)
    );
}

#[tokio::test]
async fn data_results_keep_their_shape() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", (7,)).await.expect("open");
    let summary = counter.call("summary", ()).await.expect("summary");
    assert_eq!(summary.to_string(), "[('value', 7), ('changes', 0)]");
    let typed: Vec<(String, i64)> = summary.typed().expect("typed");
    assert_eq!(
        typed,
        vec![("value".to_owned(), 7), ("changes".to_owned(), 0)]
    );
}

#[tokio::test]
async fn calls_on_their_own_tasks_when_configured() {
    let mut config = rpc_server::ServerConfig::default();
    config.spawn_per_call = true;
    let server = rpc_tests::start_demo(rpc_server::Allowlist::loopback(), config).await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let a = client.open("counter", (1,)).await.expect("open");
    let b = client.open("counter", (2,)).await.expect("open");
    let (x, y) = tokio::join!(
        a.call_as::<i64>("slow_value", (50,)),
        b.call_as::<i64>("add", (3,))
    );
    assert_eq!((x.expect("a"), y.expect("b")), (1, 5));
    let err = a.call("explode", ()).await.expect_err("panics");
    assert_eq!(err.kind(), Some(ErrorKind::Panicked));
    assert_eq!(a.call_as::<i64>("add", (1,)).await.expect("still works"), 2);
}
