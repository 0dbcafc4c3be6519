//! Typed proxies from `#[interface]` (`counter-api`'s `CounterProxy`) against the demo server:
//! every generated accessor and method, typed child proxies, proxies as arguments, `checked()`
//! for a matching and a mismatching interface, remote errors with their full structure, and
//! one round trip per call.

use counter_api::CounterProxy;
use rpc_client::{CallError, Client, ErrorKind, TypedProxy};
use rpc_tests::start_default;

/// A wrong idea of the server's `Counter`: `checked()` must list every mismatch.
mod wrong {
    use rpc_client::interface;

    /// The demo Counter, misdeclared.
    #[interface(name = "Counter")]
    pub trait WrongCounter {
        /// Right.
        #[field]
        fn value(&self) -> i64;
        /// Read-only on the server, declared writable.
        #[field]
        fn changes(&self) -> u64;
        /// The server's `add` takes `n: i64`.
        fn add(&mut self, n: String) -> i64;
        /// The server has no `reset`.
        fn reset(&mut self);
        /// The server returns a `Remote<Counter>`.
        fn child(&mut self, name: &str) -> i64;
        /// Right: `Result<i64, CounterError>` on the server matches `i64`.
        fn checked_div(&mut self, by: i64) -> i64;
    }
}

/// Runs `$call` and returns (its result, the calls the server answered for it), measured with
/// two STATS calls around it and corrected for the STATS calls themselves.
macro_rules! counted {
    ($client:expr, $call:expr) => {{
        let client: &Client = $client;
        let first = client.stats().await.expect("stats").calls_total;
        let second = client.stats().await.expect("stats").calls_total;
        let per_stats = second - first;
        let result = $call;
        let after = client.stats().await.expect("stats").calls_total;
        (result, after - second - per_stats)
    }};
}

async fn connect() -> (rpc_server::RunningServer, Client) {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    (server, client)
}

#[tokio::test]
async fn fields_read_write_and_delete() {
    let (_server, client) = connect().await;
    let counter = CounterProxy::open(&client, "counter", (40,))
        .await
        .expect("open");
    assert_eq!(counter.value().await.expect("value"), 40);
    counter.set_value(7).await.expect("set value");
    assert_eq!(counter.value().await.expect("value"), 7);

    assert_eq!(counter.note().await.expect("note"), None);
    counter
        .set_note(Some("hello".to_owned()))
        .await
        .expect("set note");
    assert_eq!(
        counter.note().await.expect("note").as_deref(),
        Some("hello")
    );
    counter.del_note().await.expect("del note");
    assert_eq!(counter.note().await.expect("note"), None);

    assert_eq!(counter.changes().await.expect("changes"), 0);
    counter.add(1).await.expect("add");
    assert_eq!(counter.changes().await.expect("changes"), 1);
    // The read-only field is still read-only on the server, through the dynamic proxy.
    let refused = counter.proxy().set("changes", 5).await;
    assert_eq!(
        refused.expect_err("read-only").kind(),
        Some(ErrorKind::ReadOnly)
    );
}

#[tokio::test]
async fn methods_take_and_return_typed_values() {
    let (_server, client) = connect().await;
    let counter = CounterProxy::open(&client, "counter", (40,))
        .await
        .expect("open");
    assert_eq!(counter.add(2).await.expect("add"), 42);
    assert_eq!(counter.add_many(1, Some(3)).await.expect("add_many"), 45);
    assert_eq!(counter.add_many(1, None).await.expect("add_many"), 46);
    assert_eq!(counter.slow_value(5).await.expect("slow_value"), 46);
    assert_eq!(counter.checked_div(2).await.expect("checked_div"), 23);
    assert_eq!(counter.add_parsed("-3").await.expect("add_parsed"), 20);
    assert_eq!(counter.crunch(4).await.expect("crunch"), 6);
    assert_eq!(
        counter.summary().await.expect("summary"),
        [("value".to_owned(), 20), ("changes".to_owned(), 7)]
    );
    // The dynamic proxy stays available and sees the same object.
    assert_eq!(
        counter
            .proxy()
            .call_as::<i64>("add", (1,))
            .await
            .expect("dynamic add"),
        21
    );
    assert_eq!(counter.proxy().type_name(), CounterProxy::TYPE_NAME);
    assert_eq!(<CounterProxy as TypedProxy>::INTERFACE, "Counter");
}

#[tokio::test]
async fn child_objects_come_back_as_typed_proxies_and_pass_as_handles() {
    let (_server, client) = connect().await;
    let counter = CounterProxy::open(&client, "counter", (1,))
        .await
        .expect("open");
    let child: CounterProxy = counter.child("a").await.expect("child");
    assert_eq!(child.proxy().type_name(), "Counter");
    assert_eq!(child.value().await.expect("child value"), 0);
    assert_eq!(child.add(10).await.expect("child add"), 10);
    // Asked twice, the same object (the same handle).
    let again = counter.child("a").await.expect("child again");
    assert_eq!(again.proxy().id(), child.proxy().id());
    assert_eq!(again.value().await.expect("same object"), 10);
    // A grandchild is typed too.
    let grandchild = child.child("b").await.expect("grandchild");
    assert_eq!(grandchild.add(5).await.expect("grandchild add"), 5);

    // A typed proxy passed as an argument is the real object on the server.
    assert_eq!(counter.absorb(&child).await.expect("absorb"), 11);
    assert_eq!(counter.absorb(&grandchild).await.expect("absorb"), 16);
    assert_eq!(child.value().await.expect("unchanged"), 10);

    // Another session's proxy cannot be passed: refused locally, nothing sent.
    let other_client = Client::connect(client.peer_addr()).await.expect("connect");
    let foreign = CounterProxy::open(&other_client, "counter", (100,))
        .await
        .expect("open");
    let refused = counter.absorb(&foreign).await.expect_err("another session");
    assert!(matches!(refused, CallError::Value(_)), "{refused}");
    assert_eq!(counter.value().await.expect("value"), 16);
}

#[tokio::test]
async fn checked_passes_for_the_real_counter() {
    let (_server, client) = connect().await;
    let (counter, trips) = counted!(&client, {
        CounterProxy::open(&client, "counter", (40,))
            .await
            .expect("open")
            .checked()
            .await
            .expect("the declaration matches the server")
    });
    assert_eq!(trips, 2, "OPEN and one DIR");
    assert_eq!(counter.add(2).await.expect("add"), 42);
    // The declaration covers every member the server lists.
    let members = counter.proxy().dir().await.expect("dir");
    let declared: Vec<_> = <CounterProxy as TypedProxy>::members()
        .into_iter()
        .map(|m| m.name)
        .collect();
    for member in &members {
        assert!(
            declared.contains(&member.name.as_str()),
            "counter-api does not declare `{}`",
            member.signature()
        );
    }
    assert_eq!(declared.len(), members.len());
}

#[tokio::test]
async fn checked_lists_every_mismatch() {
    let (_server, client) = connect().await;
    let wrong = wrong::WrongCounterProxy::open(&client, "counter", (3,))
        .await
        .expect("the type name matches, so open succeeds");
    let err = wrong.clone().checked().await.expect_err("mismatches");
    let CallError::Unexpected(text) = &err else {
        panic!("expected Unexpected, got {err}");
    };
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "the server's Counter does not match the interface `WrongCounter` (4 mismatches):",
            "  - `changes`: declared as a writable field `changes: u64`, the server's is \
             read-only; declare it #[field(readonly)]",
            "  - `add`: declared as `add(n: String) -> i64`, the server has `add(n: i64) -> i64`",
            "  - `reset`: declared as the method `reset()`, the server has no such member",
            "  - `child`: declared as `child(name: String) -> i64`, the server has \
             `child(name: String) -> Remote<Counter>`",
        ]
    );
    // Unchecked, the mismatches fail at call time, as remote or conversion errors.
    assert_eq!(wrong.value().await.expect("value"), 3);
    assert_eq!(
        wrong.reset().await.expect_err("no reset").kind(),
        Some(ErrorKind::NoSuchMember)
    );
    assert_eq!(
        wrong
            .add("1".to_owned())
            .await
            .expect_err("wrong type")
            .kind(),
        Some(ErrorKind::BadArguments)
    );
    assert!(matches!(
        wrong.child("a").await.expect_err("an object, not i64"),
        CallError::Unexpected(_)
    ));
}

#[tokio::test]
async fn a_proxy_of_another_type_is_refused() {
    let (_server, client) = connect().await;
    let err = CounterProxy::open(&client, "dict", ())
        .await
        .expect_err("a Dict is not a Counter");
    let CallError::Unexpected(text) = &err else {
        panic!("expected Unexpected, got {err}");
    };
    assert!(
        text.contains("expects a remote Counter object, got a Dict"),
        "{text}"
    );
    let dict = client.open("dict", ()).await.expect("open dict");
    assert!(CounterProxy::from_proxy(dict).is_err());
    let counter = client.open("counter", ()).await.expect("open counter");
    let typed = CounterProxy::from_proxy(counter).expect("a Counter");
    assert_eq!(typed.value().await.expect("value"), 0);
    assert_eq!(typed.into_proxy().type_name(), "Counter");
}

#[tokio::test]
async fn remote_errors_keep_their_structure() {
    let (_server, client) = connect().await;
    let counter = CounterProxy::open(&client, "counter", (7,))
        .await
        .expect("open");

    let err = counter.checked_div(0).await.expect_err("divide by zero");
    let remote = err.remote().expect("a remote error");
    assert_eq!(remote.kind, ErrorKind::Raised);
    assert!(
        remote.type_name.ends_with("CounterError"),
        "{}",
        remote.type_name
    );
    assert_eq!(remote.message, "cannot divide 7 by zero");
    assert_eq!(remote.object.as_deref(), Some("Counter"));
    assert_eq!(remote.member.as_deref(), Some("checked_div"));
    assert_eq!(remote.session, Some(client.server_info().session));
    assert!(
        remote.stack.contains("examples/src/counter.rs"),
        "{}",
        remote.stack
    );
    let text = err.to_string();
    assert!(
        text.contains("--- remote stack (server ") && text.contains("Counter.checked_div) ---"),
        "{text}"
    );

    let err = counter.add_parsed("seven").await.expect_err("bad step");
    let remote = err.remote().expect("a remote error");
    assert_eq!(remote.message, "could not parse the step");
    assert_eq!(remote.chain, ["invalid digit found in string"]);

    let err = counter.explode().await.expect_err("panics");
    let remote = err.remote().expect("a remote error");
    assert_eq!(remote.kind, ErrorKind::Panicked);
    assert_eq!(remote.message, "counter exploded at value 7");
    assert!(
        remote
            .stack
            .starts_with("panicked at examples/src/counter.rs:"),
        "{}",
        remote.stack
    );
    // The session keeps working.
    assert_eq!(counter.add(1).await.expect("add"), 8);
}

#[tokio::test]
async fn every_call_is_one_round_trip() {
    let (_server, client) = connect().await;
    let counter = CounterProxy::open(&client, "counter", (1,))
        .await
        .expect("open");
    let child = counter.child("c").await.expect("child");

    let (value, trips) = counted!(&client, counter.value().await.expect("value"));
    assert_eq!((value, trips), (1, 1), "GET");
    let ((), trips) = counted!(&client, counter.set_value(5).await.expect("set"));
    assert_eq!(trips, 1, "SET");
    let ((), trips) = counted!(&client, counter.del_note().await.expect("del"));
    assert_eq!(trips, 1, "DEL");
    let (sum, trips) = counted!(&client, counter.add(2).await.expect("add"));
    assert_eq!((sum, trips), (7, 1), "RUN");
    let (again, trips) = counted!(&client, counter.child("c").await.expect("child"));
    assert_eq!(again.proxy().id(), child.proxy().id());
    assert_eq!(trips, 1, "RUN returning a typed proxy");
    let (sum, trips) = counted!(&client, counter.absorb(&child).await.expect("absorb"));
    assert_eq!((sum, trips), (7, 1), "RUN with a proxy argument");
    let (err, trips) = counted!(&client, counter.checked_div(0).await.expect_err("raises"));
    assert_eq!(
        (err.kind(), trips),
        (Some(ErrorKind::Raised), 1),
        "a remote error"
    );
    let (checked, trips) = counted!(&client, counter.clone().checked().await.expect("checked"));
    assert_eq!(trips, 1, "checked() is one DIR");
    drop(checked);
}

#[tokio::test]
async fn a_stream_result_is_a_typed_stream() {
    use futures::StreamExt;
    let (server, client) = connect().await;
    let counter = CounterProxy::open(&client, "counter", (3,))
        .await
        .expect("open")
        .checked()
        .await
        .expect("the declaration, countdown included, matches the server");
    let values: Vec<i64> = counter
        .countdown()
        .await
        .expect("a stream")
        .map(|v| v.expect("an i64"))
        .collect()
        .await;
    assert_eq!(values, [3, 2, 1, 0]);
    drop((counter, client));
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_callback_parameter_is_declared_as_a_callback() {
    use std::sync::{Arc, Mutex};
    let (server, client) = connect().await;
    let counter = CounterProxy::open(&client, "counter", (0,))
        .await
        .expect("open")
        .checked()
        .await
        .expect("the declaration, count_to(n, observer: &Callback) included, matches the server");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let observer = rpc_client::Callback::new({
        let seen = Arc::clone(&seen);
        move |(i, n): (u64, u64)| {
            // Invariant: the lock is only taken here and after the call, never poisoned.
            seen.lock().expect("not poisoned").push((i, n));
        }
    });
    assert_eq!(counter.count_to(3, &observer).await.expect("count_to"), 3);
    assert_eq!(
        *seen.lock().expect("not poisoned"),
        [(1, 3), (2, 3), (3, 3)]
    );
    drop((counter, observer, client));
    server.shutdown().await.expect("shutdown");
}
