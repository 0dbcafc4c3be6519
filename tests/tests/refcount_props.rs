//! Property tests of the reference counts in both directions, over a real loopback connection.
//!
//! A random sequence of steps drives one client against one server: the client obtains server
//! objects (new ones, or the same object again, which bumps a count), clones and drops its
//! proxies, creates objects of its own and passes them (one or two, the same or different) to
//! server methods that keep them or only use them, the server drops kept proxies, the client
//! drops the owning handles of its exports, and pings. A plain model follows along; at every
//! `Check` step and at the end the real state must match it:
//!
//! - the server's live handle count (`stats`) equals the model's: the root plus one per
//!   distinct server object the client holds a proxy to;
//! - [`Client::exports_held`] equals the number of distinct client objects the server keeps;
//! - every live object is counted by the drop counters of the test types, on both ends, and
//!   nothing else is: no object is freed while a proxy to it is held (a call through every
//!   held proxy, both ways, succeeds) and none outlives its last holder;
//! - handle ids: the same object while held is the same id; an object obtained again after
//!   its last proxy was dropped gets a new, larger id (ids are never reused).
//!
//! After everything is dropped, both tables are empty. After a disconnect (the client leaving,
//! or the server shutting down), every server object of the session is dropped and the
//! client's exports are released, while the client objects it still owns live on.
//!
//! Waits are round trips (`stats`, `ping`) or the drop counters' own change notifications,
//! each bounded in time; there are no sleeps.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use rpc_client::{CallError, Callback, Client, HandleId, Proxy, Remote, remote};
use rpc_server::{RunningServer, Server};
use serde::{Serialize, Serializer};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The longest any one case may take before it counts as hung.
const CASE_LIMIT: Duration = Duration::from_secs(20);

/// How long a wait for the effects of a disconnect may take.
const DISCONNECT_LIMIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Drop counters

/// Counts the live objects of one kind; every change is published, so a test can await a
/// count instead of sleeping.
#[derive(Clone, Debug)]
struct Census(Arc<watch::Sender<usize>>);

impl Census {
    fn new() -> Self {
        Census(Arc::new(watch::channel(0).0))
    }

    /// Counts one more live object, until the returned guard is dropped.
    fn enter(&self) -> Live {
        self.0.send_modify(|n| *n += 1);
        Live(self.clone())
    }

    fn now(&self) -> usize {
        *self.0.borrow()
    }

    /// Waits until the count is `n`, at most `limit`; the count at the end.
    async fn reaches(&self, n: usize, limit: Duration) -> usize {
        let mut changes = self.0.subscribe();
        let _ = tokio::time::timeout(limit, changes.wait_for(|now| *now == n)).await;
        self.now()
    }
}

/// One live object of a [`Census`]: held by the object, dropped with it.
#[derive(Debug)]
struct Live(Census);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.0.send_modify(|n| *n -= 1);
    }
}

/// The drop counters of every kind of object in a case.
#[derive(Clone, Debug)]
struct Censuses {
    /// Server: the per-session root.
    hubs: Census,
    /// Server: nodes made by `fresh`, held only by the session's handle table.
    fresh: Census,
    /// Server: nodes the hub keeps in its pool (alive as long as the hub).
    pooled: Census,
    /// Client: the client's own objects and closures.
    tokens: Census,
}

impl Censuses {
    fn new() -> Self {
        Censuses {
            hubs: Census::new(),
            fresh: Census::new(),
            pooled: Census::new(),
            tokens: Census::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The server's types

/// A server object the client gets proxies to.
#[rpc_server::remote]
#[derive(Debug)]
pub struct Node {
    /// `fresh-N` or `pool-K`.
    pub name: String,
    _live: Live,
}

#[rpc_server::remote]
impl Node {}

/// The per-session root: hands out nodes and keeps the client's objects it is given.
#[rpc_server::remote]
#[derive(Debug)]
pub struct Hub {
    fresh_made: u64,
    pool: HashMap<u32, Remote<Node>>,
    kept: Vec<Proxy>,
    census: Censuses,
    _live: Live,
}

/// What a client object answers: a `Token`'s `tag` field, a closure's return value.
async fn tag_of(object: &Proxy) -> Result<u64, CallError> {
    if object.type_name() == "callback" {
        object.invoke_as((0u64,)).await
    } else {
        object.get_as("tag").await
    }
}

#[rpc_server::remote]
impl Hub {
    /// A new node, held by nobody but the session's handle table.
    pub fn fresh(&mut self) -> Remote<Node> {
        let name = format!("fresh-{}", self.fresh_made);
        self.fresh_made += 1;
        Remote::new(Node {
            name,
            _live: self.census.fresh.enter(),
        })
    }

    /// The pool's node `k`: the same object every time.
    pub fn pooled(&mut self, k: u32) -> Remote<Node> {
        let census = &self.census.pooled;
        self.pool
            .entry(k)
            .or_insert_with(|| {
                Remote::new(Node {
                    name: format!("pool-{k}"),
                    _live: census.enter(),
                })
            })
            .clone()
    }

    /// The node the client passed, returned: the same handle again, one count more.
    pub fn same(&self, node: Remote<Node>) -> Remote<Node> {
        node
    }

    /// Keeps `a`; returns how many client objects are kept.
    pub fn keep1(&mut self, a: Proxy) -> usize {
        self.kept.push(a);
        self.kept.len()
    }

    /// Keeps `a` and `b` (maybe the same object twice), in that order.
    pub fn keep2(&mut self, a: Proxy, b: Proxy) -> usize {
        self.kept.push(a);
        self.kept.push(b);
        self.kept.len()
    }

    /// Uses `a` and keeps nothing.
    pub async fn look1(&self, a: Proxy) -> Result<Vec<u64>, CallError> {
        Ok(vec![tag_of(&a).await?])
    }

    /// Uses `a` and `b` and keeps nothing.
    pub async fn look2(&self, a: Proxy, b: Proxy) -> Result<Vec<u64>, CallError> {
        Ok(vec![tag_of(&a).await?, tag_of(&b).await?])
    }

    /// Drops the `i`-th kept proxy; returns how many are left.
    pub fn unkeep(&mut self, i: usize) -> Result<usize, String> {
        if i >= self.kept.len() {
            return Err(format!("only {} kept", self.kept.len()));
        }
        self.kept.remove(i);
        Ok(self.kept.len())
    }

    /// Drops every kept proxy; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.kept.len();
        self.kept.clear();
        n
    }

    /// Calls through every kept proxy, in order; their answers.
    pub async fn poke_all(&self) -> Result<Vec<u64>, CallError> {
        let mut tags = Vec::with_capacity(self.kept.len());
        for object in &self.kept {
            tags.push(tag_of(object).await?);
        }
        Ok(tags)
    }
}

async fn start(census: &Censuses) -> RunningServer {
    let census = census.clone();
    let server = Server::builder()
        .root_with("hub", move |_args, _cx| {
            Ok(Hub {
                fresh_made: 0,
                pool: HashMap::new(),
                kept: Vec::new(),
                _live: census.hubs.enter(),
                census: census.clone(),
            })
        })
        .build()
        .expect("valid server");
    server
        .spawn(TcpListener::bind("127.0.0.1:0").await.expect("bind"))
        .expect("spawn")
}

// ---------------------------------------------------------------------------------------------
// The client's types

/// A client object the server gets proxies to.
#[remote]
#[derive(Debug)]
pub struct Token {
    /// Its index among the case's client objects.
    pub tag: u64,
    _live: Live,
}

#[remote]
impl Token {}

/// The owning handle of a client object: a `#[remote]` object or a closure.
#[derive(Clone, Debug)]
enum Owner {
    Object(Remote<Token>),
    Closure(Callback),
}

impl Owner {
    fn new(tag: u64, closure: bool, census: &Census) -> Owner {
        let live = census.enter();
        if closure {
            Owner::Closure(Callback::new(move |_: u64| {
                // The closure owns the guard: it is counted while the closure lives.
                let _held = &live;
                tag
            }))
        } else {
            Owner::Object(Remote::new(Token { tag, _live: live }))
        }
    }
}

impl Serialize for Owner {
    /// Exported to the server, as an argument.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Owner::Object(object) => Serialize::serialize(&object, serializer),
            Owner::Closure(closure) => closure.serialize(serializer),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Steps and the model

/// A server object as the model knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Target {
    /// The `n`-th node `fresh` made.
    Fresh(u64),
    /// The pool's node `k`.
    Pooled(u32),
}

impl Target {
    fn name(self) -> String {
        match self {
            Target::Fresh(n) => format!("fresh-{n}"),
            Target::Pooled(k) => format!("pool-{k}"),
        }
    }
}

#[derive(Clone, Debug)]
enum Step {
    /// The client gets a new server object.
    Fresh,
    /// The client gets the pool's object `k` (the same object each time).
    Pooled(u32),
    /// The client passes one of its server proxies and gets the same object back.
    Again(Index),
    /// The client clones one of its proxies.
    CloneProxy(Index),
    /// The client drops one of its proxies.
    DropProxy(Index),
    /// The client makes a new object of its own (a closure or a `#[remote]` object).
    NewToken { closure: bool },
    /// The client passes one or two of its objects (maybe the same twice) to a method that
    /// keeps them or only uses them.
    Pass {
        a: Index,
        b: Option<Index>,
        keep: bool,
    },
    /// The server drops one of the client proxies it keeps.
    Unkeep(Index),
    /// The server drops every client proxy it keeps.
    ClearKept,
    /// The client drops the owning handle of one of its objects.
    DropOwner(Index),
    /// A round trip that carries pending releases.
    Ping,
    /// Every invariant, against the model.
    Check,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Fresh),
        3 => (0..3u32).prop_map(Step::Pooled),
        2 => any::<Index>().prop_map(Step::Again),
        2 => any::<Index>().prop_map(Step::CloneProxy),
        4 => any::<Index>().prop_map(Step::DropProxy),
        2 => any::<bool>().prop_map(|closure| Step::NewToken { closure }),
        5 => (any::<Index>(), proptest::option::of(any::<Index>()), any::<bool>())
            .prop_map(|(a, b, keep)| Step::Pass { a, b, keep }),
        3 => any::<Index>().prop_map(Step::Unkeep),
        1 => Just(Step::ClearKept),
        2 => any::<Index>().prop_map(Step::DropOwner),
        1 => Just(Step::Ping),
        2 => Just(Step::Check),
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(step(), 1..64)
}

/// One case's client, its objects, and the model of what both ends should hold.
struct World {
    census: Censuses,
    client: Client,
    hub: Proxy,
    /// The client's proxies to server objects, and which objects they are.
    proxies: Vec<(Proxy, Target)>,
    /// The id of every server object the client holds a proxy to.
    ids: HashMap<Target, HandleId>,
    /// The largest id seen.
    max_id: u64,
    fresh_made: u64,
    pooled_made: BTreeSet<u32>,
    /// The client's objects by tag; `None` once their owning handle is dropped.
    owners: Vec<Option<Owner>>,
    /// The tags of the client objects the server keeps, in the order it keeps them.
    kept: Vec<usize>,
}

fn fail(what: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(what.to_string())
}

impl World {
    async fn connect(server: &RunningServer, census: &Censuses) -> Result<World, TestCaseError> {
        let client = Client::connect(server.local_addr()).await.map_err(fail)?;
        let hub = client.open("hub", ()).await.map_err(fail)?;
        let max_id = hub.id().0;
        Ok(World {
            census: census.clone(),
            client,
            hub,
            proxies: Vec::new(),
            ids: HashMap::new(),
            max_id,
            fresh_made: 0,
            pooled_made: BTreeSet::new(),
            owners: Vec::new(),
            kept: Vec::new(),
        })
    }

    /// Records a proxy the server just returned for `target`, checking its id.
    fn received(&mut self, proxy: Proxy, target: Target) -> Result<(), TestCaseError> {
        let id = proxy.id();
        match self.ids.get(&target) {
            Some(&held) => prop_assert_eq!(id, held, "{:?} while held keeps its id", target),
            None => {
                prop_assert!(
                    id.0 > self.max_id,
                    "{:?} got id {}, not above every earlier id ({})",
                    target,
                    id.0,
                    self.max_id
                );
                self.ids.insert(target, id);
            }
        }
        self.max_id = self.max_id.max(id.0);
        self.proxies.push((proxy, target));
        Ok(())
    }

    /// The tags of the client objects whose owning handle is still held.
    fn owned(&self) -> Vec<usize> {
        (0..self.owners.len())
            .filter(|&tag| self.owners[tag].is_some())
            .collect()
    }

    async fn apply(&mut self, step: &Step) -> Result<(), TestCaseError> {
        match step {
            Step::Fresh => {
                let proxy = self
                    .hub
                    .call("fresh", ())
                    .await
                    .and_then(|r| r.into_proxy())
                    .map_err(fail)?;
                let target = Target::Fresh(self.fresh_made);
                self.fresh_made += 1;
                self.received(proxy, target)?;
            }
            Step::Pooled(k) => {
                let proxy = self
                    .hub
                    .call("pooled", (*k,))
                    .await
                    .and_then(|r| r.into_proxy())
                    .map_err(fail)?;
                self.pooled_made.insert(*k);
                self.received(proxy, Target::Pooled(*k))?;
            }
            Step::Again(i) => {
                if self.proxies.is_empty() {
                    return Ok(());
                }
                let (source, target) = self.proxies[i.index(self.proxies.len())].clone();
                let proxy = self
                    .hub
                    .call("same", (&source,))
                    .await
                    .and_then(|r| r.into_proxy())
                    .map_err(fail)?;
                self.received(proxy, target)?;
            }
            Step::CloneProxy(i) => {
                if self.proxies.is_empty() {
                    return Ok(());
                }
                let copy = self.proxies[i.index(self.proxies.len())].clone();
                self.proxies.push(copy);
            }
            Step::DropProxy(i) => {
                if self.proxies.is_empty() {
                    return Ok(());
                }
                let (proxy, target) = self.proxies.remove(i.index(self.proxies.len()));
                drop(proxy);
                if !self.proxies.iter().any(|(_, t)| *t == target) {
                    self.ids.remove(&target);
                }
            }
            Step::NewToken { closure } => {
                let tag = self.owners.len();
                self.owners
                    .push(Some(Owner::new(tag as u64, *closure, &self.census.tokens)));
            }
            Step::Pass { a, b, keep } => {
                let owned = self.owned();
                if owned.is_empty() {
                    return Ok(());
                }
                let a = owned[a.index(owned.len())];
                let b = b.map(|b| owned[b.index(owned.len())]);
                let owner = |tag: usize| self.owners[tag].as_ref().expect("owned");
                let result = match (b, keep) {
                    (None, true) => self.hub.call_as::<usize>("keep1", (owner(a),)).await,
                    (Some(b), true) => {
                        self.hub
                            .call_as::<usize>("keep2", (owner(a), owner(b)))
                            .await
                    }
                    (None, false) => self
                        .hub
                        .call_as::<Vec<u64>>("look1", (owner(a),))
                        .await
                        .map(|tags| tags.len()),
                    (Some(b), false) => self
                        .hub
                        .call_as::<Vec<u64>>("look2", (owner(a), owner(b)))
                        .await
                        .map(|tags| tags.len()),
                };
                let answered = result.map_err(fail)?;
                let passed: Vec<usize> = std::iter::once(a).chain(b).collect();
                if *keep {
                    self.kept.extend(&passed);
                    prop_assert_eq!(answered, self.kept.len(), "kept after {:?}", passed);
                } else {
                    prop_assert_eq!(answered, passed.len());
                }
            }
            Step::Unkeep(i) => {
                if self.kept.is_empty() {
                    return Ok(());
                }
                let at = i.index(self.kept.len());
                let left: usize = self.hub.call_as("unkeep", (at,)).await.map_err(fail)?;
                self.kept.remove(at);
                prop_assert_eq!(left, self.kept.len());
            }
            Step::ClearKept => {
                let cleared: usize = self.hub.call_as("clear", ()).await.map_err(fail)?;
                prop_assert_eq!(cleared, self.kept.len());
                self.kept.clear();
            }
            Step::DropOwner(i) => {
                let owned = self.owned();
                if owned.is_empty() {
                    return Ok(());
                }
                self.owners[owned[i.index(owned.len())]] = None;
            }
            Step::Ping => self.client.ping().await.map_err(fail)?,
            Step::Check => self.check().await?,
        }
        Ok(())
    }

    /// Every invariant against the model. The `stats` round trip comes first: it carries the
    /// client's pending releases, and the server's releases of client objects (sent before
    /// the answers of the calls that dropped them) arrive before its answer.
    async fn check(&self) -> Result<(), TestCaseError> {
        let stats = self.client.stats().await.map_err(fail)?;
        let targets: HashSet<Target> = self.proxies.iter().map(|(_, t)| *t).collect();
        prop_assert_eq!(targets.len(), self.ids.len(), "model out of step");
        prop_assert_eq!(
            stats.handles,
            1 + targets.len() as u64,
            "server handles: the root and {:?}",
            targets
        );
        let kept: HashSet<usize> = self.kept.iter().copied().collect();
        prop_assert_eq!(
            self.client.exports_held(),
            kept.len(),
            "client exports the server holds: {:?}",
            self.kept
        );
        // Drop counters: alive exactly while someone holds them.
        let fresh = targets
            .iter()
            .filter(|t| matches!(t, Target::Fresh(_)))
            .count();
        prop_assert_eq!(self.census.fresh.now(), fresh, "fresh nodes alive");
        prop_assert_eq!(
            self.census.pooled.now(),
            self.pooled_made.len(),
            "pool nodes alive"
        );
        prop_assert_eq!(self.census.hubs.now(), 1, "hubs alive");
        let tokens = (0..self.owners.len())
            .filter(|tag| self.owners[*tag].is_some() || kept.contains(tag))
            .count();
        prop_assert_eq!(
            self.census.tokens.now(),
            tokens,
            "client objects alive (owned: {:?}, kept: {:?})",
            self.owned(),
            self.kept
        );
        // Every held proxy works, both ways.
        for (proxy, target) in &self.proxies {
            prop_assert_eq!(Some(&proxy.id()), self.ids.get(target));
            let name: String = proxy.get_as("name").await.map_err(fail)?;
            prop_assert_eq!(name, target.name());
        }
        let tags: Vec<u64> = self.hub.call_as("poke_all", ()).await.map_err(fail)?;
        let expected: Vec<u64> = self.kept.iter().map(|&tag| tag as u64).collect();
        prop_assert_eq!(
            tags,
            expected,
            "the server's calls through its kept proxies"
        );
        Ok(())
    }
}

/// A current-thread runtime would hide races between the client's and the server's tasks;
/// two workers, as on the 2-core VM this runs on.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `case` with a bound on its time.
fn run<F>(case: F) -> Result<(), TestCaseError>
where
    F: std::future::Future<Output = Result<(), TestCaseError>>,
{
    runtime().block_on(rpc_tests::bounded("a case", CASE_LIMIT, case))
}

// ---------------------------------------------------------------------------------------------
// The properties

async fn counts_case(steps: Vec<Step>, every_step: bool) -> Result<(), TestCaseError> {
    let census = Censuses::new();
    let server = start(&census).await;
    let mut world = World::connect(&server, &census).await?;
    for step in &steps {
        world.apply(step).await?;
        // Checking only at `Check` steps lets releases pile up and cross later requests;
        // checking after every step pins down which step broke an invariant.
        if every_step {
            world.check().await?;
        }
    }
    world.check().await?;

    // Drop everything but the root: only the root is left on the server, nothing on the
    // client.
    world.proxies.clear();
    world.ids.clear();
    let cleared: usize = world.hub.call_as("clear", ()).await.map_err(fail)?;
    prop_assert_eq!(cleared, world.kept.len());
    world.kept.clear();
    world.owners.clear();
    world.check().await?;
    prop_assert_eq!(world.census.tokens.now(), 0);

    // And the root: the session's table is empty, the connection still open.
    let World { client, hub, .. } = world;
    drop(hub);
    let stats = client.stats().await.map_err(fail)?;
    prop_assert_eq!(stats.handles, 0, "the session's table after every release");
    prop_assert_eq!(client.exports_held(), 0);
    prop_assert_eq!(census.hubs.now(), 0, "the root is dropped with its handle");
    prop_assert_eq!(census.pooled.now(), 0, "the pool goes with the root");
    prop_assert_eq!(census.fresh.now(), 0);
    client.ping().await.map_err(fail)?;
    Ok(())
}

async fn disconnect_case(steps: Vec<Step>, server_leaves: bool) -> Result<(), TestCaseError> {
    let census = Censuses::new();
    let server = start(&census).await;
    let addr = server.local_addr();
    let mut world = World::connect(&server, &census).await?;
    for step in &steps {
        world.apply(step).await?;
    }
    world.check().await?;
    let owned = world.owned().len();
    let World {
        client,
        hub,
        proxies,
        owners,
        ..
    } = world;

    // Kept running unless it is the side that leaves.
    let mut running = Some(server);
    if server_leaves {
        let server = running.take().expect("running");
        // The server goes while the client still holds everything.
        server.shutdown().await.map_err(fail)?;
        let limit = tokio::time::Instant::now() + DISCONNECT_LIMIT;
        // Until the client has read the close, a call may still be written; after, every
        // call fails at once with `Disconnected`. Each try is a round trip attempt.
        loop {
            match client.ping().await {
                Ok(()) => {}
                Err(CallError::Disconnected) => break,
                Err(e) => return Err(fail(format!("ping after shutdown: {e}"))),
            }
            prop_assert!(
                tokio::time::Instant::now() < limit,
                "the client never saw the close"
            );
        }
        for (proxy, target) in &proxies {
            let outcome = proxy.get_as::<String>("name").await;
            prop_assert!(
                matches!(outcome, Err(CallError::Disconnected)),
                "{:?} after shutdown: {:?}",
                target,
                outcome
            );
        }
        // The export table is cleared as the connection's reader ends, which the failed
        // ping followed; yield until that task is done, bounded.
        while client.exports_held() != 0 {
            prop_assert!(
                tokio::time::Instant::now() < limit,
                "{} exports held after the close",
                client.exports_held()
            );
            tokio::task::yield_now().await;
        }
        drop((hub, proxies));
    } else {
        // The client goes: every proxy and the client itself, without releasing anything.
        drop((hub, proxies, client));
    }

    // Every server object of the session is dropped with it.
    for (what, alive) in [
        ("hubs", &census.hubs),
        ("fresh nodes", &census.fresh),
        ("pool nodes", &census.pooled),
    ] {
        let left = alive.reaches(0, DISCONNECT_LIMIT).await;
        prop_assert_eq!(left, 0, "{} alive after the disconnect", what);
    }
    if running.is_some() {
        // The table's count is lowered before its objects are dropped; a new session, which
        // holds nothing, sees what is left.
        let observer = Client::connect(addr).await.map_err(fail)?;
        let stats = observer.stats().await.map_err(fail)?;
        prop_assert_eq!(stats.handles, 0, "server handles after the disconnect");
    }
    // The client's exports are released: what only the server held is dropped, what the
    // client still owns lives on and works...
    let left = census.tokens.reaches(owned, DISCONNECT_LIMIT).await;
    prop_assert_eq!(left, owned, "client objects alive after the disconnect");
    for (tag, owner) in owners.iter().enumerate() {
        if let Some(Owner::Object(token)) = owner {
            prop_assert_eq!(token.read().await.tag, tag as u64);
        }
    }
    // ... until the client drops it. (When the client leaves, its export table is cleared
    // as its connection's task ends, a moment after the last proxy is dropped: an owned
    // object the server held may outlive its owning handle by that moment.)
    drop(owners);
    let left = census.tokens.reaches(0, DISCONNECT_LIMIT).await;
    prop_assert_eq!(
        left,
        0,
        "client objects alive after the exports were released"
    );
    drop(running);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Random steps on one connection: both tables, the drop counters and the ids match the
    /// model at every check; after everything is dropped both tables are empty.
    #[test]
    fn counts_in_both_directions_match_a_model(steps in steps(), every_step in any::<bool>()) {
        run(counts_case(steps, every_step))?;
    }

    /// Random steps, then a disconnect from either side: everything the session held is
    /// dropped on the server and every export is released on the client.
    #[test]
    fn a_disconnect_releases_both_tables(steps in steps(), server_leaves in any::<bool>()) {
        run(disconnect_case(steps, server_leaves))?;
    }
}
