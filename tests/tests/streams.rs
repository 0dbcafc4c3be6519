//! Streams: a method returns `impl Stream` or `impl Iterator`; the client reads an async
//! `Stream` of its items, in order, with memory bounded by its window of batch calls; an
//! error ends the stream with the server's stack text; dropping the stream or the connection
//! stops the producer. Every wait is bounded in time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{Stream, StreamExt};
use rpc_client::{Client, ErrorKind};
use rpc_server::{RunningServer, Server, remote};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const STEP: Duration = Duration::from_secs(20);

/// Awaits `f` for at most [`STEP`].
async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    rpc_tests::bounded(what, STEP, f).await
}

/// Sends its name when dropped: how a test sees that a producer is gone.
#[derive(Debug)]
struct DropSignal(&'static str, mpsc::UnboundedSender<&'static str>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.1.send(self.0);
    }
}

/// A table whose methods stream.
#[remote]
#[derive(Debug)]
pub struct Table {
    produced: Arc<AtomicU64>,
    dropped: mpsc::UnboundedSender<&'static str>,
}

#[remote]
impl Table {
    /// `n` rows `(i, "row i")`, as a stream.
    pub fn rows(&self, n: u64) -> impl Stream<Item = (u64, String)> + Send + 'static {
        futures::stream::iter((0..n).map(|i| (i, format!("row {i}"))))
    }

    /// `0..n`, as an iterator.
    pub fn numbers(&self, n: u64) -> impl Iterator<Item = u64> + Send + 'static {
        0..n
    }

    /// `ok` numbers, then an error.
    pub fn failing(&self, ok: u64) -> impl Iterator<Item = Result<u64, String>> + Send + 'static {
        (0..=ok).map(move |i| {
            if i < ok {
                Ok(i)
            } else {
                Err(format!("row {i} is broken"))
            }
        })
    }

    /// Numbers without end, counting how many were made; signals `endless` when dropped.
    pub fn endless(&self) -> impl Iterator<Item = u64> + Send + 'static {
        let produced = Arc::clone(&self.produced);
        let guard = DropSignal("endless", self.dropped.clone());
        (0..).inspect(move |_| {
            let _ = &guard;
            produced.fetch_add(1, Ordering::SeqCst);
        })
    }

    /// A stream that never yields; signals `stuck` when dropped.
    pub fn stuck(&self) -> impl Stream<Item = u64> + Send + 'static {
        let guard = DropSignal("stuck", self.dropped.clone());
        futures::stream::pending::<u64>().map(move |i| {
            let _ = &guard;
            i
        })
    }
}

struct Fixture {
    server: RunningServer,
    produced: Arc<AtomicU64>,
    dropped: mpsc::UnboundedReceiver<&'static str>,
}

async fn start() -> Fixture {
    start_with(rpc_server::ServerConfig::default()).await
}

async fn start_with(config: rpc_server::ServerConfig) -> Fixture {
    let produced = Arc::new(AtomicU64::new(0));
    let (tx, dropped) = mpsc::unbounded_channel();
    let server = Server::builder()
        .root_with("table", {
            let produced = Arc::clone(&produced);
            move |_args, _cx| {
                Ok(Table {
                    produced: Arc::clone(&produced),
                    dropped: tx.clone(),
                })
            }
        })
        .config(config)
        .build()
        .expect("valid server")
        .spawn(TcpListener::bind("127.0.0.1:0").await.expect("bind"))
        .expect("spawn");
    Fixture {
        server,
        produced,
        dropped,
    }
}

#[tokio::test]
async fn every_row_arrives_in_order() {
    let f = start().await;
    let client = Client::connect(f.server.local_addr())
        .await
        .expect("connect");
    let table = client.open("table", ()).await.expect("open");
    let rows = table
        .stream::<(u64, String)>("rows", (10_000,))
        .await
        .expect("a stream");
    let rows: Vec<(u64, String)> = bounded(
        "reading 10,000 rows",
        rows.map(|r| r.expect("row")).collect(),
    )
    .await;
    assert_eq!(rows.len(), 10_000);
    for (i, (n, text)) in rows.iter().enumerate() {
        assert_eq!((*n, text.as_str()), (i as u64, format!("row {i}").as_str()));
    }
    // An iterator streams the same way; a tiny batch and window only take more calls.
    let numbers = table
        .stream::<u64>("numbers", (1000,))
        .await
        .expect("a stream")
        .batch(7)
        .window(1);
    let numbers: Vec<u64> =
        bounded("reading numbers", numbers.map(|n| n.expect("n")).collect()).await;
    assert_eq!(numbers, (0..1000).collect::<Vec<_>>());
    // Stream objects are released once read and dropped.
    bounded("releases", async {
        while client.stats().await.expect("stats").handles != 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    f.server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_error_ends_the_stream_after_the_items_before_it() {
    let f = start().await;
    let client = Client::connect(f.server.local_addr())
        .await
        .expect("connect");
    let table = client.open("table", ()).await.expect("open");
    let mut items = table
        .stream::<u64>("failing", (5,))
        .await
        .expect("a stream");
    let mut got = Vec::new();
    let err = bounded("the failing stream", async {
        loop {
            match items.next().await {
                Some(Ok(n)) => got.push(n),
                Some(Err(e)) => return e,
                None => panic!("the stream ended without its error"),
            }
        }
    })
    .await;
    assert_eq!(got, [0, 1, 2, 3, 4]);
    assert_eq!(err.kind(), Some(ErrorKind::Raised));
    let text = err.to_string();
    assert!(text.contains("row 5 is broken"), "{text}");
    assert!(
        text.contains("tests/streams.rs"),
        "the server's stack names the method: {text}"
    );
    assert!(items.next().await.is_none(), "nothing after the error");
    f.server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_slow_reader_holds_the_producer_to_its_window() {
    let mut f = start().await;
    let client = Client::connect(f.server.local_addr())
        .await
        .expect("connect");
    let table = client.open("table", ()).await.expect("open");
    let mut items = table
        .stream::<u64>("endless", ())
        .await
        .expect("a stream")
        .window(2)
        .batch(16);
    assert_eq!(items.next().await.expect("an item").expect("ok"), 0);
    // Two batches of 16 were asked for; the producer makes exactly those and no more,
    // however long the reader waits.
    let produced = &f.produced;
    bounded("the window to fill", async {
        while produced.load(Ordering::SeqCst) < 32 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    for _ in 0..3 {
        client.ping().await.expect("ping");
    }
    assert_eq!(produced.load(Ordering::SeqCst), 32);
    // Reading on asks for more, one batch at a time.
    for expected in 1..40 {
        assert_eq!(items.next().await.expect("item").expect("ok"), expected);
    }
    // Dropping the stream stops the producer and drops it on the server.
    drop(items);
    let dropped = bounded("the producer's drop", f.dropped.recv()).await;
    assert_eq!(dropped, Some("endless"));
    let after = produced.load(Ordering::SeqCst);
    client.ping().await.expect("ping");
    assert_eq!(produced.load(Ordering::SeqCst), after);
    f.server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn dropping_a_stream_stops_a_producer_that_waits() {
    let mut f = start().await;
    let client = Client::connect(f.server.local_addr())
        .await
        .expect("connect");
    let table = client.open("table", ()).await.expect("open");
    let mut items = table.stream::<u64>("stuck", ()).await.expect("a stream");
    // Start the batch calls; nothing comes.
    let nothing = tokio::time::timeout(Duration::from_millis(50), items.next()).await;
    assert!(nothing.is_err(), "a stuck producer yields nothing");
    drop(items);
    let dropped = bounded("the producer's drop", f.dropped.recv()).await;
    assert_eq!(dropped, Some("stuck"));
    f.server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_closed_connection_ends_every_stream_on_both_ends() {
    let mut config = rpc_server::ServerConfig::default();
    config.shutdown_grace = Duration::from_millis(100);
    let mut f = start_with(config).await;
    let client = Client::connect(f.server.local_addr())
        .await
        .expect("connect");
    let table = client.open("table", ()).await.expect("open");
    let mut stuck = table.stream::<u64>("stuck", ()).await.expect("a stream");
    let mut endless = table.stream::<u64>("endless", ()).await.expect("a stream");
    assert_eq!(endless.next().await.expect("item").expect("ok"), 0);
    let nothing = tokio::time::timeout(Duration::from_millis(50), stuck.next()).await;
    assert!(nothing.is_err());
    // The client keeps both streams; the server goes away with their calls in flight.
    bounded("shutdown", f.server.shutdown())
        .await
        .expect("shutdown");
    let mut seen = vec![
        bounded("a producer's drop", f.dropped.recv()).await,
        bounded("a producer's drop", f.dropped.recv()).await,
    ];
    seen.sort();
    assert_eq!(seen, [Some("endless"), Some("stuck")]);
    // On the client, each stream ends with an error, then nothing.
    for stream in [&mut stuck, &mut endless] {
        let end = bounded("the stream's end", async {
            loop {
                match stream.next().await {
                    Some(Ok(_)) => continue,
                    other => return other,
                }
            }
        })
        .await;
        assert!(matches!(end, Some(Err(_))), "{end:?}");
        assert!(stream.next().await.is_none());
    }
}
