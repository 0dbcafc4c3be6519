//! Graceful shutdown: stop accepting, answer new calls with `ShuttingDown`, let calls in
//! flight finish within the grace period, then close every connection.

use std::time::Duration;

use rpc_client::{Client, ErrorKind};
use rpc_server::{Allowlist, ServerConfig};
use rpc_tests::start_demo;

#[tokio::test]
async fn in_flight_calls_finish_and_new_calls_are_refused() {
    let server = start_demo(Allowlist::default(), ServerConfig::default()).await;
    let addr = server.local_addr();
    let client = Client::connect(addr).await.expect("connect");
    let counter = client.open("counter", (7,)).await.expect("open");
    let observer = client.clone();

    // A call that is still running when the shutdown starts.
    let slow = tokio::spawn({
        let counter = counter.clone();
        async move { counter.call_as::<i64>("slow_value", (400,)).await }
    });
    // Wait until the server counts it in flight (the stats call itself is one more).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while observer.stats().await.expect("stats").calls_in_flight < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow call never started"
        );
        tokio::task::yield_now().await;
    }
    let stopping = tokio::spawn(server.shutdown());

    // New calls get ShuttingDown once the server has seen the signal.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match counter.get_as::<i64>("value").await {
            Ok(_) => {
                assert!(tokio::time::Instant::now() < deadline, "never refused");
                tokio::task::yield_now().await;
            }
            Err(e) => {
                assert_eq!(e.kind(), Some(ErrorKind::ShuttingDown), "{e}");
                break;
            }
        }
    }
    // The call in flight completes normally.
    assert_eq!(slow.await.expect("task").expect("slow call"), 7);
    stopping.await.expect("task").expect("clean shutdown");
    // Nothing listens any more.
    assert!(Client::connect(addr).await.is_err());
}

#[tokio::test]
async fn the_grace_period_bounds_the_wait() {
    let mut config = ServerConfig::default();
    config.shutdown_grace = Duration::from_millis(100);
    let server = start_demo(Allowlist::default(), config).await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", ()).await.expect("open");
    let stuck = tokio::spawn({
        let counter = counter.clone();
        async move { counter.call("slow_value", (60_000,)).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while client.stats().await.expect("stats").calls_in_flight < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow call never started"
        );
        tokio::task::yield_now().await;
    }
    // Shutdown returns after the grace period, not after the minute-long call.
    tokio::time::timeout(Duration::from_secs(10), server.shutdown())
        .await
        .expect("shutdown within the bound")
        .expect("clean shutdown");
    let err = stuck
        .await
        .expect("task")
        .expect_err("the connection was closed");
    assert_eq!(
        err.kind(),
        None,
        "a transport error, not a remote one: {err}"
    );
}
