//! What every attack gets: the server's address and pid, its clocks and limits, a monitor
//! connection for the server's counters, and where it records what it saw.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rpc_client::{Client, ServerStats};
use tokio::sync::Mutex;

/// The server's connection clocks.
#[derive(Clone, Copy, Debug)]
pub struct Clocks {
    /// First-frame timeout.
    pub first_frame: Duration,
    /// Frame-progress timeout.
    pub frame: Duration,
    /// Write timeout.
    pub write: Duration,
    /// Grace for calls still running after the peer closed its side.
    pub closed_peer: Duration,
    /// How long the server waits for a client to answer a call to its object.
    pub callback: Duration,
}

impl Clocks {
    /// The longest of the three.
    pub fn longest(&self) -> Duration {
        self.first_frame.max(self.frame).max(self.write)
    }
}

/// A connection used only to read the server's counters; reconnects when it breaks.
#[derive(Debug)]
pub struct Monitor {
    addr: std::sync::Mutex<SocketAddr>,
    client: Mutex<Option<Client>>,
}

impl Monitor {
    /// A monitor for `addr` (connects on first use).
    pub fn new(addr: SocketAddr) -> Self {
        Monitor {
            addr: std::sync::Mutex::new(addr),
            client: Mutex::new(None),
        }
    }

    /// Points the monitor at a new address and drops its connection.
    pub async fn retarget(&self, addr: SocketAddr) {
        if let Ok(mut a) = self.addr.lock() {
            *a = addr;
        }
        *self.client.lock().await = None;
    }

    /// The server's counters.
    pub async fn stats(&self) -> Result<ServerStats, String> {
        let mut guard = self.client.lock().await;
        if guard.is_none() {
            let addr = self
                .addr
                .lock()
                .map(|a| *a)
                .map_err(|_| "monitor address lock poisoned".to_owned())?;
            let client = Client::builder()
                .connect_timeout(Duration::from_secs(3))
                .timeout(Duration::from_secs(3))
                .client_name("blackbox-monitor")
                .connect(addr)
                .await
                .map_err(|e| format!("monitor connect: {e}"))?;
            *guard = Some(client);
        }
        let Some(client) = guard.as_ref() else {
            return Err("monitor not connected".into());
        };
        match client.stats().await {
            Ok(stats) => Ok(stats),
            Err(e) => {
                *guard = None;
                Err(format!("stats: {e}"))
            }
        }
    }
}

/// What an attack reports besides the measurements.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Facts observed (counts, times), printed under the table.
    pub notes: Vec<String>,
    /// Server behaviour that breaks a documented guarantee: the verdict fails.
    pub problems: Vec<String>,
    /// Behaviour worth a look that breaks no documented guarantee.
    pub warnings: Vec<String>,
}

impl Outcome {
    /// Records a fact.
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// Records a broken guarantee.
    pub fn problem(&mut self, text: impl Into<String>) {
        self.problems.push(text.into());
    }

    /// Records something worth a look.
    pub fn warn(&mut self, text: impl Into<String>) {
        self.warnings.push(text.into());
    }

    /// Records `condition` as a problem described by `text` when false.
    pub fn expect(&mut self, condition: bool, text: impl Into<String>) {
        if !condition {
            self.problem(text);
        }
    }
}

/// Everything an attack needs.
#[derive(Debug)]
pub struct Ctx {
    /// The server.
    pub addr: SocketAddr,
    /// Its process id.
    pub pid: u32,
    /// Quick mode: smaller counts where the count does not change what is tested.
    pub quick: bool,
    /// The server's clocks.
    pub clocks: Clocks,
    /// The server's frame limit.
    pub max_frame: usize,
    /// Connections per peer IP.
    pub per_ip: usize,
    /// Connections in total.
    pub total: usize,
    /// Handles per session.
    pub max_handles: usize,
    /// Calls in flight per connection.
    pub max_in_flight: usize,
    /// Sessions the harness itself keeps open (control client and monitor).
    pub own_sessions: u64,
    /// The counters connection.
    pub monitor: Arc<Monitor>,
    /// Set when the server's RSS passed the abort limit: memory attacks stop adding.
    pub over_limit: Arc<AtomicBool>,
}

impl Ctx {
    /// Quick or full count.
    pub fn pick<T>(&self, quick: T, full: T) -> T {
        if self.quick { quick } else { full }
    }

    /// Whether the server's RSS passed the abort limit.
    pub fn over_limit(&self) -> bool {
        self.over_limit.load(Ordering::Relaxed)
    }

    /// The server's counters, or `None` (with the reason in `out`) when they cannot be read.
    pub async fn stats(&self, out: &mut Outcome) -> Option<ServerStats> {
        match self.monitor.stats().await {
            Ok(s) => Some(s),
            Err(e) => {
                out.problem(format!("server counters unreadable: {e}"));
                None
            }
        }
    }

    /// Polls the counters until `done` holds or `within` passes; the last reading.
    pub async fn wait_stats(
        &self,
        within: Duration,
        done: impl Fn(&ServerStats) -> bool,
    ) -> (bool, Option<ServerStats>) {
        let deadline = tokio::time::Instant::now() + within;
        let mut last = None;
        loop {
            if let Ok(s) = self.monitor.stats().await {
                if done(&s) {
                    return (true, Some(s));
                }
                last = Some(s);
            }
            if tokio::time::Instant::now() >= deadline {
                return (false, last);
            }
            // The counters change asynchronously to anything this harness can await: poll.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
