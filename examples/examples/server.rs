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
//! accepts connections. Logs go to stderr; set `RUST_LOG` (for example
//! `RUST_LOG=rpc_server=debug` to see one line per request) to change what is logged.
//! Ctrl-C shuts it down gracefully.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use rpc_examples::demo_server;
use rpc_server::{Allowlist, ServerConfig};
use tracing_subscriber::EnvFilter;

struct Options {
    listen: String,
    allow: Vec<String>,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        listen: "127.0.0.1:1234".to_owned(),
        allow: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => options.listen = args.next().ok_or("--listen needs an address")?,
            "--allow" => options
                .allow
                .push(args.next().ok_or("--allow needs a pattern")?),
            "-h" | "--help" => {
                return Err(
                    "usage: server [--listen ADDR] [--allow PATTERN]... (default 127.0.0.1:1234, loopback only)"
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
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
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
