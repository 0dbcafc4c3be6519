//! Roots: per-session roots are built for each `open` from the client's arguments (the
//! seed's `userclass(*L, **D)`); shared roots are one object seen by every session and kept
//! alive by the server whatever the sessions release.

use rpc_client::Client;
use rpc_examples::Counter;
use rpc_server::{Remote, Server};
use tokio::net::TcpListener;

#[tokio::test]
async fn per_session_roots_are_built_from_open_arguments() {
    let server = rpc_tests::start_default().await;
    let a = Client::connect(server.local_addr()).await.expect("connect");
    let b = Client::connect(server.local_addr()).await.expect("connect");
    let ca = a.open("counter", (1,)).await.expect("open");
    let cb = b.open("counter", (2,)).await.expect("open");
    let ca2 = a.open("counter", ()).await.expect("open again");
    assert_eq!(ca.get_as::<i64>("value").await.expect("get"), 1);
    assert_eq!(cb.get_as::<i64>("value").await.expect("get"), 2);
    assert_eq!(ca2.get_as::<i64>("value").await.expect("default start"), 0);
    assert_ne!(ca.id(), ca2.id(), "each open builds a new object");
}

#[tokio::test]
async fn a_shared_root_is_one_object_for_every_session() {
    let shared = Remote::new(Counter::new(Some(10)));
    let server = Server::builder()
        .shared("hits", shared.clone())
        .build()
        .expect("builds");
    let running = server
        .spawn(TcpListener::bind("127.0.0.1:0").await.expect("bind"))
        .expect("spawn");
    let a = Client::connect(running.local_addr())
        .await
        .expect("connect");
    let b = Client::connect(running.local_addr())
        .await
        .expect("connect");
    let ha = a.open("hits", ()).await.expect("open");
    let hb = b.open("hits", ()).await.expect("open");
    ha.call("add", (1,)).await.expect("add");
    hb.call("add", (1,)).await.expect("add");
    assert_eq!(ha.get_as::<i64>("value").await.expect("get"), 12);
    // Sessions come and go; the server keeps the object.
    drop((ha, a));
    assert_eq!(hb.get_as::<i64>("value").await.expect("get"), 12);
    drop((hb, b));
    let c = Client::connect(running.local_addr())
        .await
        .expect("connect");
    let hc = c.open("hits", ()).await.expect("open");
    assert_eq!(hc.get_as::<i64>("value").await.expect("still alive"), 12);
    assert_eq!(
        shared.read().await.value,
        12,
        "the server's own reference sees it too"
    );
}

#[test]
fn bad_registrations_fail_at_build() {
    let dup = Server::builder()
        .root::<Counter>("c")
        .root::<Counter>("c")
        .build();
    assert!(matches!(dup, Err(rpc_server::BuildError::DuplicateRoot(_))));
    for name in ["_private", "a.b", ""] {
        let bad = Server::builder().root::<Counter>(name).build();
        assert!(
            matches!(bad, Err(rpc_server::BuildError::BadRootName { .. })),
            "{name:?}"
        );
    }
}

#[test]
fn zero_limits_and_sub_second_keepalives_fail_at_build() {
    use rpc_server::{BuildError, ServerConfig};
    use std::time::Duration;
    let build = |change: &dyn Fn(&mut ServerConfig)| {
        let mut config = ServerConfig::default();
        change(&mut config);
        Server::builder()
            .root::<Counter>("c")
            .config(config)
            .build()
    };
    assert!(matches!(
        build(&|c| c.max_calls_in_flight = 0),
        Err(BuildError::ZeroLimit("max_calls_in_flight"))
    ));
    assert!(matches!(
        build(&|c| c.keepalive_retries = 0),
        Err(BuildError::ZeroLimit("keepalive_retries"))
    ));
    assert!(matches!(
        build(&|c| c.keepalive = Some(Duration::from_millis(500))),
        Err(BuildError::UnderOneSecond("keepalive"))
    ));
    assert!(matches!(
        build(&|c| c.keepalive_interval = Duration::ZERO),
        Err(BuildError::UnderOneSecond("keepalive_interval"))
    ));
    // Without keepalive its timings are not used, so they are not checked.
    assert!(
        build(&|c| {
            c.keepalive = None;
            c.keepalive_interval = Duration::ZERO;
        })
        .is_ok()
    );
    assert!(build(&|_| {}).is_ok());
}
