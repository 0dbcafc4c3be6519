//! Reference counts: the same object returned twice is one handle with count 2; releasing to
//! zero drops the object exactly once; closing the connection releases everything.

use std::collections::HashMap;
use std::time::Duration;

use rpc_client::{Args, Client, Value};
use rpc_core::{Op, Reply};
use rpc_server::{Remote, Server, remote};
use rpc_tests::RawClient;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// An object that reports its drop on a channel, so tests wait for drops instead of sleeping.
#[remote]
#[derive(Debug)]
pub struct Probe {
    /// Its name.
    pub name: String,
    dropped: mpsc::UnboundedSender<String>,
    kept: HashMap<String, Remote<Probe>>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = self.dropped.send(self.name.clone());
    }
}

#[remote]
impl Probe {
    /// A new probe nobody else holds.
    pub fn fresh(&self, name: String) -> Remote<Probe> {
        Remote::new(self.sibling(name))
    }

    /// A new probe, after `millis` milliseconds.
    pub async fn slow_fresh(&self, millis: u64, name: String) -> Remote<Probe> {
        tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
        Remote::new(self.sibling(name))
    }

    /// The probe called `name`, kept by this one: the same object every time.
    pub fn kept(&mut self, name: String) -> Remote<Probe> {
        let dropped = self.dropped.clone();
        self.kept
            .entry(name.clone())
            .or_insert_with(|| {
                Remote::new(Probe {
                    name,
                    dropped,
                    kept: HashMap::new(),
                })
            })
            .clone()
    }
}

impl Probe {
    fn sibling(&self, name: String) -> Probe {
        Probe {
            name,
            dropped: self.dropped.clone(),
            kept: HashMap::new(),
        }
    }
}

async fn probe_server() -> (rpc_server::RunningServer, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let server = Server::builder()
        .root_with("probe", move |_args, _cx| {
            Ok(Probe {
                name: "root".into(),
                dropped: tx.clone(),
                kept: HashMap::new(),
            })
        })
        .build()
        .expect("builds");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    (server.spawn(listener).expect("spawn"), rx)
}

async fn next_drop(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a drop within 5 s")
        .expect("channel open")
}

#[tokio::test]
async fn release_to_zero_drops_the_object_exactly_once() {
    let (server, mut drops) = probe_server().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let root = client.open("probe", ()).await.expect("open");
    let fresh = root
        .call("fresh", ("x",))
        .await
        .expect("fresh")
        .into_proxy()
        .expect("object");
    let clone = fresh.clone();
    drop(fresh);
    client.ping().await.expect("ping");
    assert!(drops.try_recv().is_err(), "a clone still holds it");
    drop(clone);
    // The release rides on the next request; no round trip of its own.
    client.ping().await.expect("ping");
    assert_eq!(next_drop(&mut drops).await, "x");
    client.ping().await.expect("ping");
    assert!(drops.try_recv().is_err(), "dropped once, not twice");
    assert_eq!(
        client.stats().await.expect("stats").handles,
        1,
        "only the root is left"
    );
}

#[tokio::test]
async fn the_same_object_twice_is_one_handle_with_count_two() {
    let (server, mut drops) = probe_server().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let root = client.open("probe", ()).await.expect("open");
    let a = root
        .call("kept", ("k",))
        .await
        .expect("kept")
        .into_proxy()
        .expect("object");
    let b = root
        .call("kept", ("k",))
        .await
        .expect("kept")
        .into_proxy()
        .expect("object");
    assert_eq!(a.id(), b.id());
    assert_eq!(
        client.stats().await.expect("stats").handles,
        2,
        "root and k"
    );
    drop(a);
    assert_eq!(b.get_as::<String>("name").await.expect("still held"), "k");
    drop(b);
    assert_eq!(
        client.stats().await.expect("stats").handles,
        1,
        "k released"
    );
    // The root still keeps `k` alive: a released handle is not a dropped object.
    assert!(drops.try_recv().is_err());
    let again = root
        .call("kept", ("k",))
        .await
        .expect("kept")
        .into_proxy()
        .expect("object");
    assert_eq!(again.get_as::<String>("name").await.expect("get"), "k");
}

#[tokio::test]
async fn closing_the_connection_releases_everything() {
    let (server, mut drops) = probe_server().await;
    // A raw client never sends a release: whatever it holds is freed by the close alone.
    let mut raw = RawClient::connect(server.local_addr())
        .await
        .expect("connect");
    raw.hello().await.expect("hello");
    let root = raw.open(1, "probe", Args::new()).await;
    let calls = [("fresh", "a"), ("fresh", "b"), ("kept", "k"), ("kept", "k")];
    for (i, (method, name)) in calls.into_iter().enumerate() {
        let reply = raw
            .call(
                2 + i as u64,
                Op::Run {
                    handle: root.id,
                    name: Some(method.into()),
                    args: Args::positional(vec![Value::Str(name.into())]),
                },
            )
            .await
            .expect("run");
        assert!(matches!(reply, Ok(Reply::Object(_))), "{reply:?}");
    }
    let observer = Client::connect(server.local_addr()).await.expect("connect");
    assert_eq!(
        observer.stats().await.expect("stats").handles,
        4,
        "root, a, b, k (count 2)"
    );
    drop(raw);
    let mut names = Vec::new();
    for _ in 0..4 {
        names.push(next_drop(&mut drops).await);
    }
    names.sort();
    assert_eq!(names, ["a", "b", "k", "root"]);
    assert_eq!(observer.stats().await.expect("stats").handles, 0);
    assert!(
        drops.try_recv().is_err(),
        "each object dropped exactly once"
    );
}

#[tokio::test]
async fn replies_racing_a_timeout_never_leak_handles() {
    let (server, mut drops) = probe_server().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let root = client.open("probe", ()).await.expect("open");
    let hasty = root.with_timeout(Duration::from_millis(40));
    // Calls that finish around their deadline: some replies arrive in time, some after the
    // client stopped waiting, some never (the server stopped the work). None may leak.
    let (mut answered, mut timed_out) = (0, 0);
    for i in 0..40u64 {
        match hasty
            .call("slow_fresh", (30 + i % 20, format!("p{i}")))
            .await
        {
            Ok(object) => {
                answered += 1;
                drop(object);
            }
            Err(e) => {
                assert!(matches!(e, rpc_client::CallError::Timeout { .. }), "{e}");
                timed_out += 1;
            }
        }
    }
    assert_eq!(answered + timed_out, 40);
    // Whatever the split, once the late replies are in and released, only the root is held.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let handles = client.stats().await.expect("stats").handles;
        if handles == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{handles} handles held"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Every probe that was built has been dropped; the root goes with the connection.
    drop((root, hasty, client));
    let mut dropped = 0;
    while let Ok(Some(name)) = tokio::time::timeout(Duration::from_secs(2), drops.recv()).await {
        dropped += 1;
        if name == "root" {
            break;
        }
    }
    assert!(
        dropped > answered,
        "{dropped} drops for {answered} answered calls"
    );
}
