//! `blackbox`: attacks the real `server` example process from outside and measures it from
//! `/proc` while a control client keeps calling it.
//!
//! ```text
//! cargo run --release -p rpc-tests --bin blackbox -- [--quick] [--server-bin PATH] [--json PATH] ...
//! scripts/blackbox.sh --quick          # builds both, then runs this
//! ```
//!
//! The harness starts the server binary as a child (`--listen 127.0.0.1:0`, its address read
//! from its `listening on IP:PORT` line, its log written to a file), starts a control client
//! (the `rpc_client` API: connect, open `counter`, RUN `add(1)` every 10 ms on a thread and
//! runtime of its own) and a monitor connection that reads the server's `stats`. Then, for each
//! attack:
//!
//! 1. baseline: the counters (sessions, handles, calls in flight) and, from `/proc/PID`,
//!    `VmRSS`, descriptors, threads and CPU time; `VmHWM` is reset (`clear_refs`);
//! 2. the attack runs while a sampler thread reads `/proc/PID` every 20 ms (peaks);
//! 3. recovery: a new client must be served, then the counters and the descriptor count are
//!    polled until they are back to the baseline (bounded);
//! 4. after: CPU over a short settle window and the same figures again.
//!
//! Verdicts. FAIL (the exit status is 1) when the server died, the control client saw a failed
//! call, a new client was not served after the attack, the counters or descriptors did not
//! return to the baseline within the recovery bound, RSS after exceeds RSS before by more than
//! the tolerance (`--rss-tolerance-kib`, default 16,384 KiB: room for allocator caches; a leak
//! shows as growth past it, or as a steady climb over `--repeat`), the server used more than
//! 25 % of a core after the attack (a spin), RSS passed `--abort-rss-mib` (the attack is then
//! stopped), or the attack saw a documented guarantee broken (listed under the table). WARN
//! (exit status 0 unless `--strict`) for a control call slower than `--latency-warn-ms`, a peak
//! RSS more than `--peak-warn-mib` over the baseline, and behaviour worth a look that no
//! document promises otherwise.
//!
//! `--quick` starts the server with lowered clocks (first frame 1 s, frame progress 2 s, write
//! 1 s) and smaller counts where the count does not change what is tested; the full mode keeps
//! the server's defaults (10 s / 30 s / 30 s).

#[path = "blackbox/attacks/mod.rs"]
mod attacks;
#[path = "blackbox/child.rs"]
mod child;
#[path = "blackbox/context.rs"]
mod context;
#[path = "blackbox/control.rs"]
mod control;
#[path = "blackbox/procfs.rs"]
mod procfs;
#[path = "blackbox/raw.rs"]
mod raw;
#[path = "blackbox/report.rs"]
mod report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use rpc_client::ServerStats;
use rpc_core::limits;
use rpc_core::{Reply, Value};
use rpc_server::limits as server_limits;

use crate::child::ServerProcess;
use crate::context::{Clocks, Ctx, Monitor, Outcome};
use crate::control::Control;
use crate::raw::{Conn, frame, ip, payload};
use crate::report::{Row, Triple, Verdict};

const USAGE: &str = "usage: blackbox [options]

Attacks the `server` example from outside; measures it from /proc; a control client must keep
working. Prints a table (a row per attack) and exits 1 if any verdict is FAIL.

  --server-bin PATH        server binary (default target/release/examples/server)
  --quick                  lowered server clocks (1 s / 2 s / 1 s) and smaller counts, ~1 min
  --only NAME[,NAME]       run only these attacks (see --list)
  --skip NAME[,NAME]       skip these attacks
  --list                   list the attacks and exit
  --repeat N               run the attack list N times (a leak shows as a climb; default 1)
  --no-shutdown            skip the final graceful-shutdown check (SIGINT under load)
  --fresh-server           start a new server before every attack (figures not mixed by what
                           the allocator keeps from earlier attacks; default: one server)
  --recovery-s N           bound on the return to the baseline after an attack (default 8 in
                           quick mode, the longest server clock + 15 in full mode)
  --json PATH              also write the results as JSON
  --rss-tolerance-kib N    RSS after may exceed RSS before by this much (default 16384)
  --peak-warn-mib N        WARN when peak RSS exceeds the baseline by this much (default 256)
  --abort-rss-mib N        stop an attack (FAIL) once the server's RSS passes this (default 4096)
  --latency-warn-ms N      WARN when a control call takes longer (default 500)
  --control-period-ms N    pause between control calls (default 10)
  --control-timeout-ms N   control call timeout; a timeout is a failure (default 2000)
  --server-log-level N     the server's --log level, 0-3 (default 1, the server's default)
  --server-log PATH        where the server's stderr goes (default /tmp/blackbox-server-PID.log)
  --server-nofile N        lower the server's descriptor limit to N at start (prlimit)
  --strict                 exit 1 on WARN as well";

#[derive(Debug)]
struct Options {
    server_bin: PathBuf,
    quick: bool,
    only: Vec<String>,
    skip: Vec<String>,
    list: bool,
    repeat: u32,
    shutdown: bool,
    fresh_server: bool,
    recovery: Option<Duration>,
    json: Option<PathBuf>,
    rss_tolerance_kib: u64,
    peak_warn_mib: u64,
    abort_rss_mib: u64,
    latency_warn_ms: u64,
    control_period: Duration,
    control_timeout: Duration,
    server_log_level: u8,
    server_log: PathBuf,
    server_nofile: Option<u64>,
    strict: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        server_bin: PathBuf::from("target/release/examples/server"),
        quick: false,
        only: Vec::new(),
        skip: Vec::new(),
        list: false,
        repeat: 1,
        shutdown: true,
        fresh_server: false,
        recovery: None,
        json: None,
        rss_tolerance_kib: 16 * 1024,
        peak_warn_mib: 256,
        abort_rss_mib: 4096,
        latency_warn_ms: 500,
        control_period: Duration::from_millis(10),
        control_timeout: Duration::from_millis(2000),
        server_log_level: 1,
        server_log: PathBuf::from(format!("/tmp/blackbox-server-{}.log", std::process::id())),
        server_nofile: None,
        strict: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        let number = |text: String| -> Result<u64, String> {
            text.parse()
                .map_err(|_| format!("{text:?} is not a number"))
        };
        match arg.as_str() {
            "--server-bin" => o.server_bin = PathBuf::from(value()?),
            "--quick" => o.quick = true,
            "--only" => o.only.extend(value()?.split(',').map(str::to_owned)),
            "--skip" => o.skip.extend(value()?.split(',').map(str::to_owned)),
            "--list" => o.list = true,
            "--repeat" => o.repeat = number(value()?)?.clamp(1, 100) as u32,
            "--no-shutdown" => o.shutdown = false,
            "--fresh-server" => o.fresh_server = true,
            "--recovery-s" => o.recovery = Some(Duration::from_secs(number(value()?)?)),
            "--json" => o.json = Some(PathBuf::from(value()?)),
            "--rss-tolerance-kib" => o.rss_tolerance_kib = number(value()?)?,
            "--peak-warn-mib" => o.peak_warn_mib = number(value()?)?,
            "--abort-rss-mib" => o.abort_rss_mib = number(value()?)?,
            "--latency-warn-ms" => o.latency_warn_ms = number(value()?)?,
            "--control-period-ms" => o.control_period = Duration::from_millis(number(value()?)?),
            "--control-timeout-ms" => {
                o.control_timeout = Duration::from_millis(number(value()?)?.max(1));
            }
            "--server-log-level" => o.server_log_level = number(value()?)?.min(3) as u8,
            "--server-log" => o.server_log = PathBuf::from(value()?),
            "--server-nofile" => o.server_nofile = Some(number(value()?)?),
            "--strict" => o.strict = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(o) => o,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if options.list {
        for a in attacks::all() {
            println!("{:<18} case {:<5} {}", a.name, a.case, a.about);
        }
        println!(
            "{:<18} case {:<5} SIGINT with calls in flight and idle clients (last)",
            "shutdown", "30"
        );
        return ExitCode::SUCCESS;
    }
    let known: Vec<&str> = attacks::all()
        .iter()
        .map(|a| a.name)
        .chain(["shutdown"])
        .collect();
    for name in options.only.iter().chain(&options.skip) {
        if !known.contains(&name.as_str()) {
            eprintln!("unknown attack {name:?}; --list shows them");
            return ExitCode::from(2);
        }
    }
    // Floods open well over a thousand sockets in this process: raise the soft limit to the
    // hard one. The server inherits it (lower it with --server-nofile).
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start a runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(options)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("blackbox: {e}");
            ExitCode::from(2)
        }
    }
}

/// The server process with the clients the harness keeps on it.
struct Harness {
    options: Options,
    clocks: Clocks,
    server_args: Vec<String>,
    server: ServerProcess,
    control: Control,
    monitor: Arc<Monitor>,
    ticks: u64,
    restarts: u32,
}

impl Harness {
    fn start_server(options: &Options, server_args: &[String]) -> Result<ServerProcess, String> {
        let server = ServerProcess::spawn(
            &options.server_bin,
            options.server_log_level,
            server_args,
            &options.server_log,
        )
        .map_err(|e| e.to_string())?;
        if let Some(limit) = options.server_nofile {
            let (mut soft, mut hard) = (0, 0);
            let _ = rlimit::prlimit(
                server.pid as i32,
                rlimit::Resource::NOFILE,
                None,
                Some((&mut soft, &mut hard)),
            );
            rlimit::prlimit(
                server.pid as i32,
                rlimit::Resource::NOFILE,
                Some((limit, hard)),
                None,
            )
            .map_err(|e| format!("prlimit on the server: {e}"))?;
        }
        Ok(server)
    }

    /// Starts a new server after the old one died, and points the clients at it.
    async fn restart(&mut self) -> Result<(), String> {
        self.server.kill();
        self.server = Self::start_server(&self.options, &self.server_args)?;
        self.control.retarget(self.server.addr);
        self.monitor.retarget(self.server.addr).await;
        if !self.options.fresh_server {
            eprintln!(
                "server restarted: pid {}, {}",
                self.server.pid, self.server.addr
            );
        }
        Ok(())
    }

    /// Waits until the control client and the monitor are both connected to the (new)
    /// server: two sessions, the control's counter held.
    async fn settle_clients(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(s) = self.monitor.stats().await {
                if s.sessions >= 2 && s.handles >= 1 {
                    self.control.take_window();
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err("the control client did not reconnect to the new server".into());
            }
            // The control client reconnects on its own thread: poll the server's counters.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn ctx(&self, over_limit: Arc<AtomicBool>) -> Ctx {
        Ctx {
            addr: self.server.addr,
            pid: self.server.pid,
            quick: self.options.quick,
            clocks: self.clocks,
            max_frame: limits::DEFAULT_MAX_FRAME_BYTES,
            per_ip: server_limits::DEFAULT_MAX_CONNECTIONS_PER_IP,
            total: server_limits::DEFAULT_MAX_CONNECTIONS,
            max_handles: server_limits::DEFAULT_MAX_HANDLES_PER_SESSION,
            max_in_flight: server_limits::DEFAULT_MAX_CALLS_IN_FLIGHT,
            own_sessions: 2,
            monitor: Arc::clone(&self.monitor),
            over_limit,
        }
    }

    /// The counters with the fewest calls in flight over a few readings (the monitor's own
    /// stats call is one; a control call may be another).
    async fn baseline(&self) -> Option<ServerStats> {
        let mut best: Option<ServerStats> = None;
        for _ in 0..10 {
            if let Ok(s) = self.monitor.stats().await {
                let better = best
                    .as_ref()
                    .is_none_or(|b| s.calls_in_flight < b.calls_in_flight);
                if better {
                    best = Some(s);
                }
                if best.as_ref().is_some_and(|b| b.calls_in_flight <= 1) {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        best
    }

    /// Polls until the counters and descriptors are back to `base`/`base_fds`, bounded.
    async fn recover(&self, base: &ServerStats, base_fds: u64, bound: Duration) -> (bool, String) {
        let deadline = Instant::now() + bound;
        loop {
            let fds = procfs::fd_count(self.server.pid).unwrap_or(u64::MAX);
            let last = match self.monitor.stats().await {
                Ok(s) => {
                    let back = s.sessions <= base.sessions
                        && s.handles <= base.handles
                        && s.calls_in_flight <= base.calls_in_flight
                        && fds <= base_fds;
                    let last = format!(
                        "sessions {}->{}, handles {}->{}, calls in flight {}->{}, fds {}->{}",
                        base.sessions,
                        s.sessions,
                        base.handles,
                        s.handles,
                        base.calls_in_flight,
                        s.calls_in_flight,
                        base_fds,
                        fds
                    );
                    if back {
                        return (true, last);
                    }
                    last
                }
                Err(e) => format!("counters unreadable: {e}"),
            };
            if Instant::now() >= deadline {
                return (false, format!("after {} s: {last}", bound.as_secs()));
            }
            // The server frees sessions asynchronously to anything observable here: poll.
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    fn pct(&self, ticks: u64, over: Duration) -> f64 {
        ticks as f64 / self.ticks as f64 / over.as_secs_f64().max(1e-3) * 100.0
    }

    async fn run_attack(&mut self, attack: &attacks::Attack) -> Row {
        let mut row = Row {
            name: attack.name.to_owned(),
            case: attack.case.to_owned(),
            about: attack.about.to_owned(),
            ..Row::default()
        };
        let died_before = self.server.exited().is_some();
        if died_before {
            self.restarts += 1;
        }
        if died_before || self.options.fresh_server {
            if let Err(e) = self.restart().await {
                row.reasons
                    .push(format!("server could not be restarted: {e}"));
                row.verdict = Some(Verdict::Fail);
                return row;
            }
            if let Err(e) = self.settle_clients().await {
                row.reasons.push(e);
                row.verdict = Some(Verdict::Fail);
                return row;
            }
        }
        let pid = self.server.pid;
        let base = self.baseline().await.unwrap_or_default();
        let before = procfs::sample(pid).unwrap_or_default();
        let log_before = self.server.log_bytes();
        procfs::reset_peak(pid);
        let over_limit = Arc::new(AtomicBool::new(false));
        let sampler = procfs::Sampler::start(
            pid,
            Duration::from_millis(20),
            self.options.abort_rss_mib * 1024,
            Arc::clone(&over_limit),
        );
        self.control.take_window();
        let ctx = self.ctx(Arc::clone(&over_limit));
        let budget = Duration::from_secs(if self.options.quick { 60 } else { 180 });
        let started = Instant::now();
        let watch = async {
            while !ctx.over_limit() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let mut outcome = tokio::select! {
            outcome = (attack.run)(&ctx) => outcome,
            () = watch => {
                let mut o = Outcome::default();
                o.problem(format!(
                    "server RSS passed {} MiB; the attack was stopped",
                    self.options.abort_rss_mib
                ));
                o
            }
            () = tokio::time::sleep(budget) => {
                let mut o = Outcome::default();
                o.problem(format!("the attack did not finish within {budget:?}"));
                o
            }
        };
        // CPU time comes in clock ticks (10 ms): measure over at least a quarter second so a
        // short attack's percentage means something. The wait is the measurement.
        let min_window = Duration::from_millis(250);
        if started.elapsed() < min_window {
            tokio::time::sleep(min_window - started.elapsed()).await;
        }
        let attack_time = started.elapsed();
        let cpu_end = procfs::cpu_ticks(pid).unwrap_or(before.cpu_ticks);
        row.attack_ms = attack_time.as_millis();
        row.cpu_during = self.pct(cpu_end.saturating_sub(before.cpu_ticks), attack_time);

        // Recovery: a new client is served, then everything returns to the baseline.
        let recovery_started = Instant::now();
        let died_now = self.server.exited();
        if died_now.is_none() {
            let fresh = async {
                let deadline = Instant::now() + Duration::from_secs(5);
                loop {
                    match attacks::fresh_client(self.server.addr, Duration::from_secs(3)).await {
                        Ok(_) => return Ok(()),
                        Err(e) if Instant::now() >= deadline => return Err(e),
                        // Slots are freed asynchronously after the attack's sockets close.
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            };
            if let Err(e) = fresh.await {
                outcome.problem(format!("a new client was not served after the attack: {e}"));
            }
            let bound = self.options.recovery.unwrap_or(if self.options.quick {
                Duration::from_secs(8)
            } else {
                self.clocks.longest() + Duration::from_secs(15)
            });
            let (back, detail) = self.recover(&base, before.fds, bound).await;
            row.back = Some(back);
            row.back_detail = detail;
        }
        row.recovery_ms = recovery_started.elapsed().as_millis();
        let peaks = sampler.stop();

        // Settle: CPU with nothing but the control client running, then the after figures.
        let settle = Duration::from_millis(if self.options.quick { 300 } else { 1000 });
        let settle_start = procfs::cpu_ticks(pid).unwrap_or(0);
        let t0 = Instant::now();
        tokio::time::sleep(settle).await;
        let settle_ticks = procfs::cpu_ticks(pid)
            .unwrap_or(0)
            .saturating_sub(settle_start);
        row.cpu_after = self.pct(settle_ticks, t0.elapsed());
        let after = procfs::sample(pid).unwrap_or_default();
        let hwm = if after.hwm_kib > 0 {
            after.hwm_kib
        } else {
            peaks.rss_kib
        };
        row.rss_kib = Triple {
            before: before.rss_kib,
            peak: peaks.rss_kib.max(hwm).max(after.rss_kib),
            after: after.rss_kib,
        };
        row.anon_kib = (before.anon_kib, after.anon_kib);
        row.file_kib = (before.file_kib, after.file_kib);
        row.fds = Triple {
            before: before.fds,
            peak: peaks.fds.max(after.fds),
            after: after.fds,
        };
        row.threads = Triple {
            before: before.threads,
            peak: peaks.threads.max(after.threads),
            after: after.threads,
        };
        row.log_bytes = self.server.log_bytes().saturating_sub(log_before);
        row.control = self.control.take_window();
        let died = self.server.exited().or(died_now);
        row.outcome = outcome;
        self.judge(&mut row, died.map(|s| s.to_string()), peaks.died);
        row
    }

    fn judge(&self, row: &mut Row, died: Option<String>, vanished: bool) {
        let o = &self.options;
        let mut fail = Vec::new();
        let mut warn = Vec::new();
        if let Some(status) = died {
            let tail = std::fs::read_to_string(&self.server.log_path)
                .map(|log| log.lines().rev().take(5).collect::<Vec<_>>().join(" | "))
                .unwrap_or_default();
            fail.push(format!("the server died ({status}); log tail: {tail}"));
        } else if vanished {
            fail.push("the server process vanished during the attack".into());
        }
        if row.control.failed > 0 {
            fail.push(format!(
                "control client: {} failed calls ({} ok)",
                row.control.failed, row.control.ok
            ));
        }
        if row.back == Some(false) {
            fail.push(format!("not back to the baseline: {}", row.back_detail));
        }
        let grown = row.rss_kib.after.saturating_sub(row.rss_kib.before);
        if row.back.is_some() && grown > o.rss_tolerance_kib {
            fail.push(format!(
                "RSS after is {grown} KiB over RSS before (tolerance {} KiB)",
                o.rss_tolerance_kib
            ));
        }
        if row.back.is_some() && row.cpu_after > 25.0 {
            fail.push(format!(
                "the server used {:.0}% of a core after the attack",
                row.cpu_after
            ));
        }
        fail.extend(row.outcome.problems.iter().cloned());
        if row.control.max_latency_us / 1000 > o.latency_warn_ms {
            warn.push(format!(
                "slowest control call {} ms",
                row.control.max_latency_us / 1000
            ));
        }
        let peak_growth = row.rss_kib.peak.saturating_sub(row.rss_kib.before);
        if peak_growth > o.peak_warn_mib * 1024 {
            warn.push(format!(
                "peak RSS {} MiB over the baseline",
                peak_growth / 1024
            ));
        }
        warn.extend(row.outcome.warnings.iter().cloned());
        row.verdict = Some(if !fail.is_empty() {
            Verdict::Fail
        } else if !warn.is_empty() {
            Verdict::Warn
        } else {
            Verdict::Pass
        });
        row.reasons = fail.into_iter().chain(warn).collect();
    }

    /// SIGINT with calls in flight and idle clients: in-flight calls are answered, new
    /// connections are refused, and the process exits within the grace period.
    async fn shutdown(&mut self) -> Row {
        let mut row = Row {
            name: "shutdown".into(),
            case: "30".into(),
            about: "SIGINT with 10 one-second calls in flight and 20 idle clients".into(),
            ..Row::default()
        };
        let mut out = Outcome::default();
        if self.server.exited().is_some() {
            self.restarts += 1;
            if let Err(e) = self.restart().await {
                row.reasons
                    .push(format!("server could not be restarted: {e}"));
                row.verdict = Some(Verdict::Fail);
                return row;
            }
        }
        let pid = self.server.pid;
        let addr = self.server.addr;
        let before = procfs::sample(pid).unwrap_or_default();
        let log_before = self.server.log_bytes();
        self.control.take_window();
        let (idle, _, _) = attacks::open_many(addr, vec![ip(2); 20], true, 20).await;
        let mut busy = match Conn::greeted(ip(3), addr).await {
            Ok(c) => Some(c),
            Err(e) => {
                out.problem(format!("connect: {e}"));
                None
            }
        };
        let mut ids = Vec::new();
        if let Some(conn) = busy.as_mut() {
            if let Ok(counter) = conn.open("counter").await {
                let mut bytes = Vec::new();
                for _ in 0..10 {
                    let id = conn.id();
                    ids.push(id);
                    let op = raw::run(counter, "slow_value", vec![Value::Int(1000)]);
                    bytes.extend(frame(&payload(id, op, vec![], raw::DEADLINE)));
                }
                let _ = conn.write(&bytes).await;
            }
        }
        let base_in_flight = self.baseline().await.map_or(0, |s| s.calls_in_flight);
        let _ = self
            .ctx(Arc::new(AtomicBool::new(false)))
            .wait_stats(Duration::from_secs(3), |s| s.calls_in_flight >= 10)
            .await;
        let started = Instant::now();
        let sampler = procfs::Sampler::start(
            pid,
            Duration::from_millis(20),
            u64::MAX,
            Arc::new(AtomicBool::new(false)),
        );
        if let Err(e) = self.server.interrupt() {
            out.problem(format!("cannot send SIGINT: {e}"));
        }
        // In-flight calls are answered.
        let mut answered = 0;
        if let Some(conn) = busy.as_mut() {
            for id in &ids {
                if matches!(conn.answer_to(*id).await, Ok(Ok(Ok(Reply::Value(_))))) {
                    answered += 1;
                }
            }
        }
        out.note(format!(
            "{answered} of {} calls in flight at SIGINT answered ({} calls in flight before)",
            ids.len(),
            base_in_flight
        ));
        out.expect(
            answered == ids.len(),
            format!("{} in-flight calls lost at shutdown", ids.len() - answered),
        );
        // New connections are no longer served.
        match attacks::fresh_client(addr, Duration::from_secs(1)).await {
            Ok(_) => out.problem("a new client was served after SIGINT"),
            Err(_) => out.note("new clients refused after SIGINT"),
        }
        // The process exits within the grace period (10 s) plus slack.
        let bound = Duration::from_secs(15);
        let mut status = None;
        while started.elapsed() < bound {
            if let Some(s) = self.server.exited() {
                status = Some(s);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let cpu = procfs::Sampler::stop(sampler);
        match status {
            Some(s) => {
                out.note(format!(
                    "exited {} ms after SIGINT: {s}",
                    started.elapsed().as_millis()
                ));
                out.expect(s.success(), format!("exit status {s}"));
            }
            None => out.problem(format!("still running {} s after SIGINT", bound.as_secs())),
        }
        drop(idle);
        drop(busy);
        row.attack_ms = started.elapsed().as_millis();
        row.rss_kib = Triple {
            before: before.rss_kib,
            peak: cpu.rss_kib.max(before.rss_kib),
            after: 0,
        };
        row.fds = Triple {
            before: before.fds,
            peak: cpu.fds.max(before.fds),
            after: 0,
        };
        row.threads = Triple {
            before: before.threads,
            peak: cpu.threads.max(before.threads),
            after: 0,
        };
        row.log_bytes = self.server.log_bytes().saturating_sub(log_before);
        // The control client necessarily fails once the server is gone: shown, not judged.
        row.control = self.control.take_window();
        row.back = None;
        row.back_detail = "n/a: the server exited".into();
        row.verdict = Some(if out.problems.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail
        });
        row.reasons = out.problems.clone();
        row.outcome = out;
        row
    }
}

async fn run(options: Options) -> Result<ExitCode, String> {
    let clocks = if options.quick {
        Clocks {
            first_frame: Duration::from_millis(1000),
            frame: Duration::from_millis(2000),
            write: Duration::from_millis(1000),
            closed_peer: Duration::from_millis(1000),
            callback: Duration::from_millis(1000),
        }
    } else {
        Clocks {
            first_frame: server_limits::DEFAULT_FIRST_FRAME_TIMEOUT,
            frame: server_limits::DEFAULT_FRAME_PROGRESS_TIMEOUT,
            write: server_limits::DEFAULT_WRITE_TIMEOUT,
            closed_peer: server_limits::DEFAULT_CLOSED_PEER_GRACE,
            callback: rpc_server::ServerConfig::default().callback_timeout,
        }
    };
    let server_args: Vec<String> = if options.quick {
        vec![
            "--first-frame-timeout-ms".into(),
            clocks.first_frame.as_millis().to_string(),
            "--frame-timeout-ms".into(),
            clocks.frame.as_millis().to_string(),
            "--write-timeout-ms".into(),
            clocks.write.as_millis().to_string(),
            "--closed-peer-grace-ms".into(),
            clocks.closed_peer.as_millis().to_string(),
            "--callback-timeout-ms".into(),
            clocks.callback.as_millis().to_string(),
        ]
    } else {
        Vec::new()
    };
    let _ = std::fs::remove_file(&options.server_log);
    let server = Harness::start_server(&options, &server_args)?;
    let control = Control::start(server.addr, options.control_period, options.control_timeout)?;
    let monitor = Arc::new(Monitor::new(server.addr));
    monitor.stats().await?;
    let mut h = Harness {
        clocks,
        server_args,
        server,
        control,
        monitor,
        ticks: procfs::clock_ticks_per_second(),
        restarts: 0,
        options,
    };
    let selected: Vec<attacks::Attack> = attacks::all()
        .into_iter()
        .filter(|a| h.options.only.is_empty() || h.options.only.iter().any(|n| n == a.name))
        .filter(|a| !h.options.skip.iter().any(|n| n == a.name))
        .collect();
    let run_shutdown = h.options.shutdown
        && (h.options.only.is_empty() || h.options.only.iter().any(|n| n == "shutdown"))
        && !h.options.skip.iter().any(|n| n == "shutdown");
    let first = procfs::sample(h.server.pid).unwrap_or_default();
    let nofile = procfs::nofile_limit(h.server.pid).map_or("?".into(), |n| n.to_string());
    println!(
        "blackbox: server {} pid {} on {}; {} mode: clocks first frame {} ms, frame {} ms, write {} ms; \
         descriptor limit {nofile}; RSS {} KiB, {} fds, {} threads at start; clock tick {}/s; \
         RSS tolerance {} KiB; log {}",
        h.options.server_bin.display(),
        h.server.pid,
        h.server.addr,
        if h.options.quick { "quick" } else { "full" },
        h.clocks.first_frame.as_millis(),
        h.clocks.frame.as_millis(),
        h.clocks.write.as_millis(),
        first.rss_kib,
        first.fds,
        first.threads,
        h.ticks,
        h.options.rss_tolerance_kib,
        h.server.log_path.display()
    );
    let run_started = Instant::now();
    let mut rows = Vec::new();
    let total = selected.len() * h.options.repeat as usize;
    for round in 0..h.options.repeat {
        for (i, attack) in selected.iter().enumerate() {
            eprint!(
                "[{}/{}] {:<18} ",
                round as usize * selected.len() + i + 1,
                total,
                attack.name
            );
            let row = h.run_attack(attack).await;
            eprintln!(
                "{} ({} ms attack, {} ms recovery; RSS {}/{}/{} KiB)",
                row.verdict().as_str(),
                row.attack_ms,
                row.recovery_ms,
                row.rss_kib.before,
                row.rss_kib.peak,
                row.rss_kib.after
            );
            let mut row = row;
            if h.options.repeat > 1 {
                row.name = format!("{}#{}", row.name, round + 1);
            }
            rows.push(row);
        }
    }
    let last = procfs::sample(h.server.pid).unwrap_or_default();
    if run_shutdown {
        eprint!("[shutdown] ");
        let row = h.shutdown().await;
        eprintln!("{}", row.verdict().as_str());
        rows.push(row);
    }
    h.server.kill();
    let restarts = h.restarts;
    let Harness {
        control, options, ..
    } = h;
    control.stop();
    println!();
    print!("{}", report::table(&rows));
    print!("{}", report::details(&rows));
    let fails = rows.iter().filter(|r| r.verdict() == Verdict::Fail).count();
    let warns = rows.iter().filter(|r| r.verdict() == Verdict::Warn).count();
    let elapsed = run_started.elapsed().as_millis();
    println!(
        "\nwhole run: {elapsed} ms; server RSS {} KiB at start, {} KiB after the last attack ({:+} KiB); fds {} -> {}; {restarts} server restarts; {fails} FAIL, {warns} WARN, {} PASS",
        first.rss_kib,
        last.rss_kib,
        last.rss_kib as i64 - first.rss_kib as i64,
        first.fds,
        last.fds,
        rows.len() - fails - warns
    );
    if options.repeat > 1 {
        print!("{}", report::drift(&rows, options.rss_tolerance_kib));
    }
    if let Some(path) = &options.json {
        let header = [
            (
                "server_bin",
                report::json_string(&options.server_bin.display().to_string()),
            ),
            (
                "mode",
                report::json_string(if options.quick { "quick" } else { "full" }),
            ),
            (
                "first_frame_timeout_ms",
                clocks.first_frame.as_millis().to_string(),
            ),
            ("frame_timeout_ms", clocks.frame.as_millis().to_string()),
            ("write_timeout_ms", clocks.write.as_millis().to_string()),
            ("rss_tolerance_kib", options.rss_tolerance_kib.to_string()),
            ("rss_start_kib", first.rss_kib.to_string()),
            ("rss_end_kib", last.rss_kib.to_string()),
            ("fds_start", first.fds.to_string()),
            ("fds_end", last.fds.to_string()),
            ("server_restarts", restarts.to_string()),
            ("elapsed_ms", elapsed.to_string()),
            ("fail", fails.to_string()),
            ("warn", warns.to_string()),
        ];
        std::fs::write(path, report::json(&header, &rows))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("JSON written to {}", path.display());
    }
    Ok(if fails > 0 || (options.strict && warns > 0) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
