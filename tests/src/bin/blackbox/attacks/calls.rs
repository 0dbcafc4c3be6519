//! Calls: peers that never read, pipelined floods, the handle quota, disconnects with calls
//! in flight, panics, abandoned sessions and the heaviest methods of the example.

use std::time::{Duration, Instant};

use futures::StreamExt;
use rpc_core::{ErrorKind, HandleId, Op, Reply, Value};
use tokio::io::AsyncWriteExt;

use super::{close_times, ms, open_many, sources, spread, with_root};
use crate::context::{Ctx, Outcome};
use crate::procfs;
use crate::raw::{Conn, frame, ip, is_kind, kind_of, payload, run};

fn slow(counter: HandleId, millis: i64) -> Op {
    run(counter, "slow_value", vec![Value::Int(millis)])
}

pub async fn slow_reader(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let Some(before) = ctx.stats(&mut out).await else {
        return out;
    };
    let n = ctx.pick(4, 8);
    let mut conns = Vec::new();
    for i in 0..n {
        let Some((mut conn, dict)) = with_root(ctx, &mut out, 2 + i as u8, "dict").await else {
            return out;
        };
        for k in 0..16 {
            let op = run(
                dict,
                "set_item",
                vec![Value::Int(k), Value::Str("x".repeat(256 * 1024))],
            );
            if let Err(e) = conn.ok(op).await {
                out.problem(format!("filling the dict: {e}"));
                return out;
            }
        }
        let mut bytes = Vec::new();
        for _ in 0..200 {
            let id = conn.id();
            bytes.extend(frame(&payload(
                id,
                Op::All { handle: dict },
                vec![],
                crate::raw::DEADLINE,
            )));
        }
        if let Err(e) = conn.write(&bytes).await {
            out.problem(format!("pipelining ALL: {e}"));
            return out;
        }
        conns.push(conn);
    }
    out.note(format!(
        "{n} connections each pipelined 200 ALL of a 4 MiB dict (800 MiB of replies each) and read nothing"
    ));
    let bound = ctx.clocks.write + Duration::from_secs(15);
    let started = Instant::now();
    let target = before.stalled_total + n as u64;
    let (closed, last) = ctx.wait_stats(bound, |s| s.stalled_total >= target).await;
    out.note(format!(
        "stalled_total +{} after {} ms (write clock {} ms)",
        last.map_or(0, |s| s.stalled_total - before.stalled_total),
        ms(started.elapsed()),
        ms(ctx.clocks.write)
    ));
    out.expect(
        closed,
        format!("the non-reading peers were not closed within {bound:?}"),
    );
    let (_, open) = close_times(&mut conns, Duration::from_secs(5)).await;
    out.expect(
        open == 0,
        format!("{open} non-reading connections still open"),
    );
    out
}

pub async fn pipeline_10k(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let Some(before) = ctx.stats(&mut out).await else {
        return out;
    };
    let Some((conn, counter)) = with_root(ctx, &mut out, 2, "counter").await else {
        return out;
    };
    const CALLS: usize = 10_000;
    let (mut reader, mut writer) = conn.stream.into_split();
    for (label, op) in [("slow_value(200)", slow(counter, 200)), ("ping", Op::Ping)] {
        let mut bytes = Vec::with_capacity(CALLS * 64);
        for id in 0..CALLS as u64 {
            bytes.extend(frame(&payload(
                10_000 + id,
                op.clone(),
                vec![],
                crate::raw::DEADLINE,
            )));
        }
        let started = Instant::now();
        let reading = std::sync::atomic::AtomicBool::new(true);
        let write = async {
            let _ = writer.write_all(&bytes).await;
        };
        let read = async {
            let (mut ok, mut overloaded, mut throttled, mut other) =
                (0usize, 0usize, 0usize, 0usize);
            let mut closed = false;
            while ok + overloaded + throttled + other < CALLS {
                match crate::raw::read_answer(&mut reader).await {
                    Ok(Some((_, answer))) => match &answer {
                        Ok(Ok(_)) => ok += 1,
                        a if is_kind(a, ErrorKind::Overloaded) => overloaded += 1,
                        Err(e) if e.detail.contains("throttled") => throttled += 1,
                        _ => other += 1,
                    },
                    Ok(None) | Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
            reading.store(false, std::sync::atomic::Ordering::Relaxed);
            (ok, overloaded, throttled, other, closed)
        };
        let max_in_flight = async {
            let mut max = 0;
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline && reading.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(s) = ctx.monitor.stats().await {
                    max = max.max(s.calls_in_flight);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            max
        };
        let bounded = tokio::time::timeout(Duration::from_secs(40), async {
            let ((), counts, max) = tokio::join!(write, read, max_in_flight);
            (counts, max)
        })
        .await;
        let Ok(((ok, overloaded, throttled, other, closed), max)) = bounded else {
            out.problem(format!(
                "{label}: {CALLS} pipelined calls not all answered within 40 s"
            ));
            return out;
        };
        out.note(format!(
            "{CALLS} pipelined {label}: {ok} ran, {overloaded} Overloaded, {throttled} throttled by tarpc, {other} other, in {} ms; peak calls in flight {} (limit {} per connection)",
            ms(started.elapsed()),
            max.saturating_sub(before.calls_in_flight),
            ctx.max_in_flight
        ));
        out.expect(
            !closed,
            format!("{label}: the connection was closed mid-flood"),
        );
        out.expect(other == 0, format!("{label}: {other} unexpected answers"));
        out.expect(
            max <= before.calls_in_flight + ctx.max_in_flight as u64 + 2,
            format!("{label}: {max} calls in flight, over the per-connection limit"),
        );
    }
    out
}

pub async fn handle_quota(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let Some(before) = ctx.stats(&mut out).await else {
        return out;
    };
    let Some((mut conn, counter)) = with_root(ctx, &mut out, 2, "counter").await else {
        return out;
    };
    let rss_before = procfs::sample(ctx.pid).map_or(0, |s| s.rss_kib);
    let target = ctx.max_handles + 100;
    let (mut sent, mut received) = (0usize, 0usize);
    let (mut handles, mut quota, mut other) = (0usize, 0usize, 0usize);
    let mut first_other = None;
    let started = Instant::now();
    while received < target {
        if sent - received <= 64 && sent < target {
            let mut bytes = Vec::with_capacity(64 * 48);
            for _ in 0..64.min(target - sent) {
                let id = conn.id();
                bytes.extend(frame(&payload(
                    id,
                    Op::Get {
                        handle: counter,
                        name: "add".into(),
                    },
                    vec![],
                    crate::raw::DEADLINE,
                )));
                sent += 1;
            }
            if let Err(e) = conn.write(&bytes).await {
                out.problem(format!("connection closed after {received} answers: {e}"));
                return out;
            }
        }
        match tokio::time::timeout(Duration::from_secs(10), conn.recv()).await {
            Ok(Ok(Some((_, answer)))) => {
                received += 1;
                match &answer {
                    Ok(Ok(Reply::Object(_))) => handles += 1,
                    a if is_kind(a, ErrorKind::QuotaExceeded) => quota += 1,
                    a => {
                        other += 1;
                        first_other.get_or_insert(kind_of(a));
                    }
                }
            }
            other => {
                out.problem(format!("no answer after {received}: {other:?}"));
                return out;
            }
        }
    }
    let rss_full = procfs::sample(ctx.pid).map_or(0, |s| s.rss_kib);
    let held = ctx
        .stats(&mut out)
        .await
        .map_or(0, |s| s.handles - before.handles);
    out.note(format!(
        "{target} GETs of a method in {} ms: {handles} handles, {quota} QuotaExceeded, {other} other {first_other:?}; {held} handles held; RSS +{} KiB ({} bytes per handle)",
        ms(started.elapsed()),
        rss_full.saturating_sub(rss_before),
        (rss_full.saturating_sub(rss_before) * 1024) / handles.max(1) as u64
    ));
    // The open root holds one handle of the quota.
    let room = ctx.max_handles - 1;
    out.expect(
        handles == room && quota == target - room,
        format!(
            "expected {room} handles then {} QuotaExceeded, got {handles} and {quota}",
            target - room
        ),
    );
    // An orderly close: every answer has been read, so this is a FIN.
    drop(conn);
    out
}

pub async fn rst_inflight(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let Some(before) = ctx.stats(&mut out).await else {
        return out;
    };
    let mut conns = Vec::new();
    for i in 0..5u8 {
        let Some((mut conn, counter)) = with_root(ctx, &mut out, 2 + i, "counter").await else {
            return out;
        };
        let mut bytes = Vec::new();
        for _ in 0..100 {
            let id = conn.id();
            bytes.extend(frame(&payload(
                id,
                slow(counter, 60_000),
                vec![],
                crate::raw::DEADLINE,
            )));
        }
        let _ = conn.write(&bytes).await;
        conns.push(conn);
    }
    let base = before.calls_in_flight;
    let (running, last) = ctx
        .wait_stats(Duration::from_secs(5), |s| s.calls_in_flight >= base + 500)
        .await;
    out.note(format!(
        "{} slow calls in flight on 5 connections{}",
        last.map_or(0, |s| s.calls_in_flight - base),
        if running { "" } else { " (not all started)" }
    ));
    for conn in conns {
        conn.reset();
    }
    let started = Instant::now();
    let (freed, _) = ctx
        .wait_stats(Duration::from_secs(5), |s| {
            s.calls_in_flight <= base && s.sessions <= before.sessions
        })
        .await;
    out.note(format!(
        "after RST: calls and sessions freed in {} ms",
        ms(started.elapsed())
    ));
    out.expect(freed, "calls or sessions not freed within 5 s of the reset");
    out
}

/// Sends `ops` on a new connection from `source` with a one-hour deadline, waits until
/// `expect` more calls are in flight, closes with a FIN, and reports whether the calls and the
/// session were freed within `bound`.
async fn close_with_calls_in_flight(
    ctx: &Ctx,
    out: &mut Outcome,
    label: &str,
    source: u8,
    ops: impl Fn(HandleId) -> Vec<Op>,
    bound: Duration,
) {
    let Some(before) = ctx.stats(out).await else {
        return;
    };
    let Some((mut conn, counter)) = with_root(ctx, out, source, "counter").await else {
        return;
    };
    let ops = ops(counter);
    let count = ops.len() as u64;
    let mut bytes = Vec::new();
    for op in ops {
        let id = conn.id();
        bytes.extend(frame(&payload(id, op, vec![], Duration::from_secs(3600))));
    }
    let _ = conn.write(&bytes).await;
    let base = before.calls_in_flight;
    let (running, _) = ctx
        .wait_stats(Duration::from_secs(5), |s| {
            s.calls_in_flight >= base + count
        })
        .await;
    if !running {
        out.warn(format!("{label}: not all {count} calls started"));
    }
    // Every reply so far has been read: dropping the socket sends a FIN, not a reset.
    drop(conn);
    let started = Instant::now();
    let (freed, last) = ctx
        .wait_stats(bound, |s| {
            s.calls_in_flight <= base && s.sessions <= before.sessions
        })
        .await;
    if freed {
        out.note(format!(
            "{label}: after the FIN, calls and session freed in {} ms",
            ms(started.elapsed())
        ));
    } else if let Some(s) = last {
        out.problem(format!(
            "{label}: {} s after the client closed (FIN) its calls still run: calls in flight +{}, sessions +{}, handles +{} (held until the calls' 1 h deadline)",
            bound.as_secs(),
            s.calls_in_flight.saturating_sub(base),
            s.sessions.saturating_sub(before.sessions),
            s.handles.saturating_sub(before.handles)
        ));
    }
}

pub async fn fin_inflight(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let bound = Duration::from_secs(ctx.pick(3, 15));
    close_with_calls_in_flight(
        ctx,
        &mut out,
        "10 slow_value(50 min)",
        2,
        |counter| (0..10).map(|_| slow(counter, 3_000_000)).collect(),
        bound,
    )
    .await;
    // absorb(itself) takes the counter's write lock and then waits for a read lock on the
    // same counter: it can only end at its deadline.
    close_with_calls_in_flight(
        ctx,
        &mut out,
        "absorb(itself), a call that waits on its own lock",
        3,
        |counter| vec![run(counter, "absorb", vec![Value::Handle(counter)])],
        bound,
    )
    .await;
    // Whether such closed connections keep their admission slots: fill one address's slots
    // with connections that each leave a call running, close them all, connect again.
    let source = ip(4);
    let addr = ctx.addr;
    let Some(before) = ctx.stats(&mut out).await else {
        return out;
    };
    let opened: Vec<Option<Conn>> = futures::stream::iter(0..ctx.per_ip)
        .map(|_| async move {
            let mut conn = Conn::greeted(source, addr).await.ok()?;
            let counter = conn.open("counter").await.ok()?;
            let id = conn.id();
            let op = slow(counter, 3_000_000);
            conn.write(&frame(&payload(id, op, vec![], Duration::from_secs(3600))))
                .await
                .ok()?;
            Some(conn)
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let opened: Vec<Conn> = opened.into_iter().flatten().collect();
    let count = opened.len() as u64;
    let _ = ctx
        .wait_stats(Duration::from_secs(5), |s| {
            s.calls_in_flight >= before.calls_in_flight + count
        })
        .await;
    drop(opened);
    let deadline = Instant::now() + bound;
    let mut served = false;
    while Instant::now() < deadline {
        if let Ok(mut again) = Conn::greeted(source, addr).await {
            served = matches!(again.ok(Op::Ping).await, Ok(Reply::Done));
            if served {
                break;
            }
        }
        // Slots are freed asynchronously to the close: retry, bounded by the deadline.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if served {
        out.note(format!(
            "{count} connections from 127.0.0.4 closed (FIN) with a call each in flight: a new connection from it is served"
        ));
    } else {
        out.problem(format!(
            "{count} connections from 127.0.0.4 closed (FIN) with a call each in flight keep its {} per-IP slots: new connections from it refused for {} s (until the calls' 1 h deadline)",
            ctx.per_ip,
            bound.as_secs()
        ));
    }
    out
}

pub async fn half_close(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let (conns, failed, err) = open_many(ctx.addr, spread(&sources(2, 2), 25), true, 25).await;
    out.expect(failed == 0, format!("{failed} connects failed: {err:?}"));
    let results = futures::future::join_all(conns.into_iter().map(|mut conn| async move {
        let Ok(counter) = conn.open("counter").await else {
            return (0usize, false);
        };
        let mut bytes = Vec::new();
        for _ in 0..10 {
            let id = conn.id();
            bytes.extend(frame(&payload(
                id,
                slow(counter, 300),
                vec![],
                crate::raw::DEADLINE,
            )));
        }
        if conn.write(&bytes).await.is_err() || conn.stream.shutdown().await.is_err() {
            return (0, false);
        }
        let mut answers = 0;
        let read = async {
            while let Ok(Some(_)) = conn.recv().await {
                answers += 1;
            }
        };
        let closed = tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .is_ok();
        (answers, closed)
    }))
    .await;
    let answered: usize = results.iter().map(|r| r.0).sum();
    let closed = results.iter().filter(|r| r.1).count();
    out.note(format!(
        "{} connections sent 10 calls each then shut down writing: {answered} of {} replies delivered, {closed} closed by the server",
        results.len(),
        results.len() * 10
    ));
    if answered < results.len() * 10 {
        out.warn(format!(
            "{} replies to calls sent before a half-close were dropped",
            results.len() * 10 - answered
        ));
    }
    out.expect(
        closed == results.len(),
        format!(
            "{} half-closed connections never closed",
            results.len() - closed
        ),
    );
    out
}

pub async fn panic_storm(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let Some(before) = ctx.stats(&mut out).await else {
        return out;
    };
    let mut conns = Vec::new();
    for i in 0..4u8 {
        let Some(pair) = with_root(ctx, &mut out, 2 + i, "counter").await else {
            return out;
        };
        conns.push(pair);
    }
    const PER: usize = 500;
    let started = Instant::now();
    let results =
        futures::future::join_all(conns.into_iter().map(|(mut conn, counter)| async move {
            let (mut panicked, mut other) = (0usize, 0usize);
            for _ in 0..PER / 25 {
                let mut bytes = Vec::new();
                for _ in 0..25 {
                    let id = conn.id();
                    bytes.extend(frame(&payload(
                        id,
                        run(counter, "explode", vec![]),
                        vec![],
                        crate::raw::DEADLINE,
                    )));
                }
                if conn.write(&bytes).await.is_err() {
                    return (panicked, other, false);
                }
                for _ in 0..25 {
                    match tokio::time::timeout(Duration::from_secs(10), conn.recv()).await {
                        Ok(Ok(Some((_, a)))) if is_kind(&a, ErrorKind::Panicked) => panicked += 1,
                        Ok(Ok(Some(_))) => other += 1,
                        _ => return (panicked, other, false),
                    }
                }
            }
            let alive = matches!(conn.ok(Op::Ping).await, Ok(Reply::Done));
            (panicked, other, alive)
        }))
        .await;
    let elapsed = started.elapsed();
    let panicked: usize = results.iter().map(|r| r.0).sum();
    let other: usize = results.iter().map(|r| r.1).sum();
    let alive = results.iter().filter(|r| r.2).count();
    out.note(format!(
        "{panicked} Panicked answers, {other} other, in {} ms ({:.0} panics/s); {alive} of 4 connections still answer",
        ms(elapsed),
        panicked as f64 / elapsed.as_secs_f64()
    ));
    out.expect(
        panicked == 4 * PER,
        format!(
            "{} panicking calls not answered Panicked",
            4 * PER - panicked
        ),
    );
    out.expect(
        alive == 4,
        format!("{} connections broken by panics", 4 - alive),
    );
    if let Some(after) = ctx.stats(&mut out).await {
        let counted = after.panics_total - before.panics_total;
        out.note(format!("panics_total +{counted}"));
    }
    out
}

pub async fn session_abandon(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let Some(before) = ctx.stats(&mut out).await else {
        return out;
    };
    let addr = ctx.addr;
    let plan = spread(&sources(2, 10), 40);
    let sessions: Vec<Option<Conn>> = futures::stream::iter(plan)
        .map(|source| async move {
            let mut conn = Conn::greeted(source, addr).await.ok()?;
            let counter = conn.open("counter").await.ok()?;
            conn.open("dict").await.ok()?;
            conn.open("list").await.ok()?;
            conn.ok(run(counter, "child", vec![Value::Str("a".into())]))
                .await
                .ok()?;
            conn.ok(Op::Get {
                handle: counter,
                name: "add".into(),
            })
            .await
            .ok()?;
            Some(conn)
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let opened: Vec<Conn> = sessions.into_iter().flatten().collect();
    let held = ctx
        .stats(&mut out)
        .await
        .map_or(0, |s| s.handles - before.handles);
    out.note(format!(
        "{} of 400 sessions opened, {held} handles held; half closed with FIN, half with RST",
        opened.len()
    ));
    out.expect(
        opened.len() == 400,
        format!("{} sessions failed to open", 400 - opened.len()),
    );
    for (i, conn) in opened.into_iter().enumerate() {
        if i % 2 == 0 {
            drop(conn);
        } else {
            conn.reset();
        }
    }
    out
}

pub async fn cpu_methods(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let mut tasks = Vec::new();
    for (i, (label, method, arg)) in [
        (
            "add_many(1, 2^32-1)",
            "add_many",
            vec![Value::Int(1), Value::Int(i64::from(u32::MAX))],
        ),
        (
            "add_many(1, 2^32-1)",
            "add_many",
            vec![Value::Int(1), Value::Int(i64::from(u32::MAX))],
        ),
        ("crunch(2^63-1)", "crunch", vec![Value::Int(i64::MAX)]),
        ("crunch(2^63-1)", "crunch", vec![Value::Int(i64::MAX)]),
    ]
    .into_iter()
    .enumerate()
    {
        let Some((mut conn, counter)) = with_root(ctx, &mut out, 2 + i as u8, "counter").await
        else {
            return out;
        };
        tasks.push(async move {
            let started = Instant::now();
            let id = conn.id();
            let op = run(counter, method, arg);
            let _ = conn
                .write(&frame(&payload(id, op, vec![], Duration::from_secs(10))))
                .await;
            let answer = tokio::time::timeout(Duration::from_secs(20), conn.answer_to(id)).await;
            (
                label,
                started.elapsed(),
                answer.ok().and_then(Result::ok).map(|a| kind_of(&a)),
            )
        });
    }
    let results = futures::future::join_all(tasks).await;
    let mut slowest = Duration::ZERO;
    for (label, took, answer) in &results {
        slowest = slowest.max(*took);
        out.note(format!(
            "{label}: answered {} after {} ms",
            match answer {
                Some(None) => "ok".to_owned(),
                Some(Some(kind)) => kind.clone(),
                None => "nothing".to_owned(),
            },
            ms(*took)
        ));
    }
    if slowest > Duration::from_secs(1) {
        out.warn(format!(
            "a single call of the example kept the server busy for {} ms",
            ms(slowest)
        ));
    }
    out
}
