//! [`ServerConfig`]: every limit and switch of a server, with documented defaults.

use std::time::Duration;

use rpc_core::WireLimits;

use crate::connection_clock::ClockLimits;
use crate::limits::{
    DEFAULT_CLOSED_PEER_GRACE, DEFAULT_FIRST_FRAME_TIMEOUT, DEFAULT_FRAME_PROGRESS_TIMEOUT,
    DEFAULT_KEEPALIVE, DEFAULT_KEEPALIVE_INTERVAL, DEFAULT_KEEPALIVE_RETRIES,
    DEFAULT_MAX_CALLS_IN_FLIGHT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_IP,
    DEFAULT_MAX_HANDLES_PER_SESSION, DEFAULT_MAX_PARTIAL_FRAME_BYTES, DEFAULT_MAX_PENDING_BYTES,
    DEFAULT_WRITE_TIMEOUT,
};
use rpc_core::limits::{DEFAULT_MAX_ERROR_TEXT, DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_VALUE_DEPTH};

/// Limits and switches of a server. Build with `ServerConfig::default()` and change fields.
///
/// Every field's doc states its default, its unit and what happens at the limit.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Largest frame, in bytes, in either direction. Default 8 MiB. A longer inbound frame
    /// closes the connection before its body is read; a reply that would be longer is answered
    /// with a `TooLarge` error instead.
    pub max_frame_bytes: usize,
    /// Deepest nesting of a decoded value. Default 64. A request nested deeper is refused and
    /// the connection closed (decoding cannot resume mid-frame); nothing overflows the stack.
    pub max_value_depth: usize,
    /// Distinct objects one session may hold. Default 65,536. Past it, an op that would return
    /// a new handle answers `QuotaExceeded`.
    pub max_handles_per_session: usize,
    /// Calls running at once on one connection. Default 256. Over it a call is answered
    /// `Overloaded` immediately, with no work done.
    pub max_calls_in_flight: usize,
    /// Memory one connection may hold in large values (64 KiB and up) at once: the
    /// arguments of calls running or waiting for their object, and replies not yet written to
    /// the socket. Default 64 MiB. Past it a call is answered `Overloaded` and its arguments
    /// or reply are dropped, so a peer that does not read its replies, or that sends values
    /// which expand in memory (a byte on the wire per `None`), cannot grow the server without
    /// bound.
    pub max_pending_bytes: usize,
    /// Bytes of incomplete incoming frames of 64 KiB or more the whole server buffers at
    /// once, counted from each frame's declared length. Default 256 MiB (32 frames of the
    /// largest size). A connection whose next frame would pass it is closed, so peers sending
    /// all but the last bytes of many large frames cannot make the server buffer frame size ×
    /// connections (8 GiB at the defaults) until the frame-progress timeout.
    pub max_partial_frame_bytes: usize,
    /// Open connections. Default 1,024. Excess connections are closed at accept, before a
    /// byte is read, so a flood cannot exhaust the server's file descriptors.
    pub max_connections: usize,
    /// Open connections from one peer IP (an IPv4-mapped IPv6 peer counts as its IPv4
    /// address). Default 64. Excess connections from that IP are closed at accept, so one host
    /// cannot take every slot.
    pub max_connections_per_ip: usize,
    /// Time a new connection has to complete its first frame. Default 10 s. Past it the
    /// connection is closed: idle sockets cannot hold slots.
    pub first_frame_timeout: Duration,
    /// Time a started frame has to complete. Default 30 s. Past it the connection is closed:
    /// a peer sending a frame byte by byte, or all but its last bytes, cannot pin the memory
    /// of a declared 8 MiB frame. A connection idle between frames is not affected.
    pub frame_progress_timeout: Duration,
    /// Time a reply may wait on a peer that does not read. Default 30 s. Past it the
    /// connection is closed, so pipelined calls with large replies cannot pile up output.
    pub write_timeout: Duration,
    /// Time calls may keep running after the peer closed its side (end of stream). Default
    /// 10 s. A peer that half-closes gets the replies of calls that finish in that time; past
    /// it the calls are stopped and the session is released, so a client that sent long calls
    /// and left cannot hold its session, handles and connection slot until their deadlines.
    pub closed_peer_grace: Duration,
    /// TCP keepalive idle time: after this long without a packet from the peer the kernel
    /// probes it every [`keepalive_interval`](Self::keepalive_interval); after
    /// [`keepalive_retries`](Self::keepalive_retries) unanswered probes the connection closes,
    /// releasing its session and handles. This finds a peer that vanished without closing
    /// (host down, cable pulled), which an idle session would otherwise hold forever. Default
    /// 60 s, so with the default interval and retries a dead peer is dropped 90 s after its
    /// last packet. `None` leaves the system's keepalive setting (usually off) and ignores the
    /// interval and retries.
    ///
    /// On Linux, Android and Fuchsia the server also sets `TCP_USER_TIMEOUT` to idle +
    /// interval × retries: keepalive does not probe while sent data awaits acknowledgement,
    /// and the user timeout closes such a connection, to a peer that stopped acknowledging,
    /// after the same time. The kernel counts these times in whole seconds (1 s to 32,767 s);
    /// a value it refuses leaves the socket with the system's settings, logged at `debug`.
    pub keepalive: Option<Duration>,
    /// Time between TCP keepalive probes once the idle time has passed. Default 10 s. Used
    /// only when [`keepalive`](Self::keepalive) is set.
    pub keepalive_interval: Duration,
    /// Unanswered TCP keepalive probes after which the peer counts as dead and the connection
    /// closes. Default 3; Linux accepts 1 to 127. Used only when
    /// [`keepalive`](Self::keepalive) is set.
    pub keepalive_retries: u32,
    /// Bytes of message, cause and stack text in one remote error. Default 64 KiB; longer text
    /// is cut and marked.
    pub max_error_text: usize,
    /// Whether remote errors carry the server's stack text. Default `true`. Turn it off where
    /// paths and frame names must not be disclosed to clients.
    pub stack_text: bool,
    /// How long `serve_with_shutdown` lets in-flight calls finish after the signal. Default
    /// 10 s; connections still open after it are closed.
    pub shutdown_grace: Duration,
    /// Whether each call runs on a task of its own. Default `false`: the calls of one
    /// connection run concurrently on that connection's task, which costs no task per call
    /// (about 3,000 instructions and a wake-up less); connections still run in parallel. Set it
    /// to run the calls of one connection in parallel on a multi-thread runtime. Either way, a
    /// CPU-heavy or blocking method should be marked `#[remote(blocking)]`, which runs it on
    /// the blocking pool.
    pub spawn_per_call: bool,
    /// Calls from this server to one client's objects (callbacks) waiting for an answer at
    /// once. Default 64; one more fails at once with `Overloaded`, so a client that never
    /// answers holds at most this many of the server's calls.
    pub max_callbacks_in_flight: usize,
    /// How long a call to a client's object waits by default (a proxy's `with_timeout`
    /// overrides it). Default 30 s: a client that does not answer costs its caller this
    /// long, never more.
    pub callback_timeout: Duration,
    /// The server name `hello` reports.
    pub name: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_value_depth: DEFAULT_MAX_VALUE_DEPTH,
            max_handles_per_session: DEFAULT_MAX_HANDLES_PER_SESSION,
            max_calls_in_flight: DEFAULT_MAX_CALLS_IN_FLIGHT,
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
            max_partial_frame_bytes: DEFAULT_MAX_PARTIAL_FRAME_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            first_frame_timeout: DEFAULT_FIRST_FRAME_TIMEOUT,
            frame_progress_timeout: DEFAULT_FRAME_PROGRESS_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            closed_peer_grace: DEFAULT_CLOSED_PEER_GRACE,
            keepalive: Some(DEFAULT_KEEPALIVE),
            keepalive_interval: DEFAULT_KEEPALIVE_INTERVAL,
            keepalive_retries: DEFAULT_KEEPALIVE_RETRIES,
            max_error_text: DEFAULT_MAX_ERROR_TEXT,
            stack_text: true,
            shutdown_grace: Duration::from_secs(10),
            spawn_per_call: false,
            max_callbacks_in_flight: 64,
            callback_timeout: Duration::from_secs(30),
            name: concat!("rpc-server ", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

impl ServerConfig {
    pub(crate) fn clock_limits(&self) -> ClockLimits {
        ClockLimits {
            first_frame: self.first_frame_timeout,
            frame_progress: self.frame_progress_timeout,
            write: self.write_timeout,
            closed_peer: self.closed_peer_grace,
        }
    }

    /// The keepalive parameters for an accepted socket, and the matching `TCP_USER_TIMEOUT`
    /// (idle + interval × retries); `None` when [`keepalive`](Self::keepalive) is `None`.
    pub(crate) fn tcp_keepalive(&self) -> Option<(socket2::TcpKeepalive, Duration)> {
        let idle = self.keepalive?;
        let keepalive = socket2::TcpKeepalive::new()
            .with_time(idle)
            .with_interval(self.keepalive_interval)
            .with_retries(self.keepalive_retries);
        let user_timeout = idle.saturating_add(
            self.keepalive_interval
                .saturating_mul(self.keepalive_retries),
        );
        Some((keepalive, user_timeout))
    }

    pub(crate) fn wire_limits(&self) -> WireLimits {
        WireLimits {
            max_frame_bytes: self.max_frame_bytes,
            max_value_depth: self.max_value_depth,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_timeout_is_idle_plus_every_probe() {
        let config = ServerConfig::default();
        let (_, user_timeout) = config.tcp_keepalive().expect("keepalive is on by default");
        assert_eq!(user_timeout, Duration::from_secs(60 + 3 * 10));

        let mut config = ServerConfig {
            keepalive: Some(Duration::from_secs(1)),
            keepalive_interval: Duration::from_secs(1),
            keepalive_retries: 2,
            ..ServerConfig::default()
        };
        let (_, user_timeout) = config.tcp_keepalive().expect("keepalive was set");
        assert_eq!(user_timeout, Duration::from_secs(3));

        config.keepalive = None;
        assert!(config.tcp_keepalive().is_none());
    }
}
