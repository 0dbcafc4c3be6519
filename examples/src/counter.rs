//! [`Counter`]: a remote type that shows every kind of member.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rpc_server::{
    Allowlist, BuildError, CallError, Dict, List, Proxy, Remote, Server, ServerConfig, remote,
};

/// Why [`Counter::checked_div`] failed.
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    /// Division by zero was asked for.
    #[error("cannot divide {value} by zero")]
    DivideByZero {
        /// The counter's value at the time.
        value: i64,
    },
    /// A value did not parse.
    #[error("could not parse the step")]
    BadStep(#[source] std::num::ParseIntError),
}

/// A counter that lives on the server.
#[remote]
#[derive(Debug)]
pub struct Counter {
    /// The current value.
    pub value: i64,
    /// A free-form note; delete it to clear it.
    pub note: Option<String>,
    /// How many method calls changed the value.
    #[remote(readonly)]
    pub changes: u64,
    /// Kept on the server only: never visible remotely.
    children: HashMap<String, Remote<Counter>>,
    /// Counts drops of every `Counter`, so tests can see objects die.
    drops: Option<Arc<AtomicUsize>>,
}

impl Drop for Counter {
    fn drop(&mut self) {
        if let Some(drops) = &self.drops {
            drops.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Counter {
    /// A counter starting at `value` that counts its drops in `drops`.
    pub fn with_drop_counter(value: i64, drops: Arc<AtomicUsize>) -> Self {
        Counter {
            value,
            note: None,
            changes: 0,
            children: HashMap::new(),
            drops: Some(drops),
        }
    }
}

#[remote]
impl Counter {
    /// Builds a counter from `open("counter", (start,))`; `start` defaults to 0.
    #[remote(constructor)]
    pub fn new(start: Option<i64>) -> Self {
        Counter {
            value: start.unwrap_or(0),
            note: None,
            changes: 0,
            children: HashMap::new(),
            drops: None,
        }
    }

    /// Adds `n` and returns the new value.
    pub fn add(&mut self, n: i64) -> i64 {
        self.value += n;
        self.changes += 1;
        self.value
    }

    /// Adds `n` to the value `times` times (default once) and returns the new value.
    pub fn add_many(&mut self, n: i64, times: Option<u32>) -> i64 {
        for _ in 0..times.unwrap_or(1) {
            self.add(n);
        }
        self.value
    }

    /// Returns the value after sleeping `millis` milliseconds without blocking the server.
    pub async fn slow_value(&self, millis: u64) -> i64 {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        self.value
    }

    /// The child counter called `name`, created at 0 on first use. Asking twice returns the
    /// same object (the same handle).
    pub fn child(&mut self, name: String) -> Remote<Counter> {
        let drops = self.drops.clone();
        self.children
            .entry(name)
            .or_insert_with(|| {
                let mut child = Counter::new(None);
                child.drops = drops;
                Remote::new(child)
            })
            .clone()
    }

    /// Adds the value of `other` (a counter of the same session) to this one.
    pub async fn absorb(&mut self, other: Remote<Counter>) -> i64 {
        let taken = other.read().await.value;
        self.add(taken)
    }

    /// Divides the value by `by`; dividing by zero raises `CounterError::DivideByZero`.
    pub fn checked_div(&mut self, by: i64) -> Result<i64, CounterError> {
        if by == 0 {
            return Err(CounterError::DivideByZero { value: self.value });
        }
        self.value /= by;
        self.changes += 1;
        Ok(self.value)
    }

    /// Parses `step` and adds it; a bad step raises an error with its cause.
    pub fn add_parsed(&mut self, step: String) -> Result<i64, CounterError> {
        let n = step.parse::<i64>().map_err(CounterError::BadStep)?;
        Ok(self.add(n))
    }

    /// Panics, on purpose: shows how a server panic reaches the client.
    pub fn explode(&self) -> i64 {
        let limit = self.value;
        panic!("counter exploded at value {limit}");
    }

    /// Sums 0..n on the blocking pool (a CPU-bound method that must not stall the runtime).
    #[remote(blocking)]
    pub fn crunch(&self, n: u64) -> u64 {
        (0..n).sum()
    }

    /// The values from the current one down to zero, as a stream read while it arrives.
    pub fn countdown(&self) -> impl Iterator<Item = i64> + Send + 'static {
        let from = self.value.max(0);
        (0..=from).rev()
    }

    /// Items of a small summary, as a list of (name, value) tuples.
    pub fn summary(&self) -> Vec<(String, i64)> {
        vec![
            ("value".to_owned(), self.value),
            ("changes".to_owned(), self.changes as i64),
        ]
    }

    /// Calls the client's `observer(i, n)` for `i` in `1..=n` (`n` at most 1,000), one
    /// after another, as a progress callback; returns how many calls it made.
    pub async fn count_to(&self, n: u64, observer: Proxy) -> Result<u64, CallError> {
        let n = n.min(1_000);
        for i in 1..=n {
            observer.invoke((i, n)).await?;
        }
        Ok(n)
    }
}

/// The server the `server` example runs: per-session roots `dict` (the built-in [`Dict`]),
/// `list` (the built-in [`List`]) and `counter` ([`Counter`]).
///
/// # Errors
/// Never for these fixed roots; the `Result` is the builder's.
pub fn demo_server(allowlist: Allowlist, config: ServerConfig) -> Result<Server, BuildError> {
    Server::builder()
        .root::<Dict>("dict")
        .root::<List>("list")
        .root::<Counter>("counter")
        .allowlist(allowlist)
        .config(config)
        .build()
}
