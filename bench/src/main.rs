//! `bench`: our framework and a bare tarpc 0.38 service, measured side by side in one run.
//!
//! ```text
//! bench [--quick] [--rounds N] [--runtime current|multi] [--server-runtime current|multi]
//!       [--in-process] [--churn N] [--both-ways] [--json PATH]
//! bench --callgrind ours|tarpc|callback --calls N   (one process, for scripts/callgrind.sh)
//! ```
//!
//! Progress goes to stderr, the table to stdout, the JSON to `target/bench/results.json`
//! (or `--json PATH`). See `docs/PERFORMANCE.md` for what each row measures.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rpc_bench::both_ways;
use rpc_bench::conn::{Call, Conn};
use rpc_bench::measure::{self, Churn, Mem, Params, Seq, median};
use rpc_bench::report::{Better, Fmt, Row, table, thousands};
use rpc_bench::servers::{
    OUR_MAX_CONNECTIONS, OUR_MAX_HANDLES_PER_SESSION, ServerHandle, our_server, run_server_process,
    runtime,
};
use rpc_bench::sys::{self, CpuTimes, NoFile};
use rpc_bench::{Flavor, System};
use serde_json::json;

const USAGE: &str = "\
usage: bench [--quick] [--rounds N] [--runtime current|multi] [--server-runtime current|multi]
             [--in-process] [--churn N] [--both-ways] [--json PATH]
       bench --callgrind ours|tarpc|callback --calls N

  --quick            fewer rounds and calls: about a minute on a 2-core VM
  --rounds N         alternating rounds of the side-by-side measures (default 5, quick 3)
  --runtime F        client runtime flavour, both systems (default current)
  --server-runtime F server runtime flavour, both systems (default multi)
  --in-process       servers in this process (on a runtime of their own), not child processes
  --churn N          handle churn cycles (default 100,000, quick 10,000)
  --both-ways        only P9-P11 (callbacks, streams, broadcast; ours alone)
  --json PATH        where to write the results (default target/bench/results.json)
  --callgrind SYS    one process, current-thread runtime, loopback TCP: connect, then
                     --calls N sequential add calls, for instruction counting;
                     callback: one call of ours whose method makes N sequential calls
                     to a closure of the client (P9)";

#[derive(Debug)]
enum Mode {
    Bench,
    Serve(System),
    Callgrind(System, usize),
    CallgrindCallback(usize),
}

#[derive(Debug)]
struct Opts {
    mode: Mode,
    quick: bool,
    rounds: Option<usize>,
    churn: Option<usize>,
    runtime: Flavor,
    server_runtime: Flavor,
    in_process: bool,
    both_ways_only: bool,
    json: PathBuf,
}

fn parse_args() -> Result<Opts, String> {
    let mut opts = Opts {
        mode: Mode::Bench,
        quick: false,
        rounds: None,
        churn: None,
        runtime: Flavor::Current,
        server_runtime: Flavor::Multi,
        in_process: false,
        both_ways_only: false,
        json: PathBuf::from("target/bench/results.json"),
    };
    let mut callgrind = None;
    let mut callgrind_callback = false;
    let mut calls = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let number = |name: &str, text: String| {
            text.replace(['_', ','], "")
                .parse::<usize>()
                .map_err(|_| format!("{name}: not a count: {text}"))
        };
        let flavor = |name: &str, text: String| {
            Flavor::parse(&text).ok_or(format!("{name}: expected current or multi, got {text}"))
        };
        let system = |name: &str, text: String| {
            System::parse(&text).ok_or(format!("{name}: expected ours or tarpc, got {text}"))
        };
        match arg.as_str() {
            "--quick" => opts.quick = true,
            "--in-process" => opts.in_process = true,
            "--both-ways" => opts.both_ways_only = true,
            "--rounds" => opts.rounds = Some(number("--rounds", value("--rounds")?)?.max(1)),
            "--churn" => opts.churn = Some(number("--churn", value("--churn")?)?),
            "--runtime" => opts.runtime = flavor("--runtime", value("--runtime")?)?,
            "--server-runtime" => {
                opts.server_runtime = flavor("--server-runtime", value("--server-runtime")?)?;
            }
            "--json" => opts.json = PathBuf::from(value("--json")?),
            "--serve" => opts.mode = Mode::Serve(system("--serve", value("--serve")?)?),
            "--callgrind" => match value("--callgrind")? {
                text if text == "callback" => callgrind_callback = true,
                text => callgrind = Some(system("--callgrind", text)?),
            },
            "--calls" => calls = Some(number("--calls", value("--calls")?)?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if let Some(system) = callgrind {
        opts.mode = Mode::Callgrind(system, calls.unwrap_or(10_000));
    }
    if callgrind_callback {
        opts.mode = Mode::CallgrindCallback(calls.unwrap_or(10_000));
    }
    Ok(opts)
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(opts) => opts,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("bench: {e}");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let result = match opts.mode {
        Mode::Serve(system) => {
            run_server_process(system, opts.server_runtime).map_err(|e| e.to_string())
        }
        Mode::Callgrind(system, calls) => callgrind(system, calls),
        Mode::CallgrindCallback(calls) => callgrind_callback(calls),
        Mode::Bench => bench(&opts),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Client and server in one process on one current-thread runtime, over loopback TCP:
/// connect, then `calls` sequential `add` calls.
fn callgrind(system: System, calls: usize) -> Result<(), String> {
    let rt = runtime(Flavor::Current).map_err(|e| e.to_string())?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let _running = match system {
            System::Ours => Some(
                our_server()
                    .map_err(|e| e.to_string())?
                    .spawn(listener)
                    .map_err(|e| e.to_string())?,
            ),
            System::Tarpc => {
                tokio::spawn(rpc_bench::bare::serve_bare(listener));
                None
            }
        };
        let conn = Conn::connect(system, addr).await?;
        for _ in 0..calls {
            conn.call(Call::Add).await?;
        }
        eprintln!("callgrind mode: {calls} add calls on {system} done");
        Ok::<(), String>(())
    })
}

/// Like `callgrind`, for our server's calls to a client's closure: connect, then one call
/// whose method makes `calls` sequential calls to the closure.
fn callgrind_callback(calls: usize) -> Result<(), String> {
    let rt = runtime(Flavor::Current).map_err(|e| e.to_string())?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let _running = our_server()
            .map_err(|e| e.to_string())?
            .spawn(listener)
            .map_err(|e| e.to_string())?;
        let conn = Conn::connect(System::Ours, addr).await?;
        let Some((_, root)) = conn.ours() else {
            return Err("our connection is not ours".to_owned());
        };
        let adder = rpc_client::Callback::new(|(a, b): (i64, i64)| a.wrapping_add(b));
        let sum: i64 = root
            .with_timeout(Duration::from_secs(3_600))
            .call_as("call_back", (&adder, calls as u64))
            .await
            .map_err(|e| e.to_string())?;
        let want: i64 = (1..=calls as i64).sum();
        if sum != want {
            return Err(format!("call_back answered {sum}, expected {want}"));
        }
        eprintln!("callgrind mode: {calls} callbacks done");
        Ok::<(), String>(())
    })
}

/// Samples per (system, measure key), one per round.
#[derive(Debug, Default)]
struct Samples(BTreeMap<(&'static str, String), Vec<f64>>);

impl Samples {
    fn push(&mut self, system: System, key: impl Into<String>, value: f64) {
        self.0
            .entry((system.arg(), key.into()))
            .or_default()
            .push(value);
    }

    fn median(&self, system: System, key: &str) -> Option<f64> {
        self.0
            .get(&(system.arg(), key.to_owned()))
            .map(|v| median(v))
    }

    fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for ((system, key), values) in &self.0 {
            let entry = out.entry((*system).to_owned()).or_insert_with(|| json!({}));
            if let Some(map) = entry.as_object_mut() {
                map.insert(key.clone(), json!(values));
            }
        }
        serde_json::Value::Object(out)
    }
}

/// Everything measured outside the rounds.
#[derive(Debug, Default)]
struct Once {
    dict_fill_ms: f64,
    all: Option<measure::AllCopy>,
    churn: Option<Churn>,
    idle: BTreeMap<&'static str, Mem>,
    handles: Option<Mem>,
    crowd: BTreeMap<&'static str, Mem>,
    crowd_wanted: usize,
    crowd_note: Option<String>,
    callbacks: Option<both_ways::Callbacks>,
    streams: Option<both_ways::Streams>,
    broadcast: Option<both_ways::Broadcast>,
}

fn bench(opts: &Opts) -> Result<(), String> {
    let mut params = if opts.quick {
        Params::quick()
    } else {
        Params::full()
    };
    if let Some(rounds) = opts.rounds {
        params.rounds = rounds;
    }
    if let Some(churn) = opts.churn {
        params.churn = churn;
    }
    let nofile = sys::raise_nofile_limit().map_err(|e| format!("getrlimit: {e}"))?;
    let date = sys::utc_now();
    let cpu_before = CpuTimes::now();
    let started = Instant::now();
    eprintln!(
        "bench: {} mode, {} rounds, client runtime {}, servers {} ({}), RLIMIT_NOFILE {}/{}",
        if opts.quick { "quick" } else { "full" },
        params.rounds,
        opts.runtime,
        if opts.in_process {
            "in this process"
        } else {
            "child processes"
        },
        opts.server_runtime,
        nofile.soft,
        nofile.hard
    );
    let rt = runtime(opts.runtime).map_err(|e| format!("runtime: {e}"))?;
    let mut samples = Samples::default();
    let mut once = Once::default();
    rt.block_on(async {
        if opts.both_ways_only {
            return objects_both_ways(opts, &params, &mut once).await;
        }
        rounds(opts, &params, &mut samples, &mut once).await?;
        objects_both_ways(opts, &params, &mut once).await?;
        memory(opts, &params, nofile, &mut once).await
    })?;
    drop(rt);
    let steal = cpu_before
        .zip(CpuTimes::now())
        .and_then(|(a, b)| a.steal_percent(b));
    let elapsed = started.elapsed();

    let rows = if opts.both_ways_only {
        let mut rows = Vec::new();
        both_ways_rows(&once, &mut rows);
        rows
    } else {
        rows(&params, &samples, &once)
    };
    let steal_text = steal.map_or("unknown".to_owned(), |s| format!("{s:.1} %"));
    let info = [
        format!("date:     {date}"),
        format!(
            "machine:  {} CPUs, {}, {}",
            sys::nproc(),
            sys::kernel(),
            sys::cpu_model()
        ),
        format!("steal:    {steal_text} of all CPU time during the run (/proc/stat)"),
        format!(
            "runtimes: client {} (both systems), servers {} in {}",
            opts.runtime,
            opts.server_runtime,
            if opts.in_process {
                "this process"
            } else {
                "child processes (2 processes per system)"
            }
        ),
        format!(
            "run:      {} mode, {} alternating rounds (medians shown), {:.0} s; our server: default config but max_connections(_per_ip) {}, max_handles_per_session {}",
            if opts.quick { "quick" } else { "full" },
            params.rounds,
            elapsed.as_secs_f64(),
            thousands(OUR_MAX_CONNECTIONS as i64),
            thousands(OUR_MAX_HANDLES_PER_SESSION as i64)
        ),
    ];
    println!("{}", table(&rows));
    for line in &info {
        println!("{line}");
    }
    if let Some(note) = &once.crowd_note {
        println!("note:     {note}");
    }
    if opts.in_process {
        println!(
            "note:     in-process: RSS figures are the whole process (client and both servers)"
        );
    }

    let doc = json!({
        "date": date,
        "machine": {
            "nproc": sys::nproc(),
            "kernel": sys::kernel(),
            "cpu": sys::cpu_model(),
        },
        "steal_percent": steal,
        "elapsed_s": elapsed.as_secs_f64(),
        "config": {
            "quick": opts.quick,
            "rounds": params.rounds,
            "client_runtime": opts.runtime.arg(),
            "server_runtime": opts.server_runtime.arg(),
            "in_process": opts.in_process,
            "both_ways_only": opts.both_ways_only,
            "seq_calls": params.seq_calls,
            "throughput_calls": params.throughput_calls,
            "dict_entries": params.dict_entries,
            "churn": params.churn,
            "idle_sessions": params.idle_sessions,
            "live_handles": params.live_handles,
            "crowd": once.crowd_wanted,
            "callbacks": params.callbacks,
            "stream_items": params.stream_items,
            "subscribers": params.subscribers,
            "rlimit_nofile": [nofile.soft, nofile.hard],
        },
        "rows": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
        "samples": samples.to_json(),
    });
    if let Some(dir) = opts.json.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    std::fs::write(&opts.json, text).map_err(|e| format!("{}: {e}", opts.json.display()))?;
    println!("json:     {}", opts.json.display());
    Ok(())
}

const CALLS: [Call; 3] = [Call::Add, Call::Get, Call::Echo];

/// The side-by-side measures, alternating the two systems over the rounds.
async fn rounds(
    opts: &Opts,
    params: &Params,
    samples: &mut Samples,
    once: &mut Once,
) -> Result<(), String> {
    let mut servers = BTreeMap::new();
    let mut one = BTreeMap::new();
    let mut eight = BTreeMap::new();
    for system in System::BOTH {
        let server = ServerHandle::start(system, opts.server_runtime, opts.in_process)
            .map_err(|e| format!("starting the {system} server: {e}"))?;
        eprintln!("  {system} server on {} (pid {})", server.addr, server.pid);
        one.insert(system.arg(), Conn::connect(system, server.addr).await?);
        let mut conns = Vec::new();
        for _ in 0..8 {
            conns.push(Conn::connect(system, server.addr).await?);
        }
        eight.insert(system.arg(), conns);
        servers.insert(system.arg(), server);
    }
    let ours = &one[System::Ours.arg()];
    let Some((client, root)) = ours.ours() else {
        return Err("our connection is not ours".to_owned());
    };
    eprintln!(
        "  filling a Dict with {} entries",
        thousands(params.dict_entries as i64)
    );
    let (dict, fill_ms) = measure::fill_dict(client, params.dict_entries, params.cap * 10).await?;
    once.dict_fill_ms = fill_ms;
    let mut alls = Vec::new();

    for round in 0..params.rounds {
        let order = if round % 2 == 0 {
            System::BOTH
        } else {
            [System::Tarpc, System::Ours]
        };
        for system in order {
            eprintln!("round {}/{}: {system}", round + 1, params.rounds);
            let conn = &one[system.arg()];
            for call in CALLS {
                let s: Seq = measure::sequential(conn, call, params.seq_calls, params.cap).await?;
                let k = call.key();
                samples.push(system, format!("seq.{k}.p50_us"), s.p50_us);
                samples.push(system, format!("seq.{k}.p99_us"), s.p99_us);
                samples.push(system, format!("seq.{k}.calls_per_s"), s.rate);
            }
            let rate = measure::concurrent(
                std::slice::from_ref(conn),
                64,
                Call::Add,
                params.throughput_calls,
                params.cap,
            )
            .await?;
            samples.push(system, "inflight64.calls_per_s", rate);
            let rate = measure::concurrent(
                &eight[system.arg()],
                8,
                Call::Add,
                params.throughput_calls,
                params.cap,
            )
            .await?;
            samples.push(system, "conns8.calls_per_s", rate);
            if system == System::Ours {
                let set = measure::time_sequential(params.op_calls, params.cap, || async {
                    root.set("value", 7i64).await.map_err(|e| e.to_string())
                })
                .await?;
                samples.push(system, "set.p50_us", set.p50_us);
                samples.push(system, "set.calls_per_s", set.rate);
                let dir = measure::time_sequential(params.op_calls, params.cap, || async {
                    root.dir().await.map(drop).map_err(|e| e.to_string())
                })
                .await?;
                samples.push(system, "dir.p50_us", dir.p50_us);
                samples.push(system, "dir.calls_per_s", dir.rate);
                let all = measure::all_copy(
                    client,
                    &dict,
                    params.dict_entries,
                    params.all_reps,
                    params.cap * 5,
                )
                .await?;
                samples.push(system, "all.p50_ms", all.p50_ms);
                samples.push(system, "all.bytes_per_s", all.bytes_per_s);
                alls.push(all);
            }
        }
    }
    once.all = alls.last().copied().map(|mut last| {
        last.p50_ms = median(&alls.iter().map(|a| a.p50_ms).collect::<Vec<_>>());
        last.bytes_per_s = median(&alls.iter().map(|a| a.bytes_per_s).collect::<Vec<_>>());
        last.round_trips = median(&alls.iter().map(|a| a.round_trips).collect::<Vec<_>>());
        last
    });
    Ok(())
}

/// P9-P11 on a fresh server of ours: callbacks, streams, a broadcast.
async fn objects_both_ways(opts: &Opts, params: &Params, once: &mut Once) -> Result<(), String> {
    let server = ServerHandle::start(System::Ours, opts.server_runtime, opts.in_process)
        .map_err(|e| format!("starting our server: {e}"))?;
    let conn = Conn::connect(System::Ours, server.addr).await?;
    let Some((_, root)) = conn.ours() else {
        return Err("our connection is not ours".to_owned());
    };
    eprintln!(
        "callbacks: {} server-to-client calls x {} against as many forward calls",
        thousands(params.callbacks as i64),
        params.rounds
    );
    once.callbacks =
        Some(both_ways::callbacks(root, params.callbacks, params.rounds, params.long_cap).await?);
    eprintln!(
        "streams: {} items x {}, against one call per item and one ALL",
        thousands(params.stream_items as i64),
        params.rounds
    );
    once.streams = Some(
        both_ways::streams(
            root,
            server.pid,
            params.stream_items,
            params.seq_calls,
            params.rounds,
            params.long_cap,
        )
        .await?,
    );
    eprintln!(
        "broadcast: {} subscribers on {} connections",
        thousands(params.subscribers as i64),
        params.subscriber_connections
    );
    once.broadcast = Some(
        both_ways::broadcast(
            server.addr,
            params.subscribers,
            params.subscriber_connections,
            params.rounds,
            params.long_cap,
        )
        .await?,
    );
    Ok(())
}

/// Churn and memory, each on fresh servers so earlier work does not blur the deltas.
async fn memory(
    opts: &Opts,
    params: &Params,
    nofile: NoFile,
    once: &mut Once,
) -> Result<(), String> {
    let start = |system| {
        ServerHandle::start(system, opts.server_runtime, opts.in_process)
            .map_err(|e| format!("starting the {system} server: {e}"))
    };
    let settle = || tokio::time::sleep(Duration::from_millis(500));

    eprintln!(
        "churn: {} cycles of child() + add + drop (ours)",
        thousands(params.churn as i64)
    );
    let server = start(System::Ours)?;
    // 1 ms per cycle is several times what a cycle takes, so only a stuck run hits the cap;
    // at most 30 min (10^6 cycles, P6's figure, take about 4 min here).
    let churn_cap = params
        .long_cap
        .max(Duration::from_millis(params.churn as u64))
        .min(Duration::from_secs(1_800));
    once.churn = Some(measure::churn(server.addr, server.pid, params.churn, churn_cap).await?);
    drop(server);

    eprintln!(
        "memory: {} idle sessions per system",
        thousands(params.idle_sessions as i64)
    );
    for system in System::BOTH {
        let server = start(system)?;
        let (mem, conns) = measure::sessions(
            system,
            server.addr,
            server.pid,
            params.idle_sessions,
            32,
            params.long_cap,
        )
        .await?;
        once.idle.insert(system.arg(), mem);
        drop(conns);
        settle().await;
        drop(server);
    }

    eprintln!(
        "memory: {} live handles in one session (ours)",
        thousands(params.live_handles as i64)
    );
    let server = start(System::Ours)?;
    once.handles = Some(
        measure::live_handles(
            server.addr,
            server.pid,
            params.live_handles,
            params.long_cap,
        )
        .await?,
    );
    drop(server);

    // Each session takes a descriptor in the client and one in the server (both here when
    // in-process), plus a margin for everything else.
    let per = if opts.in_process { 2 } else { 1 };
    let fit = (nofile.soft.saturating_sub(256) / per) as usize;
    let crowd = params.crowd.min(fit);
    once.crowd_wanted = params.crowd;
    if crowd < params.crowd {
        let note = format!(
            "RLIMIT_NOFILE is too low for {} sessions (soft {}, hard {}): ran {} instead",
            thousands(params.crowd as i64),
            nofile.soft,
            nofile.hard,
            thousands(crowd as i64)
        );
        eprintln!("bench: {note}");
        once.crowd_note = Some(note);
    }
    eprintln!(
        "crowd: {} concurrent sessions per system, one call each",
        thousands(crowd as i64)
    );
    for system in System::BOTH {
        let server = start(system)?;
        let (mem, conns) =
            measure::sessions(system, server.addr, server.pid, crowd, 128, params.long_cap).await?;
        eprintln!(
            "  {system}: {} of {} served in {:.1} s",
            thousands(mem.held as i64),
            thousands(crowd as i64),
            mem.secs
        );
        once.crowd.insert(system.arg(), mem);
        drop(conns);
        settle().await;
        drop(server);
    }
    Ok(())
}

fn rows(params: &Params, samples: &Samples, once: &Once) -> Vec<Row> {
    let o = |k: &str| samples.median(System::Ours, k);
    let t = |k: &str| samples.median(System::Tarpc, k);
    let mut rows = Vec::new();
    for call in CALLS {
        let k = call.key();
        let label = call.label();
        rows.push(Row::num(
            format!("P2 seq {label}: p50 us"),
            o(&format!("seq.{k}.p50_us")),
            t(&format!("seq.{k}.p50_us")),
            Better::Lower,
            Fmt::Dec(1),
        ));
        rows.push(Row::num(
            format!("P2 seq {label}: p99 us"),
            o(&format!("seq.{k}.p99_us")),
            t(&format!("seq.{k}.p99_us")),
            Better::Lower,
            Fmt::Dec(1),
        ));
        rows.push(Row::num(
            format!("P2 seq {label}: calls/s"),
            o(&format!("seq.{k}.calls_per_s")),
            t(&format!("seq.{k}.calls_per_s")),
            Better::Higher,
            Fmt::Int,
        ));
    }
    rows.push(Row::num(
        "P3 add, 64 in flight, 1 conn: calls/s",
        o("inflight64.calls_per_s"),
        t("inflight64.calls_per_s"),
        Better::Higher,
        Fmt::Int,
    ));
    rows.push(Row::num(
        "P4 add, 8 conns (1 in flight each): calls/s",
        o("conns8.calls_per_s"),
        t("conns8.calls_per_s"),
        Better::Higher,
        Fmt::Int,
    ));
    rows.push(Row::num(
        "P5 SET i64 field: p50 us",
        o("set.p50_us"),
        None,
        Better::None,
        Fmt::Dec(1),
    ));
    rows.push(Row::num(
        "P5 DIR (4 members): p50 us",
        o("dir.p50_us"),
        None,
        Better::None,
        Fmt::Dec(1),
    ));
    let entries = thousands(params.dict_entries as i64);
    rows.push(Row::num(
        format!("P5 Dict fill, {entries} entries by update x10k: ms"),
        Some(once.dict_fill_ms),
        None,
        Better::None,
        Fmt::Dec(1),
    ));
    if let Some(all) = &once.all {
        rows.push(Row::num(
            format!("P5 ALL of {entries}-entry Dict: ms"),
            Some(all.p50_ms),
            None,
            Better::None,
            Fmt::Dec(1),
        ));
        rows.push(Row::num(
            "P5 ALL: encoded bytes",
            Some(all.bytes as f64),
            None,
            Better::None,
            Fmt::Int,
        ));
        rows.push(Row::num(
            "P5 ALL: MB/s (encoded bytes / time)",
            Some(all.bytes_per_s / 1e6),
            None,
            Better::None,
            Fmt::Dec(1),
        ));
        rows.push(Row::num(
            "P5 ALL: requests per ALL",
            Some(all.round_trips),
            None,
            Better::None,
            Fmt::Dec(2),
        ));
    }
    if let Some(c) = &once.churn {
        rows.push(Row::text(
            "P6 churn cycles (child, add, drop)",
            Some(thousands(c.cycles as i64)),
            None,
        ));
        rows.push(Row::num(
            "P6 churn: us per cycle",
            Some(c.us_per_cycle),
            None,
            Better::None,
            Fmt::Dec(1),
        ));
        rows.push(Row::num(
            "P6 churn: requests per cycle (2 = releases free)",
            Some(c.round_trips_per_cycle),
            None,
            Better::None,
            Fmt::Dec(3),
        ));
        rows.push(Row::text(
            "P6 churn: server handles before -> after",
            Some(format!("{} -> {}", c.handles_before, c.handles_after)),
            None,
        ));
        rows.push(Row::text(
            "P6 churn: server RSS KiB before -> mid -> after",
            Some(format!(
                "{} -> {} -> {}",
                thousands(c.rss_before_kib as i64),
                thousands(c.rss_mid_kib as i64),
                thousands(c.rss_after_kib as i64)
            )),
            None,
        ));
        rows.push(Row::num(
            "P6 churn: server RSS growth KiB",
            Some(c.rss_after_kib as f64 - c.rss_before_kib as f64),
            None,
            Better::None,
            Fmt::Int,
        ));
    }
    let mem_of = |m: &BTreeMap<&'static str, Mem>, s: System| m.get(s.arg()).copied();
    let (io, it) = (
        mem_of(&once.idle, System::Ours),
        mem_of(&once.idle, System::Tarpc),
    );
    rows.push(Row::num(
        format!(
            "P7 server KiB per idle session (K={})",
            thousands(params.idle_sessions as i64)
        ),
        io.map(|m| m.bytes_each() / 1024.0),
        it.map(|m| m.bytes_each() / 1024.0),
        Better::Lower,
        Fmt::Dec(1),
    ));
    if let Some(h) = &once.handles {
        rows.push(Row::num(
            format!(
                "P7 server bytes per live handle (H={}, incl. object)",
                thousands(params.live_handles as i64)
            ),
            Some(h.bytes_each()),
            None,
            Better::None,
            Fmt::Int,
        ));
        rows.push(Row::text(
            "P7 live handles held / server count",
            Some(format!(
                "{} / {}",
                thousands(h.held as i64),
                h.server_count
                    .map_or("?".to_owned(), |n| thousands(n as i64))
            )),
            None,
        ));
    }
    let (co, ct) = (
        mem_of(&once.crowd, System::Ours),
        mem_of(&once.crowd, System::Tarpc),
    );
    let served = |m: Option<Mem>| {
        m.map(|m| {
            format!(
                "{} / {}",
                thousands(m.held as i64),
                thousands(m.wanted as i64)
            )
        })
    };
    rows.push(Row::text(
        "P8 concurrent sessions served (one call each)",
        served(co),
        served(ct),
    ));
    rows.push(Row::num(
        "P8 time to open all and call once: s",
        co.map(|m| m.secs),
        ct.map(|m| m.secs),
        Better::Lower,
        Fmt::Dec(1),
    ));
    rows.push(Row::num(
        "P8 server RSS with all open: MiB",
        co.map(|m| m.rss_after_kib as f64 / 1024.0),
        ct.map(|m| m.rss_after_kib as f64 / 1024.0),
        Better::Lower,
        Fmt::Dec(1),
    ));
    rows.push(Row::num(
        "P8 server KiB per session",
        co.map(|m| m.bytes_each() / 1024.0),
        ct.map(|m| m.bytes_each() / 1024.0),
        Better::Lower,
        Fmt::Dec(1),
    ));
    both_ways_rows(once, &mut rows);
    rows
}

/// P9-P11: ours alone, each against a baseline of ours from the same run.
fn both_ways_rows(once: &Once, rows: &mut Vec<Row>) {
    let ours = |rows: &mut Vec<Row>, label: String, value: f64, fmt: Fmt| {
        rows.push(Row::num(label, Some(value), None, Better::None, fmt));
    };
    if let Some(c) = &once.callbacks {
        ours(
            rows,
            "P9 callback (server to client): us per call".to_owned(),
            c.callback_us,
            Fmt::Dec(1),
        );
        ours(
            rows,
            "P9 forward add (client to server): us per call".to_owned(),
            c.forward_us,
            Fmt::Dec(1),
        );
        ours(
            rows,
            "P9 callback / forward (goal <= 1.2)".to_owned(),
            c.callback_us / c.forward_us,
            Fmt::Dec(2),
        );
    }
    if let Some(s) = &once.streams {
        let n = thousands(s.items as i64);
        ours(
            rows,
            format!("P10 stream of {n} i64: items/s"),
            s.stream_per_s,
            Fmt::Int,
        );
        ours(
            rows,
            "P10 one call per item: items/s".to_owned(),
            s.per_call_per_s,
            Fmt::Int,
        );
        ours(
            rows,
            format!("P10 one ALL of {n} i64: items/s"),
            s.all_per_s,
            Fmt::Int,
        );
        ours(
            rows,
            "P10 stream / per-item calls (goal >= 20)".to_owned(),
            s.stream_per_s / s.per_call_per_s,
            Fmt::Dec(1),
        );
        ours(
            rows,
            "P10 ALL / stream (goal <= 2)".to_owned(),
            s.all_per_s / s.stream_per_s,
            Fmt::Dec(2),
        );
        rows.push(Row::text(
            format!(
                "P10 RSS growth, reader stalled (window {} items): server / client KiB",
                thousands(s.window_items as i64)
            ),
            Some(format!(
                "{} / {}",
                thousands(s.server_stall_kib),
                thousands(s.client_stall_kib)
            )),
            None,
        ));
    }
    if let Some(b) = &once.broadcast {
        let m = thousands(b.subscribers as i64);
        ours(
            rows,
            format!(
                "P11 broadcast to {m} ({} conns), all fast: ms",
                b.connections
            ),
            b.fast_total_us / 1e3,
            Fmt::Dec(1),
        );
        ours(
            rows,
            "P11 one slow subscriber: last in-time answer, ms".to_owned(),
            b.slow_slowest_us / 1e3,
            Fmt::Dec(1),
        );
        ours(
            rows,
            format!(
                "P11 one slow subscriber: whole broadcast (timeout {} ms), ms",
                b.timeout_ms
            ),
            b.slow_total_us / 1e3,
            Fmt::Dec(1),
        );
        rows.push(Row::text(
            "P11 one slow subscriber: delivered / late",
            Some(format!("{} / {}", b.slow_delivered, b.slow_late)),
            None,
        ));
    }
}
