//! Timeouts: a call past its deadline fails with a timeout that is not a remote error, the
//! server stops the work, and the connection keeps working.

use std::time::Duration;

use rpc_client::{CallError, Client};
use rpc_tests::start_default;

#[tokio::test]
async fn a_call_past_its_deadline_times_out_and_the_server_stops_it() {
    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", (3,)).await.expect("open");
    let hasty = counter.with_timeout(Duration::from_millis(50));
    let err = hasty
        .call("slow_value", (30_000,))
        .await
        .expect_err("cannot finish in 50 ms");
    assert!(matches!(err, CallError::Timeout { .. }), "{err}");
    assert_eq!(err.kind(), None, "a timeout is not a remote error");
    // The server dropped the work at the deadline: nothing is left running but this call.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while client.stats().await.expect("stats").calls_in_flight > 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server kept running the call"
        );
        tokio::task::yield_now().await;
    }
    // The same proxy without the short timeout still works on the same connection.
    assert_eq!(
        counter
            .call_as::<i64>("slow_value", (1,))
            .await
            .expect("call"),
        3
    );
}
