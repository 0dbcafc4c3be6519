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
pub(crate) struct PanicReport {
    pub message: String,
    pub location: String,
    pub stack: String,
}

impl PanicReport {
    pub(crate) fn into_error(self, stack_text: bool) -> RemoteError {
        let mut e = RemoteError::new(ErrorKind::Panicked, self.message);
        e.type_name = "panic".to_owned();
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
pub(crate) fn install_hook() {
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
            let stack = trim_backtrace(&Backtrace::force_capture().to_string(), true);
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
pub(crate) fn catch_sync<R>(f: impl FnOnce() -> R) -> Result<R, PanicReport> {
    let _capturing = Capturing::start();
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|_| take_report())
}

/// A future whose every poll runs under [`catch_sync`]: it completes with `Err` if user code
/// panicked while being polled.
pub(crate) struct CatchPanic<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future> CatchPanic<F> {
    pub(crate) fn new(inner: F) -> Self {
        CatchPanic {
            inner: Box::pin(inner),
        }
    }
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, PanicReport>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner.as_mut();
        match catch_sync(move || inner.poll(cx)) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Err(report) => Poll::Ready(Err(report)),
        }
    }
}

/// The server's stack here, trimmed of capture and runtime frames.
pub(crate) fn stack_here() -> String {
    trim_backtrace(&Backtrace::force_capture().to_string(), false)
}

/// Keeps the frames that tell a user something: drops the backtrace and panic machinery at
/// the top (everything up to the last such frame) and the async runtime's frames at the
/// bottom, and renumbers.
fn trim_backtrace(text: &str, after_panic: bool) -> String {
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
    let name = |frame: &Vec<&str>| {
        frame[0]
            .trim_start()
            .split_once(": ")
            .map(|(_, n)| n.to_owned())
            .unwrap_or_default()
    };
    let machinery = |n: &str| {
        n.starts_with("std::backtrace")
            || n.starts_with("std::panicking")
            || n.starts_with("core::panicking")
            || n.starts_with("std::panic::")
            || n.contains("rust_begin_unwind")
            || n.contains("begin_panic")
            || n.starts_with("rpc_server::panic::")
            || n.contains("<alloc::boxed::Box<F,A> as core::ops::function::Fn<Args>>::call")
            || n.starts_with("std::sys::backtrace")
            || n.contains("__rustc::")
    };
    let start = if after_panic {
        frames
            .iter()
            .rposition(|f| machinery(&name(f)))
            .map_or(0, |i| i + 1)
    } else {
        frames
            .iter()
            .position(|f| !machinery(&name(f)))
            .unwrap_or(0)
    };
    let end = frames
        .iter()
        .skip(start)
        .position(|f| {
            let n = name(f);
            n.starts_with("tokio::runtime")
                || n.starts_with("std::rt::")
                || n.starts_with("tarpc::")
        })
        .map_or(frames.len(), |i| start + i);
    let mut out = String::new();
    for (i, frame) in frames[start..end].iter().enumerate() {
        let header = frame[0].trim_start();
        let rest = header.split_once(": ").map_or(header, |(_, n)| n);
        out.push_str(&format!("{i:4}: {rest}\n"));
        for line in &frame[1..] {
            out.push_str(line);
            out.push('\n');
        }
    }
    if out.is_empty() {
        out.push_str("(no frames; build with debug info for file and line)\n");
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
    fn trimming_drops_machinery_and_runtime_frames() {
        let text = "   0: std::backtrace::Backtrace::force_capture\n             at x.rs:1:1\n   1: std::panicking::begin_panic_handler\n   2: user::method\n             at src/user.rs:9:5\n   3: rpc_server::session::Session::run\n   4: tokio::runtime::task::harness::poll\n   5: std::rt::lang_start\n";
        let out = trim_backtrace(text, true);
        assert_eq!(
            out,
            "   0: user::method\n             at src/user.rs:9:5\n   1: rpc_server::session::Session::run\n"
        );
    }
}
