//! [`Conn`]: one client connection of either system, and the calls both systems make.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rpc_client::{Client, Proxy};
use tarpc::context;

use crate::System;
use crate::bare::{BareClient, connect_bare};

/// The 32-byte string of the echo call.
pub const ECHO: &str = "0123456789abcdef0123456789abcdef";

/// The deadline of every bare tarpc call (tarpc's default is 10 s, which the 10,000-session
/// run could approach on a loaded VM; ours defaults to 1 h).
const TARPC_DEADLINE: Duration = Duration::from_secs(60);

/// A call both systems answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// `add(40, 2)`: ours `RUN add` through a proxy, tarpc `add`.
    Add,
    /// Read an `i64`: ours GET of the field `value`, tarpc `get_value()`.
    Get,
    /// Echo a 32-byte string: ours `RUN echo`, tarpc `echo`.
    Echo,
}

impl Call {
    /// A short name for tables.
    pub fn label(self) -> &'static str {
        match self {
            Call::Add => "add(i64, i64)",
            Call::Get => "i64 field read",
            Call::Echo => "echo 32 B string",
        }
    }

    /// A key for JSON.
    pub fn key(self) -> &'static str {
        match self {
            Call::Add => "add",
            Call::Get => "get",
            Call::Echo => "echo",
        }
    }
}

/// One connection (our session with its opened root `bench`, or a bare tarpc client).
/// Cheap to clone; clones share the connection.
#[derive(Clone, Debug)]
pub enum Conn {
    /// Our framework: the client and a proxy of the per-session root `bench`.
    Ours {
        /// The session.
        client: Client,
        /// The opened root.
        root: Proxy,
    },
    /// Bare tarpc.
    Tarpc(BareClient),
}

fn tarpc_ctx() -> context::Context {
    let mut ctx = context::current();
    ctx.deadline = Instant::now() + TARPC_DEADLINE;
    ctx
}

impl Conn {
    /// Connects: ours opens a session and the root `bench` (two round trips: hello, open);
    /// tarpc just connects.
    pub async fn connect(system: System, addr: SocketAddr) -> Result<Conn, String> {
        match system {
            System::Ours => {
                let client = Client::connect(addr)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                let root = client
                    .open("bench", ())
                    .await
                    .map_err(|e| format!("open bench: {e}"))?;
                Ok(Conn::Ours { client, root })
            }
            System::Tarpc => connect_bare(addr)
                .await
                .map(Conn::Tarpc)
                .map_err(|e| format!("connect: {e}")),
        }
    }

    /// Makes one call and checks its answer.
    pub async fn call(&self, call: Call) -> Result<(), String> {
        match (self, call) {
            (Conn::Ours { root, .. }, Call::Add) => {
                let sum: i64 = root
                    .call_as("add", (40i64, 2i64))
                    .await
                    .map_err(|e| e.to_string())?;
                check(sum == 42, "add")
            }
            (Conn::Ours { root, .. }, Call::Get) => {
                let _value: i64 = root.get_as("value").await.map_err(|e| e.to_string())?;
                Ok(())
            }
            (Conn::Ours { root, .. }, Call::Echo) => {
                let back: String = root
                    .call_as("echo", (ECHO,))
                    .await
                    .map_err(|e| e.to_string())?;
                check(back == ECHO, "echo")
            }
            (Conn::Tarpc(c), Call::Add) => {
                let sum = c.add(tarpc_ctx(), 40, 2).await.map_err(|e| e.to_string())?;
                check(sum == 42, "add")
            }
            (Conn::Tarpc(c), Call::Get) => {
                c.get_value(tarpc_ctx()).await.map_err(|e| e.to_string())?;
                Ok(())
            }
            (Conn::Tarpc(c), Call::Echo) => {
                let back = c
                    .echo(tarpc_ctx(), ECHO.to_owned())
                    .await
                    .map_err(|e| e.to_string())?;
                check(back == ECHO, "echo")
            }
        }
    }

    /// Our session and root, or `None` for tarpc.
    pub fn ours(&self) -> Option<(&Client, &Proxy)> {
        match self {
            Conn::Ours { client, root } => Some((client, root)),
            Conn::Tarpc(_) => None,
        }
    }
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("{what} returned a wrong answer"))
    }
}
