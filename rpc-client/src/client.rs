//! [`Client`]: a connection to a server, and [`ClientBuilder`] to configure it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rpc_core::limits::{DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_VALUE_DEPTH, MAX_DEADLINE};
use rpc_core::protocol::{ServerInfo, ServerStats};
use rpc_core::{Args, Op, Reply, WireLimits};
use serde::Serialize;
use tokio::net::{TcpStream, ToSocketAddrs};

use rpc_peer::connection::{Answer, Connection, Settings};
use rpc_peer::{CallError, ConnectError, Proxy, positional, sending_on};

/// Default time for opening the TCP connection plus the `hello` round trip (10 s).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default number of this client's objects the server may hold at once.
pub const DEFAULT_MAX_EXPORTS: usize = 65_536;

/// Default client name sent in `hello`, for the server's log.
pub const DEFAULT_CLIENT_NAME: &str = "rpc-client";

/// A session with a server: opens root objects and reads server info and counters.
///
/// Cheap to clone (one reference count); every clone shares the connection, which many tasks
/// may use at once. The connection closes when the last `Client` clone **and** the last
/// [`Proxy`] of it are dropped; the server then frees everything the session held.
///
/// Must be used inside a Tokio runtime.
#[derive(Clone, Debug)]
pub struct Client {
    conn: Arc<Connection>,
    /// What the server answered to `hello`.
    info: Arc<ServerInfo>,
    timeout: Option<Duration>,
}

impl Client {
    /// Connects to the server at `addr` with the default settings (see [`ClientBuilder`]) and
    /// opens a session.
    ///
    /// # Errors
    /// See [`ConnectError`]: [`Closed`](ConnectError::Closed) when the server's allowlist does
    /// not admit this client or the server is at a connection limit, [`Refused`](ConnectError::Refused) on a protocol version
    /// mismatch, [`Io`](ConnectError::Io) and [`Timeout`](ConnectError::Timeout).
    pub async fn connect(addr: impl ToSocketAddrs) -> Result<Client, ConnectError> {
        ClientBuilder::default().connect(addr).await
    }

    /// A builder to set timeouts, limits and the client name before connecting.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Opens the root object `root` with positional constructor `args` (a tuple, `()` for
    /// none, or a single value: see [the convention](crate#positional-arguments)). A
    /// per-session root is built from the arguments; a shared root ignores them.
    ///
    /// The proxy inherits this client's timeout (see [`with_timeout`](Self::with_timeout)).
    ///
    /// # Errors
    /// [`CallError::Remote`] with `NoSuchRoot`, `BadArguments`, `Raised` (the constructor
    /// failed), ...; the transport errors of every call.
    pub async fn open(&self, root: &str, args: impl Serialize) -> Result<Proxy, CallError> {
        let converted = sending_on(&self.conn, || positional(&args))?;
        let result = self.open_with(root, converted).await;
        // Proxies inside `args` stay alive (unreleased) until the server has used them.
        drop(args);
        result
    }

    /// Opens the root object `root` with positional and named constructor arguments.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub async fn open_with(&self, root: &str, args: Args) -> Result<Proxy, CallError> {
        let op = Op::Open {
            root: root.to_owned(),
            args,
        };
        match self.conn.request(op, self.timeout).await? {
            Answer::Object(handle) => Ok(Proxy::new(handle, Arc::clone(&self.conn), self.timeout)),
            other => Err(Connection::unexpected("OPEN", &other)),
        }
    }

    /// What the server said when the session opened: its name and version, the session id,
    /// its limits and the roots it offers.
    pub fn server_info(&self) -> &ServerInfo {
        &self.info
    }

    /// The server's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.conn.peer()
    }

    /// How many of this client's objects (callbacks, `Remote`s passed as arguments) the
    /// server holds now. They are released when the server drops its proxies to them, and
    /// all at once when the connection closes.
    pub fn exports_held(&self) -> usize {
        self.conn.exports().len()
    }

    /// The server's counters (sessions, handles, calls in flight, ...).
    ///
    /// # Errors
    /// The transport errors of every call.
    pub async fn stats(&self) -> Result<ServerStats, CallError> {
        match self.conn.request(Op::Stats, self.timeout).await? {
            Answer::Reply(Reply::Stats(stats)) => Ok(stats),
            other => Err(Connection::unexpected("STATS", &other)),
        }
    }

    /// One round trip that does nothing: checks the session is alive. Also sends any pending
    /// releases.
    ///
    /// # Errors
    /// The transport errors of every call.
    pub async fn ping(&self) -> Result<(), CallError> {
        match self.conn.request(Op::Ping, self.timeout).await? {
            Answer::Reply(Reply::Done) => Ok(()),
            other => Err(Connection::unexpected("PING", &other)),
        }
    }

    /// A client on the same connection whose calls (and the proxies it opens) time out after
    /// `timeout`, clamped into 1 ms .. 1 h.
    pub fn with_timeout(&self, timeout: Duration) -> Client {
        Client {
            conn: Arc::clone(&self.conn),
            info: Arc::clone(&self.info),
            timeout: Some(timeout),
        }
    }
}

/// Settings for [`Client`]; [`connect`](Self::connect) opens the session.
///
/// | setting | default |
/// |---|---|
/// | [`timeout`](Self::timeout) | none: 1 h ([`MAX_DEADLINE`]) |
/// | [`connect_timeout`](Self::connect_timeout) | 10 s ([`DEFAULT_CONNECT_TIMEOUT`]) |
/// | [`max_frame_bytes`](Self::max_frame_bytes) | 8 MiB ([`DEFAULT_MAX_FRAME_BYTES`]) |
/// | [`max_value_depth`](Self::max_value_depth) | 64 ([`DEFAULT_MAX_VALUE_DEPTH`]) |
/// | [`client_name`](Self::client_name) | `"rpc-client"` ([`DEFAULT_CLIENT_NAME`]) |
/// | [`max_exports`](Self::max_exports) | 65,536 ([`DEFAULT_MAX_EXPORTS`]) |
#[must_use]
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    timeout: Option<Duration>,
    connect_timeout: Duration,
    max_frame_bytes: usize,
    max_value_depth: usize,
    client_name: String,
    max_exports: usize,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            timeout: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_value_depth: DEFAULT_MAX_VALUE_DEPTH,
            client_name: DEFAULT_CLIENT_NAME.to_owned(),
            max_exports: DEFAULT_MAX_EXPORTS,
        }
    }
}

impl ClientBuilder {
    /// The default timeout of every call, overridable per proxy
    /// ([`Proxy::with_timeout`]). Clamped into 1 ms .. 1 h.
    ///
    /// Default: none, which means the 1 h maximum ([`MAX_DEADLINE`]). There is deliberately no
    /// short default: it would silently kill legitimately long calls (tarpc's 10 s default is
    /// a classic complaint). A call that times out fails with [`CallError::Timeout`], and the
    /// server aborts it at the same deadline. A timeout under 5 s is also kept by a timer of
    /// the call's own, so it fires even when the server does not answer; a longer one relies
    /// on the server's answer and, against a server that does not answer, fails at most
    /// 500 ms late (see `docs/DECISIONS.md`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The time allowed for opening the TCP connection plus the `hello` round trip. Default
    /// 10 s; past it [`connect`](Self::connect) fails with [`ConnectError::Timeout`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The largest frame, in bytes, this client sends or accepts. Default 8 MiB. A request
    /// over it (or over the server's limit, if smaller) fails locally with
    /// [`CallError::TooLarge`]; a reply over it breaks the connection
    /// ([`CallError::Disconnected`]).
    pub fn max_frame_bytes(mut self, bytes: usize) -> Self {
        self.max_frame_bytes = bytes;
        self
    }

    /// The deepest nesting of a value this client decodes. Default 64; a deeper reply breaks
    /// the connection instead of overflowing the stack.
    pub fn max_value_depth(mut self, depth: usize) -> Self {
        self.max_value_depth = depth;
        self
    }

    /// The name sent to the server in `hello`, for its log. Default `"rpc-client"`.
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = name.into();
        self
    }

    /// How many of this client's objects (callbacks, `Remote`s passed as arguments) the
    /// server may hold at once; passing one more fails the call with `QuotaExceeded`.
    /// Default 65,536 ([`DEFAULT_MAX_EXPORTS`]).
    pub fn max_exports(mut self, exports: usize) -> Self {
        self.max_exports = exports;
        self
    }

    /// Connects to the server at `addr` and opens a session.
    ///
    /// # Errors
    /// See [`Client::connect`].
    pub async fn connect(self, addr: impl ToSocketAddrs) -> Result<Client, ConnectError> {
        let settings = Settings {
            timeout: self.timeout.unwrap_or(MAX_DEADLINE),
            connect_timeout: self.connect_timeout,
            limits: WireLimits {
                max_frame_bytes: self.max_frame_bytes,
                max_value_depth: self.max_value_depth,
            },
            client_name: self.client_name,
            max_exports: self.max_exports,
            stack_text: true,
        };
        let started = Instant::now();
        let stream = tokio::time::timeout(settings.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ConnectError::Timeout)??;
        // Calls are small request/response exchanges: do not wait to coalesce them.
        stream.set_nodelay(true)?;
        let peer = stream.peer_addr()?;
        let conn = Connection::start(stream, peer, started, &settings).await?;
        let info = conn
            .server_info()
            .cloned()
            .map(Arc::new)
            .ok_or_else(|| ConnectError::Protocol("the session has no server info".into()))?;
        Ok(Client {
            conn,
            info,
            timeout: None,
        })
    }
}
