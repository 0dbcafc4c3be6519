//! The one-shot commands (`dir`, `get`, `set`, `del`, `call`, `all`), connecting, and the
//! exit status of a failure.

use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt;
use rpc_client::{CallError, Client, ConnectError, Proxy, Returned, Value};
use rpc_core::Args;

use crate::args::{Command, Target};
use crate::{json, output};

/// The exit status of a command that succeeded.
pub const EXIT_OK: u8 = 0;
/// The exit status when the server answered an op with an error (or a call failed locally).
pub const EXIT_REMOTE: u8 = 1;
/// The exit status for a usage error, an unreachable server or a broken connection.
pub const EXIT_CONNECTION: u8 = 2;

/// Why a command failed; decides the exit status.
#[derive(Debug)]
pub enum Failure {
    /// The server could not be reached (exit 2).
    Connect(ConnectError),
    /// An op failed (exit 1, or 2 when the connection broke).
    Call(CallError),
}

impl Failure {
    /// The process exit status for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Connect(_) | Failure::Call(CallError::Disconnected) => EXIT_CONNECTION,
            Failure::Call(_) => EXIT_REMOTE,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Connect(e) => fmt::Display::fmt(e, f),
            Failure::Call(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl From<CallError> for Failure {
    fn from(e: CallError) -> Self {
        Failure::Call(e)
    }
}

/// Connects to `target.addr` and opens `target.root` with the `--open` arguments, in a new
/// session. The proxy keeps the connection open; dropping it ends the session.
///
/// # Errors
/// [`Failure::Connect`] when the server cannot be reached; [`Failure::Call`] when `open`
/// fails (no such root, bad constructor arguments).
pub async fn open(target: &Target, timeout: Option<Duration>) -> Result<Proxy, Failure> {
    let mut builder = Client::builder().client_name(concat!("rpc-cli/", env!("CARGO_PKG_VERSION")));
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    let client = builder
        .connect(target.addr.as_str())
        .await
        .map_err(Failure::Connect)?;
    let args = target.open.clone().map(json::open_args).unwrap_or_default();
    Ok(client.open_with(&target.root, args).await?)
}

/// Runs a one-shot command and returns the text to print (possibly none).
///
/// # Errors
/// As [`open`], and [`Failure::Call`] when the op fails.
///
/// # Panics
/// Never for a one-shot command; `Command::Shell` is not one and is refused with a panic,
/// since [`crate::run`] routes it to the shell.
pub async fn run(
    command: &Command,
    json: bool,
    timeout: Option<Duration>,
) -> Result<Option<String>, Failure> {
    let root = open(command.target(), timeout).await?;
    let text = match command {
        Command::Dir { .. } => Some(output::members(&root.dir().await?, json)),
        Command::Get { name, .. } => Some(output::returned(&root.get(name).await?, json)),
        Command::Set { name, value, .. } => {
            root.set(name, value).await?;
            None
        }
        Command::Del { name, .. } => {
            root.del(name).await?;
            None
        }
        Command::Call {
            method,
            args,
            named,
            ..
        } => {
            let args = Args {
                positional: args.clone(),
                named: named.clone(),
            };
            let returned = root.call_with(method, args).await?;
            print_if_stream(returned, json)
                .await?
                .map(|returned| output::returned(&returned, json))
        }
        Command::All { .. } => Some(output::returned(&root.all().await?.into(), json)),
        Command::Shell { .. } => unreachable!("the shell is not a one-shot command"),
    };
    Ok(text)
}

/// When `returned` is a stream, prints its items one line each as they arrive and gives
/// `None`; any other result comes back to be printed whole.
///
/// # Errors
/// The stream's error (its items before it are printed).
pub async fn print_if_stream(
    returned: Returned,
    json: bool,
) -> Result<Option<Returned>, CallError> {
    let proxy = match returned.as_proxy() {
        Some(proxy) if proxy.type_name() == rpc_client::STREAM_TYPE => proxy.clone(),
        _ => return Ok(Some(returned)),
    };
    drop(returned);
    let mut items = proxy.into_stream::<Value>()?;
    while let Some(item) = items.next().await {
        output::print(&output::returned(&item?.into(), json));
    }
    Ok(None)
}

/// Prints the outcome of a one-shot command and gives its exit status: the result on stdout,
/// or the error (with the server's stack text) on stderr.
pub fn report(outcome: Result<Option<String>, Failure>) -> ExitCode {
    match outcome {
        Ok(text) => {
            if let Some(text) = text {
                output::print(&text);
            }
            ExitCode::from(EXIT_OK)
        }
        Err(failure) => {
            let color = output::color_enabled(&std::io::stderr());
            output::eprint(&output::error(&failure.to_string(), color));
            ExitCode::from(failure.exit_code())
        }
    }
}
