//! [`ClockedStream`]: the socket of one connection, watched for peers that stall.
//!
//! A shared [`Clock`] records four facts: whether a first frame has completed and since when a
//! started frame has been waiting for its remaining bytes (told by the framing,
//! [`FrameCodec`](crate::framing::FrameCodec), the one parser of frames), since when a write
//! has been blocked because the peer does not read, and since when the peer has closed its
//! side (both seen by the stream). The connection task runs [`Clock::watch`] beside the
//! session and closes the connection when a limit passes:
//!
//! - no complete first frame within `first_frame_timeout` (idle sockets holding slots);
//! - a started frame not completed within `frame_progress_timeout` (slowloris: a declared
//!   8 MiB frame sent byte by byte, or all but the last bytes and then nothing);
//! - a write blocked for `write_timeout` (a peer that pipelines calls and never reads).
//!
//! An idle connection between frames is not closed: a client may hold a session open and quiet.
//! Dead peers are found by TCP keepalive, set on the socket at accept.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Why the watchdog closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stall {
    /// No complete frame within the first-frame timeout.
    NoFirstFrame,
    /// A started frame did not complete within the frame-progress timeout.
    SlowFrame,
    /// A write stayed blocked (the peer does not read) past the write timeout.
    BlockedWrite,
    /// The peer closed its side and calls were still running past the grace period.
    ClosedPeer,
}

impl Stall {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Stall::NoFirstFrame => "no complete first frame in time",
            Stall::SlowFrame => "a frame stalled before completing",
            Stall::BlockedWrite => "the peer stopped reading replies",
            Stall::ClosedPeer => "the peer closed its side and its calls ran past the grace period",
        }
    }
}

/// The limits a [`Clock`] enforces.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClockLimits {
    pub(crate) first_frame: Duration,
    pub(crate) frame_progress: Duration,
    pub(crate) write: Duration,
    pub(crate) closed_peer: Duration,
}

/// Milliseconds since the clock's start, or `NEVER`.
const NEVER: u64 = u64::MAX;

/// Shared between the stream (which records) and the watchdog (which reads).
#[derive(Debug)]
pub(crate) struct Clock {
    start: Instant,
    first_frame_done: AtomicBool,
    /// When the current partial frame received its first byte.
    partial_since: AtomicU64,
    /// When a write first returned `Pending` without progress since.
    write_blocked_since: AtomicU64,
    /// When a read first saw the end of the stream (the peer closed its side).
    closed_since: AtomicU64,
    /// Set at shutdown: reads see end-of-stream, so the session finishes the calls it has,
    /// writes their replies, and ends as if the peer had closed its side. No waker: the
    /// connection task that sets it polls the stream right after (`serve_connection`), and a
    /// stream is read only from that task.
    reads_closed: AtomicBool,
}

impl Clock {
    /// A clock starting now, with no frame yet.
    pub(crate) fn new() -> Arc<Clock> {
        Arc::new(Clock {
            start: Instant::now(),
            first_frame_done: AtomicBool::new(false),
            partial_since: AtomicU64::new(NEVER),
            write_blocked_since: AtomicU64::new(NEVER),
            closed_since: AtomicU64::new(NEVER),
            reads_closed: AtomicBool::new(false),
        })
    }

    /// The framing holds part of a frame: its clock runs from the first time this is said.
    pub(crate) fn frame_incomplete(&self) {
        self.mark(&self.partial_since);
    }

    /// A frame completed; nothing of the next one has arrived yet.
    pub(crate) fn frame_complete(&self) {
        if !self.first_frame_done.load(Ordering::Relaxed) {
            self.first_frame_done.store(true, Ordering::Relaxed);
        }
        if self.partial_since.load(Ordering::Relaxed) != NEVER {
            self.partial_since.store(NEVER, Ordering::Relaxed);
        }
    }

    #[cfg(test)]
    pub(crate) fn is_frame_incomplete(&self) -> bool {
        self.partial_since.load(Ordering::Relaxed) != NEVER
    }

    #[cfg(test)]
    pub(crate) fn has_first_frame(&self) -> bool {
        self.first_frame_done.load(Ordering::Relaxed)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(NEVER - 1)
    }

    fn since(&self, mark: &AtomicU64) -> Option<Duration> {
        match mark.load(Ordering::Relaxed) {
            NEVER => None,
            at => Some(Duration::from_millis(self.now_ms().saturating_sub(at))),
        }
    }

    fn mark(&self, mark: &AtomicU64) {
        let now = self.now_ms();
        let _ = mark.compare_exchange(NEVER, now, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Makes every further read see end-of-stream (see `reads_closed`).
    pub(crate) fn close_reads(&self) {
        self.reads_closed.store(true, Ordering::Release);
    }

    /// Returns the first limit that passed, if any.
    pub(crate) fn check(&self, limits: &ClockLimits) -> Option<Stall> {
        if !self.first_frame_done.load(Ordering::Relaxed)
            && self.start.elapsed() > limits.first_frame
        {
            return Some(Stall::NoFirstFrame);
        }
        if self
            .since(&self.partial_since)
            .is_some_and(|d| d > limits.frame_progress)
        {
            return Some(Stall::SlowFrame);
        }
        if self
            .since(&self.write_blocked_since)
            .is_some_and(|d| d > limits.write)
        {
            return Some(Stall::BlockedWrite);
        }
        if self
            .since(&self.closed_since)
            .is_some_and(|d| d > limits.closed_peer)
        {
            return Some(Stall::ClosedPeer);
        }
        None
    }

    /// Completes when a limit passes, with the reason. Checks a few times per shortest limit.
    pub(crate) async fn watch(&self, limits: ClockLimits) -> Stall {
        let shortest = limits
            .first_frame
            .min(limits.frame_progress)
            .min(limits.write)
            .min(limits.closed_peer);
        let tick = (shortest / 4).clamp(Duration::from_millis(5), Duration::from_secs(1));
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Some(stall) = self.check(&limits) {
                return stall;
            }
        }
    }
}

/// A stream that records blocked writes and the peer's end of stream in a [`Clock`].
#[derive(Debug)]
pub(crate) struct ClockedStream<S> {
    inner: S,
    clock: Arc<Clock>,
}

impl<S> ClockedStream<S> {
    pub(crate) fn new(inner: S) -> (Self, Arc<Clock>) {
        let clock = Clock::new();
        (
            ClockedStream {
                inner,
                clock: Arc::clone(&clock),
            },
            clock,
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ClockedStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.clock.reads_closed.load(Ordering::Acquire) {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let room = buf.remaining() > 0;
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        match polled {
            Poll::Ready(Ok(())) => {
                let fresh = &buf.filled()[before..];
                if fresh.is_empty() && room {
                    // End of stream: the connection ends when its calls do, or at the grace.
                    self.clock.mark(&self.clock.closed_since);
                }
                tracing::trace!(target: "rpc_server::wire::raw", bytes = fresh.len(), hex = %Hex(fresh), "read");
            }
            Poll::Pending | Poll::Ready(Err(_)) => {}
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ClockedStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        self.note_write(&bytes_written(&polled));
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        let outcome = match &polled {
            Poll::Ready(_) => Poll::Ready(Ok(0u64)),
            Poll::Pending => Poll::Pending,
        };
        self.note_write(&outcome);
        polled
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note_write(&bytes_written(&polled));
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<S> ClockedStream<S> {
    fn note_write<T: Copy + Into<u64>>(&self, polled: &Poll<io::Result<T>>) {
        if let Poll::Ready(Ok(n)) = polled {
            let n: u64 = (*n).into();
            if n > 0 {
                tracing::trace!(target: "rpc_server::wire", bytes = n, "bytes out");
            }
        }
        match polled {
            Poll::Pending => self.clock.mark(&self.clock.write_blocked_since),
            Poll::Ready(_) => self
                .clock
                .write_blocked_since
                .store(NEVER, Ordering::Relaxed),
        }
    }
}

/// A write's outcome with its byte count as `u64`.
fn bytes_written(polled: &Poll<io::Result<usize>>) -> Poll<io::Result<u64>> {
    match polled {
        Poll::Ready(Ok(n)) => Poll::Ready(Ok(*n as u64)),
        Poll::Ready(Err(e)) => Poll::Ready(Err(io::Error::new(e.kind(), "write failed"))),
        Poll::Pending => Poll::Pending,
    }
}

/// Bytes as hex, at most 256 of them, for the raw wire log.
struct Hex<'a>(&'a [u8]);

impl std::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0.iter().take(256) {
            write!(f, "{b:02x}")?;
        }
        if self.0.len() > 256 {
            write!(f, "...")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(ms: u64) -> ClockLimits {
        let d = Duration::from_millis(ms);
        ClockLimits {
            first_frame: d,
            frame_progress: d,
            write: d,
            closed_peer: d,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn each_stall_is_reported_after_its_limit() {
        let (s, clock) = ClockedStream::new(());
        assert_eq!(clock.check(&limits(100)), None);
        tokio::time::advance(Duration::from_millis(150)).await;
        assert_eq!(clock.check(&limits(100)), Some(Stall::NoFirstFrame));

        clock.frame_complete();
        assert_eq!(
            clock.check(&limits(100)),
            None,
            "a complete frame, then idle"
        );
        clock.frame_incomplete();
        tokio::time::advance(Duration::from_millis(60)).await;
        clock.frame_incomplete();
        tokio::time::advance(Duration::from_millis(60)).await;
        assert_eq!(
            clock.check(&limits(100)),
            Some(Stall::SlowFrame),
            "the frame's clock runs from its first bytes"
        );
        clock.frame_complete();
        assert_eq!(clock.check(&limits(100)), None);

        s.note_write::<u64>(&Poll::Pending);
        tokio::time::advance(Duration::from_millis(50)).await;
        s.note_write::<u64>(&Poll::Pending);
        assert_eq!(clock.check(&limits(100)), None, "blocked, not yet for long");
        tokio::time::advance(Duration::from_millis(60)).await;
        assert_eq!(clock.check(&limits(100)), Some(Stall::BlockedWrite));
        s.note_write(&Poll::Ready(Ok(1u64)));
        assert_eq!(clock.check(&limits(100)), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_peer_is_reported_after_the_grace() {
        use tokio::io::AsyncReadExt;
        let (mut s, clock) = ClockedStream::new(tokio::io::empty());
        clock.frame_complete();
        assert_eq!(clock.check(&limits(100)), None, "open, one frame read");
        let mut buf = [0u8; 16];
        assert_eq!(s.read(&mut buf).await.expect("end of stream"), 0);
        tokio::time::advance(Duration::from_millis(50)).await;
        assert_eq!(clock.check(&limits(100)), None, "closed, within the grace");
        tokio::time::advance(Duration::from_millis(60)).await;
        assert_eq!(clock.check(&limits(100)), Some(Stall::ClosedPeer));
    }
}
