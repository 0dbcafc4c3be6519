//! The measurements. Every loop stops at a call count **and** at a deadline, whichever comes
//! first, and reports how many calls it actually made.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rpc_client::{Client, Proxy, Value};
use rpc_core::WireCodec;

use crate::System;
use crate::conn::{Call, Conn};

/// How much of everything to do.
#[derive(Clone, Debug)]
pub struct Params {
    /// Alternating rounds of the side-by-side measures.
    pub rounds: usize,
    /// Calls per sequential latency measure (per call kind, round and system).
    pub seq_calls: usize,
    /// Calls per throughput measure (64 in flight; 8 connections).
    pub throughput_calls: usize,
    /// Calls per SET / DIR latency measure.
    pub op_calls: usize,
    /// Entries of the Dict copied with ALL.
    pub dict_entries: usize,
    /// ALLs per round.
    pub all_reps: usize,
    /// Handle churn cycles (child, add, drop).
    pub churn: usize,
    /// Idle sessions opened for the memory-per-session measure (K).
    pub idle_sessions: usize,
    /// Live handles held by one session for the memory-per-handle measure (H).
    pub live_handles: usize,
    /// Concurrent sessions of the crowd run.
    pub crowd: usize,
    /// Server-to-client calls per P9 repetition.
    pub callbacks: usize,
    /// Items per P10 stream (and per ALL).
    pub stream_items: usize,
    /// Client objects subscribed for P11, and the connections they live on.
    pub subscribers: usize,
    pub subscriber_connections: usize,
    /// Time cap of one latency or throughput measure.
    pub cap: Duration,
    /// Time cap of one of the long runs (churn, K sessions, H handles, the crowd).
    pub long_cap: Duration,
}

impl Params {
    /// The full run (several minutes on a 2-core VM).
    pub fn full() -> Params {
        Params {
            rounds: 5,
            seq_calls: 20_000,
            throughput_calls: 100_000,
            op_calls: 5_000,
            dict_entries: 100_000,
            all_reps: 5,
            churn: 100_000,
            idle_sessions: 1_000,
            live_handles: 100_000,
            crowd: 10_000,
            callbacks: 20_000,
            stream_items: 1_000_000,
            subscribers: 1_000,
            subscriber_connections: 20,
            cap: Duration::from_secs(4),
            long_cap: Duration::from_secs(90),
        }
    }

    /// `--quick`: about a minute on a 2-core VM.
    pub fn quick() -> Params {
        Params {
            rounds: 3,
            seq_calls: 3_000,
            throughput_calls: 20_000,
            op_calls: 1_000,
            dict_entries: 100_000,
            all_reps: 2,
            churn: 10_000,
            idle_sessions: 1_000,
            live_handles: 100_000,
            crowd: 10_000,
            callbacks: 3_000,
            stream_items: 1_000_000,
            subscribers: 1_000,
            subscriber_connections: 20,
            cap: Duration::from_secs(2),
            long_cap: Duration::from_secs(30),
        }
    }
}

/// Sequential calls: latency percentiles and rate.
#[derive(Clone, Copy, Debug, Default)]
pub struct Seq {
    /// Median latency, microseconds.
    pub p50_us: f64,
    /// 99th percentile latency, microseconds.
    pub p99_us: f64,
    /// Calls per second over the whole loop.
    pub rate: f64,
    /// Calls made.
    pub calls: usize,
}

/// Times `n` sequential runs of `op` (after a short warm-up), stopping early at `cap`.
pub async fn time_sequential<F, Fut>(n: usize, cap: Duration, mut op: F) -> Result<Seq, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let warm = (n / 20).clamp(1, 200);
    for _ in 0..warm {
        op().await?;
    }
    let mut lat = Vec::with_capacity(n);
    let started = Instant::now();
    let deadline = started + cap;
    while lat.len() < n {
        let t = Instant::now();
        if t >= deadline {
            break;
        }
        op().await?;
        lat.push(t.elapsed());
    }
    let total = started.elapsed();
    if lat.is_empty() {
        return Err("no call finished in time".to_owned());
    }
    lat.sort_unstable();
    Ok(Seq {
        p50_us: micros(percentile(&lat, 50)),
        p99_us: micros(percentile(&lat, 99)),
        rate: lat.len() as f64 / total.as_secs_f64(),
        calls: lat.len(),
    })
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let i = (sorted.len() * p / 100).min(sorted.len() - 1);
    sorted[i]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Sequential `call`s on one connection.
pub async fn sequential(conn: &Conn, call: Call, n: usize, cap: Duration) -> Result<Seq, String> {
    time_sequential(n, cap, || conn.call(call)).await
}

/// `tasks` tasks sharing the connections round-robin, each making `call`s one after another
/// until `total` calls were made or `cap` passed. Returns calls per second.
pub async fn concurrent(
    conns: &[Conn],
    tasks: usize,
    call: Call,
    total: usize,
    cap: Duration,
) -> Result<f64, String> {
    if conns.is_empty() {
        return Err("no connection".to_owned());
    }
    // Warm-up: a few calls on every connection.
    for conn in conns {
        for _ in 0..20 {
            conn.call(call).await?;
        }
    }
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + cap;
    let mut handles = Vec::with_capacity(tasks);
    for i in 0..tasks {
        let conn = conns[i % conns.len()].clone();
        let next = Arc::clone(&next);
        handles.push(tokio::spawn(async move {
            let mut done = 0usize;
            while Instant::now() < deadline && next.fetch_add(1, Ordering::Relaxed) < total {
                conn.call(call).await?;
                done += 1;
            }
            Ok::<usize, String>(done)
        }));
    }
    let mut done = 0;
    for handle in handles {
        done += handle.await.map_err(|e| format!("task failed: {e}"))??;
    }
    Ok(done as f64 / started.elapsed().as_secs_f64())
}

/// ALL of a large Dict.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllCopy {
    /// Entries in the Dict.
    pub entries: usize,
    /// Encoded size of the copy (`WireCodec::encoded_len` of the value).
    pub bytes: u64,
    /// Median time of one ALL, milliseconds.
    pub p50_ms: f64,
    /// `bytes` / median time.
    pub bytes_per_s: f64,
    /// Requests the server counted per ALL.
    pub round_trips: f64,
}

/// Opens a Dict on `client` and fills it with `entries` int -> int entries by `update` calls
/// of 10,000 entries each. Returns the proxy and the fill time in milliseconds.
pub async fn fill_dict(
    client: &Client,
    entries: usize,
    cap: Duration,
) -> Result<(Proxy, f64), String> {
    let dict = client
        .open("dict", ())
        .await
        .map_err(|e| format!("open dict: {e}"))?;
    let started = Instant::now();
    let mut i = 0usize;
    while i < entries {
        if started.elapsed() > cap {
            return Err(format!("filling the Dict took over {cap:?}"));
        }
        let end = (i + 10_000).min(entries);
        let chunk: Vec<(Value, Value)> = (i..end)
            .map(|k| (Value::Int(k as i64), Value::Int(2 * k as i64)))
            .collect();
        dict.call("update", (Value::Map(chunk),))
            .await
            .map_err(|e| format!("update: {e}"))?;
        i = end;
    }
    let len: i64 = dict
        .call_as("len", ())
        .await
        .map_err(|e| format!("len: {e}"))?;
    if len as usize != entries {
        return Err(format!("the Dict has {len} entries, expected {entries}"));
    }
    Ok((dict, started.elapsed().as_secs_f64() * 1e3))
}

/// `reps` ALLs of `dict` (a Dict of `client`), timed one by one.
pub async fn all_copy(
    client: &Client,
    dict: &Proxy,
    entries: usize,
    reps: usize,
    cap: Duration,
) -> Result<AllCopy, String> {
    let stats = |s: Result<rpc_client::ServerStats, rpc_client::CallError>| {
        s.map(|s| s.calls_total).map_err(|e| format!("stats: {e}"))
    };
    let before = stats(client.stats().await)?;
    let started = Instant::now();
    let mut times = Vec::with_capacity(reps);
    let mut bytes = 0;
    while times.len() < reps.max(1) && (times.is_empty() || started.elapsed() < cap) {
        let t = Instant::now();
        let value = dict.all().await.map_err(|e| format!("ALL: {e}"))?;
        times.push(t.elapsed());
        bytes = WireCodec::default()
            .encoded_len(&value)
            .map_err(|e| format!("encoded_len: {e}"))?;
    }
    // The second stats call counts the first one too.
    let after = stats(client.stats().await)?;
    times.sort_unstable();
    let p50 = times[times.len() / 2];
    Ok(AllCopy {
        entries,
        bytes,
        p50_ms: p50.as_secs_f64() * 1e3,
        bytes_per_s: bytes as f64 / p50.as_secs_f64(),
        round_trips: after.saturating_sub(before).saturating_sub(1) as f64 / times.len() as f64,
    })
}

/// Handle churn: `child()`, `add` on the child, drop its proxy, many times.
#[derive(Clone, Copy, Debug, Default)]
pub struct Churn {
    /// Cycles made.
    pub cycles: usize,
    /// Microseconds per cycle.
    pub us_per_cycle: f64,
    /// Requests the server counted per cycle (2.0 means releases cost no request).
    pub round_trips_per_cycle: f64,
    /// Server handles (all sessions) before and after.
    pub handles_before: u64,
    /// Server handles after.
    pub handles_after: u64,
    /// Server RSS before (after a warm-up of 1,000 cycles), KiB.
    pub rss_before_kib: u64,
    /// Server RSS halfway, KiB.
    pub rss_mid_kib: u64,
    /// Server RSS after, KiB.
    pub rss_after_kib: u64,
}

/// Runs the churn on a fresh connection of our server at `addr`, whose process is `pid`.
pub async fn churn(addr: SocketAddr, pid: u32, n: usize, cap: Duration) -> Result<Churn, String> {
    let conn = Conn::connect(System::Ours, addr).await?;
    let Some((client, root)) = conn.ours() else {
        return Err("churn needs our framework".to_owned());
    };
    let cycle = || async {
        let child = root
            .call("child", ())
            .await
            .and_then(|r| r.into_proxy())
            .map_err(|e| format!("child: {e}"))?;
        let sum: i64 = child
            .call_as("add", (1i64, 2i64))
            .await
            .map_err(|e| format!("child.add: {e}"))?;
        drop(child);
        if sum == 3 {
            Ok(())
        } else {
            Err("child.add answered wrongly".to_owned())
        }
    };
    for _ in 0..1_000 {
        cycle().await?;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = client.stats().await.map_err(|e| format!("stats: {e}"))?;
    let rss_before = crate::sys::rss_kib(pid).unwrap_or(0);
    let mut rss_mid = rss_before;
    let started = Instant::now();
    let mut cycles = 0;
    while cycles < n && started.elapsed() < cap {
        cycle().await?;
        cycles += 1;
        if cycles == n / 2 {
            rss_mid = crate::sys::rss_kib(pid).unwrap_or(0);
        }
    }
    let elapsed = started.elapsed();
    let after = client.stats().await.map_err(|e| format!("stats: {e}"))?;
    // Let the server return freed memory before reading it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let rss_after = crate::sys::rss_kib(pid).unwrap_or(0);
    let counted = after
        .calls_total
        .saturating_sub(before.calls_total)
        .saturating_sub(1);
    Ok(Churn {
        cycles,
        us_per_cycle: elapsed.as_secs_f64() * 1e6 / cycles.max(1) as f64,
        round_trips_per_cycle: counted as f64 / cycles.max(1) as f64,
        handles_before: before.handles,
        handles_after: after.handles,
        rss_before_kib: rss_before,
        rss_mid_kib: rss_mid,
        rss_after_kib: rss_after,
    })
}

/// Server memory for many open things.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mem {
    /// How many were asked for.
    pub wanted: usize,
    /// How many were open when memory was read.
    pub held: usize,
    /// Server RSS before, KiB.
    pub rss_before_kib: u64,
    /// Server RSS with all of them open, KiB.
    pub rss_after_kib: u64,
    /// Seconds to open them.
    pub secs: f64,
    /// What our server's `stats` counted (sessions or handles), if ours.
    pub server_count: Option<u64>,
}

impl Mem {
    /// RSS delta per item, bytes.
    pub fn bytes_each(&self) -> f64 {
        self.rss_after_kib.saturating_sub(self.rss_before_kib) as f64 * 1024.0
            / self.held.max(1) as f64
    }
}

/// Opens `k` sessions, `parallel` at a time, each making one `add` call (ours: hello, open
/// `bench`, `RUN add`; tarpc: `add`), and reads the server's RSS with all of them open. The
/// connections are returned, still open; dropping them closes them.
pub async fn sessions(
    system: System,
    addr: SocketAddr,
    pid: u32,
    k: usize,
    parallel: usize,
    cap: Duration,
) -> Result<(Mem, Vec<Conn>), String> {
    tokio::time::sleep(Duration::from_millis(100)).await;
    let rss_before = crate::sys::rss_kib(pid).unwrap_or(0);
    let started = Instant::now();
    let deadline = started + cap;
    let results: Vec<Result<Conn, String>> = futures::stream::iter(0..k)
        .take_while(|_| futures::future::ready(Instant::now() < deadline))
        .map(|_| async move {
            let left = deadline.saturating_duration_since(Instant::now());
            let opened = tokio::time::timeout(left, async {
                let conn = Conn::connect(system, addr).await?;
                conn.call(Call::Add).await?;
                Ok::<Conn, String>(conn)
            })
            .await;
            opened.unwrap_or_else(|_| Err("timed out".to_owned()))
        })
        .buffer_unordered(parallel)
        .collect()
        .await;
    let secs = started.elapsed().as_secs_f64();
    let mut conns = Vec::with_capacity(results.len());
    let mut first_error = None;
    for r in results {
        match r {
            Ok(c) => conns.push(c),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = &first_error {
        eprintln!(
            "  {system}: {} of {k} sessions failed; first error: {e}",
            k - conns.len()
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_after = crate::sys::rss_kib(pid).unwrap_or(0);
    let server_count = match conns.first().and_then(Conn::ours) {
        Some((client, _)) => client.stats().await.ok().map(|s| s.sessions),
        None => None,
    };
    Ok((
        Mem {
            wanted: k,
            held: conns.len(),
            rss_before_kib: rss_before,
            rss_after_kib: rss_after,
            secs,
            server_count,
        },
        conns,
    ))
}

/// One session of our server at `addr` takes `h` `child()` proxies (64 calls in flight) and
/// holds them while the server's RSS is read.
pub async fn live_handles(
    addr: SocketAddr,
    pid: u32,
    h: usize,
    cap: Duration,
) -> Result<Mem, String> {
    let conn = Conn::connect(System::Ours, addr).await?;
    let Some((client, root)) = conn.ours() else {
        return Err("live handles need our framework".to_owned());
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let rss_before = crate::sys::rss_kib(pid).unwrap_or(0);
    let started = Instant::now();
    let deadline = started + cap;
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let root = root.clone();
        let next = Arc::clone(&next);
        tasks.push(tokio::spawn(async move {
            let mut held = Vec::new();
            while Instant::now() < deadline && next.fetch_add(1, Ordering::Relaxed) < h {
                let child = root
                    .call("child", ())
                    .await
                    .and_then(|r| r.into_proxy())
                    .map_err(|e| format!("child: {e}"))?;
                held.push(child);
            }
            Ok::<Vec<Proxy>, String>(held)
        }));
    }
    let mut held = Vec::with_capacity(h);
    for task in tasks {
        held.extend(task.await.map_err(|e| format!("task failed: {e}"))??);
    }
    let secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_after = crate::sys::rss_kib(pid).unwrap_or(0);
    let server_count = client.stats().await.ok().map(|s| s.handles);
    let mem = Mem {
        wanted: h,
        held: held.len(),
        rss_before_kib: rss_before,
        rss_after_kib: rss_after,
        secs,
        server_count,
    };
    drop(held);
    // Let the releases go out before the connection closes.
    client.ping().await.map_err(|e| format!("ping: {e}"))?;
    Ok(mem)
}

/// Median of `values` (0 for none).
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_percentile() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        let lat: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(percentile(&lat, 50), Duration::from_micros(51));
        assert_eq!(percentile(&lat, 99), Duration::from_micros(100));
    }
}
