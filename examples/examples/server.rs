//! A standalone server: per-session roots `dict` (built-in Dict), `list` (built-in List) and
//! `counter` (the `Counter` type of `examples/src/counter.rs`: fields, methods, a child object,
//! an error and a panic).
//!
//! Run it:
//!
//! ```text
//! cargo run --release --example server -- [--listen ADDR] [--allow PATTERN]... [--log N]
//!     [--first-frame-timeout-ms MS] [--frame-timeout-ms MS] [--write-timeout-ms MS]
//!     [--closed-peer-grace-ms MS] [--callback-timeout-ms MS]
//! ```
//!
//! `--listen` defaults to `127.0.0.1:1234` (port 0 picks a free port). `--allow` adds an
//! allowlist pattern (`127.0.0.*`, `192.168.1.?`, `10.0.0.0/8`, `::1`); without any, only
//! loopback may connect. The first line on stdout is `listening on IP:PORT` once the server
//! accepts connections (with port 0, the port picked).
//!
//! The connection clocks of `ServerConfig` can be lowered (or raised) in milliseconds, for
//! tests and load experiments that cannot wait for the defaults:
//!
//! | flag | `ServerConfig` field | default |
//! |---|---|---|
//! | `--first-frame-timeout-ms MS` | `first_frame_timeout`: a new connection's first frame | 10,000 |
//! | `--frame-timeout-ms MS` | `frame_progress_timeout`: a started frame's completion | 30,000 |
//! | `--write-timeout-ms MS` | `write_timeout`: a reply blocked on a peer that does not read | 30,000 |
//! | `--closed-peer-grace-ms MS` | `closed_peer_grace`: calls still running after the peer closed its side | 10,000 |
//! | `--callback-timeout-ms MS` | `callback_timeout`: a call to a client's object (a callback) | 30,000 |
//!
//! Logs go to stderr, at the seed's `LOG` levels with `--log N`:
//!
//! | `--log` | shows | same as `RUST_LOG=` |
//! |---|---|---|
//! | 0 | warnings: refused and stalled connections | `warn` |
//! | 1 (default) | connections opened and closed, with peer and session | `warn,rpc_server=info` |
//! | 2 | one line per request (session, request id, op, handle, member, time) and each frame's size | `warn,rpc_server=debug` |
//! | 3 | full requests and replies, and the raw bytes read, in hex | `warn,rpc_server=trace` |
//!
//! `RUST_LOG`, when set, wins over `--log`. Ctrl-C shuts the server down gracefully.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use rpc_examples::demo_server;
use rpc_server::{Allowlist, ServerConfig};
use tracing_subscriber::EnvFilter;

const USAGE: &str = "usage: server [--listen ADDR] [--allow PATTERN]... [--log 0-3]
              [--first-frame-timeout-ms MS] [--frame-timeout-ms MS] [--write-timeout-ms MS]
              [--closed-peer-grace-ms MS] [--callback-timeout-ms MS]

  --listen ADDR                 address to listen on (default 127.0.0.1:1234; port 0 picks a
                                free port, printed as `listening on IP:PORT`)
  --allow PATTERN               admit peers matching PATTERN (repeatable; default loopback only)
  --log N                       0 warnings, 1 connections (default), 2 requests, 3 raw bytes
  --first-frame-timeout-ms MS   time a new connection has to send its first frame (default 10000)
  --frame-timeout-ms MS         time a started frame has to complete (default 30000)
  --write-timeout-ms MS         time a reply may wait on a peer that does not read (default 30000)
  --closed-peer-grace-ms MS     time calls may run after the peer closed its side (default 10000)
  --callback-timeout-ms MS      time a call to a client's object may wait (default 30000)";

struct Options {
    listen: String,
    allow: Vec<String>,
    log: u8,
    first_frame_timeout: Option<Duration>,
    frame_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    closed_peer_grace: Option<Duration>,
    callback_timeout: Option<Duration>,
}

/// What the command line asks for.
enum Command {
    Serve(Options),
    Help,
}

/// Reads the value of a `--...-ms` flag: a positive number of milliseconds.
fn millis(flag: &str, value: Option<String>) -> Result<Option<Duration>, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a number of milliseconds"))?;
    match value.parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Some(Duration::from_millis(ms))),
        _ => Err(format!(
            "{flag} takes a positive number of milliseconds, not {value:?}"
        )),
    }
}

fn parse_args() -> Result<Command, String> {
    let mut options = Options {
        listen: "127.0.0.1:1234".to_owned(),
        allow: Vec::new(),
        log: 1,
        first_frame_timeout: None,
        frame_timeout: None,
        write_timeout: None,
        closed_peer_grace: None,
        callback_timeout: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => options.listen = args.next().ok_or("--listen needs an address")?,
            "--allow" => options
                .allow
                .push(args.next().ok_or("--allow needs a pattern")?),
            "--log" => {
                let level = args.next().ok_or("--log needs a level, 0 to 3")?;
                options.log = match level.parse() {
                    Ok(n @ 0..=3) => n,
                    _ => return Err(format!("--log takes 0, 1, 2 or 3, not {level:?}")),
                };
            }
            "--first-frame-timeout-ms" => {
                options.first_frame_timeout = millis(&arg, args.next())?;
            }
            "--frame-timeout-ms" => options.frame_timeout = millis(&arg, args.next())?,
            "--write-timeout-ms" => options.write_timeout = millis(&arg, args.next())?,
            "--closed-peer-grace-ms" => options.closed_peer_grace = millis(&arg, args.next())?,
            "--callback-timeout-ms" => options.callback_timeout = millis(&arg, args.next())?,
            "-h" | "--help" => return Ok(Command::Help),
            other => return Err(format!("unknown argument {other:?}; try --help")),
        }
    }
    Ok(Command::Serve(options))
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(Command::Serve(options)) => options,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let level = [
        "warn",
        "warn,rpc_server=info",
        "warn,rpc_server=debug",
        "warn,rpc_server=trace",
    ];
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new(level[usize::from(options.log)])),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let allowlist = if options.allow.is_empty() {
        Allowlist::loopback()
    } else {
        match Allowlist::new(&options.allow) {
            Ok(list) => list,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let mut config = ServerConfig::default();
    if let Some(timeout) = options.first_frame_timeout {
        config.first_frame_timeout = timeout;
    }
    if let Some(timeout) = options.frame_timeout {
        config.frame_progress_timeout = timeout;
    }
    if let Some(timeout) = options.write_timeout {
        config.write_timeout = timeout;
    }
    if let Some(grace) = options.closed_peer_grace {
        config.closed_peer_grace = grace;
    }
    if let Some(timeout) = options.callback_timeout {
        config.callback_timeout = timeout;
    }
    let server = match demo_server(allowlist, config) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(&options.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", options.listen);
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The listener is bound and listening: connections queue from here on.
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
    let shutdown = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    match server.serve_with_shutdown(listener, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
