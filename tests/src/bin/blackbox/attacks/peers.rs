//! Objects in both directions, attacked from the client's side: a client whose exported
//! callback never answers, and requests that name a flood of client objects.

use std::time::{Duration, Instant};

use futures::future::join_all;
use rpc_core::{HandleDescriptor, HandleId, Value};

use super::{fresh_client, ms, with_root};
use crate::context::{Ctx, Outcome};
use crate::procfs;
use crate::raw::{kind_of, run};

/// The server's default cap on calls to one client's objects waiting at once.
const CALLBACKS_PER_CONNECTION: usize = 64;

/// A client object as a request names it: id `id` of the client's export table.
fn hosted(id: u64) -> Value {
    Value::Hosted(Box::new(HandleDescriptor {
        id: HandleId(id),
        type_name: "Callback".to_owned(),
        doc: String::new(),
    }))
}

/// Connections that pass a callback to `count_to` and never answer the server's calls to it
/// (nor read anything until the end): each costs the server at most
/// `max_callbacks_in_flight` waiting calls for `callback_timeout`, and nobody else anything.
pub async fn silent_callbacks(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let Some(before) = ctx.stats(&mut out).await else {
        return out;
    };
    let n = ctx.pick(4, 8);
    let per = CALLBACKS_PER_CONNECTION + 6;
    let mut conns = Vec::new();
    for i in 0..n {
        let Some((mut conn, counter)) = with_root(ctx, &mut out, 2 + i as u8, "counter").await
        else {
            return out;
        };
        let mut ids = Vec::new();
        for k in 0..per {
            let id = conn.id();
            let op = run(
                counter,
                "count_to",
                vec![Value::Int(1), hosted(1 + k as u64)],
            );
            if let Err(e) = conn.send(id, op).await {
                out.problem(format!("sending count_to: {e}"));
                return out;
            }
            ids.push(id);
        }
        conns.push((conn, ids));
    }
    out.note(format!(
        "{n} connections each sent {per} count_to(1, callback) and answer no callback"
    ));
    // Everyone else is served while the callbacks wait.
    match fresh_client(ctx.addr, Duration::from_secs(2)).await {
        Ok(took) => out.note(format!("a fresh client was served in {} ms", ms(took))),
        Err(e) => out.problem(format!("a fresh client was not served meanwhile: {e}")),
    }
    let bound = ctx.clocks.callback + Duration::from_secs(10);
    let started = Instant::now();
    let answered = join_all(conns.iter_mut().map(|(conn, ids)| async move {
        let mut kinds: Vec<Option<String>> = Vec::new();
        let wait = async {
            while kinds.len() < ids.len() {
                match conn.recv().await {
                    Ok(Some((id, answer))) if ids.contains(&id) => kinds.push(kind_of(&answer)),
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
        };
        let _ = tokio::time::timeout(bound, wait).await;
        kinds
    }))
    .await;
    let took = started.elapsed();
    let mut by_kind = std::collections::BTreeMap::<String, usize>::new();
    for kind in answered.iter().flatten() {
        *by_kind
            .entry(kind.clone().unwrap_or_else(|| "ok".to_owned()))
            .or_default() += 1;
    }
    let total: usize = answered.iter().map(Vec::len).sum();
    out.note(format!(
        "{total} of {} answered in {} ms (callback clock {} ms): {by_kind:?}",
        n * per,
        ms(took),
        ms(ctx.clocks.callback)
    ));
    out.expect(
        total == n * per,
        format!(
            "{} calls waiting on silent callbacks were not answered within {bound:?}",
            n * per - total
        ),
    );
    out.expect(
        !by_kind.contains_key("ok"),
        "a call whose callback never answered succeeded",
    );
    let (settled, last) = ctx
        .wait_stats(Duration::from_secs(5), |s| {
            s.calls_in_flight <= before.calls_in_flight
        })
        .await;
    out.expect(
        settled,
        format!(
            "calls in flight stayed at {:?} (before: {})",
            last.map(|s| s.calls_in_flight),
            before.calls_in_flight
        ),
    );
    out
}

/// Requests that name as many distinct client objects as fit a frame: the server accounts for
/// each reception and releases them all when the call ends; it must stay up, serve others and
/// give the memory back.
pub async fn hosted_flood(ctx: &Ctx) -> Outcome {
    let mut out = Outcome::default();
    let rss = || procfs::sample(ctx.pid).map_or(0, |s| s.rss_kib);
    let Some((mut conn, counter)) = with_root(ctx, &mut out, 2, "counter").await else {
        return out;
    };
    // About 6 bytes per descriptor on the wire; 1 MiB frames.
    let per_frame: u64 = 150_000;
    let frames = ctx.pick(4, 16);
    let rss_before = rss();
    let mut peak = rss_before;
    let mut next_id = 1u64;
    let started = Instant::now();
    for _ in 0..frames {
        let objects: Vec<Value> = (0..per_frame).map(|k| hosted(next_id + k)).collect();
        next_id += per_frame;
        // `count_to` takes (n, observer): a list where the observer goes fails at once, after
        // the server has counted every object the request names.
        let op = run(
            counter,
            "count_to",
            vec![Value::Int(1), Value::List(objects)],
        );
        match conn.call(op).await {
            Ok(answer) => {
                if kind_of(&answer).is_none() {
                    out.problem("count_to with a list for its observer succeeded");
                }
            }
            Err(e) => {
                out.problem(format!("connection failed: {e}"));
                return out;
            }
        }
        peak = peak.max(rss());
    }
    out.note(format!(
        "{frames} requests naming {} distinct client objects each, answered in {} ms; server RSS \
         {} -> peak {} KiB",
        per_frame,
        ms(started.elapsed()),
        rss_before,
        peak
    ));
    match fresh_client(ctx.addr, Duration::from_secs(2)).await {
        Ok(took) => out.note(format!("a fresh client was served in {} ms", ms(took))),
        Err(e) => out.problem(format!("a fresh client was not served: {e}")),
    }
    // The releases of every named object went back to this client; it reads them now.
    out.expect(
        conn.ok(rpc_core::Op::Ping).await.is_ok(),
        "the connection did not answer a ping after the flood",
    );
    out
}
