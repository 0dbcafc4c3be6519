//! Objects in both directions: a client passes its own `#[remote]` object or a closure to a
//! server method, and the server calls it over the connection the client opened, while the
//! client is waiting for that very call. Every wait is bounded in time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rpc_client::{CallError, Callback, Client, ErrorKind, Proxy, Remote, remote};
use rpc_server::{RunningServer, Server};
use tokio::net::TcpListener;

/// How long any single step of these tests may take before it counts as hung.
const STEP: Duration = Duration::from_secs(10);

/// Awaits `f` for at most [`STEP`].
async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    rpc_tests::bounded(what, STEP, f).await
}

/// The server's object: keeps listeners and calls them.
#[rpc_server::remote]
#[derive(Debug, Default)]
pub struct Room {
    /// Messages said so far.
    pub said: u64,
    listeners: Vec<Proxy>,
}

#[rpc_server::remote]
impl Room {
    /// A new, empty room.
    #[remote(constructor)]
    pub fn new() -> Self {
        Room::default()
    }

    /// Keeps `listener` to call on every `say`.
    pub fn subscribe(&mut self, listener: Proxy) -> usize {
        self.listeners.push(listener);
        self.listeners.len()
    }

    /// Drops every listener (releases them on the client).
    pub fn clear(&mut self) -> usize {
        let n = self.listeners.len();
        self.listeners.clear();
        n
    }

    /// Calls `heard(text)` on every listener; returns how many answered.
    pub async fn say(&mut self, text: String) -> usize {
        self.said += 1;
        let mut answered = 0;
        for listener in &self.listeners {
            if listener.call("heard", (&text,)).await.is_ok() {
                answered += 1;
            }
        }
        answered
    }

    /// Uses every op on the client's object `target` and reports what it saw.
    pub async fn inspect(&self, target: Proxy) -> Result<String, CallError> {
        let before: i64 = target.get_as("count").await?;
        target.set("count", before + 10).await?;
        let after: i64 = target.call_as("bump", (5,)).await?;
        let members: Vec<String> = target.dir().await?.into_iter().map(|m| m.name).collect();
        let copy = target.all().await?;
        Ok(format!(
            "{} before={before} after={after} members={members:?} all={copy}",
            target.type_name()
        ))
    }

    /// Calls the closure `f` with `n` and returns what it answered.
    pub async fn apply(&self, f: Proxy, n: i64) -> Result<i64, CallError> {
        f.invoke_as((n,)).await
    }

    /// Calls `relay(n)` on the client's `relay`, which calls `double` back on this server.
    pub async fn relay_through(&self, relay: Proxy, n: i64) -> Result<i64, CallError> {
        relay.call_as("relay", (n,)).await
    }

    /// As `relay_through`, but holding this room exclusively while the client relays back.
    pub async fn relay_holding(&mut self, relay: Proxy, n: i64) -> Result<i64, CallError> {
        self.said += 1;
        relay.call_as("relay", (n,)).await
    }

    /// What calling `heard("probe")` on each listener gives: `ok` or the error's text.
    pub async fn probe(&self) -> Vec<String> {
        let mut outcomes = Vec::new();
        for listener in &self.listeners {
            outcomes.push(match listener.call("heard", ("probe",)).await {
                Ok(_) => "ok".to_owned(),
                Err(e) => e.to_string(),
            });
        }
        outcomes
    }

    /// Calls `poke()` on the client's `poker`, which clears this room (a write) while this
    /// call still holds it shared.
    pub async fn poke_through(&self, poker: Proxy) -> Result<usize, CallError> {
        poker.call_as("poke", ()).await
    }

    /// Doubles `n` (called by a client's object in the middle of `relay_through`).
    pub fn double(&self, n: i64) -> i64 {
        n * 2
    }
}

/// The client's object: counts what it heard.
#[remote]
#[derive(Debug)]
pub struct Listener {
    /// Messages heard.
    pub count: i64,
    /// The last message.
    pub last: Option<String>,
}

#[remote]
impl Listener {
    /// Records a message.
    pub fn heard(&mut self, text: String) -> i64 {
        self.count += 1;
        self.last = Some(text);
        self.count
    }

    /// Adds `n` to the count.
    pub fn bump(&mut self, n: i64) -> i64 {
        self.count += n;
        self.count
    }

    /// Always fails, for the error path.
    pub fn fail(&self) -> Result<(), String> {
        Err("the listener refused".into())
    }
}

async fn start() -> RunningServer {
    let server = Server::builder()
        .root::<Room>("room")
        .root::<Collector>("collector")
        .build()
        .expect("valid server");
    server
        .spawn(TcpListener::bind("127.0.0.1:0").await.expect("bind"))
        .expect("spawn")
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    bounded(what, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn the_server_uses_every_op_on_a_client_object() {
    let server = start().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let room = client.open("room", ()).await.expect("open");
    let listener = Remote::new(Listener {
        count: 1,
        last: None,
    });
    let seen: String = bounded("inspect", room.call_as("inspect", (&listener,)))
        .await
        .expect("inspect");
    assert_eq!(
        seen,
        "Listener before=1 after=16 members=[\"count\", \"last\", \"heard\", \"bump\", \"fail\"] \
         all={'count': 16, 'last': None}"
    );
    // The server's SET and RUN changed the client's own object.
    assert_eq!(listener.read().await.count, 16);
    // The method kept no reference: the export is released when the call ends.
    wait_until("the export's release", || client.exports_held() == 0).await;
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_kept_listener_is_called_until_the_server_drops_it() {
    let server = start().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let room = client.open("room", ()).await.expect("open");
    let listener = Remote::new(Listener {
        count: 0,
        last: None,
    });
    let n: usize = room
        .call_as("subscribe", (&listener,))
        .await
        .expect("subscribe");
    assert_eq!(n, 1);
    // Passed twice, the same object: one export with two counts.
    let n: usize = room
        .call_as("subscribe", (&listener,))
        .await
        .expect("subscribe");
    assert_eq!(n, 2);
    assert_eq!(client.exports_held(), 1);
    let answered: usize = bounded("say", room.call_as("say", ("hi",)))
        .await
        .expect("say");
    assert_eq!(answered, 2);
    {
        let heard = listener.read().await;
        assert_eq!((heard.count, heard.last.as_deref()), (2, Some("hi")));
    }
    let dropped: usize = room.call_as("clear", ()).await.expect("clear");
    assert_eq!(dropped, 2);
    wait_until("the listener's release", || client.exports_held() == 0).await;
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_closure_is_a_callback() {
    let server = start().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let room = client.open("room", ()).await.expect("open");
    let calls = Arc::new(AtomicUsize::new(0));
    let square = Callback::new({
        let calls = Arc::clone(&calls);
        move |n: i64| {
            calls.fetch_add(1, Ordering::Relaxed);
            n * n
        }
    });
    let out: i64 = bounded("apply", room.call_as("apply", (&square, 7)))
        .await
        .expect("apply");
    assert_eq!(out, 49);
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    wait_until("the callback's release", || client.exports_held() == 0).await;
    server.shutdown().await.expect("shutdown");
}

/// A client object that calls back into the server from inside a server call.
#[remote]
#[derive(Debug)]
pub struct Relay {
    back: Proxy,
}

#[remote]
impl Relay {
    /// Asks the server to double `n + 1`.
    pub async fn relay(&self, n: i64) -> Result<i64, CallError> {
        self.back.call_as("double", (n + 1,)).await
    }
}

/// The client's object that changes the server's room from a callback.
#[remote]
#[derive(Debug)]
pub struct Poker {
    back: Proxy,
}

#[remote]
impl Poker {
    /// Clears the server's room (a `&mut self` method there).
    pub async fn poke(&self) -> Result<usize, CallError> {
        self.back.call_as("clear", ()).await
    }
}

#[tokio::test]
async fn a_write_from_a_callback_of_a_shared_hold_is_refused_at_once() {
    let server = start().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let room = client.open("room", ()).await.expect("open");
    let poker = Remote::new(Poker { back: room.clone() });
    // room.poke_through (async &self: the room held shared) -> Poker.poke on the client ->
    // room.clear (&mut self), which waits for the shared hold: it would wait forever.
    let err = bounded(
        "the re-entrant write",
        room.call_as::<usize>("poke_through", (&poker,)),
    )
    .await
    .expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("Room.clear was refused"), "{text}");
    assert!(text.contains("held shared"), "{text}");
    // The mark ends with the call: the same write, made directly, works.
    let cleared: usize = bounded("clear", room.call_as("clear", ()))
        .await
        .expect("clear");
    assert_eq!(cleared, 0);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_callback_can_call_back_into_the_server_while_its_caller_waits() {
    let server = start().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let room = client.open("room", ()).await.expect("open");
    // client -> room.relay_through -> Relay.relay on the client -> room.double on the server.
    let relay = Remote::new(Relay { back: room.clone() });
    let out: i64 = bounded("relay", room.call_as("relay_through", (&relay, 20)))
        .await
        .expect("relay");
    assert_eq!(out, 42);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_error_in_a_callback_reaches_the_server_method_and_back() {
    let server = start().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let room = client.open("room", ()).await.expect("open");
    let failing = Callback::fallible(|n: i64| -> Result<i64, String> {
        if n > 0 { Err(format!("no {n}")) } else { Ok(0) }
    });
    let err = bounded("apply", room.call_as::<i64>("apply", (&failing, 3)))
        .await
        .expect_err("the callback failed");
    assert_eq!(err.kind(), Some(ErrorKind::Raised));
    let text = err.to_string();
    // The server's error carries the client's: its message and the callback's stack.
    assert!(text.contains("no 3"), "{text}");
    assert!(text.contains("a callback"), "{text}");
    // The inner report names the end that ran the callback: the client, not the server.
    assert!(text.contains("RUN callback failed on the client"), "{text}");
    assert!(
        text.contains("--- remote stack (client 127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("failed on the server"), "{text}");
    let ok: i64 = room
        .call_as("apply", (&failing, 0))
        .await
        .expect("no error for 0");
    assert_eq!(ok, 0);
    server.shutdown().await.expect("shutdown");
}

/// A room shared by every session, to reach one client's listener from another's call.
#[tokio::test]
async fn a_client_that_left_answers_disconnected() {
    let hub = rpc_server::Remote::new(Room::new());
    let server = Server::builder()
        .shared("hub", hub.clone())
        .build()
        .expect("valid server")
        .spawn(TcpListener::bind("127.0.0.1:0").await.expect("bind"))
        .expect("spawn");
    let leaving = Client::connect(server.local_addr()).await.expect("connect");
    let staying = Client::connect(server.local_addr()).await.expect("connect");
    let listener = Remote::new(Listener {
        count: 0,
        last: None,
    });
    let room = leaving.open("hub", ()).await.expect("open");
    room.call_as::<usize>("subscribe", (&listener,))
        .await
        .expect("subscribe");
    let other = staying.open("hub", ()).await.expect("open");
    assert_eq!(
        other.call_as::<usize>("say", ("one",)).await.expect("say"),
        1
    );
    drop((room, leaving));
    // Until the server sees the close, the call may still reach it; after, it fails at once.
    let outcomes = bounded("the leaver's disconnect", async {
        loop {
            let outcomes: Vec<String> = other.call_as("probe", ()).await.expect("probe");
            if outcomes != ["ok"] {
                return outcomes;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(outcomes, ["the connection to the server is closed"]);
    // The listener outlives its connection on the client; only the connection is gone.
    assert!(listener.read().await.count >= 1);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_chain_that_comes_back_to_an_object_it_holds_is_refused_at_once() {
    let server = start().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let room = client.open("room", ()).await.expect("open");
    let relay = Remote::new(Relay { back: room.clone() });
    // room.relay_holding (&mut self, holding the room) -> Relay.relay on the client ->
    // room.double, which needs the room: it would wait for its own chain forever.
    let err = bounded(
        "the re-entrant chain",
        room.call_as::<i64>("relay_holding", (&relay, 1)),
    )
    .await
    .expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("re-entrant call"), "{text}");
    assert!(text.contains("Room.double was refused"), "{text}");
    // The room is free again and works, and an unrelated call is not refused.
    let out: i64 = room
        .call_as("relay_through", (&relay, 20))
        .await
        .expect("relay");
    assert_eq!(out, 42);
    let said: u64 = room.get_as("said").await.expect("get");
    assert_eq!(said, 1);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn the_demo_counter_reports_progress_through_a_closure() {
    let server = rpc_tests::start_default().await;
    let client = bounded("connect", Client::connect(server.local_addr()))
        .await
        .expect("connect");
    let counter = bounded("open", client.open("counter", ()))
        .await
        .expect("open");
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let observer = Callback::new({
        let seen = Arc::clone(&seen);
        move |(i, n): (u64, u64)| {
            seen.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((i, n));
        }
    });
    let made: u64 = bounded("count_to", counter.call_as("count_to", (3, &observer)))
        .await
        .expect("count_to");
    assert_eq!(made, 3);
    let seen = seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    assert_eq!(seen, [(1, 3), (2, 3), (3, 3)]);
    // At most 1,000 calls, whatever the client asks for.
    let capped: u64 = bounded("count_to", counter.call_as("count_to", (5_000, &observer)))
        .await
        .expect("count_to");
    assert_eq!(capped, 1_000);
}

/// A client object that makes more client objects.
#[remote]
#[derive(Debug, Default)]
pub struct Factory {
    made: Vec<Remote<Listener>>,
}

#[remote]
impl Factory {
    /// A new listener of this client's, counting from `count`; kept here too.
    pub fn make(&mut self, count: i64) -> Remote<Listener> {
        let made = Remote::new(Listener { count, last: None });
        self.made.push(made.clone());
        made
    }
}

/// The server's side of the test: takes objects a callback returns.
#[rpc_server::remote]
#[derive(Debug, Default)]
pub struct Collector {
    kept: Vec<Proxy>,
}

#[rpc_server::remote]
impl Collector {
    /// A new, empty collector.
    #[remote(constructor)]
    pub fn new() -> Self {
        Collector::default()
    }

    /// Asks `factory` for `n` listeners, keeps them and bumps each by 1; the sum of their
    /// counts after the bump.
    pub async fn collect(&mut self, factory: Proxy, n: i64) -> Result<i64, CallError> {
        let mut sum = 0;
        for i in 0..n {
            let made = factory.call("make", (i * 10,)).await?.into_proxy()?;
            sum += made.call_as::<i64>("bump", (1,)).await?;
            self.kept.push(made);
        }
        Ok(sum)
    }

    /// Drops the kept listeners.
    pub fn clear(&mut self) -> usize {
        let n = self.kept.len();
        self.kept.clear();
        n
    }
}

#[tokio::test]
async fn a_callback_can_return_an_object_of_the_client() {
    let server = start().await;
    let client = bounded("connect", Client::connect(server.local_addr()))
        .await
        .expect("connect");
    let collector = bounded("open", client.open("collector", ()))
        .await
        .expect("open");
    let factory = Remote::new(Factory::default());
    let sum: i64 = bounded("collect", collector.call_as("collect", (&factory, 3)))
        .await
        .expect("collect");
    assert_eq!(sum, 1 + 11 + 21);
    assert_eq!(
        client.exports_held(),
        3,
        "the three listeners the server keeps"
    );
    // The listeners the server bumped are the client's own objects.
    assert_eq!(factory.read().await.made.len(), 3);
    for (i, made) in factory.read().await.made.iter().enumerate() {
        assert_eq!(made.read().await.count, i as i64 * 10 + 1);
    }
    let cleared: usize = bounded("clear", collector.call_as("clear", ()))
        .await
        .expect("clear");
    assert_eq!(cleared, 3);
    wait_until("the server's releases", || client.exports_held() == 0).await;
    drop((collector, client));
    server.shutdown().await.expect("shutdown");
}
