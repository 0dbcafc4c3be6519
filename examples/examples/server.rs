//! A standalone server: per-session roots `dict` (built-in Dict), `list` (built-in List) and
//! `counter` (the `Counter` type of `examples/src/counter.rs`: fields, methods, a child object,
//! an error and a panic).
//!
//! Run it:
//!
//! ```text
//! cargo run --release --example server -- [--listen ADDR] [--allow PATTERN]...
//! ```
//!
//! `--listen` defaults to `127.0.0.1:1234` (port 0 picks a free port). `--allow` adds an
//! allowlist pattern (`127.0.0.*`, `192.168.1.?`, `10.0.0.0/8`, `::1`); without any, only
//! loopback may connect. The first line on stdout is `listening on IP:PORT` once the server
//! accepts connections. Logs go to stderr, at the seed's `LOG` levels with `--log N`:
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

use rpc_examples::demo_server;
use rpc_server::{Allowlist, ServerConfig};
use tracing_subscriber::EnvFilter;

struct Options {
    listen: String,
    allow: Vec<String>,
    log: u8,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        listen: "127.0.0.1:1234".to_owned(),
        allow: Vec::new(),
        log: 1,
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
            "-h" | "--help" => {
                return Err(
                    "usage: server [--listen ADDR] [--allow PATTERN]... [--log 0-3] (default 127.0.0.1:1234, loopback only, log 1)"
                        .to_owned(),
                );
            }
            other => return Err(format!("unknown argument {other:?}; try --help")),
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
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
    let server = match demo_server(allowlist, ServerConfig::default()) {
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
