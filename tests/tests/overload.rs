//! Floods of calls on one connection: at most `max_calls_in_flight` run, the rest are
//! answered `Overloaded` at once with no work done; a client that resets with slow calls in
//! flight has every handler dropped and its session freed.

use std::time::Duration;

use rpc_client::{Client, ErrorKind};
use rpc_core::{Args, Op, Reply, Value};
use rpc_server::{Allowlist, ServerConfig};
use rpc_tests::{RawClient, start_demo};

async fn open_counter(raw: &mut RawClient) -> rpc_core::HandleId {
    raw.hello().await.expect("hello");
    raw.open(1, "counter", Args::new()).await.id
}

fn slow(handle: rpc_core::HandleId, millis: i64) -> Op {
    Op::Run {
        handle,
        name: Some("slow_value".into()),
        args: Args::positional(vec![Value::Int(millis)]),
    }
}

#[tokio::test]
async fn ten_thousand_pipelined_calls_run_at_most_the_limit() {
    let mut config = ServerConfig::default();
    config.max_calls_in_flight = 64;
    let server = start_demo(Allowlist::loopback(), config).await;
    let mut raw = RawClient::connect(server.local_addr())
        .await
        .expect("connect");
    let counter = open_counter(&mut raw).await;
    const CALLS: u64 = 10_000;
    // Each admitted call takes a second, so everything sent meanwhile meets a full server.
    let mut frames = Vec::new();
    for id in 0..CALLS {
        let request = rpc_core::Request {
            chain: 0,
            releases: vec![],
            op: slow(counter, 1000),
        };
        let frame = RawClient::encode_request(1000 + id, request, Duration::from_secs(30));
        frames.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        frames.extend_from_slice(&frame);
    }
    raw.write_raw(&frames).await.expect("pipeline");
    let control = Client::connect(server.local_addr()).await.expect("control");
    let (mut done, mut overloaded) = (0u64, 0u64);
    while done + overloaded < CALLS {
        let (_, answer) = raw
            .recv_any()
            .await
            .expect("read")
            .expect("connection open");
        match answer {
            Ok(Ok(Reply::Value(_))) => done += 1,
            refused => {
                match refused {
                    Ok(Err(e)) => assert_eq!(e.kind, rpc_core::ErrorKind::Overloaded, "{e}"),
                    // tarpc's own throttle, a backstop at four times the limit.
                    Err(server_error) => {
                        assert!(server_error.detail.contains("throttled"), "{server_error}")
                    }
                    Ok(other) => panic!("unexpected answer {other:?}"),
                }
                overloaded += 1;
                if overloaded % 1000 == 0 {
                    let in_flight = control.stats().await.expect("stats").calls_in_flight;
                    assert!(in_flight <= 64 + 1, "{in_flight} calls running");
                }
            }
        }
    }
    assert!(done >= 64, "the first 64 ran ({done})");
    assert!(
        overloaded >= CALLS - 4 * 64,
        "the rest were refused at once ({overloaded})"
    );
    assert_eq!(raw.call(1, Op::Ping).await.expect("ping"), Ok(Reply::Done));
}

#[tokio::test]
async fn the_client_library_reports_overload_as_a_kind() {
    let mut config = ServerConfig::default();
    config.max_calls_in_flight = 2;
    let server = start_demo(Allowlist::loopback(), config).await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let counter = client.open("counter", ()).await.expect("open");
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let counter = counter.clone();
            tokio::spawn(async move { counter.call("slow_value", (300,)).await })
        })
        .collect();
    let mut overloaded = 0;
    for call in calls {
        if let Err(e) = call.await.expect("task") {
            assert_eq!(e.kind(), Some(ErrorKind::Overloaded), "{e}");
            overloaded += 1;
        }
    }
    assert!(
        overloaded >= 6 - 1,
        "{overloaded} of 8 refused with 2 slots"
    );
}

#[tokio::test]
async fn a_reset_with_slow_calls_in_flight_drops_them_and_frees_the_session() {
    let server = start_demo(Allowlist::loopback(), ServerConfig::default()).await;
    let control = Client::connect(server.local_addr()).await.expect("control");
    let mut raw = RawClient::connect(server.local_addr())
        .await
        .expect("connect");
    let counter = open_counter(&mut raw).await;
    for id in 0..100 {
        raw.send(100 + id, slow(counter, 60_000))
            .await
            .expect("send");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while control.stats().await.expect("stats").calls_in_flight < 101 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the calls never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    raw.reset().expect("reset");
    // Polling a counter the server updates asynchronously, bounded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let s = control.stats().await.expect("stats");
        if s.calls_in_flight == 1 && s.sessions == 1 && s.handles == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not freed: {s:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
