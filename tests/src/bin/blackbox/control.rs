//! The control client: a well-behaved client on a thread and runtime of its own that opens a
//! `counter` and RUNs `add(1)` at a steady pace through the real `rpc_client` API, counting
//! successes, failures and the slowest answer of each window.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rpc_client::{Client, Proxy};

/// What the control client saw in one window.
#[derive(Clone, Debug, Default)]
pub struct Window {
    /// Calls answered correctly.
    pub ok: u64,
    /// Calls failed (error, timeout, wrong answer) and failed reconnects.
    pub failed: u64,
    /// Slowest call, in microseconds (failed calls included).
    pub max_latency_us: u64,
    /// The first few failures, as text.
    pub errors: Vec<String>,
}

#[derive(Debug)]
struct Shared {
    stop: AtomicBool,
    ok: AtomicU64,
    failed: AtomicU64,
    max_latency_us: AtomicU64,
    errors: Mutex<Vec<String>>,
    addr: Mutex<SocketAddr>,
}

/// Failures kept as text per window.
const KEPT_ERRORS: usize = 5;

impl Shared {
    fn fail(&self, text: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut errors) = self.errors.lock() {
            if errors.len() < KEPT_ERRORS {
                errors.push(text);
            }
        }
    }
}

/// The running control client.
#[derive(Debug)]
pub struct Control {
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Control {
    /// Starts calling the server at `addr` every `period`; each call times out after
    /// `timeout`. Returns once the first call has succeeded, or an error after 10 s.
    pub fn start(addr: SocketAddr, period: Duration, timeout: Duration) -> Result<Self, String> {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            max_latency_us: AtomicU64::new(0),
            errors: Mutex::new(Vec::new()),
            addr: Mutex::new(addr),
        });
        let inner = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("blackbox-control".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match runtime {
                    Ok(runtime) => runtime.block_on(run(inner, period, timeout)),
                    Err(e) => inner.fail(format!("control runtime: {e}")),
                }
            })
            .map_err(|e| format!("cannot start the control thread: {e}"))?;
        let control = Control {
            shared,
            thread: Some(thread),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        // Polls a counter the control thread updates; bounded by `deadline`.
        while control.shared.ok.load(Ordering::Relaxed) == 0 {
            if Instant::now() > deadline {
                let w = control.take_window();
                return Err(format!(
                    "the control client never succeeded: {:?}",
                    w.errors
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
        control.take_window();
        Ok(control)
    }

    /// Points the client at a new address (after a server restart); it reconnects.
    pub fn retarget(&self, addr: SocketAddr) {
        if let Ok(mut a) = self.shared.addr.lock() {
            *a = addr;
        }
    }

    /// Returns what was seen since the last call and starts a new window.
    pub fn take_window(&self) -> Window {
        let s = &self.shared;
        Window {
            ok: s.ok.swap(0, Ordering::Relaxed),
            failed: s.failed.swap(0, Ordering::Relaxed),
            max_latency_us: s.max_latency_us.swap(0, Ordering::Relaxed),
            errors: s
                .errors
                .lock()
                .map(|mut e| std::mem::take(&mut *e))
                .unwrap_or_default(),
        }
    }

    /// Stops the client.
    pub fn stop(mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

/// A session of the control client: the connection, its counter, the counter's expected
/// value and the address it was opened to.
type Session = (Client, Proxy, i64, SocketAddr);

async fn connect(addr: SocketAddr, timeout: Duration) -> Result<Session, String> {
    let client = Client::builder()
        .connect_timeout(timeout)
        .timeout(timeout)
        .client_name("blackbox-control")
        .connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let counter = client
        .open("counter", (0,))
        .await
        .map_err(|e| format!("open counter: {e}"))?;
    Ok((client, counter, 0, addr))
}

async fn run(shared: Arc<Shared>, period: Duration, timeout: Duration) {
    let mut session: Option<Session> = None;
    let mut next = tokio::time::Instant::now();
    while !shared.stop.load(Ordering::Relaxed) {
        next += period;
        let addr = shared.addr.lock().map(|a| *a).ok();
        if session.as_ref().is_some_and(|s| Some(s.3) != addr) {
            // Retargeted at a new server.
            session = None;
        }
        let started = Instant::now();
        match (&mut session, addr) {
            (None, Some(addr)) => match connect(addr, timeout).await {
                Ok(s) => session = Some(s),
                Err(e) => shared.fail(e),
            },
            (None, None) => shared.fail("control address lost".into()),
            (Some((_, counter, expected, _)), _) => match counter.call_as::<i64>("add", (1,)).await
            {
                Ok(value) if value == *expected + 1 => {
                    *expected = value;
                    shared.ok.fetch_add(1, Ordering::Relaxed);
                }
                Ok(value) => {
                    shared.fail(format!("add(1) returned {value}, not {}", *expected + 1));
                    *expected = value;
                }
                Err(e) => {
                    let text = e.to_string();
                    let first_line = text.lines().next().unwrap_or("").to_owned();
                    shared.fail(format!("add(1): {first_line}"));
                    if matches!(
                        e,
                        rpc_client::CallError::Disconnected | rpc_client::CallError::Protocol(_)
                    ) {
                        session = None;
                    }
                }
            },
        }
        let us = started.elapsed().as_micros() as u64;
        shared.max_latency_us.fetch_max(us, Ordering::Relaxed);
        let now = tokio::time::Instant::now();
        if next < now {
            // Running late (a slow call): keep the pace from now on instead of bursting.
            next = now;
        }
        tokio::time::sleep_until(next).await;
    }
}
