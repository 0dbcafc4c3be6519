//! Events: a chat room on the server, subscribers on the clients.
//!
//! Run it:
//!
//! ```text
//! cargo run --release --example chat
//! ```
//!
//! One process runs a server with a shared root `room` and three clients. Each client
//! subscribes a `Member` object of its own (a `#[remote]` type living on the client) and
//! keeps the `Subscription` the room hands back. The room broadcasts every message to all
//! subscribers at once, each call with its own short timeout, so one slow subscriber
//! (`carol`, who takes seconds to read) delays nobody: the others have the message at once and
//! the broadcast reports `carol` as late. Unsubscribing is dropping the subscription: `bob`
//! drops his, the server releases it and stops calling him. When `alice` leaves, her
//! connection closes and the server releases all her session held, so she is unsubscribed
//! too; a subscriber whose connection dies without a word is removed by the next broadcast
//! that finds it gone. It exits 0.

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::join_all;
use rpc_client::{CallError, Client, Proxy};
use rpc_server::{Remote, Server};
use tokio::net::TcpListener;

/// How long the room waits for one subscriber to take one message.
const PER_SUBSCRIBER: Duration = Duration::from_millis(300);

type Listeners = Arc<Mutex<BTreeMap<u64, (String, Proxy)>>>;

/// The chat room: shared by every session.
#[rpc_server::remote]
#[derive(Debug, Default)]
pub struct Room {
    listeners: Listeners,
    next: u64,
}

/// What `subscribe` hands back: dropping it (on the client) unsubscribes.
#[rpc_server::remote]
#[derive(Debug)]
pub struct Subscription {
    /// The subscriber's name.
    pub name: String,
    id: u64,
    listeners: Listeners,
}

#[rpc_server::remote]
impl Subscription {}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        listeners.remove(&self.id);
    }
}

#[rpc_server::remote]
impl Room {
    /// Calls `member.heard(from, text)` for every message until the subscription is dropped.
    pub fn subscribe(&mut self, name: String, member: Proxy) -> Remote<Subscription> {
        self.next += 1;
        let id = self.next;
        let listeners = Arc::clone(&self.listeners);
        listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, (name.clone(), member));
        Remote::new(Subscription {
            name,
            id,
            listeners,
        })
    }

    /// Sends `text` to every subscriber at once; returns who had it in time, who was late,
    /// and who is gone (removed).
    pub async fn say(&self, from: String, text: String) -> BTreeMap<String, Vec<String>> {
        let subscribers: Vec<(u64, String, Proxy)> = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, (name, proxy))| (*id, name.clone(), proxy.clone()))
            .collect();
        // Every subscriber is called at once, each with its own timeout.
        let calls = subscribers.iter().map(|(_, _, member)| {
            let member = member.with_timeout(PER_SUBSCRIBER);
            let (from, text) = (&from, &text);
            async move { member.call("heard", (from, text)).await }
        });
        let outcomes = join_all(calls).await;
        let mut report: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for ((id, name, _), outcome) in subscribers.into_iter().zip(outcomes) {
            let bucket = match outcome {
                Ok(_) => "delivered",
                Err(CallError::Timeout { .. }) => "late",
                Err(CallError::Disconnected) => {
                    self.listeners
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&id);
                    "gone"
                }
                Err(_) => "failed",
            };
            report.entry(bucket.to_owned()).or_default().push(name);
        }
        report
    }
}

/// A chat member: lives on its client.
#[rpc_client::remote]
#[derive(Debug, Default)]
pub struct Member {
    /// Messages read so far.
    pub read: Vec<String>,
    /// How long reading one message takes.
    delay_ms: u64,
}

#[rpc_client::remote]
impl Member {
    /// Reads a message.
    pub async fn heard(&mut self, from: String, text: String) {
        tokio::time::sleep(Duration::from_millis(self.delay_ms)).await;
        self.read.push(format!("{from}: {text}"));
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let server = Server::builder()
        .shared("room", Remote::new(Room::default()))
        .build()?
        .spawn(TcpListener::bind("127.0.0.1:0").await?)?;
    let addr = server.local_addr();
    println!("chat server on {addr}");

    let mut people = Vec::new();
    for (name, delay_ms) in [("alice", 0), ("bob", 0), ("carol", 5_000)] {
        let client = Client::connect(addr).await?;
        let room = client.open("room", ()).await?;
        let member = Remote::new(Member {
            read: Vec::new(),
            delay_ms,
        });
        let subscription = room
            .call("subscribe", (name, &member))
            .await?
            .into_proxy()?;
        println!("{name} subscribed ({subscription:?})");
        people.push((name, client, room, member, Some(subscription)));
    }

    let report = people[0].2.call("say", ("alice", "hello, all")).await?;
    println!("say 'hello, all'    -> {report}");

    // Bob unsubscribes by dropping his subscription.
    let bob = &mut people[1];
    bob.4 = None;
    // A round trip from Bob carries his release to the server.
    bob.1.ping().await?;
    let report = people[2].2.call("say", ("carol", "bob left?")).await?;
    println!("say 'bob left?'     -> {report}");

    // Alice leaves: her connection closes, and with it everything the server held for her
    // session, her subscription included. (A connection that dies without a word is found
    // by the next broadcast and reported as gone.)
    let (_, alice_client, alice_room, alice_member, alice_sub) = people.remove(0);
    let alice_read = alice_member.read().await.read.clone();
    drop((alice_sub, alice_room, alice_client));
    // The server sees the close a moment later; until then Alice may still hear.
    let carol_room = people[1].2.clone();
    let mut report = carol_room.call("say", ("carol", "anyone?")).await?;
    for _ in 0..50 {
        if !report.to_string().contains("alice") {
            break;
        }
        report = carol_room.call("say", ("carol", "anyone?")).await?;
    }
    assert!(!report.to_string().contains("alice"), "{report}");
    println!("say 'anyone?'       -> {report}");

    println!("alice read {alice_read:?}");
    for (name, _, _, member, _) in &people {
        println!("{name} read {:?}", member.read().await.read);
    }
    let bob_read = people[0].3.read().await.read.clone();
    assert_eq!(
        bob_read,
        ["alice: hello, all"],
        "bob stopped hearing once unsubscribed"
    );
    assert_eq!(alice_read[..2], ["alice: hello, all", "carol: bob left?"]);
    drop(people);
    server.shutdown().await?;
    Ok(())
}
