//! Memory: arguments at the frame limit, large replies, and requests whose server-side cost
//! is many times their size on the wire.

use std::time::{Duration, Instant};

use rpc_core::{HandleId, Op, Release, Reply, Value};

use super::{ms, with_root};
use crate::context::{Ctx, Outcome};
use crate::procfs;
use crate::raw::{DEADLINE, RawValue, frame, kind_of, payload, run, spliced};

fn rss_kib(ctx: &Ctx) -> u64 {
    procfs::sample(ctx.pid).map_or(0, |s| s.rss_kib)
}

/// The payload of `set_item(0, "xxx...")` on `dict`, exactly `size` bytes long.
fn set_item_of_size(dict: HandleId, id: u64, size: usize) -> Option<Vec<u8>> {
    let op = |n: usize| {
        run(
            dict,
            "set_item",
            vec![Value::Int(0), Value::Str("x".repeat(n))],
        )
    };
    let empty = payload(id, op(0), vec![], DEADLINE).len();
    // A string of 65,536 bytes or more takes 4 more length bytes than the empty one.
    let n = size.checked_sub(empty + 4)?;
    let bytes = payload(id, op(n), vec![], DEADLINE);
    (bytes.len() == size).then_some(bytes)
}

pub async fn huge_arg(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let reps = ctx.pick(10, 25);
    let mut tasks = Vec::new();
    for i in 0..4u8 {
        let Some((mut conn, dict)) = with_root(ctx, &mut out, 2 + i, "dict").await else {
            return out;
        };
        let Some(bytes) = set_item_of_size(dict, 77, ctx.max_frame) else {
            out.problem("cannot build a request of exactly the frame limit");
            return out;
        };
        let framed = frame(&bytes);
        tasks.push(async move {
            let mut ok = 0;
            let mut failure = None;
            for _ in 0..reps {
                if let Err(e) = conn.write(&framed).await {
                    failure = Some(format!("write: {e}"));
                    break;
                }
                match conn.answer_to(77).await {
                    Ok(Ok(Ok(_))) => ok += 1,
                    Ok(a) => {
                        failure.get_or_insert(format!("answered {:?}", kind_of(&a)));
                    }
                    Err(e) => {
                        failure = Some(e.to_string());
                        break;
                    }
                }
            }
            (ok, failure)
        });
    }
    let started = Instant::now();
    let results = futures::future::join_all(tasks).await;
    let elapsed = started.elapsed();
    let ok: usize = results.iter().map(|r| r.0).sum();
    let mib = ok * ctx.max_frame / (1 << 20);
    out.note(format!(
        "{ok} of {} set_item requests of exactly {} bytes accepted ({mib} MiB in {} ms, {:.0} MiB/s)",
        4 * reps,
        ctx.max_frame,
        ms(elapsed),
        mib as f64 / elapsed.as_secs_f64()
    ));
    for failure in results.iter().filter_map(|r| r.1.as_ref()) {
        out.problem(format!("a request at the frame limit failed: {failure}"));
    }
    out
}

pub async fn big_all(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    const ENTRIES: i64 = 100_000;
    let reps = ctx.pick(5, 30);
    let mut tasks = Vec::new();
    for i in 0..2u8 {
        let Some((mut conn, dict)) = with_root(ctx, &mut out, 2 + i, "dict").await else {
            return out;
        };
        let map = Value::Map(
            (0..ENTRIES)
                .map(|k| (Value::Int(k), Value::Str(format!("value-{k:08}"))))
                .collect(),
        );
        if let Err(e) = conn.ok(run(dict, "update", vec![map])).await {
            out.problem(format!("update with {ENTRIES} entries: {e}"));
            return out;
        }
        tasks.push(async move {
            let mut slowest = [Duration::ZERO; 3];
            let mut failures = Vec::new();
            for _ in 0..reps {
                for (k, op) in [
                    Op::All { handle: dict },
                    run(dict, "items", vec![]),
                    Op::Dir { handle: dict },
                ]
                .into_iter()
                .enumerate()
                {
                    let started = Instant::now();
                    match conn.call(op).await {
                        Ok(Ok(Ok(_))) => {}
                        Ok(a) => failures.push(format!("answered {:?}", kind_of(&a))),
                        Err(e) => {
                            failures.push(e.to_string());
                            return (slowest, failures);
                        }
                    }
                    slowest[k] = slowest[k].max(started.elapsed());
                }
            }
            (slowest, failures)
        });
    }
    let results = futures::future::join_all(tasks).await;
    for (i, (slowest, failures)) in results.iter().enumerate() {
        out.note(format!(
            "connection {}: {reps} rounds of ALL / items() / DIR of {ENTRIES} entries, slowest {} / {} / {} ms",
            i + 1,
            ms(slowest[0]),
            ms(slowest[1]),
            ms(slowest[2])
        ));
        for failure in failures.iter().take(3) {
            out.problem(format!("connection {}: {failure}", i + 1));
        }
    }
    out
}

pub async fn decode_amplify(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let Some((mut conn, counter)) = with_root(ctx, &mut out, 2, "counter").await else {
        return out;
    };
    let frames = ctx.pick(2, 4);
    let held_ms: i64 = ctx.pick(2_000, 5_000);
    // slow_value keeps a read lock on the counter for held_ms; a SET needs the write lock, so
    // each SET waits with its decoded value in memory.
    let slow_id = conn.id();
    let slow = run(counter, "slow_value", vec![Value::Int(held_ms)]);
    let _ = conn
        .write(&frame(&payload(slow_id, slow, vec![], DEADLINE)))
        .await;
    let set = |v: Value| Op::Set {
        handle: counter,
        name: "note".into(),
        value: v,
    };
    let mut ids = Vec::new();
    let mut sent = 0usize;
    let rss_before = rss_kib(ctx);
    let mut n = (ctx.max_frame - 256) as u64;
    for _ in 0..frames {
        let id = conn.id();
        let mut built = spliced(id, set, &RawValue::nones(n));
        if let Ok(bytes) = &built {
            if bytes.len() > ctx.max_frame {
                n -= (bytes.len() - ctx.max_frame) as u64;
                built = spliced(id, set, &RawValue::nones(n));
            }
        }
        let Ok(bytes) = built else {
            out.problem("cannot build the request");
            return out;
        };
        if conn.write(&frame(&bytes)).await.is_err() {
            out.problem("connection closed while sending");
            return out;
        }
        sent += bytes.len() + 4;
        ids.push(id);
        if ctx.over_limit() {
            break;
        }
    }
    // Watch the server's memory while the SETs wait (the sampler records the true peak).
    let mut peak = rss_kib(ctx);
    let watch_until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < watch_until {
        peak = peak.max(rss_kib(ctx));
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let growth = peak.saturating_sub(rss_before) * 1024;
    let factor = growth as f64 / sent.max(1) as f64;
    out.note(format!(
        "{} frames of {n} one-byte Nones ({} MiB sent) queued behind a held lock: server RSS +{} MiB ({factor:.1} bytes held per byte sent)",
        ids.len(),
        sent >> 20,
        growth >> 20
    ));
    if factor > 4.0 {
        out.warn(format!(
            "a waiting call holds {factor:.0}x its size on the wire: with {} calls in flight per connection and {}-byte frames, one connection can pin {} GiB",
            ctx.max_in_flight,
            ctx.max_frame,
            (factor * ctx.max_frame as f64 * ctx.max_in_flight as f64 / (1u64 << 30) as f64) as u64
        ));
    }
    let mut answers = Vec::new();
    for id in ids {
        match tokio::time::timeout(
            Duration::from_millis(held_ms as u64 + 10_000),
            conn.answer_to(id),
        )
        .await
        {
            Ok(Ok(a)) => answers.push(kind_of(&a).unwrap_or_else(|| "ok".into())),
            _ => answers.push("no answer".into()),
        }
    }
    answers.dedup();
    out.note(format!(
        "the queued SETs answered {answers:?} once the lock was free"
    ));
    drop(conn);
    out
}

pub async fn copy_amplify(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let Some((mut conn, dict)) = with_root(ctx, &mut out, 2, "dict").await else {
        return out;
    };
    let size = 4 << 20;
    if let Err(e) = conn
        .ok(run(
            dict,
            "set_item",
            vec![Value::Int(0), Value::Str("x".repeat(size))],
        ))
        .await
    {
        out.problem(format!("set_item of 4 MiB: {e}"));
        return out;
    }
    let copies = ctx.pick(25, 50);
    let rss_before = rss_kib(ctx);
    let mut made = 0;
    let mut request_bytes = 0;
    for _ in 0..copies {
        if ctx.over_limit() {
            break;
        }
        let id = conn.id();
        let bytes = frame(&payload(id, run(dict, "copy", vec![]), vec![], DEADLINE));
        request_bytes += bytes.len();
        let _ = conn.write(&bytes).await;
        match conn.answer_to(id).await {
            Ok(Ok(Ok(Reply::Object(_)))) => made += 1,
            other => {
                out.problem(format!("copy answered {other:?}"));
                break;
            }
        }
    }
    let growth = rss_kib(ctx).saturating_sub(rss_before) * 1024;
    out.note(format!(
        "{made} copies of a 4 MiB dict from {request_bytes} bytes of requests: server RSS +{} MiB ({:.0} bytes held per request byte)",
        growth >> 20,
        growth as f64 / request_bytes.max(1) as f64
    ));
    if let Some(per_request) = request_bytes.checked_div(made) {
        out.warn(format!(
            "each ~{per_request}-byte copy() keeps a 4 MiB object until the session ends; the handle quota ({}) bounds the count, not the bytes",
            ctx.max_handles
        ));
    }
    drop(conn);
    out
}

pub async fn child_names(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let Some(before) = ctx.stats(&mut out).await else {
        return out;
    };
    let Some((mut conn, counter)) = with_root(ctx, &mut out, 2, "counter").await else {
        return out;
    };
    let n = ctx.pick(1_000, 2_000);
    let name_len = 64 * 1024;
    let rss_before = rss_kib(ctx);
    let mut previous: Option<HandleId> = None;
    let mut made = 0;
    let mut max_handles = 0;
    for i in 0..n {
        if ctx.over_limit() {
            break;
        }
        let mut name = format!("c{i:08}");
        name.push_str(&"x".repeat(name_len - name.len()));
        let releases = previous
            .map(|handle| vec![Release { handle, count: 1 }])
            .unwrap_or_default();
        let id = conn.id();
        let op = run(counter, "child", vec![Value::Str(name)]);
        let _ = conn
            .write(&frame(&payload(id, op, releases, DEADLINE)))
            .await;
        match conn.answer_to(id).await {
            Ok(Ok(Ok(Reply::Object(d)))) => {
                previous = Some(d.id);
                made += 1;
            }
            other => {
                out.problem(format!("child answered {other:?}"));
                break;
            }
        }
        if i % 250 == 0 {
            if let Ok(s) = ctx.monitor.stats().await {
                max_handles = max_handles.max(s.handles.saturating_sub(before.handles));
            }
        }
    }
    let growth = rss_kib(ctx).saturating_sub(rss_before) * 1024;
    out.note(format!(
        "{made} children with 64 KiB names, each handle released at once: at most {max_handles} handles held, server RSS +{} MiB",
        growth >> 20
    ));
    if growth > (16 << 20) && max_handles < 10 {
        out.warn(format!(
            "{} MiB kept by a session holding {max_handles} handles: memory outside the handle quota",
            growth >> 20
        ));
    }
    drop(conn);
    out
}
