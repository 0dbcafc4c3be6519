//! The seed library's logged demo session (`client3.py`), against the `server` example.
//!
//! Run the server, then this client:
//!
//! ```text
//! RUST_LOG=rpc_server=debug cargo run --release --example server &
//! cargo run --release --example seed_demo -- [ADDR]
//! ```
//!
//! `ADDR` defaults to `127.0.0.1:1234`. The seed's client did `C = client(...)`, `C[1] = 2`,
//! `dir(C)`, `C._all()`, `C.items()` and `C[1]`, printing `{1: 2}`, `[(1, 2)]` and `2`; this
//! does the same on the built-in `Dict` root and prints the same results. With the server's
//! log at debug level, each operation shows as one request there (the seed needed three per
//! method call: GET of the method, RUN, BYE).

use std::error::Error;

use rpc_client::{Client, Value};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:1234".to_owned());
    let client = Client::connect(addr.as_str()).await?;
    // C = client('127.0.0.1', 1234)
    let c = client.open("dict", ()).await?;
    // C[1] = 2
    c.call("set_item", (1, 2)).await?;
    println!("*****");
    // dir(C): the names of the public members
    let names: Vec<Value> = c
        .dir()
        .await?
        .into_iter()
        .map(|m| Value::Str(m.name))
        .collect();
    println!("***** dir(C) = {}", Value::List(names));
    // C._all()
    println!("***** C._all() = {}", c.all().await?);
    // C.items()
    println!("***** C.items() = {}", c.call("items", ()).await?);
    // C[1]
    println!("***** C[1] = {}", c.call("get_item", (1,)).await?);
    Ok(())
}
