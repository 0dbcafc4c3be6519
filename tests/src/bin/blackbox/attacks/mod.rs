//! The attacks, each an async function of the [`Ctx`] returning an [`Outcome`], and the
//! helpers they share.

mod admission;
mod calls;
mod framing;
mod memory;
mod peers;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;

use crate::context::{Ctx, Outcome};
use rpc_core::HandleId;

use crate::raw::{Conn, ip};

/// An attack of the run.
#[derive(Debug)]
pub struct Attack {
    /// Short name, used by `--only`.
    pub name: &'static str,
    /// The catalogue case it covers (`RELIABILITY.md` number), or `new`.
    pub case: &'static str,
    /// One line: what it does.
    pub about: &'static str,
    /// The attack.
    pub run: for<'a> fn(&'a Ctx) -> BoxFuture<'a, Outcome>,
}

macro_rules! attack {
    ($name:literal, $case:literal, $about:literal, $f:path) => {
        Attack {
            name: $name,
            case: $case,
            about: $about,
            run: |ctx| Box::pin($f(ctx)),
        }
    };
}

/// Every attack, in the order they run: light ones first, so that memory the allocator
/// keeps after the heavy ones does not hide what the light ones cost.
pub fn all() -> Vec<Attack> {
    vec![
        attack!(
            "conn-flood-per-ip",
            "2",
            "fill the per-IP cap from 127.0.0.1 with greeted connections, then 200 more",
            admission::per_ip_flood
        ),
        attack!(
            "conn-flood-total",
            "2",
            "1,245 greeted connections from 127.0.0.2..=127.0.0.250 against the total cap",
            admission::total_flood
        ),
        attack!(
            "idle-sockets",
            "4",
            "1,000 sockets from 20 addresses that connect and never send",
            admission::idle_sockets
        ),
        attack!(
            "slowloris-drip",
            "5",
            "200 connections declare a max frame and send 1 byte per 100 ms",
            admission::slowloris_drip
        ),
        attack!(
            "bad-length",
            "8",
            "length headers 0xFFFFFFFF and max+1, before and after hello, 25 each",
            framing::bad_length
        ),
        attack!(
            "garbage",
            "9,13",
            "random streams, random frames, empty, trailing-byte and truncated frames",
            framing::garbage
        ),
        attack!(
            "deep-nesting",
            "11",
            "SET and RUN arguments nested 100,000 and 1,000,000 deep (list, tuple, map)",
            framing::deep_nesting
        ),
        attack!(
            "absurd-deadline",
            "12",
            "deadlines u64::MAX s and 0; 50 one-hour calls pinned by a clamped deadline",
            framing::absurd_deadline
        ),
        attack!(
            "cancel-dup-storm",
            "new",
            "10,000 cancels of unknown ids and 1,000 requests sharing one id",
            framing::cancel_dup_storm
        ),
        attack!(
            "pipeline-10k",
            "28",
            "10,000 pipelined slow calls, then 10,000 pipelined pings, on one connection",
            calls::pipeline_10k
        ),
        attack!(
            "handle-quota",
            "20",
            "GET a method until the handle quota answers QuotaExceeded, then disconnect",
            calls::handle_quota
        ),
        attack!(
            "rst-inflight",
            "29",
            "5 connections with 100 slow calls each in flight, then RST",
            calls::rst_inflight
        ),
        attack!(
            "half-close",
            "new",
            "50 connections send calls, shut down their write side, and read the replies",
            calls::half_close
        ),
        attack!(
            "churn",
            "new",
            "5,000 connect/close cycles (half greeted, a quarter reset)",
            admission::churn
        ),
        attack!(
            "panic-storm",
            "25",
            "4 connections run a panicking method 500 times each",
            calls::panic_storm
        ),
        attack!(
            "session-abandon",
            "24",
            "400 sessions take 5 handles each and vanish (half FIN, half RST)",
            calls::session_abandon
        ),
        attack!(
            "cpu-methods",
            "new",
            "add_many(1, 2^32-1) and crunch(2^63-1): the heaviest calls the example offers",
            calls::cpu_methods
        ),
        attack!(
            "child-names",
            "new",
            "child(name) with unique 64 KiB names, each handle released at once",
            memory::child_names
        ),
        attack!(
            "copy-amplify",
            "new",
            "copy() of a 4 MiB dict, the copies held by handle",
            memory::copy_amplify
        ),
        attack!(
            "huge-arg",
            "new",
            "4 connections send set_item with a string filling the frame limit, repeatedly",
            memory::huge_arg
        ),
        attack!(
            "big-all-dir",
            "17",
            "ALL, items() and DIR of a 100,000-entry dict, from 2 connections at once",
            memory::big_all
        ),
        attack!(
            "decode-amplify",
            "new",
            "SETs of a frame of 1-byte Nones queued behind a held lock (decoded size x32)",
            memory::decode_amplify
        ),
        attack!(
            "callback-silent",
            "34",
            "connections pass count_to a callback and never answer it, 70 calls each",
            peers::silent_callbacks
        ),
        attack!(
            "hosted-flood",
            "37",
            "requests naming 150,000 distinct client objects each, as one argument",
            peers::hosted_flood
        ),
        attack!(
            "slowloris-fat",
            "5",
            "100 connections send all but the last 1,000 bytes of a max frame, then stall",
            admission::slowloris_fat
        ),
        attack!(
            "slow-reader",
            "7",
            "connections pipeline ALL of a 4 MiB dict 200 times and never read",
            calls::slow_reader
        ),
        attack!(
            "fd-squeeze",
            "3",
            "lower the server's descriptor limit (prlimit) and connect past it",
            admission::fd_squeeze
        ),
        attack!(
            "fin-inflight",
            "new",
            "slow calls, then a self-deadlocked call, in flight at an orderly close (FIN); last, as their calls may outlive the run",
            calls::fin_inflight
        ),
    ]
}

/// `count` addresses from `127.0.0.first`.
pub fn sources(first: u8, count: u8) -> Vec<Ipv4Addr> {
    (0..count).map(|i| ip(first.saturating_add(i))).collect()
}

/// Opens one connection per entry of `plan` (its source address), `concurrency` at a time;
/// greeted ones say hello. Returns the connections that succeeded and how many failed, with
/// the first failure.
pub async fn open_many(
    addr: SocketAddr,
    plan: Vec<Ipv4Addr>,
    greet: bool,
    concurrency: usize,
) -> (Vec<Conn>, usize, Option<String>) {
    let results: Vec<std::io::Result<Conn>> = futures::stream::iter(plan)
        .map(|source| async move {
            if greet {
                Conn::greeted(source, addr).await
            } else {
                Conn::connect(source, addr).await
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut conns = Vec::new();
    let mut failed = 0;
    let mut first = None;
    for result in results {
        match result {
            Ok(conn) => conns.push(conn),
            Err(e) => {
                failed += 1;
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
    (conns, failed, first)
}

/// `plan` repeated: `per` connections from each of `sources`.
pub fn spread(sources: &[Ipv4Addr], per: usize) -> Vec<Ipv4Addr> {
    sources
        .iter()
        .flat_map(|s| std::iter::repeat_n(*s, per))
        .collect()
}

/// Waits for the server to close each connection (reading and discarding), all at once;
/// returns the close times of those closed within `within` and how many stayed open.
pub async fn close_times(conns: &mut [Conn], within: Duration) -> (Vec<Duration>, usize) {
    let times = futures::future::join_all(conns.iter_mut().map(|c| c.closed_within(within))).await;
    let open = times.iter().filter(|t| t.is_none()).count();
    (times.into_iter().flatten().collect(), open)
}

/// Milliseconds, for notes.
pub fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// The largest of `times`, zero for none.
pub fn max_of(times: &[Duration]) -> Duration {
    times.iter().copied().max().unwrap_or_default()
}

/// A fresh client from 127.0.0.1 through the real client API: connect, open, call, close.
pub async fn fresh_client(addr: SocketAddr, within: Duration) -> Result<Duration, String> {
    let started = std::time::Instant::now();
    let attempt = async {
        let client = rpc_client::Client::builder()
            .connect_timeout(within)
            .timeout(within)
            .client_name("blackbox-fresh")
            .connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let counter = client
            .open("counter", (1,))
            .await
            .map_err(|e| format!("open: {e}"))?;
        let value: i64 = counter
            .call_as("add", (1,))
            .await
            .map_err(|e| format!("add: {}", e.to_string().lines().next().unwrap_or("")))?;
        if value != 2 {
            return Err(format!("add returned {value}, not 2"));
        }
        Ok::<(), String>(())
    };
    match tokio::time::timeout(within, attempt).await {
        Ok(Ok(())) => Ok(started.elapsed()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no answer within {within:?}")),
    }
}

/// A greeted connection from 127.0.0.`source`, or the failure recorded as a problem.
pub async fn greeted(ctx: &Ctx, out: &mut Outcome, source: u8) -> Option<Conn> {
    match Conn::greeted(ip(source), ctx.addr).await {
        Ok(conn) => Some(conn),
        Err(e) => {
            out.problem(format!("connect from 127.0.0.{source}: {e}"));
            None
        }
    }
}

/// A greeted connection from 127.0.0.`source` with `root` opened, or the failure recorded as
/// a problem.
pub async fn with_root(
    ctx: &Ctx,
    out: &mut Outcome,
    source: u8,
    root: &str,
) -> Option<(Conn, HandleId)> {
    let mut conn = greeted(ctx, out, source).await?;
    match conn.open(root).await {
        Ok(handle) => Some((conn, handle)),
        Err(e) => {
            out.problem(format!("open {root}: {e}"));
            None
        }
    }
}
