//! Quickstart: a server and a client in one process, showing every op of the protocol.
//!
//! Run it:
//!
//! ```text
//! cargo run --release --example quickstart
//! ```
//!
//! The server listens on `127.0.0.1:0` (a free port) and serves the `Counter` type of
//! `examples/src/counter.rs`. The client opens a counter and shows GET, SET, DEL, RUN (by name
//! and through a bound method), DIR, ALL, a child object returned twice (one handle, count 2)
//! and released, and two remote exceptions (a returned error and a panic) printed with the
//! server's stack text, after which the same connection keeps working. It exits 0.

use std::error::Error;

use rpc_client::{Args, Client, ErrorKind, Value};
use rpc_examples::demo_server;
use rpc_server::{Allowlist, ServerConfig};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // The server: roots `counter`, `dict` and `list`, loopback clients only.
    let server = demo_server(Allowlist::loopback(), ServerConfig::default())?;
    let running = server.spawn(TcpListener::bind("127.0.0.1:0").await?)?;
    println!("server listening on {}", running.local_addr());

    // The client: one connection, one session.
    let client = Client::connect(running.local_addr()).await?;
    println!(
        "connected: {} (session {}, roots {:?})",
        client.server_info().server,
        client.server_info().session,
        client.server_info().roots
    );

    // OPEN: the server builds this session's root from our arguments, Counter::new(Some(40)).
    let counter = client.open("counter", (40,)).await?;
    println!("open counter(40)        -> {counter:?}");

    // GET and SET fields.
    let value: i64 = counter.get_as("value").await?;
    println!("GET value               -> {value}");
    counter.set("note", "hello from the client").await?;
    println!("SET note                -> {}", counter.get("note").await?);
    let wrong = counter.set("value", "not a number").await;
    println!(
        "SET value = 'text'      -> {:?} (type-checked)",
        wrong.err().and_then(|e| e.kind())
    );

    // RUN: one round trip per call, positional or named arguments.
    let sum: i64 = counter.call_as("add", (2,)).await?;
    println!("RUN add(2)              -> {sum}");
    let named = Args {
        positional: vec![Value::Int(1)],
        named: vec![("times".to_owned(), Value::Int(3))],
    };
    println!(
        "RUN add_many(1, times=3) -> {}",
        counter.call_with("add_many", named).await?
    );
    println!(
        "RUN slow_value(10) async -> {}",
        counter.call("slow_value", (10,)).await?
    );
    println!(
        "RUN crunch(1000) blocking -> {}",
        counter.call("crunch", (1000,)).await?
    );

    // GET of a method returns a callable handle (the seed's method wrapper).
    let add = counter.get("add").await?.into_proxy()?;
    println!("GET add, invoke(5)      -> {}", add.invoke((5,)).await?);

    // DEL: Option fields become None; other fields refuse.
    counter.del("note").await?;
    println!(
        "DEL note                -> note = {}",
        counter.get("note").await?
    );

    // DIR: public members only, with kind, signature and doc.
    println!("DIR counter:");
    for member in counter.dir().await? {
        let doc = member.doc.lines().next().unwrap_or("");
        println!(
            "    {:<8} {:<40} {doc}",
            format!("{:?}", member.kind),
            member.signature()
        );
    }

    // ALL: the public data by value, in one round trip.
    println!("ALL counter             -> {}", counter.all().await?);

    // Objects returned by methods come back as handles; the same object twice is one handle
    // with count 2, and dropping the proxies releases it without a round trip of its own.
    let child = counter.call("child", ("a",)).await?.into_proxy()?;
    let again = counter.call("child", ("a",)).await?.into_proxy()?;
    println!(
        "RUN child('a') twice    -> {:?} and {:?} (same id)",
        child.id(),
        again.id()
    );
    child.call("add", (7,)).await?;
    println!("child.all()             -> {}", again.all().await?);
    let before = client.stats().await?.handles;
    drop(child);
    drop(add);
    drop(again);
    // The queued releases ride on the next request.
    let after = client.stats().await?.handles;
    println!("handles held on the server: {before} before the drops, {after} after");

    // A proxy passed as an argument arrives on the server as the real object.
    let other = client.open("counter", (100,)).await?;
    println!(
        "RUN absorb(other)       -> {}",
        counter.call("absorb", (&other,)).await?
    );

    // Remote exceptions: the server's error and stack text under the client's error.
    match counter.call("checked_div", (0,)).await {
        Err(e) => println!("\nRUN checked_div(0) failed as expected:\n{e}\n"),
        Ok(v) => return Err(format!("checked_div(0) returned {v}").into()),
    }
    match counter.call("explode", ()).await {
        Err(e) if e.kind() == Some(ErrorKind::Panicked) => {
            println!("RUN explode() panicked on the server:\n{e}\n")
        }
        other => return Err(format!("explode() gave {other:?}").into()),
    }

    // The session survived both.
    println!(
        "after the errors, GET value -> {}",
        counter.get("value").await?
    );

    drop((counter, other));
    drop(client);
    running.shutdown().await?;
    println!("server stopped");
    Ok(())
}
