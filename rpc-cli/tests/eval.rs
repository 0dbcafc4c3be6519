//! The shell's evaluator in process, against the demo server: what each statement does on the
//! server, and that intermediate objects are released.

use std::time::Duration;

use rpc_cli::eval::{self, Outcome};
use rpc_cli::parse::Parser;
use rpc_client::{Client, Proxy, Returned, Value};
use rpc_examples::demo_server;
use rpc_server::{Allowlist, ServerConfig};

async fn run(root: &Proxy, line: &str) -> Outcome {
    let stmt = Parser::new("counter")
        .parse_line(line)
        .unwrap_or_else(|e| panic!("{line:?}: {e}"));
    eval::run(root, &stmt)
        .await
        .unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

fn value(outcome: Outcome) -> Value {
    match outcome {
        Outcome::Returned(Returned::Value(v)) => v,
        other => panic!("expected a value, got {other:?}"),
    }
}

#[tokio::test]
async fn chained_calls_release_the_intermediate_object() {
    let test = async {
        let server = demo_server(Allowlist::loopback(), ServerConfig::default()).expect("build");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let running = server.spawn(listener).expect("spawn");
        let client = Client::connect(running.local_addr())
            .await
            .expect("connect");
        let root = client.open("counter", ()).await.expect("open");
        assert_eq!(client.stats().await.expect("stats").handles, 1, "the root");

        assert_eq!(value(run(&root, "child('a').add(2)").await), Value::Int(2));
        assert_eq!(value(run(&root, "absorb(child('a'))").await), Value::Int(2));
        // The ping carries the releases queued when the intermediate proxies dropped.
        client.ping().await.expect("ping");
        assert_eq!(
            client.stats().await.expect("stats").handles,
            1,
            "only the root is still held"
        );

        // A remote object as the final result stays held while the caller keeps it.
        let Outcome::Returned(Returned::Object(child)) = run(&root, "child('a')").await else {
            panic!("an object")
        };
        assert_eq!(child.type_name(), "Counter");
        assert_eq!(client.stats().await.expect("stats").handles, 2);
        drop(child);
        client.ping().await.expect("ping");
        assert_eq!(client.stats().await.expect("stats").handles, 1);

        assert!(matches!(run(&root, "value = 5").await, Outcome::Nothing));
        assert_eq!(value(run(&root, "value").await), Value::Int(5));
        let Outcome::Members(members) = run(&root, "dir child('b')").await else {
            panic!("members")
        };
        assert!(members.iter().any(|m| m.name == "add"));
        running.shutdown().await.expect("shutdown");
    };
    tokio::time::timeout(Duration::from_secs(60), test)
        .await
        .expect("the test finishes in time");
}
