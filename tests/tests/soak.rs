//! Soak (catalogue case 31): mixed operations from many clients with random disconnects, for a
//! bounded time; afterwards sessions, handles, calls in flight and open descriptors are back at
//! their baseline and no panic was caught.
//!
//! Not part of the default run. Run it by name, for `SOAK_SECS` seconds (default 60):
//!
//! ```text
//! SOAK_SECS=300 cargo test --release -p rpc-tests --test soak -- --ignored --nocapture
//! ```

use std::time::Duration;

use rpc_client::Client;
use rpc_core::{Args, Op, Value};
use rpc_server::{Allowlist, ServerConfig};
use rpc_tests::{RawClient, start_demo};

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// A small deterministic generator, so a failing run can be repeated.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

async fn worker(addr: std::net::SocketAddr, seed: u64, until: tokio::time::Instant) -> u64 {
    let mut rng = Lcg(seed);
    let mut ops = 0;
    while tokio::time::Instant::now() < until {
        if rng.next(10) == 0 {
            // A raw client that opens objects and vanishes with a reset, releasing nothing.
            let Ok(mut raw) = RawClient::connect(addr).await else {
                continue;
            };
            if raw.hello().await.is_ok() {
                let _ = raw
                    .call(
                        1,
                        Op::Open {
                            root: "counter".into(),
                            args: Args::new(),
                        },
                    )
                    .await;
                let _ = raw
                    .call(
                        2,
                        Op::Run {
                            handle: rpc_core::HandleId(1),
                            name: Some("child".into()),
                            args: Args::positional(vec![Value::Str("x".into())]),
                        },
                    )
                    .await;
            }
            let _ = raw.reset();
            ops += 1;
            continue;
        }
        let Ok(client) = Client::connect(addr).await else {
            continue;
        };
        let Ok(counter) = client.open("counter", (1,)).await else {
            continue;
        };
        let Ok(dict) = client.open("dict", ()).await else {
            continue;
        };
        for _ in 0..rng.next(50) {
            let _ = match rng.next(8) {
                0 => counter.call("add", (1,)).await.map(|_| ()),
                1 => counter.get("value").await.map(|_| ()),
                2 => counter.set("note", "n").await,
                3 => counter
                    .call("child", (format!("c{}", rng.next(4)),))
                    .await
                    .map(drop),
                4 => dict
                    .call("set_item", (rng.next(100), "v"))
                    .await
                    .map(|_| ()),
                5 => dict.all().await.map(|_| ()),
                6 => counter.call("explode", ()).await.map(|_| ()),
                _ => counter.dir().await.map(|_| ()),
            };
            ops += 1;
        }
    }
    ops
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak test: run by name with --ignored, for SOAK_SECS seconds"]
async fn soak() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let server = start_demo(Allowlist::loopback(), ServerConfig::default()).await;
    let observer = Client::connect(server.local_addr())
        .await
        .expect("observer");
    let fds_before = open_descriptors();
    let until = tokio::time::Instant::now() + Duration::from_secs(secs);
    let workers: Vec<_> = (0..8)
        .map(|seed| tokio::spawn(worker(server.local_addr(), seed, until)))
        .collect();
    let mut ops = 0;
    for w in workers {
        ops += w.await.expect("worker");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let stats = loop {
        // The server frees sessions as it sees each close: poll its counters, bounded.
        let s = observer.stats().await.expect("observer works");
        if s.sessions == 1 && s.handles == 0 && s.calls_in_flight == 1 {
            break s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not back to baseline: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let fds_after = open_descriptors();
    println!(
        "soak: {secs} s, {ops} operations, stats {stats:?}, descriptors {fds_before} -> {fds_after}"
    );
    assert!(
        fds_after <= fds_before + 2,
        "descriptors leaked: {fds_before} -> {fds_after}"
    );
    // Every panic caught was an `explode` call; none escaped (the process is alive).
    assert!(stats.calls_total > 0);
}
