//! Admission and clocks: connection caps (total and per IP) close excess connections at once;
//! idle first frames, stalled frames and peers that never read are closed at their timeouts;
//! a peer that closes its side with calls running is released after a grace period; a control
//! client is unaffected throughout.

use std::time::Duration;

use rpc_client::Client;
use rpc_core::protocol::ServerStats;
use rpc_core::{Args, Op, Reply, Value};
use rpc_server::{Allowlist, RunningServer, ServerConfig};
use rpc_tests::{RawClient, connect_from, start_demo};

const CLOSE_BOUND: Duration = Duration::from_secs(5);

async fn stats(server: &RunningServer) -> ServerStats {
    let client = Client::connect(server.local_addr())
        .await
        .expect("control client");
    client.stats().await.expect("stats")
}

async fn greeted(source: &str, server: &RunningServer) -> RawClient {
    let stream = connect_from(source, server.local_addr())
        .await
        .expect("connect");
    let mut raw = RawClient::from_stream(stream);
    raw.hello().await.expect("hello");
    raw
}

#[tokio::test]
async fn per_ip_cap_closes_the_excess_from_that_ip_only() {
    let mut config = ServerConfig::default();
    config.max_connections_per_ip = 3;
    let server = start_demo(Allowlist::loopback(), config).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(greeted("127.0.0.2", &server).await);
    }
    let stream = connect_from("127.0.0.2", server.local_addr())
        .await
        .expect("tcp accept");
    let mut fourth = RawClient::from_stream(stream);
    assert!(
        fourth.closed_within(CLOSE_BOUND).await,
        "the fourth from one IP is closed"
    );
    // Other IPs are unaffected, and the held connections still work.
    let mut other = greeted("127.0.0.3", &server).await;
    assert_eq!(
        other.call(9, Op::Ping).await.expect("ping"),
        Ok(Reply::Done)
    );
    assert_eq!(
        held[0].call(9, Op::Ping).await.expect("ping"),
        Ok(Reply::Done)
    );
    assert_eq!(stats(&server).await.refused_per_ip_total, 1);
    // A slot comes back when a connection ends.
    drop(held.pop());
    let deadline = tokio::time::Instant::now() + CLOSE_BOUND;
    loop {
        let stream = connect_from("127.0.0.2", server.local_addr())
            .await
            .expect("tcp");
        let mut again = RawClient::from_stream(stream);
        if again.hello().await.is_ok() {
            break;
        }
        // The server frees the slot when it notices the close: retry until it has.
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot never came back"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn total_cap_closes_the_excess_from_anyone() {
    let mut config = ServerConfig::default();
    config.max_connections = 3;
    let server = start_demo(Allowlist::loopback(), config).await;
    let mut held = Vec::new();
    for source in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        held.push(greeted(source, &server).await);
    }
    let stream = connect_from("127.0.0.5", server.local_addr())
        .await
        .expect("tcp accept");
    assert!(
        RawClient::from_stream(stream)
            .closed_within(CLOSE_BOUND)
            .await
    );
    assert_eq!(
        held[2]
            .call(9, Op::Stats)
            .await
            .expect("stats")
            .map(|r| match r {
                Reply::Stats(s) => s.refused_full_total,
                _ => u64::MAX,
            }),
        Ok(1)
    );
}

fn short_clocks() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.first_frame_timeout = Duration::from_millis(200);
    config.frame_progress_timeout = Duration::from_millis(200);
    config.write_timeout = Duration::from_millis(200);
    config
}

#[tokio::test]
async fn a_thousand_sockets_that_send_nothing_are_closed_at_the_first_frame_timeout() {
    // Both ends of 1,000 connections live in this process: make room for them.
    let (soft, hard) = rlimit::Resource::NOFILE.get().expect("getrlimit");
    if soft < 4096 {
        rlimit::Resource::NOFILE
            .set(hard.min(4096), hard)
            .expect("raise the descriptor limit");
    }
    let mut config = short_clocks();
    config.max_connections_per_ip = 2_000;
    let server = start_demo(Allowlist::loopback(), config).await;
    let mut control = greeted("127.0.0.1", &server).await;
    let mut idle = Vec::new();
    for _ in 0..1_000 {
        idle.push(
            RawClient::connect(server.local_addr())
                .await
                .expect("connect"),
        );
    }
    for socket in &mut idle {
        assert!(
            socket.closed_within(CLOSE_BOUND).await,
            "idle socket closed"
        );
    }
    // The control connection sent its first frame long ago and is idle too: not closed.
    assert_eq!(
        control.call(1, Op::Ping).await.expect("ping"),
        Ok(Reply::Done)
    );
    let s = stats(&server).await;
    assert_eq!(s.stalled_total, 1_000);
}

#[tokio::test]
async fn a_stalled_frame_is_closed_at_the_frame_progress_timeout() {
    let server = start_demo(Allowlist::loopback(), short_clocks()).await;
    let mut control = greeted("127.0.0.1", &server).await;
    let mut slow = greeted("127.0.0.2", &server).await;
    // Declare a 100,000-byte frame, send a little of it, then nothing.
    slow.write_raw(&100_000u32.to_be_bytes())
        .await
        .expect("header");
    slow.write_raw(&[0u8; 100]).await.expect("some body");
    assert!(slow.closed_within(CLOSE_BOUND).await, "slowloris closed");
    assert_eq!(
        control.call(1, Op::Ping).await.expect("ping"),
        Ok(Reply::Done)
    );
    let s = stats(&server).await;
    assert_eq!(s.stalled_total, 1);
    assert_eq!(
        s.sessions, 2,
        "control and the stats client; the slow one is gone"
    );
}

#[tokio::test]
async fn a_peer_that_never_reads_is_closed_at_the_write_timeout() {
    let server = start_demo(Allowlist::loopback(), short_clocks()).await;
    let mut reader = greeted("127.0.0.2", &server).await;
    // One MiB of data in a dict, then many ALL requests whose replies are never read.
    let dict = reader.open(1, "dict", Args::new()).await;
    for i in 0..8 {
        let set = Op::Run {
            handle: dict.id,
            name: Some("set_item".into()),
            args: Args::positional(vec![Value::Int(i), Value::Str("x".repeat(128 * 1024))]),
        };
        assert!(reader.call(2 + i as u64, set).await.expect("set").is_ok());
    }
    for id in 100..300 {
        reader
            .send(id, Op::All { handle: dict.id })
            .await
            .expect("pipelined request");
    }
    // Reading to see the close would be reading: watch the server's counter instead, from a
    // control client that must keep working meanwhile.
    let control = Client::connect(server.local_addr()).await.expect("control");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let s = control.stats().await.expect("control keeps working");
        if s.stalled_total == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never closed: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Whatever was buffered, the connection ends.
    assert!(reader.closed_within(CLOSE_BOUND).await);
}

/// Opens the `counter` root as request 1 and sends `count` calls of `slow_value(millis)`
/// (request ids 10, 11, ...) without waiting for their replies.
async fn slow_calls(raw: &mut RawClient, count: u64, millis: i64) {
    let counter = raw
        .open(1, "counter", Args::positional(vec![Value::Int(7)]))
        .await;
    for id in 10..10 + count {
        let call = Op::Run {
            handle: counter.id,
            name: Some("slow_value".into()),
            args: Args::positional(vec![Value::Int(millis)]),
        };
        raw.send(id, call).await.expect("request");
    }
}

#[tokio::test]
async fn a_peer_that_closes_with_calls_running_is_released_after_the_grace() {
    let mut config = ServerConfig::default();
    config.closed_peer_grace = Duration::from_millis(300);
    let server = start_demo(Allowlist::loopback(), config).await;
    let control = Client::connect(server.local_addr()).await.expect("control");
    let before = control.stats().await.expect("stats");
    let mut leaver = greeted("127.0.0.2", &server).await;
    // Calls that would run for an hour, then the peer closes its side (a FIN).
    slow_calls(&mut leaver, 5, 3_600_000).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while control.stats().await.expect("stats").calls_in_flight < before.calls_in_flight + 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "calls never started"
        );
        tokio::task::yield_now().await;
    }
    leaver.shutdown_write().await.expect("FIN");
    let released = tokio::time::Instant::now();
    loop {
        let s = control
            .stats()
            .await
            .expect("the control client keeps working");
        if s.sessions == before.sessions && s.handles == before.handles {
            assert_eq!(s.calls_in_flight, before.calls_in_flight, "{s:?}");
            assert_eq!(s.stalled_total, before.stalled_total + 1, "{s:?}");
            break;
        }
        assert!(
            released.elapsed() < Duration::from_secs(10),
            "the session is still held: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        released.elapsed() >= Duration::from_millis(300),
        "released before the grace"
    );
    assert!(leaver.closed_within(CLOSE_BOUND).await);
}

#[tokio::test]
async fn a_half_closed_peer_gets_the_replies_of_calls_finishing_within_the_grace() {
    let server = start_demo(Allowlist::loopback(), ServerConfig::default()).await;
    let mut raw = greeted("127.0.0.2", &server).await;
    slow_calls(&mut raw, 3, 100).await;
    raw.shutdown_write().await.expect("FIN");
    let mut answered = Vec::new();
    while let Some((id, response)) = raw.recv().await.expect("read") {
        assert_eq!(response, Ok(Reply::Value(Value::Int(7))), "request {id}");
        answered.push(id);
    }
    answered.sort_unstable();
    assert_eq!(answered, [10, 11, 12], "every reply, then the close");
}

#[tokio::test]
async fn large_incomplete_frames_past_the_server_budget_close_their_connection() {
    let mut config = ServerConfig::default();
    config.max_partial_frame_bytes = 1 << 20;
    let server = start_demo(Allowlist::loopback(), config).await;
    let declared = 600 * 1024u32;
    // One peer declares a 600 KiB frame and sends a little of it.
    let mut first = greeted("127.0.0.2", &server).await;
    first
        .write_raw(&declared.to_be_bytes())
        .await
        .expect("header");
    first.write_raw(&[0; 1024]).await.expect("some body");
    // Another declares as much: the two would pass the 1 MiB budget, so it is closed.
    let mut second = greeted("127.0.0.3", &server).await;
    second
        .write_raw(&declared.to_be_bytes())
        .await
        .expect("header");
    second.write_raw(&[0; 16]).await.expect("some body");
    assert!(
        second.closed_within(CLOSE_BOUND).await,
        "closed at its header"
    );
    // Small frames are not counted: a control client is served meanwhile.
    let control = Client::connect(server.local_addr()).await.expect("control");
    let before = control.stats().await.expect("control works");
    // Once the first peer leaves, its share is free: a 600 KiB request is taken and answered.
    drop(first);
    let deadline = tokio::time::Instant::now() + CLOSE_BOUND;
    while control.stats().await.expect("stats").sessions >= before.sessions {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first peer is still held"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut third = greeted("127.0.0.4", &server).await;
    let dict = third.open(1, "dict", Args::new()).await;
    let large = Op::Run {
        handle: dict.id,
        name: Some("set_item".into()),
        args: Args::positional(vec![Value::Int(1), Value::Str("x".repeat(600 * 1024))]),
    };
    assert_eq!(
        third.call(2, large).await.expect("answered"),
        Ok(Reply::Value(Value::None))
    );
}
