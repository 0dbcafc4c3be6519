//! # rpc-cli: the `rpc` inspector
//!
//! A command-line client for servers of this framework. One-shot commands open a session, do
//! one op on a root object and exit: `rpc dir|get|set|del|call|all ADDR ROOT ...`. `rpc shell
//! ADDR ROOT` keeps one session and reads statements in a small expression language
//! (`add(5)`, `value = 3`, `child("a").add(1)`, `dict[1] = 2`).
//!
//! The binary (`src/main.rs`) only parses the command line and calls [`run`]; everything else
//! lives here so it can be unit-tested.
//!
//! # Layout
//!
//! - [`args`]: the command line ([`Cli`]), parsed by clap.
//! - [`json`]: JSON to [`Value`](rpc_core::Value) and back (arguments in, `--json` out).
//! - [`commands`]: connecting, the one-shot commands, exit statuses.
//! - [`parse`]: the shell's tokenizer and parser.
//! - [`eval`]: running a parsed shell statement against the server.
//! - [`shell`]: the shell's loop: line editor, history, completion, piped input.
//! - [`output`]: formatting results, DIR tables and coloured errors.

#![deny(missing_docs)]

pub mod args;
pub mod commands;
pub mod eval;
pub mod json;
pub mod output;
pub mod parse;
pub mod shell;

use std::process::ExitCode;

pub use args::{Cli, Command};

/// Runs a parsed command line and gives the process exit status: 0 on success, 1 when an op
/// failed (a remote error), 2 when the server cannot be reached or the connection broke (and
/// for usage errors, which clap reports before this runs).
pub fn run(cli: Cli) -> ExitCode {
    // One worker thread: enough for one connection, and it keeps the connection's background
    // tasks (sending releases) running while the shell waits for input.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            output::eprint(&format!("error: cannot start the async runtime: {e}"));
            return ExitCode::from(commands::EXIT_CONNECTION);
        }
    };
    match &cli.command {
        Command::Shell { target } => shell::run(&runtime, target, cli.json, cli.timeout),
        command => {
            commands::report(runtime.block_on(commands::run(command, cli.json, cli.timeout)))
        }
    }
}
