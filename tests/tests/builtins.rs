//! The built-in remote `Dict` and `List`, including the seed's own demo session
//! (`client3.py`): `C[1] = 2`, `dir(C)`, `C._all()`, `C.items()`, `C[1]`.

use rpc_client::{Args, Client, ErrorKind, Value};
use rpc_tests::start_default;

#[tokio::test]
async fn the_seed_demo_session() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let c = client.open("dict", ()).await.expect("open");
    c.call("set_item", (1, 2)).await.expect("C[1] = 2");
    assert_eq!(c.all().await.expect("C._all()").to_string(), "{1: 2}");
    assert_eq!(
        c.call("items", ()).await.expect("C.items()").to_string(),
        "[(1, 2)]"
    );
    assert_eq!(
        c.call("get_item", (1,)).await.expect("C[1]").to_string(),
        "2"
    );
    let calls = client.stats().await.expect("stats").calls_total;
    // hello, open, set_item, all, items, get_item: one request per operation.
    assert_eq!(calls, 6);
}

#[tokio::test]
async fn dict_operations() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let initial = Args {
        positional: vec![Value::List(vec![Value::Tuple(vec![
            Value::Str("a".into()),
            Value::Int(1),
        ])])],
        named: vec![("b".into(), Value::Int(2))],
    };
    let d = client.open_with("dict", initial).await.expect("open");
    assert_eq!(d.all().await.expect("all").to_string(), "{'a': 1, 'b': 2}");
    assert_eq!(d.call_as::<i64>("len", ()).await.expect("len"), 2);
    assert!(
        d.call_as::<bool>("contains", ("a",))
            .await
            .expect("contains")
    );
    assert_eq!(
        d.call("get", ("zz", 9)).await.expect("get").to_string(),
        "9"
    );
    d.call("set_item", ((1, 2), vec![3]))
        .await
        .expect("tuple key");
    assert_eq!(
        d.call("get_item", ((1, 2),))
            .await
            .expect("tuple key")
            .to_string(),
        "[3]"
    );
    d.call("del_item", ("a",)).await.expect("del");
    let missing = d.call("get_item", ("a",)).await.expect_err("gone");
    let remote = missing.remote().expect("remote");
    assert_eq!(remote.kind, ErrorKind::Raised);
    assert!(
        remote.type_name.ends_with("KeyError"),
        "{}",
        remote.type_name
    );
    let float_key = d.call("set_item", (1.5, 1)).await.expect_err("float key");
    assert_eq!(float_key.kind(), Some(ErrorKind::WrongType));
    assert_eq!(d.call("pop", ("b",)).await.expect("pop").to_string(), "2");
    assert_eq!(
        d.call("keys", ()).await.expect("keys").to_string(),
        "[(1, 2)]"
    );
    let copy = d
        .call("copy", ())
        .await
        .expect("copy")
        .into_proxy()
        .expect("a new Dict");
    d.call("clear", ()).await.expect("clear");
    assert_eq!(d.all().await.expect("all").to_string(), "{}");
    assert_eq!(copy.all().await.expect("all").to_string(), "{(1, 2): [3]}");
}

#[tokio::test]
async fn list_operations() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let l = client.open("list", (vec![1, 2, 3],)).await.expect("open");
    l.call("append", ("x",)).await.expect("append");
    l.call("insert", (0, 0)).await.expect("insert");
    assert_eq!(l.all().await.expect("all").to_string(), "[0, 1, 2, 3, 'x']");
    assert_eq!(
        l.call("get_item", (-1,))
            .await
            .expect("negative index")
            .to_string(),
        "'x'"
    );
    assert_eq!(l.call("pop", ()).await.expect("pop").to_string(), "'x'");
    l.call("set_item", (1, "one")).await.expect("set");
    assert_eq!(l.call_as::<i64>("index", ("one",)).await.expect("index"), 1);
    let out_of_range = l.call("get_item", (10,)).await.expect_err("out of range");
    assert_eq!(out_of_range.kind(), Some(ErrorKind::Raised));
    l.call("reverse", ()).await.expect("reverse");
    assert_eq!(l.all().await.expect("all").to_string(), "[3, 2, 'one', 0]");
    assert_eq!(l.call_as::<i64>("len", ()).await.expect("len"), 4);
}

/// The built-ins are `#[remote]` types like any other: DIR lists their methods with types,
/// and their constructors check what they are given.
#[tokio::test]
async fn builtins_list_typed_members_and_check_their_constructors() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let d = client.open("dict", ()).await.expect("open");
    let members = d.dir().await.expect("dir");
    let signature = |name: &str| rpc_tests::signature_of(&members, name);
    assert_eq!(
        signature("get"),
        "get(key: Value, default: Option<Value>) -> Value"
    );
    assert_eq!(signature("items"), "items() -> Vec<(Value, Value)>");
    assert_eq!(signature("copy"), "copy() -> Remote<Dict>");
    assert_eq!(signature("len"), "len() -> usize");
    assert!(
        members.iter().all(|m| !m.doc.is_empty()),
        "every built-in method has its doc"
    );
    // A named argument works as with any #[remote] method.
    let named = Args {
        positional: vec![Value::Str("zz".into())],
        named: vec![("default".into(), Value::Int(7))],
    };
    assert_eq!(
        d.call_with("get", named).await.expect("get").to_string(),
        "7"
    );
    let too_many = client
        .open("dict", (1, 2))
        .await
        .expect_err("two positional arguments");
    assert_eq!(too_many.kind(), Some(ErrorKind::BadArguments));
    let l = client.open("list", ()).await.expect("an empty list");
    assert_eq!(l.call_as::<usize>("len", ()).await.expect("len"), 0);
    let list_dir = l.dir().await.expect("dir");
    assert!(
        list_dir
            .iter()
            .any(|m| m.signature() == "pop(index: Option<i64>) -> Value"),
        "{list_dir:?}"
    );
}
