//! Debugging the server from the client: a call fails on the server, and the error printed on
//! the client carries the server's message, cause chain and stack text under the client's own
//! error, as the seed's `sys.excepthook` did.
//!
//! Run it:
//!
//! ```text
//! cargo run --release --example remote_debug            # starts its own server
//! cargo run --release --example remote_debug -- ADDR    # or uses a running `server` example
//! ```
//!
//! It first calls a method that returns an error (with a cause) and prints it; then it calls
//! a method that panics and lets `?` in `main` report it, as an application would: the process
//! exits with status 1 and the remote stack on stderr.

use rpc_client::{CallError, Client};
use rpc_examples::demo_server;
use rpc_server::{Allowlist, RunningServer, ServerConfig};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<(), CallError> {
    // Keep a local server alive for the whole run when no address is given.
    let (addr, _local): (String, Option<RunningServer>) = match std::env::args().nth(1) {
        Some(addr) => (addr, None),
        None => {
            let server = demo_server(Allowlist::loopback(), ServerConfig::default())
                .map_err(|e| CallError::Protocol(e.to_string()))?;
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| CallError::Protocol(e.to_string()))?;
            let running = server
                .spawn(listener)
                .map_err(|e| CallError::Protocol(e.to_string()))?;
            (running.local_addr().to_string(), Some(running))
        }
    };
    let client = Client::connect(addr.as_str())
        .await
        .map_err(|e| CallError::Protocol(e.to_string()))?;
    let counter = client.open("counter", (7,)).await?;

    // A returned error: kind, type, message and cause chain, plus where it was returned.
    if let Err(e) = counter.call("add_parsed", ("seven",)).await {
        eprintln!("add_parsed(\"seven\") failed:\n{e}\n");
    }

    // A panic, reported by `?` in main.
    let value = counter.call("explode", ()).await?;
    println!("unreachable: explode returned {value}");
    Ok(())
}
