//! Remote exceptions: a returned error or a panic on the server reaches the client as a
//! structured error with kind, type, message, cause chain and the server's stack text; the
//! same connection keeps working.

use rpc_client::{Client, ErrorKind};
use rpc_server::{Allowlist, ServerConfig};
use rpc_tests::{start_default, start_demo};

#[tokio::test]
async fn a_returned_error_carries_type_message_chain_and_location() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", (7,)).await.expect("open");
    let err = counter
        .call("add_parsed", ("seven",))
        .await
        .expect_err("raises");
    let remote = err.remote().expect("a remote error");
    assert_eq!(remote.kind, ErrorKind::Raised);
    assert!(
        remote.type_name.ends_with("CounterError"),
        "{}",
        remote.type_name
    );
    assert_eq!(remote.message, "could not parse the step");
    assert_eq!(remote.chain, ["invalid digit found in string"]);
    assert_eq!(remote.object.as_deref(), Some("Counter"));
    assert_eq!(remote.member.as_deref(), Some("add_parsed"));
    assert_eq!(remote.session, Some(client.server_info().session));
    assert!(
        remote.stack.contains("examples/src/counter.rs"),
        "{}",
        remote.stack
    );
    // The session survives, and nothing changed.
    assert_eq!(counter.get_as::<i64>("value").await.expect("get"), 7);
}

#[tokio::test]
async fn a_panic_is_caught_with_message_location_and_stack() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", (3,)).await.expect("open");
    for _ in 0..2 {
        let err = counter.call("explode", ()).await.expect_err("panics");
        let remote = err.remote().expect("a remote error");
        assert_eq!(remote.kind, ErrorKind::Panicked);
        assert_eq!(remote.message, "counter exploded at value 3");
        assert!(
            remote
                .stack
                .starts_with("panicked at examples/src/counter.rs:"),
            "{}",
            remote.stack
        );
        assert!(remote.stack.contains("explode"), "{}", remote.stack);
        // No poisoned lock: the object keeps working after the panic.
        assert_eq!(counter.call_as::<i64>("add", (1,)).await.expect("add"), 4);
        counter.set("value", 3).await.expect("reset");
    }
    assert_eq!(client.stats().await.expect("stats").panics_total, 2);
}

#[tokio::test]
async fn display_prints_the_remote_stack_under_the_client_error() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", (1,)).await.expect("open");
    let err = counter.call("checked_div", (0,)).await.expect_err("raises");
    let text = err.to_string();
    let header = format!(
        "--- remote stack (server {}, session {}, Counter.checked_div) ---",
        server.local_addr(),
        client.server_info().session
    );
    let first = text.lines().next().expect("a first line");
    assert!(first.contains("Counter.checked_div"), "{first}");
    assert!(first.contains("cannot divide 1 by zero"), "{first}");
    let at = text
        .find(&header)
        .unwrap_or_else(|| panic!("no header in:\n{text}"));
    assert!(text[at..].contains("counter.rs"), "{text}");
    assert!(
        text.trim_end().ends_with("--- end of remote stack ---"),
        "{text}"
    );
    // `?` in main prints Debug: the same text.
    assert_eq!(format!("{err:?}"), text);
}

#[tokio::test]
async fn stack_text_can_be_switched_off() {
    let mut config = ServerConfig::default();
    config.stack_text = false;
    let server = start_demo(Allowlist::default(), config).await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", ()).await.expect("open");
    for method in ["explode", "add_parsed"] {
        let args = if method == "explode" {
            vec![]
        } else {
            vec!["x"]
        };
        let err = counter.call(method, args).await.expect_err("fails");
        let remote = err.remote().expect("remote");
        assert!(remote.stack.is_empty(), "{method}: {}", remote.stack);
        assert!(!err.to_string().contains("--- remote stack"));
    }
}

#[tokio::test]
async fn a_panicking_constructor_is_an_error_not_a_dead_server() {
    let server = rpc_server::Server::builder()
        .root_with("bad", |_args, _cx| -> Result<rpc_server::Dict, _> {
            panic!("constructor failed")
        })
        .root::<rpc_server::Dict>("dict")
        .build()
        .expect("builds");
    let running = server
        .spawn(
            tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind"),
        )
        .expect("spawn");
    let client = Client::connect(running.local_addr())
        .await
        .expect("connect");
    let err = client.open("bad", ()).await.expect_err("panics");
    assert_eq!(err.kind(), Some(ErrorKind::Panicked));
    assert!(client.open("dict", ()).await.is_ok());
    let missing = client.open("nope", ()).await.expect_err("no such root");
    assert_eq!(missing.kind(), Some(ErrorKind::NoSuchRoot));
}
