//! Admission and the connection clocks: floods past the caps, idle and slow sockets, churn,
//! and descriptor exhaustion forced on the server from outside.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rpc_core::{Op, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{close_times, fresh_client, max_of, ms, open_many, sources, spread};
use crate::context::{Ctx, Outcome};
use crate::procfs;
use crate::raw::{Conn, ip};

/// How soon a connection refused at accept must be seen closed.
const REFUSED_WITHIN: Duration = Duration::from_secs(2);

/// Slack over a clock for a close to be seen.
const CLOCK_SLACK: Duration = Duration::from_secs(2);

pub async fn per_ip_flood(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let Some(before) = ctx.stats(&mut out).await else {
        return out;
    };
    // The control client and the monitor already hold slots of 127.0.0.1.
    let own = ctx.own_sessions as usize;
    let room = ctx.per_ip.saturating_sub(own);
    let mut held = Vec::with_capacity(room);
    let mut fill_failed = 0;
    let mut fill_error = None;
    for _ in 0..room {
        match Conn::greeted(ip(1), ctx.addr).await {
            Ok(conn) => held.push(conn),
            Err(e) => {
                fill_failed += 1;
                fill_error.get_or_insert(e.to_string());
            }
        }
    }
    out.note(format!(
        "{} greeted connections held from 127.0.0.1 (cap {}, {own} already held by control and monitor)",
        held.len(),
        ctx.per_ip
    ));
    out.expect(
        fill_failed == 0,
        format!("{fill_failed} connections under the per-IP cap failed: {fill_error:?}"),
    );
    const EXTRA: usize = 200;
    let (mut extra, connect_failed, first) =
        open_many(ctx.addr, vec![ip(1); EXTRA], false, 50).await;
    let (times, open) = close_times(&mut extra, REFUSED_WITHIN).await;
    out.note(format!(
        "{} of {EXTRA} connections past the cap closed by the server, slowest after {} ms; {connect_failed} failed to connect ({first:?})",
        times.len(),
        ms(max_of(&times))
    ));
    out.expect(
        open == 0,
        format!("{open} connections past the per-IP cap were still open after {REFUSED_WITHIN:?}"),
    );
    // Another address is unaffected.
    match Conn::greeted(ip(3), ctx.addr).await {
        Ok(mut other) => match other.ok(Op::Ping).await {
            Ok(Reply::Done) => out.note("127.0.0.3 served during the flood"),
            other => out.problem(format!("127.0.0.3 not served during the flood: {other:?}")),
        },
        Err(e) => out.problem(format!("127.0.0.3 could not connect during the flood: {e}")),
    }
    // The held connections still work.
    if let Some(first) = held.first_mut() {
        if !matches!(first.ok(Op::Ping).await, Ok(Reply::Done)) {
            out.problem("a held connection under the cap stopped answering");
        }
    }
    if let Some(after) = ctx.stats(&mut out).await {
        let refused = after.refused_per_ip_total - before.refused_per_ip_total;
        out.note(format!("refused_per_ip_total +{refused}"));
        out.expect(
            refused as usize >= EXTRA,
            format!("refused_per_ip_total grew by {refused}, expected at least {EXTRA}"),
        );
    }
    out
}

pub async fn total_flood(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let Some(before) = ctx.stats(&mut out).await else {
        return out;
    };
    let plan = spread(&sources(2, 249), 5);
    let attempted = plan.len();
    let started = Instant::now();
    let (mut held, failed, first) = open_many(ctx.addr, plan, true, 64).await;
    let room = ctx.total.saturating_sub(before.sessions as usize);
    out.note(format!(
        "{attempted} greeted connections attempted from 249 addresses in {} ms: {} held, {failed} refused (room under the total cap: {room}); first refusal: {}",
        ms(started.elapsed()),
        held.len(),
        first.unwrap_or_default()
    ));
    out.expect(
        held.len() <= room,
        format!(
            "{} connections held, more than the {room} the total cap of {} leaves",
            held.len(),
            ctx.total
        ),
    );
    if held.len() + 8 < room {
        out.warn(format!(
            "only {} of {room} free slots could be taken (descriptor limit of the server?)",
            held.len()
        ));
    }
    // While every slot is taken, a new client cannot get in: nothing closes greeted sessions
    // that stay silent.
    match fresh_client(ctx.addr, Duration::from_secs(2)).await {
        Ok(_) => out.note("a new client was served while the flood held the slots"),
        Err(e) => out.warn(format!(
            "a new client is refused while {} silent greeted connections hold every slot (no idle timeout once the first frame is in): {e}",
            held.len()
        )),
    }
    // Held connections outlive the first-frame clock: they are sessions, not idle sockets.
    // Waiting out the clock is the point of the attack, not synchronisation.
    tokio::time::sleep(ctx.clocks.first_frame + Duration::from_millis(300)).await;
    let sample = held.len().min(20);
    let mut answered = 0;
    for conn in held.iter_mut().take(sample) {
        if matches!(conn.ok(Op::Ping).await, Ok(Reply::Done)) {
            answered += 1;
        }
    }
    out.note(format!(
        "{answered} of {sample} held connections still answer after the first-frame clock"
    ));
    if let Some(after) = ctx.stats(&mut out).await {
        out.note(format!(
            "refused_full_total +{}, sessions at peak {}",
            after.refused_full_total - before.refused_full_total,
            after.sessions
        ));
    }
    out
}

pub async fn idle_sockets(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let Some(before) = ctx.stats(&mut out).await else {
        return out;
    };
    let plan = spread(&sources(2, 20), 50);
    let (mut conns, failed, first) = open_many(ctx.addr, plan, false, 100).await;
    out.expect(
        failed == 0,
        format!("{failed} idle sockets failed to connect: {first:?}"),
    );
    let bound = ctx.clocks.first_frame + CLOCK_SLACK;
    let (times, open) = close_times(&mut conns, bound + Duration::from_secs(1)).await;
    out.note(format!(
        "{} of {} idle sockets closed by the server, last after {} ms (first-frame clock {} ms)",
        times.len(),
        conns.len(),
        ms(max_of(&times)),
        ms(ctx.clocks.first_frame)
    ));
    out.expect(open == 0, format!("{open} idle sockets never closed"));
    out.expect(
        max_of(&times) <= bound,
        format!("idle sockets closed only after {} ms", ms(max_of(&times))),
    );
    if let Some(after) = ctx.stats(&mut out).await {
        out.note(format!(
            "stalled_total +{}",
            after.stalled_total - before.stalled_total
        ));
    }
    out
}

/// Declares a max frame, then sends one byte every 100 ms until the server closes the
/// connection or `bound` passes; the time to the close.
async fn drip(mut conn: Conn, max_frame: usize, bound: Duration) -> Option<Duration> {
    let started = Instant::now();
    let header = (max_frame as u32).to_be_bytes();
    if conn.write(&header).await.is_err() || conn.write(&[0u8; 10]).await.is_err() {
        return Some(started.elapsed());
    }
    let mut buf = [0u8; 1024];
    while started.elapsed() < bound {
        tokio::select! {
            read = conn.stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return Some(started.elapsed()),
                Ok(_) => {}
            },
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                if conn.stream.write_all(&[0]).await.is_err() {
                    return Some(started.elapsed());
                }
            }
        }
    }
    None
}

pub async fn slowloris_drip(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let Some(before) = ctx.stats(&mut out).await else {
        return out;
    };
    for (label, greet, first, clock) in [
        ("after hello", true, 2, ctx.clocks.frame),
        ("as the first frame", false, 4, ctx.clocks.first_frame),
    ] {
        let (conns, failed, err) =
            open_many(ctx.addr, spread(&sources(first, 2), 50), greet, 50).await;
        out.expect(failed == 0, format!("{failed} connections failed: {err:?}"));
        let bound = clock + CLOCK_SLACK;
        let times: Vec<Option<Duration>> = futures::future::join_all(
            conns
                .into_iter()
                .map(|c| drip(c, ctx.max_frame, bound + Duration::from_secs(1))),
        )
        .await;
        let closed: Vec<Duration> = times.iter().flatten().copied().collect();
        let open = times.len() - closed.len();
        out.note(format!(
            "dripping {label}: {} of {} closed, last after {} ms (clock {} ms)",
            closed.len(),
            times.len(),
            ms(max_of(&closed)),
            ms(clock)
        ));
        out.expect(
            open == 0,
            format!("dripping {label}: {open} connections still open"),
        );
        out.expect(
            max_of(&closed) <= bound,
            format!(
                "dripping {label}: closed only after {} ms",
                ms(max_of(&closed))
            ),
        );
    }
    if let Some(after) = ctx.stats(&mut out).await {
        out.note(format!(
            "stalled_total +{}",
            after.stalled_total - before.stalled_total
        ));
    }
    out
}

pub async fn slowloris_fat(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    const CONNS: usize = 100;
    let (conns, failed, err) = open_many(ctx.addr, spread(&sources(2, 2), 50), true, 50).await;
    out.expect(failed == 0, format!("{failed} connections failed: {err:?}"));
    let body = Arc::new(vec![0u8; ctx.max_frame - 1000]);
    let header = (ctx.max_frame as u32).to_be_bytes();
    let bound = ctx.clocks.frame + CLOCK_SLACK + Duration::from_secs(3);
    let started = Instant::now();
    let results: Vec<(bool, Option<Duration>)> =
        futures::future::join_all(conns.into_iter().map(|mut conn| {
            let body = Arc::clone(&body);
            async move {
                let t0 = Instant::now();
                let sent = conn.write(&header).await.is_ok() && conn.write(&body).await.is_ok();
                let closed = conn.closed_within(bound).await.map(|_| t0.elapsed());
                (sent, closed)
            }
        }))
        .await;
    let sent = results.iter().filter(|r| r.0).count();
    let closed: Vec<Duration> = results.iter().filter_map(|r| r.1).collect();
    out.note(format!(
        "{sent} of {CONNS} sent {} bytes of a {}-byte frame ({} MiB in all, {} ms); {} closed, last {} ms after its header (frame clock {} ms)",
        ctx.max_frame - 1000,
        ctx.max_frame,
        sent * (ctx.max_frame - 1000) / (1 << 20),
        ms(started.elapsed()),
        closed.len(),
        ms(max_of(&closed)),
        ms(ctx.clocks.frame)
    ));
    out.expect(
        closed.len() == results.len(),
        format!(
            "{} stalled frames never closed",
            results.len() - closed.len()
        ),
    );
    out
}

pub async fn churn(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let cycles: usize = 5_000;
    let addr = ctx.addr;
    let started = Instant::now();
    let results: Vec<(bool, bool)> = futures::stream::iter(0..cycles)
        .map(|i| async move {
            let source = ip(2 + (i % 20) as u8);
            let Ok(mut conn) = Conn::connect(source, addr).await else {
                return (false, false);
            };
            let greeted = if i % 2 == 0 {
                conn.hello().await.is_ok()
            } else {
                true
            };
            if i % 4 == 3 {
                conn.reset();
            }
            (true, greeted)
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let connect_failed = results.iter().filter(|r| !r.0).count();
    let hello_failed = results.iter().filter(|r| r.0 && !r.1).count();
    out.note(format!(
        "{cycles} cycles in {} ms ({:.0}/s): {connect_failed} connects failed, {hello_failed} hellos failed",
        ms(elapsed),
        cycles as f64 / elapsed.as_secs_f64()
    ));
    out.expect(
        connect_failed == 0 && hello_failed == 0,
        format!("{connect_failed} connects and {hello_failed} hellos failed during churn"),
    );
    out
}

/// Restores the server's descriptor limit when dropped.
struct LimitGuard {
    pid: i32,
    soft: u64,
    hard: u64,
}

impl Drop for LimitGuard {
    fn drop(&mut self) {
        let _ = rlimit::prlimit(
            self.pid,
            rlimit::Resource::NOFILE,
            Some((self.soft, self.hard)),
            None,
        );
    }
}

pub async fn fd_squeeze(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let pid = ctx.pid as i32;
    let (mut soft, mut hard) = (0u64, 0u64);
    if let Err(e) = rlimit::prlimit(
        pid,
        rlimit::Resource::NOFILE,
        None,
        Some((&mut soft, &mut hard)),
    ) {
        out.warn(format!(
            "cannot read the server's descriptor limit: {e}; skipped"
        ));
        return out;
    }
    let Ok(fds) = procfs::fd_count(ctx.pid) else {
        out.problem("cannot count the server's descriptors");
        return out;
    };
    let squeezed = fds + 30;
    if let Err(e) = rlimit::prlimit(pid, rlimit::Resource::NOFILE, Some((squeezed, hard)), None) {
        out.warn(format!(
            "cannot lower the server's descriptor limit: {e}; skipped"
        ));
        return out;
    }
    let guard = LimitGuard { pid, soft, hard };
    out.note(format!(
        "server descriptor limit lowered from {soft} to {squeezed} ({fds} in use)"
    ));
    let (conns, failed, err) = open_many(ctx.addr, spread(&sources(2, 2), 50), false, 50).await;
    out.note(format!(
        "{} sockets connected past the limit ({failed} failed: {err:?})",
        conns.len()
    ));
    // CPU of the server while its accept fails: backoff, not a spin.
    let window = Duration::from_millis(1500);
    let ticks = procfs::clock_ticks_per_second();
    let t0 = procfs::cpu_ticks(ctx.pid).unwrap_or(0);
    // Measuring CPU over a fixed window is the point: the wait is the measurement.
    tokio::time::sleep(window).await;
    let t1 = procfs::cpu_ticks(ctx.pid).unwrap_or(0);
    let cpu = (t1.saturating_sub(t0)) as f64 / ticks as f64 / window.as_secs_f64() * 100.0;
    out.note(format!(
        "server CPU while out of descriptors: {cpu:.0}% of a core"
    ));
    out.expect(
        cpu < 50.0,
        format!("server used {cpu:.0}% of a core while out of descriptors (spinning accept?)"),
    );
    drop(conns);
    drop(guard);
    let started = Instant::now();
    match fresh_client(ctx.addr, Duration::from_secs(5)).await {
        Ok(_) => {
            out.note(format!(
                "a new client was served {} ms after the descriptors were freed",
                ms(started.elapsed())
            ));
            out.expect(
                started.elapsed() <= Duration::from_secs(2),
                format!(
                    "service resumed only {} ms after the descriptors were freed",
                    ms(started.elapsed())
                ),
            );
        }
        Err(e) => out.problem(format!(
            "no new client served within 5 s after the descriptors were freed: {e}"
        )),
    }
    out
}
