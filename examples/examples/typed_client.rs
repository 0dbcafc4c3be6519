//! Typed client: the example `Counter` called through `CounterProxy`, the typed proxy that
//! `#[interface]` generates in the shared crate `counter-api` (which has no server code).
//!
//! Run it:
//!
//! ```text
//! cargo run --release --example typed_client -- [ADDR]
//! ```
//!
//! With `ADDR` (a running `server` example), it connects there; without, it starts the demo
//! server in-process on `127.0.0.1:0`. The client part uses only `counter-api` and
//! `rpc-client`: it opens the `counter` root and checks the declaration against the server's
//! DIR (`checked()`), calls methods with compile-time checked names and argument types, reads,
//! writes and deletes fields, gets a child counter back as a typed proxy, passes a proxy as an
//! argument, and prints a remote error (the server's stack text under the client's error).
//! It exits 0.

use std::error::Error;

use counter_api::CounterProxy;
use rpc_client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // The server: the one given, or the demo server in this process.
    let (addr, running) = match std::env::args().nth(1) {
        Some(addr) => (addr, None),
        None => {
            let server = rpc_examples::demo_server(
                rpc_server::Allowlist::loopback(),
                rpc_server::ServerConfig::default(),
            )?;
            let running = server.spawn(tokio::net::TcpListener::bind("127.0.0.1:0").await?)?;
            println!("demo server listening on {}", running.local_addr());
            (running.local_addr().to_string(), Some(running))
        }
    };

    // The client: only counter-api and rpc-client from here on.
    let client = Client::connect(addr.as_str()).await?;
    let counter = CounterProxy::open(&client, "counter", (40,))
        .await?
        .checked()
        .await?;
    println!("open + checked          -> {counter:?}");

    // Methods: names and argument types checked by the compiler, one round trip each.
    let total: i64 = counter.add(2).await?;
    println!("add(2)                  -> {total}");
    println!(
        "add_many(1, Some(3))    -> {}",
        counter.add_many(1, Some(3)).await?
    );
    println!(
        "slow_value(10)          -> {}",
        counter.slow_value(10).await?
    );
    println!("summary()               -> {:?}", counter.summary().await?);

    // Fields: typed getters, setters and (for Option fields) deleters.
    counter.set_value(10).await?;
    counter.set_note(Some("typed".to_owned())).await?;
    println!(
        "value, note, changes    -> {}, {:?}, {}",
        counter.value().await?,
        counter.note().await?,
        counter.changes().await?
    );
    counter.del_note().await?;
    println!("del_note(); note        -> {:?}", counter.note().await?);

    // A method returning a Counter gives a typed child proxy; a proxy passes as an argument.
    let child: CounterProxy = counter.child("a").await?;
    child.add(5).await?;
    println!("child(\"a\").add(5)       -> {}", child.value().await?);
    println!(
        "absorb(&child)          -> {}",
        counter.absorb(&child).await?
    );

    // The dynamic proxy stays available for what the interface does not declare.
    println!(
        "proxy().all()           -> {}",
        counter.proxy().all().await?
    );

    // A remote error keeps its full structure: kind, type, message, the server's stack.
    match counter.checked_div(0).await {
        Err(e) => println!("\nchecked_div(0) failed as expected:\n{e}\n"),
        Ok(v) => return Err(format!("checked_div(0) returned {v}").into()),
    }
    println!("after the error, value  -> {}", counter.value().await?);

    drop((counter, child));
    drop(client);
    if let Some(running) = running {
        running.shutdown().await?;
        println!("server stopped");
    }
    Ok(())
}
