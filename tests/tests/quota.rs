//! The per-session handle quota: never-released handles up to the cap work, one more is
//! `QuotaExceeded` (no work lost, the session usable), and everything is released on
//! disconnect.

use std::time::Duration;

use rpc_client::{Client, ErrorKind};
use rpc_server::{Allowlist, ServerConfig};
use rpc_tests::start_demo;

#[tokio::test]
async fn handles_past_the_quota_are_refused_and_freed_on_disconnect() {
    let mut config = ServerConfig::default();
    config.max_handles_per_session = 5;
    let server = start_demo(Allowlist::loopback(), config).await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let root = client.open("counter", ()).await.expect("open: handle 1");
    let mut children = Vec::new();
    for name in ["a", "b", "c", "d"] {
        // Handles 2..=5: at the limit.
        children.push(root.call("child", (name,)).await.expect("under the quota"));
    }
    let over = root
        .call("child", ("e",))
        .await
        .expect_err("one past the quota");
    assert_eq!(over.kind(), Some(ErrorKind::QuotaExceeded));
    // A handle the session already holds is only a count, not a new entry.
    let again = root.call("child", ("a",)).await.expect("a known object");
    assert_eq!(
        again.into_proxy().expect("object").id(),
        children[0].as_proxy().expect("object").id()
    );
    // Data calls need no handle and still work.
    assert_eq!(root.call_as::<i64>("add", (1,)).await.expect("add"), 1);
    let observer = Client::connect(server.local_addr())
        .await
        .expect("observer");
    assert_eq!(observer.stats().await.expect("stats").handles, 5);
    drop((children, root, client));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    // The server frees the session when it sees the close: poll its counter, bounded.
    while observer.stats().await.expect("stats").handles != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "handles not released"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
