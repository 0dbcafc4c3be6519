//! The command line: [`Cli`] and its subcommands, parsed by clap.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rpc_core::Value;

use crate::json;

const AFTER_HELP: &str = "\
Sessions: every one-shot command (dir, get, set, del, call, all) connects, opens its own \
session and ends it when it exits. A per-session root (such as `counter`) is built anew from \
--open by each command, so `rpc set ADDR counter value 3` followed by `rpc get ADDR counter \
value` reads a fresh counter, not the one just set. To keep one object across operations, use \
`rpc shell`.

Values: arguments are JSON (null, true, 1, 1.5, \"text\", [..], {..}); quote them for the \
shell: rpc call ADDR counter add_parsed '\"12\"'. Results print as a Python-like repr \
({'value': 3}, [(1, 2)], None), or as JSON with --json.

Exit status: 0 on success; 1 when the server answered with an error (its message and the \
server's stack text go to stderr) or the call failed otherwise; 2 for a usage error, or when \
the server cannot be reached or the connection broke.

Examples:
  rpc dir ADDR counter      # ADDR: the server, e.g. 127.0.0.1 and its port
  rpc call ADDR counter add 5 --open '[40]'
  rpc call ADDR counter add_many 1 --arg times=3
  rpc --json all ADDR counter
  rpc shell ADDR dict";

const SESSION_NOTE: &str = "\
This command opens its own session, which ends when it exits: a per-session root is built anew \
from --open each time, so a `set` or `del` here is not seen by a later command. Use `rpc shell` \
to keep one object across operations.";

/// Inspect and drive the objects of an rpc server: list, read, write and call their members,
/// or explore them in an interactive shell.
#[derive(Debug, Parser)]
#[command(name = "rpc", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Print results as JSON instead of the Python-like repr
    #[arg(long, global = true)]
    pub json: bool,

    /// Per-call timeout in seconds (default: the 1 hour maximum)
    #[arg(long, global = true, value_name = "SECONDS", value_parser = seconds)]
    pub timeout: Option<Duration>,

    /// What to do
    #[command(subcommand)]
    pub command: Command,
}

/// Where to go: the server, the root object and its constructor arguments.
#[derive(Clone, Debug, Args)]
pub struct Target {
    /// The server's address, HOST:PORT (as the `server` example prints after `listening on`)
    pub addr: String,

    /// The root object to open (e.g. counter, dict, list)
    pub root: String,

    /// Constructor arguments as JSON: an array of positional arguments (`[40]`), an object of
    /// named ones ('{"start": 40}'), or one value ('40')
    #[arg(long = "open", value_name = "JSON", value_parser = json_value)]
    pub open: Option<Value>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the root's public members (DIR): kind, signature and doc
    #[command(after_help = SESSION_NOTE)]
    Dir {
        /// The object.
        #[command(flatten)]
        target: Target,
    },
    /// Read a field (GET); a method or an object field prints as a remote object
    #[command(after_help = SESSION_NOTE)]
    Get {
        /// The object.
        #[command(flatten)]
        target: Target,
        /// The member to read
        name: String,
    },
    /// Write a field (SET), type-checked by the server (in this command's own session)
    #[command(allow_negative_numbers = true, after_help = SESSION_NOTE)]
    Set {
        /// The object.
        #[command(flatten)]
        target: Target,
        /// The field to write
        name: String,
        /// The new value, as JSON
        #[arg(value_parser = json_value)]
        value: Value,
    },
    /// Delete a field (DEL): an Option field becomes None (in this command's own session)
    #[command(after_help = SESSION_NOTE)]
    Del {
        /// The object.
        #[command(flatten)]
        target: Target,
        /// The field to delete
        name: String,
    },
    /// Call a method (RUN) and print its result
    #[command(allow_negative_numbers = true, after_help = SESSION_NOTE)]
    Call {
        /// The object.
        #[command(flatten)]
        target: Target,
        /// The method
        method: String,
        /// Positional arguments, one JSON value each
        #[arg(value_name = "JSON", value_parser = json_value)]
        args: Vec<Value>,
        /// A named argument, NAME=JSON (repeatable): --arg times=3
        #[arg(long = "arg", value_name = "NAME=JSON", value_parser = named_arg)]
        named: Vec<(String, Value)>,
    },
    /// Copy the root's public data by value (ALL)
    #[command(after_help = SESSION_NOTE)]
    All {
        /// The object.
        #[command(flatten)]
        target: Target,
    },
    /// An interactive shell on one session: `add(5)`, `value = 3`, `dict[1] = 2`, ...
    #[command(long_about = crate::shell::LONG_ABOUT)]
    Shell {
        /// The object.
        #[command(flatten)]
        target: Target,
    },
}

impl Command {
    /// The target every subcommand has.
    pub fn target(&self) -> &Target {
        match self {
            Command::Dir { target }
            | Command::Get { target, .. }
            | Command::Set { target, .. }
            | Command::Del { target, .. }
            | Command::Call { target, .. }
            | Command::All { target }
            | Command::Shell { target } => target,
        }
    }
}

fn json_value(text: &str) -> Result<Value, String> {
    json::parse(text).map_err(|e| e.to_string())
}

fn named_arg(text: &str) -> Result<(String, Value), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=JSON, found {text:?}"))?;
    if name.is_empty() {
        return Err(format!("the argument name is empty in {text:?}"));
    }
    Ok((name.to_owned(), json_value(value)?))
}

fn seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("expected a number of seconds, found {text:?}"))?;
    Duration::try_from_secs_f64(secs).map_err(|e| format!("bad timeout {text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn call_takes_json_arguments_negative_numbers_and_named_ones() {
        let cli = Cli::try_parse_from([
            "rpc", "call", "h:1", "counter", "add_many", "-2", "--arg", "times=3", "--open",
            "[40]", "--json",
        ])
        .expect("parses");
        assert!(cli.json);
        let Command::Call {
            target,
            method,
            args,
            named,
        } = cli.command
        else {
            panic!("a call")
        };
        assert_eq!(target.open, Some(Value::List(vec![Value::Int(40)])));
        assert_eq!(method, "add_many");
        assert_eq!(args, [Value::Int(-2)]);
        assert_eq!(named, [("times".to_owned(), Value::Int(3))]);
    }

    #[test]
    fn bad_json_and_bad_named_arguments_are_usage_errors() {
        for bad in [
            &["rpc", "call", "h:1", "c", "m", "{"][..],
            &["rpc", "call", "h:1", "c", "m", "--arg", "times"],
            &["rpc", "set", "h:1", "c", "value", "word"],
            &["rpc", "get", "h:1", "c", "value", "--timeout", "soon"],
        ] {
            let err = Cli::try_parse_from(bad).expect_err("usage error");
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }
}
