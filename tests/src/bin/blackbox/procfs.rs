//! Measuring another process from `/proc`: resident memory and its peak, descriptors,
//! threads and CPU time, sampled on a thread of its own while an attack runs.

use std::fs;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

/// One reading of a process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// `VmRSS`, KiB.
    pub rss_kib: u64,
    /// `VmHWM` (peak resident set since start or the last reset), KiB.
    pub hwm_kib: u64,
    /// `RssAnon`: the heap and stacks, KiB.
    pub anon_kib: u64,
    /// `RssFile`: mapped files (the binary, its debug info once read), KiB.
    pub file_kib: u64,
    /// `Threads`.
    pub threads: u64,
    /// Entries of `/proc/PID/fd`.
    pub fds: u64,
    /// `utime + stime`, in clock ticks.
    pub cpu_ticks: u64,
}

/// Reads every figure of [`Sample`] for `pid`.
pub fn sample(pid: u32) -> io::Result<Sample> {
    let [rss_kib, hwm_kib, anon_kib, file_kib, threads] = status(pid)?;
    Ok(Sample {
        rss_kib,
        hwm_kib,
        anon_kib,
        file_kib,
        threads,
        fds: fd_count(pid)?,
        cpu_ticks: cpu_ticks(pid)?,
    })
}

/// `VmRSS`, `VmHWM`, `RssAnon`, `RssFile` and `Threads` from `/proc/PID/status`.
fn status(pid: u32) -> io::Result<[u64; 5]> {
    let text = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Ok([
        field("VmRSS:"),
        field("VmHWM:"),
        field("RssAnon:"),
        field("RssFile:"),
        field("Threads:"),
    ])
}

/// The number of open descriptors: entries of `/proc/PID/fd`.
pub fn fd_count(pid: u32) -> io::Result<u64> {
    Ok(fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64)
}

/// `utime + stime` (fields 14 and 15 of `/proc/PID/stat`), in clock ticks.
pub fn cpu_ticks(pid: u32) -> io::Result<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may contain spaces: count from after it.
    let after = text
        .rfind(')')
        .map(|i| &text[i + 1..])
        .ok_or_else(|| io::Error::other("no ')' in /proc/PID/stat"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state): utime is field 14, stime field 15.
    let get = |i: usize| -> io::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other("short /proc/PID/stat"))
    };
    Ok(get(11)? + get(12)?)
}

/// The process state letter of `/proc/PID/stat` (`Z` for a zombie), if readable.
pub fn state(pid: u32) -> Option<char> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    after.split_whitespace().next()?.chars().next()
}

/// Resets `VmHWM` to the current RSS (writing `5` to `/proc/PID/clear_refs`, Linux 4.0+), so
/// the next `VmHWM` is the peak of what follows. `false` when the kernel refused.
pub fn reset_peak(pid: u32) -> bool {
    fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// Clock ticks per second for `/proc/PID/stat` times (`getconf CLK_TCK`; 100, the Linux
/// `USER_HZ` of every mainstream architecture, when `getconf` is missing).
pub fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|&ticks| ticks > 0)
        .unwrap_or(100)
}

/// The soft descriptor limit of `pid` (`Max open files` of `/proc/PID/limits`).
pub fn nofile_limit(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Highest figures seen by a [`Sampler`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Peaks {
    /// Highest `VmRSS` sampled, KiB.
    pub rss_kib: u64,
    /// Most descriptors sampled.
    pub fds: u64,
    /// Most threads sampled.
    pub threads: u64,
    /// Whether the process was gone (or a zombie) at some sample.
    pub died: bool,
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    rss_kib: AtomicU64,
    fds: AtomicU64,
    threads: AtomicU64,
    died: AtomicBool,
}

/// Samples a process every `period` on a thread of its own until stopped.
#[derive(Debug)]
pub struct Sampler {
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling `pid`; sets `over_limit` once RSS passes `abort_rss_kib`.
    pub fn start(
        pid: u32,
        period: Duration,
        abort_rss_kib: u64,
        over_limit: Arc<AtomicBool>,
    ) -> Self {
        let shared = Arc::new(Shared::default());
        let inner = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("blackbox-sampler".into())
            .spawn(move || {
                while !inner.stop.load(Ordering::Relaxed) {
                    match (sample(pid), state(pid)) {
                        (Ok(s), Some(state)) if state != 'Z' && state != 'X' => {
                            inner.rss_kib.fetch_max(s.rss_kib, Ordering::Relaxed);
                            inner.fds.fetch_max(s.fds, Ordering::Relaxed);
                            inner.threads.fetch_max(s.threads, Ordering::Relaxed);
                            if s.rss_kib > abort_rss_kib {
                                over_limit.store(true, Ordering::Relaxed);
                            }
                        }
                        _ => inner.died.store(true, Ordering::Relaxed),
                    }
                    thread::sleep(period);
                }
            })
            .ok();
        Sampler { shared, thread }
    }

    /// Stops sampling and returns the peaks.
    pub fn stop(mut self) -> Peaks {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let s = &self.shared;
        Peaks {
            rss_kib: s.rss_kib.load(Ordering::Relaxed),
            fds: s.fds.load(Ordering::Relaxed),
            threads: s.threads.load(Ordering::Relaxed),
            died: s.died.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}
