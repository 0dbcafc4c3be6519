//! The client's errors: [`ConnectError`] from connecting, [`CallError`] from every call.
//!
//! Both are written out by hand rather than with `thiserror`: `Debug` of both prints the same
//! text as `Display`, so `fn main() -> Result<(), CallError>`
//! (or any `?` that ends in `main`) shows a remote failure with the server's stack text under
//! the client's error, the way the seed library's `sys.excepthook` printed both sides.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use rpc_core::{ErrorKind, RemoteError, ValueError};

/// Why `rpc_client::Client::connect` failed.
pub enum ConnectError {
    /// The TCP connection could not be opened (refused, unreachable, name not resolved) or
    /// broke during the handshake. Check the address and that the server is running.
    Io(io::Error),
    /// The server accepted the TCP connection and closed it before answering `hello`. Servers
    /// do this, before reading a byte, to peers their IP allowlist does not admit and when they
    /// are at a connection limit (in total or for the peer's address); the server's log names
    /// the reason.
    Closed {
        /// The server's address.
        addr: SocketAddr,
    },
    /// The server answered `hello` with an error, typically `VersionMismatch`: client and
    /// server were built from different protocol versions. Upgrade one side.
    Refused(RemoteError),
    /// Opening the TCP connection and the `hello` round trip together took longer than the
    /// connect timeout (`rpc_client::ClientBuilder::connect_timeout`,
    /// default 10 s). The server may be overloaded or the network may drop packets.
    Timeout,
    /// The server answered `hello` with something other than its server info: it is not a
    /// server of this framework, or a broken one.
    Protocol(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Io(e) => write!(f, "cannot connect to the server: {e}"),
            ConnectError::Closed { addr } => write!(
                f,
                "the server at {addr} closed the connection at connect: its IP allowlist does \
                 not admit this client's address, or it is at its connection limit (in total or \
                 for this address); its log says which"
            ),
            ConnectError::Refused(e) => write!(f, "the server refused the session: {e}"),
            ConnectError::Timeout => f.write_str("connecting to the server timed out"),
            ConnectError::Protocol(text) => write!(f, "protocol error at connect: {text}"),
        }
    }
}

impl fmt::Debug for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// No `source()`: the cause is part of the message, so reporters that print the chain do not
/// print it twice.
impl std::error::Error for ConnectError {}

impl From<io::Error> for ConnectError {
    fn from(e: io::Error) -> Self {
        ConnectError::Io(e)
    }
}

/// Which end of a connection ran an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The server: a client called one of its objects.
    Server,
    /// The client: a server method called an object the client passed it (a callback).
    Client,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Server => "server",
            Side::Client => "client",
        })
    }
}

/// A failure on the peer (the server, or for a callback the client), with where it was asked
/// for: the peer's address and the op.
///
/// Its `Display` is the multi-line report [`CallError::Remote`] prints: a summary line, the
/// cause chain, and the peer's stack text between header and footer lines.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteFailure {
    /// The error as the peer sent it (session filled in from the connection when the peer
    /// left it out).
    pub error: RemoteError,
    /// Which end ran the op: the server, or the client for a call to its object.
    pub side: Side,
    /// The address of the end that failed.
    pub peer: SocketAddr,
    /// The op that failed, as the seed spelled it: `GET`, `SET`, `DEL`, `RUN`, `DIR`, `ALL`,
    /// `OPEN`, `STATS`, `PING`.
    pub op: &'static str,
}

impl fmt::Display for RemoteFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.error;
        let place = e.place();
        write!(
            f,
            "{} {place} failed on the {}: {}",
            self.op, self.side, e.kind
        )?;
        if !e.type_name.is_empty() {
            write!(f, " {}", e.type_name)?;
        }
        write!(f, ": {}", e.message)?;
        for cause in &e.chain {
            write!(f, "\n  caused by: {cause}")?;
        }
        let stack = e.stack.trim_end();
        if !stack.is_empty() {
            let session = match e.session {
                Some(s) => s.to_string(),
                None => "?".to_owned(),
            };
            write!(
                f,
                "\n--- remote stack ({} {}, session {session}, {place}) ---\n{stack}\n\
                 --- end of remote stack ---",
                self.side, self.peer
            )?;
        }
        Ok(())
    }
}

impl fmt::Debug for RemoteFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a call through a `rpc_client::Client` or [`Proxy`](crate::Proxy) failed.
///
/// React on the variant, and for [`Remote`](Self::Remote) on [`kind`](Self::kind); the
/// message text is for people. `Debug` prints the same text as `Display`.
pub enum CallError {
    /// The server ran the op and it failed: the method returned `Err`, panicked, or the op was
    /// refused (no such member, access denied, wrong type, overloaded, ...). The session keeps
    /// working. React on [`CallError::kind`]; the report includes the server's stack text.
    Remote(Box<RemoteFailure>),
    /// No answer came within the call's timeout (per call, else per proxy, else the client's
    /// default of 1 h). The server aborts the call at the same deadline; the connection keeps
    /// working. Retry with a longer timeout if the call is legitimately slow.
    Timeout {
        /// The timeout that expired.
        after: Duration,
    },
    /// The connection is gone (the server closed it, shut down, or the network broke) or broke
    /// while the call was in flight; whether the op ran is unknown. The server has released
    /// every handle of the session: connect again and reopen the roots.
    Disconnected,
    /// The request is larger than the frame limit (the smaller of this client's and the
    /// server's); nothing was sent and the connection keeps working. Send less data per call.
    TooLarge {
        /// The encoded size of the request, or 0 when the encoder only reported that it was over
        /// the limit.
        bytes: u64,
        /// The frame limit in bytes.
        limit: u64,
    },
    /// The server broke the protocol (a reply that does not fit the op, a transport error that
    /// is not a disconnect). A bug in the server or a version mismatch; not retryable.
    Protocol(String),
    /// The call succeeded but its result could not be converted into the requested type
    /// (`get_as`, `call_as`, `all_as`, [`Returned::typed`](crate::Returned::typed)), or a
    /// handle came back where a value was expected or the reverse. Fix the requested type.
    Unexpected(String),
    /// The arguments or the value to set could not be converted into a
    /// [`Value`](rpc_core::Value) (an integer over `i64::MAX`, a `Serialize` impl that
    /// failed); nothing was sent.
    Value(ValueError),
}

impl CallError {
    /// The remote error's kind when the server answered with an error, else `None`.
    pub fn kind(&self) -> Option<ErrorKind> {
        self.remote().map(|e| e.kind)
    }

    /// The remote error when the server answered with an error, else `None`.
    pub fn remote(&self) -> Option<&RemoteError> {
        match self {
            CallError::Remote(failure) => Some(&failure.error),
            _ => None,
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Remote(failure) => fmt::Display::fmt(failure, f),
            CallError::Timeout { after } => write!(f, "the call timed out after {after:?}"),
            CallError::Disconnected => f.write_str("the connection to the server is closed"),
            CallError::TooLarge { bytes: 0, limit } => write!(
                f,
                "the request is over the frame limit of {limit} bytes; nothing was sent"
            ),
            CallError::TooLarge { bytes, limit } => write!(
                f,
                "the request is {bytes} bytes, over the frame limit of {limit} bytes; nothing \
                 was sent"
            ),
            CallError::Protocol(text) => write!(f, "protocol error: {text}"),
            CallError::Unexpected(text) => write!(f, "unexpected result: {text}"),
            CallError::Value(e) => write!(f, "cannot convert the value to send: {e}"),
        }
    }
}

impl fmt::Debug for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// No `source()`: the remote report and the conversion error are part of the message, so
/// reporters that print the chain do not print them twice.
impl std::error::Error for CallError {}

impl From<ValueError> for CallError {
    fn from(e: ValueError) -> Self {
        CallError::Value(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure() -> CallError {
        let mut error = RemoteError::new(ErrorKind::Raised, "boom").at("Counter", Some("add"));
        error.type_name = "std::io::Error".into();
        error.chain = vec!["disk full".into(), "device gone".into()];
        error.stack = "0: counter::add\n   at src/counter.rs:12\n".into();
        error.session = Some(7);
        CallError::Remote(Box::new(RemoteFailure {
            error,
            side: Side::Server,
            peer: std::net::SocketAddr::from(([127, 0, 0, 1], 9)),
            op: "RUN",
        }))
    }

    #[test]
    fn remote_display_has_summary_chain_and_stack() {
        let text = failure().to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "RUN Counter.add failed on the server: raised std::io::Error: boom",
                "  caused by: disk full",
                "  caused by: device gone",
                "--- remote stack (server 127.0.0.1:9, session 7, Counter.add) ---",
                "0: counter::add",
                "   at src/counter.rs:12",
                "--- end of remote stack ---",
            ]
        );
    }

    #[test]
    fn debug_prints_the_display_text() {
        let e = failure();
        assert_eq!(format!("{e:?}"), e.to_string());
        let c = ConnectError::Closed {
            addr: "10.0.0.1:9".parse().expect("a literal address"),
        };
        assert_eq!(format!("{c:?}"), c.to_string());
    }

    #[test]
    fn no_stack_means_no_stack_section_and_no_type_name_no_double_space() {
        let e = CallError::Remote(Box::new(RemoteFailure {
            error: RemoteError::new(ErrorKind::NoSuchMember, "no member `x`"),
            side: Side::Server,
            peer: "127.0.0.1:1".parse().expect("a literal address"),
            op: "GET",
        }));
        assert_eq!(
            e.to_string(),
            "GET ? failed on the server: no such member: no member `x`"
        );
        assert_eq!(e.kind(), Some(ErrorKind::NoSuchMember));
    }

    #[test]
    fn local_errors_have_lowercase_messages_and_no_kind() {
        let errors = [
            CallError::Timeout {
                after: Duration::from_millis(1500),
            },
            CallError::Disconnected,
            CallError::TooLarge {
                bytes: 10,
                limit: 5,
            },
            CallError::Protocol("unexpected reply".into()),
            CallError::Unexpected("expected i64".into()),
            CallError::Value(ValueError::new("too big")),
        ];
        for e in &errors {
            let text = e.to_string();
            assert!(text.starts_with(char::is_lowercase), "{text}");
            assert_eq!(e.kind(), None);
        }
        assert_eq!(errors[0].to_string(), "the call timed out after 1.5s");
    }

    #[test]
    fn closed_names_the_allowlist_and_the_limits() {
        let c = ConnectError::Closed {
            addr: "10.0.0.1:9".parse().expect("a literal address"),
        };
        assert_eq!(
            c.to_string(),
            "the server at 10.0.0.1:9 closed the connection at connect: its IP allowlist does \
             not admit this client's address, or it is at its connection limit (in total or for \
             this address); its log says which"
        );
    }
}
