//! The `#[remote]` types our framework serves: [`Bench`], the per-session root `bench`;
//! [`Rows`], a list copied by ALL; and [`Hub`], the shared root `hub` that broadcasts to
//! subscribed client objects.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::Stream;
use futures::future::join_all;
use rpc_server::{CallError, Proxy, Remote, remote};

/// The object every benchmark call of our framework goes to.
#[remote]
#[derive(Debug)]
pub struct Bench {
    /// An `i64` field: GET and SET measure field access.
    pub value: i64,
}

#[remote]
impl Bench {
    /// Builds the per-session root from `open("bench", ())`; `start` defaults to 42.
    #[remote(constructor)]
    pub fn new(start: Option<i64>) -> Self {
        Bench {
            value: start.unwrap_or(42),
        }
    }

    /// `a + b` (wrapping, so no input can panic).
    pub fn add(&self, a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }

    /// Returns `s` unchanged.
    pub fn echo(&self, s: String) -> String {
        s
    }

    /// A fresh object, handed to the client as a new handle (handle churn, memory per handle).
    pub fn child(&self) -> Remote<Bench> {
        Remote::new(Bench { value: self.value })
    }

    /// Calls the client's `target(i, 1)` for `i` in `0..n`, one after another (server-to-client
    /// calls, P9); returns the sum of the answers.
    pub async fn call_back(&self, target: Proxy, n: u64) -> Result<i64, CallError> {
        let mut sum = 0i64;
        for i in 0..n {
            let answer: i64 = target.invoke_as((i as i64, 1i64)).await?;
            sum = sum.wrapping_add(answer);
        }
        Ok(sum)
    }

    /// Item `i` of the sequence `items` streams: one call per item (P10's baseline).
    pub fn item(&self, i: i64) -> i64 {
        i
    }

    /// `0..n` as a stream (P10).
    pub fn items(&self, n: i64) -> impl Stream<Item = i64> + Send + 'static {
        futures::stream::iter(0..n.max(0))
    }

    /// The same items as [`Bench::items`], in an object copied by ALL (P10's other baseline).
    pub fn rows(&self, n: i64) -> Remote<Rows> {
        Remote::new(Rows {
            items: (0..n.max(0)).collect(),
        })
    }
}

/// A list of items, copied whole by ALL.
#[remote]
#[derive(Debug)]
pub struct Rows {
    /// The items.
    pub items: Vec<i64>,
}

#[remote]
impl Rows {}

/// The subscribers of a [`Hub`]: client objects with a `take(seq)` method.
type Subscribers = Arc<Mutex<Vec<Proxy>>>;

/// The shared root `hub`: client objects subscribe, a broadcast calls all of them at once (P11).
#[remote]
#[derive(Debug, Default)]
pub struct Hub {
    subscribers: Subscribers,
}

#[remote]
impl Hub {
    /// Adds `member` (an object with `take(seq: u64)`); returns the number of subscribers.
    pub fn subscribe(&self, member: Proxy) -> u64 {
        let mut subscribers = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        subscribers.push(member);
        subscribers.len() as u64
    }

    /// Calls `take(seq)` on every subscriber at once, each call with a timeout of
    /// `per_subscriber_ms`; answers `(delivered, late, failed, slowest_delivered_us, total_us)`,
    /// where `slowest_delivered_us` is the latest answer among those in time.
    pub async fn broadcast(&self, seq: u64, per_subscriber_ms: u64) -> (u64, u64, u64, u64, u64) {
        let subscribers: Vec<Proxy> = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let timeout = Duration::from_millis(per_subscriber_ms.max(1));
        let started = Instant::now();
        let calls = subscribers.iter().map(|member| {
            let member = member.with_timeout(timeout);
            async move {
                let outcome = member.call("take", (seq,)).await;
                (outcome, started.elapsed())
            }
        });
        let outcomes = join_all(calls).await;
        let total = started.elapsed();
        let (mut delivered, mut late, mut failed, mut slowest) = (0, 0, 0, Duration::ZERO);
        for (outcome, at) in outcomes {
            match outcome {
                Ok(_) => {
                    delivered += 1;
                    slowest = slowest.max(at);
                }
                Err(CallError::Timeout { .. }) => late += 1,
                Err(_) => failed += 1,
            }
        }
        (
            delivered,
            late,
            failed,
            slowest.as_micros() as u64,
            total.as_micros() as u64,
        )
    }
}

/// A subscriber living on a benchmark client.
#[rpc_client::remote]
#[derive(Debug, Default)]
pub struct Listener {
    /// The last sequence number taken.
    pub last: u64,
    /// How long taking one message takes (0 for a fast subscriber).
    pub delay_ms: u64,
}

#[rpc_client::remote]
impl Listener {
    /// Takes message `seq`.
    pub async fn take(&mut self, seq: u64) {
        if self.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.delay_ms)).await;
        }
        self.last = seq;
    }
}
