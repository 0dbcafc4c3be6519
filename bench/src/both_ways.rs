//! Objects in both directions (P9-P11), ours alone: bare tarpc has no callbacks, streams or
//! client-hosted objects, so each row's baseline is ours too, measured in the same run.
//!
//! - P9: a server-to-client call (the server's method calls the client's closure) against a
//!   client-to-server call of the same work.
//! - P10: a stream of `n` small items against one call per item and against one ALL of the
//!   same items, and the memory both ends hold while the reader stalls.
//! - P11: a broadcast to `m` client objects on several connections, all fast and with one
//!   slow subscriber.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rpc_client::{Callback, Client, Proxy, Remote};

use crate::bench_obj::Listener;
use crate::measure::{median, time_sequential};
use crate::sys;

/// Runs `work` under `cap`, naming `what` when it runs out.
async fn capped<T>(
    cap: Duration,
    what: &str,
    work: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(cap, work)
        .await
        .map_err(|_| format!("{what} did not finish within {cap:?}"))?
}

/// P9: medians over the repetitions.
#[derive(Clone, Copy, Debug, Default)]
pub struct Callbacks {
    /// Server-to-client calls per repetition.
    pub calls: usize,
    /// Microseconds per callback: one `call_back(closure, n)` call, divided by `n`.
    pub callback_us: f64,
    /// Microseconds per sequential `add` call from the client, on the same connection.
    pub forward_us: f64,
}

/// P9: `reps` times, `n` callbacks inside one server method, then `n` forward calls.
pub async fn callbacks(
    root: &Proxy,
    n: usize,
    reps: usize,
    cap: Duration,
) -> Result<Callbacks, String> {
    let adder = Callback::new(|(a, b): (i64, i64)| a.wrapping_add(b));
    let want: i64 = (0..n as i64).map(|i| i + 1).sum();
    let (mut back, mut forward) = (Vec::new(), Vec::new());
    for _ in 0..reps.max(1) {
        let started = Instant::now();
        let sum: i64 = capped(cap, "call_back", async {
            root.call_as("call_back", (&adder, n as u64))
                .await
                .map_err(|e| e.to_string())
        })
        .await?;
        let took = started.elapsed();
        if sum != want {
            return Err(format!("call_back answered {sum}, expected {want}"));
        }
        back.push(took.as_secs_f64() * 1e6 / n.max(1) as f64);
        let seq = time_sequential(n, cap, || async {
            let sum: i64 = root
                .call_as("add", (40i64, 1i64))
                .await
                .map_err(|e| e.to_string())?;
            if sum == 41 {
                Ok(())
            } else {
                Err(format!("add answered {sum}"))
            }
        })
        .await?;
        forward.push(1e6 / seq.rate);
    }
    Ok(Callbacks {
        calls: n,
        callback_us: median(&back),
        forward_us: median(&forward),
    })
}

/// P10: medians over the repetitions, memory from the last one.
#[derive(Clone, Copy, Debug, Default)]
pub struct Streams {
    /// Items per stream and per ALL.
    pub items: usize,
    /// Items per second read from the stream.
    pub stream_per_s: f64,
    /// Items per second with one `item(i)` call each (sequential).
    pub per_call_per_s: f64,
    /// Items per second through one ALL of a list object holding them.
    pub all_per_s: f64,
    /// Growth of the server's RSS while a reader stalls after its first item, KiB.
    pub server_stall_kib: i64,
    /// Growth of this process's RSS (the reader) over the same stall, KiB.
    pub client_stall_kib: i64,
    /// What the reader's window holds at most: window calls x batch items.
    pub window_items: usize,
}

/// P10: `reps` times: a stream of `n` items, `per_call` calls of one item each, one ALL of `n`
/// items; then a stream whose reader stalls, for memory (server `pid`).
pub async fn streams(
    root: &Proxy,
    pid: u32,
    n: usize,
    per_call: usize,
    reps: usize,
    cap: Duration,
) -> Result<Streams, String> {
    let want: i64 = (0..n as i64).sum();
    let rows = root
        .call("rows", (n as i64,))
        .await
        .and_then(|r| r.into_proxy())
        .map_err(|e| format!("rows: {e}"))?;
    let (mut stream_rates, mut call_rates, mut all_rates) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps.max(1) {
        let started = Instant::now();
        let (count, sum) = capped(cap, "the stream", async {
            let mut items = root
                .stream::<i64>("items", (n as i64,))
                .await
                .map_err(|e| e.to_string())?;
            let (mut count, mut sum) = (0usize, 0i64);
            while let Some(item) = items.next().await {
                sum = sum.wrapping_add(item.map_err(|e| e.to_string())?);
                count += 1;
            }
            Ok((count, sum))
        })
        .await?;
        let took = started.elapsed();
        if (count, sum) != (n, want) {
            return Err(format!(
                "the stream gave {count} items summing to {sum}, expected {n} and {want}"
            ));
        }
        stream_rates.push(n as f64 / took.as_secs_f64());

        let mut i = 0i64;
        let seq = time_sequential(per_call, cap, || {
            i += 1;
            let at = i;
            async move {
                let item: i64 = root
                    .call_as("item", (at,))
                    .await
                    .map_err(|e| e.to_string())?;
                if item == at {
                    Ok(())
                } else {
                    Err(format!("item({at}) answered {item}"))
                }
            }
        })
        .await?;
        call_rates.push(seq.rate);

        let started = Instant::now();
        let copied: Vec<i64> = capped(cap, "ALL of the rows", async {
            #[derive(serde::Deserialize)]
            struct Copy {
                items: Vec<i64>,
            }
            let copy: Copy = rows.all_as().await.map_err(|e| e.to_string())?;
            Ok(copy.items)
        })
        .await?;
        let took = started.elapsed();
        if copied.len() != n || copied.iter().sum::<i64>() != want {
            return Err(format!("ALL copied {} items, expected {n}", copied.len()));
        }
        all_rates.push(n as f64 / took.as_secs_f64());
    }
    drop(rows);
    // A round trip carries the release, so the list is gone before memory is read.
    let _: i64 = root
        .call_as("item", (0i64,))
        .await
        .map_err(|e| e.to_string())?;

    // Memory: the reader takes one item and stops; the producer must stop within the window.
    let (window, batch) = (2usize, 1024usize);
    let server_before = sys::rss_kib(pid);
    let client_before = sys::rss_kib(std::process::id());
    let mut stalled = root
        .stream::<i64>("items", (n as i64,))
        .await
        .map_err(|e| e.to_string())?
        .window(window)
        .batch(batch as u32);
    capped(cap, "the first item", async {
        stalled
            .next()
            .await
            .ok_or("the stream ended at once")?
            .map(drop)
            .map_err(|e| e.to_string())
    })
    .await?;
    // A pause long enough for a producer that ignored the window to have run far ahead.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let server_after = sys::rss_kib(pid);
    let client_after = sys::rss_kib(std::process::id());
    drop(stalled);
    let growth = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => b as i64 - a as i64,
        _ => 0,
    };
    Ok(Streams {
        items: n,
        stream_per_s: median(&stream_rates),
        per_call_per_s: median(&call_rates),
        all_per_s: median(&all_rates),
        server_stall_kib: growth(server_before, server_after),
        client_stall_kib: growth(client_before, client_after),
        window_items: window * batch,
    })
}

/// How long a broadcast waits for one subscriber.
const TIMEOUT_MS: u64 = 500;

/// P11: medians over the broadcasts.
#[derive(Clone, Copy, Debug, Default)]
pub struct Broadcast {
    /// Subscribers, and the connections they live on.
    pub subscribers: usize,
    pub connections: usize,
    /// All fast: microseconds from the start of the broadcast to its last answer.
    pub fast_total_us: f64,
    /// One slow subscriber: the latest answer among those in time, microseconds.
    pub slow_slowest_us: f64,
    /// One slow subscriber: the whole broadcast, microseconds (bounded by the timeout).
    pub slow_total_us: f64,
    /// One slow subscriber: delivered in time and late, in the last broadcast.
    pub slow_delivered: u64,
    pub slow_late: u64,
    /// The per-subscriber timeout of the broadcasts, milliseconds.
    pub timeout_ms: u64,
}

/// P11: `subscribers` listeners over `connections` clients subscribe to the server's `hub`;
/// `reps` broadcasts with all fast, then `reps` with one that takes 2 s per message.
pub async fn broadcast(
    addr: SocketAddr,
    subscribers: usize,
    connections: usize,
    reps: usize,
    cap: Duration,
) -> Result<Broadcast, String> {
    let connections = connections.clamp(1, subscribers.max(1));
    let mut clients = Vec::new();
    let mut listeners: Vec<Remote<Listener>> = Vec::new();
    for c in 0..connections {
        let client = Client::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let hub = client
            .open("hub", ())
            .await
            .map_err(|e| format!("open hub: {e}"))?;
        let here = subscribers / connections + usize::from(c < subscribers % connections);
        for _ in 0..here {
            let listener = Remote::new(Listener::default());
            hub.call("subscribe", (&listener,))
                .await
                .map_err(|e| format!("subscribe: {e}"))?;
            listeners.push(listener);
        }
        clients.push((client, hub));
    }
    let hub = &clients[0].1;
    let fast = broadcasts(hub, 0, reps, cap).await?;
    if let Some(&(delivered, late, failed, _, _)) =
        fast.iter().find(|o| o.0 as usize != subscribers)
    {
        return Err(format!(
            "a broadcast to {subscribers} fast subscribers delivered {delivered} ({late} late, \
             {failed} failed)"
        ));
    }
    listeners[0].write().await.delay_ms = 2_000;
    let slow = broadcasts(hub, reps as u64, reps, cap).await?;
    let last = slow.last().copied().unwrap_or_default();
    let us = |v: &[Outcome], f: fn(&Outcome) -> u64| {
        median(&v.iter().map(|o| f(o) as f64).collect::<Vec<_>>())
    };
    drop(clients);
    Ok(Broadcast {
        subscribers,
        connections,
        fast_total_us: us(&fast, |o| o.4),
        slow_slowest_us: us(&slow, |o| o.3),
        slow_total_us: us(&slow, |o| o.4),
        slow_delivered: last.0,
        slow_late: last.1,
        timeout_ms: TIMEOUT_MS,
    })
}

/// What `Hub::broadcast` answers: delivered, late, failed, slowest delivered (us), total (us).
type Outcome = (u64, u64, u64, u64, u64);

/// `reps` broadcasts through `hub`, numbered after `after`, one after another.
async fn broadcasts(
    hub: &Proxy,
    after: u64,
    reps: usize,
    cap: Duration,
) -> Result<Vec<Outcome>, String> {
    let mut outcomes = Vec::new();
    for seq in after + 1..=after + reps.max(1) as u64 {
        let outcome: Outcome = capped(cap, "a broadcast", async {
            hub.call_as("broadcast", (seq, TIMEOUT_MS))
                .await
                .map_err(|e| e.to_string())
        })
        .await?;
        outcomes.push(outcome);
    }
    Ok(outcomes)
}
