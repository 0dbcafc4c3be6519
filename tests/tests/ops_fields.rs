//! GET, SET and DEL on the fields of a `#[remote]` object, compared with the seed: data comes
//! back by value, SET is type-checked, only `Option` fields can be deleted, methods are
//! neither settable nor deletable.

use rpc_client::{Client, ErrorKind, Value};
use rpc_tests::start_default;

#[tokio::test]
async fn get_set_and_del_fields() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", (3,)).await.expect("open");

    assert_eq!(counter.get_as::<i64>("value").await.expect("get"), 3);
    counter.set("value", 10).await.expect("set");
    assert_eq!(counter.get_as::<i64>("value").await.expect("get"), 10);

    assert_eq!(
        counter
            .get("note")
            .await
            .expect("get")
            .into_value()
            .expect("data"),
        Value::None
    );
    counter.set("note", "hi").await.expect("set option");
    assert_eq!(
        counter.get_as::<Option<String>>("note").await.expect("get"),
        Some("hi".to_owned())
    );
    counter.del("note").await.expect("del option");
    assert_eq!(
        counter.get_as::<Option<String>>("note").await.expect("get"),
        None
    );
}

#[tokio::test]
async fn set_is_type_checked_and_changes_nothing_on_error() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", (3,)).await.expect("open");
    for bad in [
        Value::Str("ten".into()),
        Value::Float(1.5),
        Value::List(vec![]),
    ] {
        let err = counter.set("value", &bad).await.expect_err("wrong type");
        assert_eq!(err.kind(), Some(ErrorKind::WrongType), "{bad}");
    }
    let err = counter.set("note", 5).await.expect_err("wrong type");
    assert_eq!(err.kind(), Some(ErrorKind::WrongType));
    assert_eq!(counter.get_as::<i64>("value").await.expect("get"), 3);
}

#[tokio::test]
async fn read_only_and_non_option_fields_refuse() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", ()).await.expect("open");
    let kind = |r: Result<(), rpc_client::CallError>| r.err().and_then(|e| e.kind());
    assert_eq!(
        kind(counter.set("changes", 5).await),
        Some(ErrorKind::ReadOnly)
    );
    assert_eq!(kind(counter.del("value").await), Some(ErrorKind::ReadOnly));
    assert_eq!(
        kind(counter.del("changes").await),
        Some(ErrorKind::ReadOnly)
    );
    assert_eq!(kind(counter.set("add", 1).await), Some(ErrorKind::ReadOnly));
    assert_eq!(kind(counter.del("add").await), Some(ErrorKind::ReadOnly));
    assert_eq!(counter.get_as::<u64>("changes").await.expect("readable"), 0);
}

#[tokio::test]
async fn unknown_and_private_fields_are_not_members() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", ()).await.expect("open");
    let get = counter.get("nope").await.expect_err("no such field");
    assert_eq!(get.kind(), Some(ErrorKind::NoSuchMember));
    let set = counter.set("nope", 1).await.expect_err("no such field");
    assert_eq!(set.kind(), Some(ErrorKind::NoSuchMember));
    // `children` is a private field of Counter: invisible, as if it did not exist.
    let private = counter.get("children").await.expect_err("private field");
    assert_eq!(private.kind(), Some(ErrorKind::NoSuchMember));
}

#[tokio::test]
async fn get_of_a_method_is_a_callable_handle() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", (1,)).await.expect("open");
    let add = counter
        .get("add")
        .await
        .expect("get")
        .into_proxy()
        .expect("a handle");
    assert_eq!(add.type_name(), "method");
    assert_eq!(add.invoke_as::<i64>((2,)).await.expect("invoke"), 3);
    assert_eq!(add.invoke_as::<i64>((4,)).await.expect("invoke"), 7);
    let not_callable = counter
        .invoke(())
        .await
        .expect_err("a Counter is not callable");
    assert_eq!(not_callable.kind(), Some(ErrorKind::NoSuchMember));
    let no_copy = add.all().await.expect_err("a bound method has no value");
    assert_eq!(no_copy.kind(), Some(ErrorKind::NotCopyable));
}
