//! Member-name access control (RELIABILITY.md cases 15 and 16): every op refuses private names
//! (starting with `_`) with `AccessDenied` and leaves the object unchanged, DIR never lists
//! them, and malformed names (dotted, empty, oversized, with NUL) are `BadName` without
//! harming the session.

use rpc_client::{CallError, Client, ErrorKind, Proxy, Value};
use rpc_core::MemberKind;
use rpc_tests::start_default;

const PRIVATE: [&str; 4] = ["_x", "_", "__x", "__init__"];

/// The remote kind of a failed call; panics on success or on a local failure.
fn kind_of<T: std::fmt::Debug>(result: Result<T, CallError>, what: &str) -> ErrorKind {
    match result {
        Ok(v) => panic!("{what}: expected a remote error, got {v:?}"),
        Err(e) => e
            .kind()
            .unwrap_or_else(|| panic!("{what}: expected a remote error, got {e}")),
    }
}

/// GET, SET, DEL and RUN of `name` on `proxy`, each with its op name.
async fn every_named_op(proxy: &Proxy, name: &str) -> Vec<(&'static str, ErrorKind)> {
    vec![
        ("GET", kind_of(proxy.get(name).await, "GET")),
        ("SET", kind_of(proxy.set(name, 99).await, "SET")),
        ("DEL", kind_of(proxy.del(name).await, "DEL")),
        ("RUN", kind_of(proxy.call(name, (1,)).await, "RUN")),
    ]
}

fn map_keys(value: &Value) -> Vec<String> {
    let Value::Map(pairs) = value else {
        panic!("ALL of a Counter is a map, got {value:?}")
    };
    pairs
        .iter()
        .map(|(k, _)| match k {
            Value::Str(s) => s.clone(),
            other => panic!("field key is not a string: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn private_names_are_denied_on_every_op_and_change_nothing() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", (5,)).await.expect("open");
    counter.set("note", "kept").await.expect("set a note");
    let before = counter.all().await.expect("ALL before");

    for name in PRIVATE {
        for (op, kind) in every_named_op(&counter, name).await {
            assert_eq!(kind, ErrorKind::AccessDenied, "{op} {name:?}");
        }
    }

    let after = counter.all().await.expect("ALL after");
    assert_eq!(after, before, "denied ops changed the object");
    assert_eq!(counter.get_as::<i64>("value").await.expect("value"), 5);
    assert_eq!(
        counter
            .get_as::<Option<String>>("note")
            .await
            .expect("note"),
        Some("kept".to_owned())
    );
    // The copy holds public fields only: neither `_` names nor the non-`pub` fields.
    for key in map_keys(&after) {
        assert!(!key.starts_with('_'), "ALL exposes {key:?}");
        assert!(key != "children" && key != "drops", "ALL exposes {key:?}");
    }
    // The session still works.
    assert_eq!(counter.call_as::<i64>("add", (1,)).await.expect("add"), 6);
}

#[tokio::test]
async fn opening_a_private_root_is_denied() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    for root in ["_secret", "_", "__init__"] {
        let kind = kind_of(client.open(root, ()).await, root);
        assert_eq!(kind, ErrorKind::AccessDenied, "open {root:?}");
    }
    // A public root that does not exist is a different error: the check is on the name.
    assert_eq!(
        kind_of(client.open("secret", ()).await, "secret"),
        ErrorKind::NoSuchRoot
    );
    client.ping().await.expect("the session still works");
}

#[tokio::test]
async fn dir_lists_no_private_names() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    for root in ["counter", "dict", "list"] {
        let proxy = client.open(root, ()).await.expect("open");
        let members = proxy.dir().await.expect("DIR");
        assert!(!members.is_empty(), "{root} lists no members");
        for m in &members {
            assert!(!m.name.starts_with('_'), "{root} lists {:?}", m.name);
        }
        if root == "counter" {
            let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
            for expected in ["value", "note", "changes", "add"] {
                assert!(names.contains(&expected), "{expected} missing: {names:?}");
            }
            assert!(!names.contains(&"children"), "{names:?}");
            assert!(
                members
                    .iter()
                    .any(|m| m.name == "add" && m.kind == MemberKind::Method),
                "{members:?}"
            );
        }
    }
}

#[tokio::test]
async fn malformed_names_are_bad_names_and_the_session_survives() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", (5,)).await.expect("open");
    let huge = "a".repeat(1024 * 1024);
    let names = [
        ("dotted", "a.b".to_owned()),
        ("dotted public member", "value.x".to_owned()),
        ("empty", String::new()),
        ("1 MiB", huge),
        ("NUL inside", "val\0ue".to_owned()),
    ];
    for (what, name) in &names {
        for (op, kind) in every_named_op(&counter, name).await {
            assert_eq!(kind, ErrorKind::BadName, "{op} of a {what} name");
        }
        // Usable after every refusal.
        assert_eq!(
            counter.get_as::<i64>("value").await.expect("GET value"),
            5,
            "after the {what} name"
        );
    }
    assert_eq!(counter.call_as::<i64>("add", (2,)).await.expect("add"), 7);
}
