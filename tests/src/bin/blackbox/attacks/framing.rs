//! Hostile framing and decoding: oversized length headers, garbage, deep values, absurd
//! deadlines, cancel and duplicate-id storms.

use std::time::{Duration, Instant};

use rpc_core::{ErrorKind, Op, Reply, Value};
use rpc_tests::RawClient;
use tokio::io::AsyncWriteExt;

use super::{close_times, greeted, max_of, ms, open_many};
use crate::context::{Ctx, Outcome};
use crate::raw::{
    Answer, Conn, RawValue, frame, ip, is_kind, kind_of, payload, random_bytes, run, spliced,
};

/// A hostile frame must be answered or closed within this.
const PROBE_WITHIN: Duration = Duration::from_secs(5);

pub async fn bad_length(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let over = u32::try_from(ctx.max_frame + 1).unwrap_or(u32::MAX);
    for (k, (label, header, greet)) in [
        ("0xFFFFFFFF as the first bytes", u32::MAX, false),
        ("0xFFFFFFFF after hello", u32::MAX, true),
        ("max+1 as the first bytes", over, false),
        ("max+1 after hello", over, true),
    ]
    .into_iter()
    .enumerate()
    {
        let (mut conns, failed, err) =
            open_many(ctx.addr, vec![ip(2 + k as u8); 25], greet, 25).await;
        out.expect(
            failed == 0,
            format!("{label}: {failed} connects failed: {err:?}"),
        );
        for conn in &mut conns {
            let _ = conn.write(&header.to_be_bytes()).await;
        }
        let (times, open) = close_times(&mut conns, Duration::from_secs(3)).await;
        out.note(format!(
            "{label}: {} of {} closed, slowest {} ms",
            times.len(),
            conns.len(),
            ms(max_of(&times))
        ));
        out.expect(open == 0, format!("{label}: {open} connections not closed"));
        out.expect(
            max_of(&times) < Duration::from_millis(500),
            format!(
                "{label}: closed only after {} ms (at a clock, not on the header)",
                ms(max_of(&times))
            ),
        );
    }
    out
}

/// What became of a connection after something hostile.
#[derive(Debug, PartialEq)]
enum Fate {
    Closed,
    Answered(Option<String>),
    Hung,
}

/// Sends a ping as request 999_999 and waits for its answer or the close.
async fn probe(conn: &mut Conn) -> Fate {
    const ID: u64 = 999_999;
    if conn.send(ID, Op::Ping).await.is_err() {
        return Fate::Closed;
    }
    let wait = async {
        loop {
            match conn.recv().await {
                Ok(Some((id, answer))) if id == ID => return Fate::Answered(kind_of(&answer)),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return Fate::Closed,
            }
        }
    };
    tokio::time::timeout(PROBE_WITHIN, wait)
        .await
        .unwrap_or(Fate::Hung)
}

/// Tallies fates for a note; records hung connections as a problem.
fn tally(out: &mut Outcome, label: &str, fates: &[Fate]) {
    let closed = fates.iter().filter(|f| **f == Fate::Closed).count();
    let hung = fates.iter().filter(|f| **f == Fate::Hung).count();
    let answered = fates.len() - closed - hung;
    let mut kinds: Vec<String> = fates
        .iter()
        .filter_map(|f| match f {
            Fate::Answered(kind) => Some(kind.clone().unwrap_or_else(|| "ok".into())),
            _ => None,
        })
        .collect();
    kinds.sort();
    kinds.dedup();
    out.note(format!(
        "{label}: {closed} closed, {answered} answered ({}), {hung} hung",
        kinds.join(", ")
    ));
    out.expect(
        hung == 0,
        format!("{label}: {hung} connections neither answered nor closed within {PROBE_WITHIN:?}"),
    );
}

pub async fn garbage(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let addr = ctx.addr;

    // Unframed random streams as the first bytes: whatever length the first 4 bytes declare,
    // the connection ends (closed at once, or at a clock when the declared body never comes).
    let lens = [16usize, 1000, 65_536];
    let (conns, _, _) = open_many(addr, vec![ip(2); 30], false, 30).await;
    let bound = ctx.clocks.first_frame.max(ctx.clocks.frame) + Duration::from_secs(3);
    let fates: Vec<Option<Duration>> =
        futures::future::join_all(conns.into_iter().enumerate().map(|(i, mut c)| async move {
            let _ = c
                .write(&random_bytes(i as u64 + 1, lens[i % lens.len()]))
                .await;
            c.closed_within(bound).await
        }))
        .await;
    let open = fates.iter().filter(|f| f.is_none()).count();
    let times: Vec<Duration> = fates.iter().flatten().copied().collect();
    out.note(format!(
        "random streams as first bytes: {} of {} closed, slowest {} ms",
        times.len(),
        fates.len(),
        ms(max_of(&times))
    ));
    out.expect(
        open == 0,
        format!("random streams: {open} connections never closed"),
    );

    // Framed random payloads, after hello and as the first frame.
    let sizes = [1usize, 17, 256, 4096, 65_536, 1 << 20];
    for (label, greet, source) in [
        ("random frames after hello", true, 3),
        ("random frames first", false, 4),
    ] {
        let (conns, failed, err) = open_many(addr, vec![ip(source); 30], greet, 30).await;
        out.expect(
            failed == 0,
            format!("{label}: {failed} connects failed: {err:?}"),
        );
        let fates =
            futures::future::join_all(conns.into_iter().enumerate().map(|(i, mut c)| async move {
                let bytes = random_bytes(1000 + i as u64, sizes[i % sizes.len()]);
                if c.write(&frame(&bytes)).await.is_err() {
                    return Fate::Closed;
                }
                probe(&mut c).await
            }))
            .await;
        tally(&mut out, label, &fates);
    }

    // Zero-length frames, valid frames with a trailing byte, truncated frames then EOF.
    let (conns, _, _) = open_many(addr, vec![ip(5); 60], true, 30).await;
    let fates =
        futures::future::join_all(conns.into_iter().enumerate().map(|(i, mut c)| async move {
            match i % 3 {
                0 => {
                    if c.write(&frame(&[])).await.is_err() {
                        return (0, Fate::Closed);
                    }
                    (0, probe(&mut c).await)
                }
                1 => {
                    let mut bytes = payload(7, Op::Ping, vec![], crate::raw::DEADLINE);
                    bytes.push(0);
                    if c.write(&frame(&bytes)).await.is_err() {
                        return (1, Fate::Closed);
                    }
                    (1, probe(&mut c).await)
                }
                _ => {
                    let _ = c.write(&100u32.to_be_bytes()).await;
                    let _ = c.write(&[0u8; 10]).await;
                    let _ = c.stream.shutdown().await;
                    match c.closed_within(PROBE_WITHIN).await {
                        Some(_) => (2, Fate::Closed),
                        None => (2, Fate::Hung),
                    }
                }
            }
        }))
        .await;
    for (k, label) in [
        (0, "zero-length frame"),
        (1, "trailing byte"),
        (2, "truncated frame then EOF"),
    ] {
        let of_kind: Vec<Fate> = fates
            .iter()
            .filter(|(kind, _)| *kind == k)
            .map(|(_, fate)| match fate {
                Fate::Closed => Fate::Closed,
                Fate::Hung => Fate::Hung,
                Fate::Answered(kind) => Fate::Answered(kind.clone()),
            })
            .collect();
        tally(&mut out, label, &of_kind);
    }
    out
}

pub async fn deep_nesting(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let Some(mut conn) = greeted(ctx, &mut out, 2).await else {
        return out;
    };
    let (counter, dict) = match (conn.open("counter").await, conn.open("dict").await) {
        (Ok(c), Ok(d)) => (c, d),
        other => {
            out.problem(format!("open: {other:?}"));
            return out;
        }
    };
    let reps = ctx.pick(3, 10);
    let cases: [(u64, u8, &str); 5] = [
        (100_000, 0, "SET note = list nested 100,000"),
        (100_000, 1, "RUN dict.set_item(1, tuple nested 100,000)"),
        (100_000, 2, "RUN counter.add(map nested 100,000)"),
        (1_000_000, 0, "RUN dict.set_item(1, list nested 1,000,000)"),
        (2_000_000, 0, "SET note = list nested 2,000,000"),
    ];
    let mut slowest = Duration::ZERO;
    let mut sent_bytes = 0usize;
    for rep in 0..reps {
        for (depth, kind, label) in cases {
            let value = RawValue::nested(depth, kind);
            let id = conn.id();
            let bytes = spliced(
                id,
                |v| match (kind, label.starts_with("SET")) {
                    (_, true) => Op::Set {
                        handle: counter,
                        name: "note".into(),
                        value: v,
                    },
                    (2, false) => run(counter, "add", vec![v]),
                    _ => run(dict, "set_item", vec![Value::Int(1), v]),
                },
                &value,
            );
            let Ok(bytes) = bytes else {
                out.problem(format!("{label}: cannot build the request"));
                return out;
            };
            if bytes.len() > ctx.max_frame {
                out.note(format!(
                    "{label}: {} bytes, over the frame limit; skipped",
                    bytes.len()
                ));
                continue;
            }
            sent_bytes += bytes.len() + 4;
            let started = Instant::now();
            if let Err(e) = conn.write(&frame(&bytes)).await {
                out.problem(format!("{label}: connection closed while sending: {e}"));
                return out;
            }
            match conn.answer_to(id).await {
                Ok(answer) if is_kind(&answer, ErrorKind::TooDeep) => {}
                Ok(answer) => {
                    if rep == 0 {
                        out.problem(format!(
                            "{label}: answered {:?}, not TooDeep",
                            kind_of(&answer)
                        ));
                    }
                }
                Err(e) => {
                    out.problem(format!(
                        "{label}: no answer ({e}); the connection should stay usable"
                    ));
                    return out;
                }
            }
            slowest = slowest.max(started.elapsed());
            match conn.ok(Op::Ping).await {
                Ok(Reply::Done) => {}
                other => {
                    out.problem(format!(
                        "{label}: the same connection stopped answering: {other:?}"
                    ));
                    return out;
                }
            }
        }
    }
    out.note(format!(
        "{} deep requests ({} MiB): all answered TooDeep, connection usable after each; slowest {} ms",
        reps * cases.len(),
        sent_bytes >> 20,
        ms(slowest)
    ));
    out
}

pub async fn absurd_deadline(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let Some(before) = ctx.stats(&mut out).await else {
        return out;
    };
    let huge = Duration::new(u64::MAX, 999_999_999);
    // The very first frame carrying the absurd deadline.
    match Conn::connect(ip(2), ctx.addr).await {
        Ok(mut conn) => {
            let hello = Op::Hello {
                protocol: rpc_core::PROTOCOL_VERSION,
                client: "blackbox".into(),
            };
            let sent = conn.write(&frame(&payload(1, hello, vec![], huge))).await;
            match (sent, conn.answer_to(1).await) {
                (Ok(()), Ok(Ok(Ok(Reply::Hello(_))))) => {
                    out.note("hello with deadline u64::MAX s answered")
                }
                other => out.problem(format!("hello with deadline u64::MAX s: {other:?}")),
            }
        }
        Err(e) => out.problem(format!("connect: {e}")),
    }
    let Some(mut conn) = greeted(ctx, &mut out, 3).await else {
        return out;
    };
    let Ok(counter) = conn.open("counter").await else {
        out.problem("open counter failed");
        return out;
    };
    let mut answered = 0;
    for _ in 0..20 {
        let id = conn.id();
        let _ = conn
            .write(&frame(&payload(id, Op::Ping, vec![], huge)))
            .await;
        if matches!(conn.answer_to(id).await, Ok(Ok(Ok(Reply::Done)))) {
            answered += 1;
        }
    }
    out.note(format!(
        "{answered} of 20 pings with deadline u64::MAX s answered"
    ));
    out.expect(
        answered == 20,
        format!("{} pings with a huge deadline unanswered", 20 - answered),
    );
    for _ in 0..20 {
        let id = conn.id();
        let _ = conn
            .write(&frame(&payload(id, Op::Ping, vec![], Duration::ZERO)))
            .await;
    }
    match conn.ok(Op::Ping).await {
        Ok(Reply::Done) => out.note("20 pings with deadline 0 sent; the connection still answers"),
        other => out.problem(format!(
            "after deadline-0 pings the connection fails: {other:?}"
        )),
    }
    // One-hour calls pinned by a clamped deadline, then a reset.
    let mut bytes = Vec::new();
    for _ in 0..50 {
        let id = conn.id();
        let op = run(counter, "slow_value", vec![Value::Int(3_600_000)]);
        bytes.extend(frame(&payload(id, op, vec![], huge)));
    }
    let _ = conn.write(&bytes).await;
    let base = before.calls_in_flight;
    let (running, last) = ctx
        .wait_stats(Duration::from_secs(5), |s| s.calls_in_flight >= base + 50)
        .await;
    out.note(format!(
        "50 slow_value(1 h) with deadline u64::MAX s: {} in flight ({})",
        last.map_or(0, |s| s.calls_in_flight.saturating_sub(base)),
        if running {
            "all running"
        } else {
            "not all running"
        }
    ));
    conn.reset();
    out
}

pub async fn cancel_dup_storm(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let Some(mut conn) = greeted(ctx, &mut out, 2).await else {
        return out;
    };
    let mut bytes = Vec::new();
    for i in 0..10_000u64 {
        bytes.extend(frame(&RawClient::encode_cancel(1_000_000 + i * 7919)));
    }
    for _ in 0..1_000 {
        bytes.extend(frame(&payload(7, Op::Ping, vec![], crate::raw::DEADLINE)));
    }
    bytes.extend(frame(&payload(8, Op::Ping, vec![], crate::raw::DEADLINE)));
    let started = Instant::now();
    if let Err(e) = conn.write(&bytes).await {
        out.problem(format!("connection closed during the storm: {e}"));
        return out;
    }
    let mut sevens = 0;
    let mut other_answers: Vec<Answer> = Vec::new();
    let wait = async {
        loop {
            match conn.recv().await {
                Ok(Some((8, answer))) => return Ok(answer),
                Ok(Some((7, _))) => sevens += 1,
                Ok(Some((_, answer))) => other_answers.push(answer),
                Ok(None) => return Err("closed".to_owned()),
                Err(e) => return Err(e.to_string()),
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(10), wait).await {
        Ok(Ok(Ok(Ok(Reply::Done)))) => out.note(format!(
            "10,000 unknown cancels and 1,000 pings sharing id 7: {sevens} answers to id 7, the next request answered after {} ms",
            ms(started.elapsed())
        )),
        other => out.problem(format!("after the storm the connection fails: {other:?}")),
    }
    out
}
