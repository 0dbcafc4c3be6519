//! Progress callbacks and a stream: a long server method reports its progress through a
//! closure the client passed, and a method returns a stream the client reads as it arrives.
//!
//! Run it:
//!
//! ```text
//! cargo run --release --example progress
//! ```
//!
//! The server's `Job` root has `run(steps, progress)`, which calls the client's closure
//! `progress((done, steps))` after every step while the client waits for `run` itself, and
//! `squares(n)`, which returns `impl Stream` of `(i, i * i)`. The client prints the progress
//! lines, then reads 100,000 squares and checks their count and sum. It exits 0.

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use rpc_client::{CallError, Callback, Client, Proxy};
use rpc_server::Server;
use tokio::net::TcpListener;

/// A job on the server.
#[rpc_server::remote]
#[derive(Debug, Default)]
pub struct Job {
    /// Steps done by `run` so far.
    pub done: u64,
}

#[rpc_server::remote]
impl Job {
    /// A fresh job.
    #[remote(constructor)]
    pub fn new() -> Self {
        Job::default()
    }

    /// Works `steps` steps, calling `progress((done, steps))` after each; returns a summary.
    pub async fn run(&mut self, steps: u64, progress: Proxy) -> Result<String, CallError> {
        let started = Instant::now();
        for step in 1..=steps {
            // The work of one step.
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.done = step;
            progress.invoke((step, steps)).await?;
        }
        Ok(format!("{steps} steps in {:?}", started.elapsed()))
    }

    /// `(i, i * i)` for `i` in `0..n`, as a stream.
    pub fn squares(&self, n: u64) -> impl Stream<Item = (u64, u64)> + Send + 'static {
        futures::stream::iter((0..n).map(|i| (i, i * i)))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let server = Server::builder()
        .root::<Job>("job")
        .build()?
        .spawn(TcpListener::bind("127.0.0.1:0").await?)?;
    let client = Client::connect(server.local_addr()).await?;
    let job = client.open("job", ()).await?;

    // The closure lives on the client; the server calls it while `run` is running.
    let reports = Arc::new(AtomicU64::new(0));
    let progress = Callback::new({
        let reports = Arc::clone(&reports);
        move |(done, steps): (u64, u64)| {
            reports.fetch_add(1, Ordering::Relaxed);
            let bar = "#".repeat(done as usize) + &".".repeat((steps - done) as usize);
            println!("progress [{bar}] {done}/{steps}");
        }
    });
    let summary: String = job.call_as("run", (10, &progress)).await?;
    println!("run(10)           -> {summary}");
    assert_eq!(reports.load(Ordering::Relaxed), 10);

    // The stream's items arrive in batches while the server produces them.
    let started = Instant::now();
    let mut squares = job.stream::<(u64, u64)>("squares", (100_000,)).await?;
    let (mut count, mut sum) = (0u64, 0u64);
    while let Some(item) = squares.next().await {
        let (i, square) = item?;
        assert_eq!(square, i * i);
        count += 1;
        sum = sum.wrapping_add(square);
    }
    println!(
        "squares(100000)   -> {count} items, sum {sum}, in {:?}",
        started.elapsed()
    );
    assert_eq!(count, 100_000);
    assert_eq!(sum, (0..100_000u64).map(|i| i * i).sum::<u64>());
    drop((squares, job, client));
    server.shutdown().await?;
    Ok(())
}
