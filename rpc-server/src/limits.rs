//! A server's default policy: connection caps, memory allowances, the clocks that close
//! stalled peers, keepalive. (Limits both ends share, such as the frame size and the value
//! depth, are `rpc_core::limits`.)
//!
//! Every limit is a named constant whose doc says which failure it stops;
//! [`ServerConfig`](crate::ServerConfig) copies them, where each one can be changed.

use std::time::Duration;

/// Handles one session may hold at once (65,536). Stops unbounded growth from a client that
/// never releases; past it a call that would return a new handle answers `QuotaExceeded`.
pub const DEFAULT_MAX_HANDLES_PER_SESSION: usize = 65_536;

/// Calls running at once on one connection (256). Over it a call is answered `Overloaded`
/// at once, with no work done.
pub const DEFAULT_MAX_CALLS_IN_FLIGHT: usize = 256;

/// Memory one connection may hold in large argument values and large replies at once
/// (64 MiB): arguments of calls running or waiting for their object, replies not yet written
/// to the socket. Past it a call is answered `Overloaded` and what it brought or made is
/// dropped, so a peer that does not read its replies, or that sends values which expand in
/// memory, cannot grow the server without bound.
pub const DEFAULT_MAX_PENDING_BYTES: usize = 64 << 20;

/// Bytes of incomplete incoming frames of 64 KiB or more the whole server buffers at once
/// (256 MiB), counted from each frame's declared length. A connection whose next frame would
/// pass it is closed: peers that send all but the last bytes of many large frames (a fat
/// slowloris) cannot make the server buffer frame size × connections.
pub const DEFAULT_MAX_PARTIAL_FRAME_BYTES: usize = 256 << 20;

/// Values, replies and incoming frames smaller than this (64 KiB) are not counted against
/// [`DEFAULT_MAX_PENDING_BYTES`] or [`DEFAULT_MAX_PARTIAL_FRAME_BYTES`]: they are bounded by
/// the call and connection caps, and counting them would cost every small call.
pub const PENDING_BYTES_FROM: usize = 64 << 10;

/// Open connections per server (1,024). Stops descriptor exhaustion; excess connections are
/// closed at accept.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1_024;

/// Open connections per peer IP (64). Stops one host from taking every slot.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 64;

/// Time a new connection has to complete its first frame (10 s). Stops idle sockets from
/// holding slots.
pub const DEFAULT_FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// Time a started frame has to complete (30 s). Stops slowloris peers.
pub const DEFAULT_FRAME_PROGRESS_TIMEOUT: Duration = Duration::from_secs(30);

/// Time a reply may wait on a peer that does not read (30 s). Stops output piling up for a
/// client that pipelines calls and never reads.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Time calls may keep running after their peer closed its side of the connection (10 s).
/// A peer that half-closes gets the replies of calls finishing in that time; past it they are
/// stopped, so a client that sent long calls and left cannot hold a session, its handles and
/// a connection slot until the calls' deadlines.
pub const DEFAULT_CLOSED_PEER_GRACE: Duration = Duration::from_secs(10);

/// TCP keepalive idle time (60 s): after it the kernel probes a silent peer, so a dead
/// peer's session and handles are released.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(60);

/// Time between TCP keepalive probes (10 s), once the idle time has passed.
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// Unanswered TCP keepalive probes after which the peer counts as dead (3). With the idle time
/// and interval above, a dead peer's connection closes 90 s after the last packet from it.
pub const DEFAULT_KEEPALIVE_RETRIES: u32 = 3;
