//! Catching panics in user code and keeping their message, location and backtrace.
//!
//! A process-wide panic hook is installed once (chaining the previous hook). While a thread is
//! running user code for a call (inside [`catch_sync`] or a [`CatchPanic`] future's poll) the
//! hook records the panic into a thread-local instead of printing it; the session turns the
//! record into a `Panicked` remote error and logs it. Panics anywhere else go to the previous
//! hook as before.

use std::backtrace::Backtrace;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};

use rpc_core::{ErrorKind, RemoteError};

/// What the hook recorded about one panic.
#[derive(Debug, Clone)]
pub struct PanicReport {
    /// The panic's message.
    pub message: String,
    /// `file:line:column` of the panic.
    pub location: String,
    /// The trimmed backtrace at the panic.
    pub stack: String,
}

impl PanicReport {
    /// The `Panicked` remote error for this panic, with stack text when `stack_text` is set.
    pub fn into_error(self, stack_text: bool) -> RemoteError {
        let mut e = RemoteError::new(ErrorKind::Panicked, self.message);
        if stack_text {
            e.stack = format!("panicked at {}\n{}", self.location, self.stack);
        }
        e
    }
}

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static CAPTURED: RefCell<Option<PanicReport>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

/// Installs the capturing hook (once per process).
pub fn install_hook() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !CAPTURING.with(Cell::get) {
                return previous(info);
            }
            let message = if let Some(s) = info.payload().downcast_ref::<&str>() {
                (*s).to_owned()
            } else if let Some(s) = info.payload().downcast_ref::<String>() {
                s.clone()
            } else {
                "panic with a non-string payload".to_owned()
            };
            let location = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_else(|| "an unknown location".to_owned());
            let stack = trim_backtrace(&Backtrace::force_capture().to_string());
            CAPTURED.with(|c| {
                *c.borrow_mut() = Some(PanicReport {
                    message,
                    location,
                    stack,
                })
            });
        }));
    });
}

fn take_report() -> PanicReport {
    CAPTURED
        .with(|c| c.borrow_mut().take())
        .unwrap_or_else(|| PanicReport {
            message: "panic (no report captured)".to_owned(),
            location: "an unknown location".to_owned(),
            stack: String::new(),
        })
}

struct Capturing(bool);

impl Capturing {
    fn start() -> Self {
        Capturing(CAPTURING.with(|c| c.replace(true)))
    }
}

impl Drop for Capturing {
    fn drop(&mut self) {
        CAPTURING.with(|c| c.set(self.0));
    }
}

/// Runs `f`, turning a panic into its report.
pub fn catch_sync<R>(f: impl FnOnce() -> R) -> Result<R, PanicReport> {
    let _capturing = Capturing::start();
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|_| take_report())
}

pin_project_lite::pin_project! {
    /// A future whose every poll runs under [`catch_sync`]: it completes with `Err` if user
    /// code panicked while being polled. Holds the future in place (the futures of user code
    /// arrive boxed already).
    pub struct CatchPanic<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future> CatchPanic<F> {
    /// Wraps `inner`.
    pub fn new(inner: F) -> Self {
        CatchPanic { inner }
    }
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, PanicReport>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.project().inner;
        match catch_sync(move || inner.poll(cx)) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Err(report) => Poll::Ready(Err(report)),
        }
    }
}

/// The server's stack here, trimmed of capture and runtime frames.
pub fn stack_here() -> String {
    trim_backtrace(&Backtrace::force_capture().to_string())
}

/// Keeps the frames that tell a user something: the user's code and the server's dispatch.
/// Drops frames of the standard library, of dependencies (the async runtime, tarpc), of the OS
/// thread start, and of the capture machinery itself; shortens generic names; renumbers.
fn trim_backtrace(text: &str) -> String {
    let mut frames: Vec<Vec<&str>> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let is_header = trimmed
            .split_once(": ")
            .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if is_header {
            frames.push(vec![line]);
        } else if let Some(frame) = frames.last_mut() {
            frame.push(line);
        }
    }
    let noise = |frame: &Vec<&str>| {
        let name = frame[0]
            .trim_start()
            .split_once(": ")
            .map_or("", |(_, n)| n);
        let foreign_location = frame[1..].iter().any(|at| {
            at.contains("/rustc/")
                || at.contains("/.cargo/registry/")
                || at.contains("/.cargo/git/")
                || at.contains("/nptl/")
                || at.contains("/sysdeps/")
                || at.contains("rpc-server/src/panic.rs")
                || at.contains("rpc-server/src/call.rs")
        });
        let foreign_name = [
            "std::",
            "core::",
            "alloc::",
            "tokio::",
            "tarpc::",
            "futures",
            "tracing::",
            "__rust",
            "rust_begin_unwind",
            "start_thread",
            "clone3",
            "__clone",
            "rpc_server::panic::",
            "<alloc::",
            "<core::",
            "<std::",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix));
        foreign_location || foreign_name || (frame.len() == 1 && name.starts_with('{'))
    };
    let mut kept: Vec<&Vec<&str>> = frames.iter().filter(|f| !noise(f)).collect();
    // Runtime frames without debug info trail the stack; they say nothing.
    while kept.last().is_some_and(|f| f.len() == 1) {
        kept.pop();
    }
    let mut out = String::new();
    for (i, frame) in kept.into_iter().enumerate() {
        let header = frame[0].trim_start();
        let name = header.split_once(": ").map_or(header, |(_, n)| n);
        let name = match name.find('<') {
            Some(cut) if name.len() > 60 => &name[..cut],
            _ => name,
        };
        out.push_str(&format!("{i:4}: {name}\n"));
        for line in &frame[1..] {
            out.push_str(line);
            out.push('\n');
        }
    }
    if out.is_empty() {
        out.push_str("(no frames of the application; build with debug info for files and lines)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_are_captured_with_message_and_location() {
        install_hook();
        let report = catch_sync(|| -> u8 { panic!("boom {}", 7) }).expect_err("panicked");
        assert_eq!(report.message, "boom 7");
        assert!(report.location.contains("panic.rs"), "{}", report.location);
        let e = report.into_error(true);
        assert_eq!(e.kind, ErrorKind::Panicked);
        assert!(e.stack.starts_with("panicked at "), "{}", e.stack);
    }

    #[test]
    fn no_panic_passes_the_value_through() {
        install_hook();
        assert_eq!(catch_sync(|| 5).expect("no panic"), 5);
    }

    #[test]
    fn trimming_keeps_application_frames_only() {
        let text = "   0: std::backtrace::Backtrace::force_capture\n             at /rustc/abc/library/std/src/backtrace.rs:1:1\n   1: stack_here\n             at ./rpc-server/src/panic.rs:9:5\n   2: user::method\n             at src/user.rs:9:5\n   3: {async_fn#0}\n             at ./rpc-server/src/session.rs:12:3\n   4: poll<tarpc::Thing<Very, Long, Generic, Arguments, That, Go, On>>\n             at /root/.cargo/registry/src/x/tarpc-0.38.0/src/server.rs:887:61\n   5: start_thread\n             at ./nptl/pthread_create.c:442:8\n";
        let out = trim_backtrace(text);
        assert_eq!(
            out,
            "   0: user::method\n             at src/user.rs:9:5\n   1: {async_fn#0}\n             at ./rpc-server/src/session.rs:12:3\n"
        );
    }
}
