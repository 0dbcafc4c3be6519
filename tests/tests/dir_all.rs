//! DIR lists the public members with kind, signature and doc; ALL copies the public data in
//! one round trip, without private fields.

use rpc_client::{Client, ErrorKind, MemberKind, Param, Value};
use rpc_tests::start_default;

#[tokio::test]
async fn dir_lists_public_fields_and_methods_with_docs() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", ()).await.expect("open");
    let members = counter.dir().await.expect("dir");
    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "value",
            "note",
            "changes",
            "add",
            "add_many",
            "slow_value",
            "child",
            "absorb",
            "checked_div",
            "add_parsed",
            "explode",
            "crunch",
            "countdown",
            "summary",
            "count_to"
        ]
    );
    let value = &members[0];
    assert_eq!(value.kind, MemberKind::Field);
    assert_eq!(value.signature(), "value: i64");
    assert_eq!((value.ty.as_str(), value.params.len()), ("i64", 0));
    assert_eq!(value.doc, "The current value.");
    let add = members.iter().find(|m| m.name == "add").expect("add");
    assert_eq!(add.kind, MemberKind::Method);
    assert_eq!(add.signature(), "add(n: i64) -> i64");
    assert_eq!(add.ty, "i64");
    assert_eq!(
        add.params,
        [Param {
            name: "n".into(),
            ty: "i64".into()
        }]
    );
    assert_eq!(add.doc, "Adds `n` and returns the new value.");
    // Types are written as they travel: a Result is its Ok type, an iterator a stream, a
    // callback parameter a Proxy, an object a Remote, an Option field deletable data.
    let signature = |name: &str| rpc_tests::signature_of(&members, name);
    assert_eq!(signature("checked_div"), "checked_div(by: i64) -> i64");
    assert_eq!(signature("countdown"), "countdown() -> Stream<i64>");
    assert_eq!(
        signature("count_to"),
        "count_to(n: u64, observer: Proxy) -> u64"
    );
    assert_eq!(signature("child"), "child(name: String) -> Remote<Counter>");
    assert_eq!(signature("note"), "note: Option<String>");
    assert!(members.iter().all(|m| !m.name.starts_with('_')));
    assert!(!names.contains(&"children"), "private fields stay private");
    assert!(!names.contains(&"new"), "the constructor is not a method");
    assert!(
        !names.contains(&"with_drop_counter"),
        "plain impls are not remote"
    );
}

#[tokio::test]
async fn all_copies_public_data_only() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", (5,)).await.expect("open");
    counter.set("note", "n").await.expect("set");
    let child = counter.call("child", ("c",)).await.expect("child");
    drop(child);
    let all = counter.all().await.expect("all");
    assert_eq!(
        all,
        Value::Map(vec![
            (Value::Str("value".into()), Value::Int(5)),
            (Value::Str("note".into()), Value::Str("n".into())),
            (Value::Str("changes".into()), Value::Int(0)),
        ])
    );
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Copy {
        value: i64,
        note: Option<String>,
        changes: u64,
    }
    let typed: Copy = counter.all_as().await.expect("typed copy");
    assert_eq!(
        typed,
        Copy {
            value: 5,
            note: Some("n".into()),
            changes: 0
        }
    );
}

#[tokio::test]
async fn dir_of_builtins_and_methods() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let dict = client.open("dict", ()).await.expect("open");
    let names: Vec<String> = dict
        .dir()
        .await
        .expect("dir")
        .into_iter()
        .map(|m| m.name)
        .collect();
    for expected in [
        "items", "get_item", "set_item", "del_item", "keys", "values", "len",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    let bound = dict
        .get("items")
        .await
        .expect("get")
        .into_proxy()
        .expect("callable");
    assert!(bound.dir().await.expect("dir").is_empty());
    assert_eq!(
        bound.all().await.expect_err("no value").kind(),
        Some(ErrorKind::NotCopyable)
    );
}
