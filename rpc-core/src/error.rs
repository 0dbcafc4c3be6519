//! [`RemoteError`]: a server-side failure as the client receives it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What went wrong, so the caller can decide how to react without parsing message text.
///
/// New kinds may be added in later protocol versions; match with a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The method returned `Err`: an application error. `type_name` is the error's Rust type.
    Raised,
    /// User code panicked. The message, location and server backtrace are in the error; the
    /// session keeps working.
    Panicked,
    /// The object has no public member of that name (or the member cannot be used this way,
    /// such as RUN on a field).
    NoSuchMember,
    /// The name is private (starts with `_`); every op refuses such names.
    AccessDenied,
    /// The name is not a valid member name (empty, too long, dotted, not an identifier).
    BadName,
    /// The handle id is unknown to this session: never issued, already released, or issued by
    /// another session.
    NoSuchHandle,
    /// `open` named a root the server does not register.
    NoSuchRoot,
    /// The arguments do not fit the method: missing, extra, or of the wrong type.
    BadArguments,
    /// SET with a value of the wrong type for the field.
    WrongType,
    /// The field is read-only (SET) or cannot be deleted (DEL on a non-`Option` field).
    ReadOnly,
    /// ALL on an object that has no by-value form (a bound method, for instance).
    NotCopyable,
    /// Too many calls in flight on this connection; nothing was done. Retry later.
    Overloaded,
    /// The session holds as many handles as it may; release some and retry.
    QuotaExceeded,
    /// A value or reply is bigger than the frame limit.
    TooLarge,
    /// A value is nested deeper than the decoding limit.
    TooDeep,
    /// The server is shutting down and takes no new calls.
    ShuttingDown,
    /// Client and server speak different protocol versions.
    VersionMismatch,
    /// The request broke the protocol (for instance an op before `hello`).
    Protocol,
    /// A release named more references than the session holds.
    OverRelease,
    /// The call ran out of time on the server and was stopped there.
    TimedOut,
    /// The call came back, through a callback, to an object its own chain of calls holds
    /// exclusively: waiting would wait on itself forever, so it is refused at once.
    Reentrant,
}

impl ErrorKind {
    /// A lowercase human name of the kind (`"raised"`, `"no such handle"`, ...).
    pub fn describe(self) -> &'static str {
        match self {
            ErrorKind::Raised => "raised",
            ErrorKind::Panicked => "panicked",
            ErrorKind::NoSuchMember => "no such member",
            ErrorKind::AccessDenied => "access denied",
            ErrorKind::BadName => "bad name",
            ErrorKind::NoSuchHandle => "no such handle",
            ErrorKind::NoSuchRoot => "no such root",
            ErrorKind::BadArguments => "bad arguments",
            ErrorKind::WrongType => "wrong type",
            ErrorKind::ReadOnly => "read-only",
            ErrorKind::NotCopyable => "not copyable",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::QuotaExceeded => "quota exceeded",
            ErrorKind::TooLarge => "too large",
            ErrorKind::TooDeep => "too deep",
            ErrorKind::ShuttingDown => "shutting down",
            ErrorKind::VersionMismatch => "version mismatch",
            ErrorKind::Protocol => "protocol violation",
            ErrorKind::OverRelease => "over-release",
            ErrorKind::TimedOut => "timed out",
            ErrorKind::Reentrant => "re-entrant call",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A failure on the server, as it travels to the client.
///
/// It carries a [`kind`](Self::kind) to react on, the human [`message`](Self::message), the
/// `source()` chain of the original error, and the server's stack text (empty when the server
/// is configured not to disclose it). The server fills in the object type, member and session
/// so a client can tell where it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The Rust type of the original error (`core::num::error::ParseIntError`), or `panic`.
    pub type_name: String,
    /// The error's `Display` text, or the panic message.
    pub message: String,
    /// The `Display` text of each `source()` of the error, outermost first.
    pub chain: Vec<String>,
    /// The server's stack text: the backtrace at the panic point, or the method's location and
    /// the server's dispatch frames for a returned error.
    pub stack: String,
    /// The type of the object the op ran on, when there was one.
    pub object: Option<String>,
    /// The member the op named, when there was one.
    pub member: Option<String>,
    /// The session the op ran in.
    pub session: Option<u64>,
}

impl RemoteError {
    /// A new error of `kind` with `message`; type name, chain and stack empty.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        RemoteError {
            kind,
            type_name: String::new(),
            message: message.into(),
            chain: Vec::new(),
            stack: String::new(),
            object: None,
            member: None,
            session: None,
        }
    }

    /// Sets the object type and member when not already set.
    #[must_use]
    pub fn at(mut self, object: &str, member: Option<&str>) -> Self {
        if self.object.is_none() {
            self.object = Some(object.to_owned());
        }
        if self.member.is_none() {
            self.member = member.map(str::to_owned);
        }
        self
    }

    /// `Object.member`, `Object`, or `?` when neither is known: where the error happened.
    pub fn place(&self) -> String {
        match (&self.object, &self.member) {
            (Some(o), Some(m)) => format!("{o}.{m}"),
            (Some(o), None) => o.clone(),
            (None, Some(m)) => m.clone(),
            (None, None) => "?".to_owned(),
        }
    }

    /// Cuts message, chain and stack so their total stays within `max_bytes`, marking each
    /// cut. Used by the server so an error with a huge message still fits in a frame.
    pub fn truncate_text(&mut self, max_bytes: usize) {
        let mut budget = max_bytes;
        for text in std::iter::once(&mut self.message)
            .chain(self.chain.iter_mut())
            .chain(std::iter::once(&mut self.stack))
        {
            if text.len() > budget {
                let mut cut = budget;
                while cut > 0 && !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                let dropped = text.len() - cut;
                text.truncate(cut);
                text.push_str(&format!("... [{dropped} bytes cut]"));
                budget = 0;
            } else {
                budget -= text.len();
            }
        }
        if self.chain.len() > 32 {
            let dropped = self.chain.len() - 32;
            self.chain.truncate(32);
            self.chain.push(format!("... [{dropped} more causes cut]"));
        }
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if !self.type_name.is_empty() {
            write!(f, " {}", self.type_name)?;
        }
        write!(f, " in {}: {}", self.place(), self.message)
    }
}

impl std::error::Error for RemoteError {}

/// A failure converting between a Rust value and a [`Value`](crate::Value).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValueError {
    message: String,
}

impl ValueError {
    /// A conversion error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        ValueError {
            message: message.into(),
        }
    }
}

impl serde::ser::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValueError::new(msg.to_string())
    }
}

impl serde::de::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValueError::new(msg.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_errors_within_budget() {
        let mut e = RemoteError::new(ErrorKind::Raised, "x".repeat(10_000));
        e.stack = "s".repeat(10_000);
        e.chain = vec!["c".repeat(100); 100];
        e.truncate_text(1_000);
        let total: usize =
            e.message.len() + e.stack.len() + e.chain.iter().map(String::len).sum::<usize>();
        assert!(total < 1_000 + 33 * 40, "{total}");
        assert!(e.message.ends_with("bytes cut]"));
        assert_eq!(e.chain.len(), 33);
    }

    #[test]
    fn display_names_kind_type_and_place() {
        let mut e = RemoteError::new(ErrorKind::Raised, "boom").at("Counter", Some("fail"));
        e.type_name = "std::io::Error".into();
        assert_eq!(e.to_string(), "raised std::io::Error in Counter.fail: boom");
    }
}
