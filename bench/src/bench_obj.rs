//! [`Bench`]: the `#[remote]` type our framework serves as the per-session root `bench`.

use rpc_server::{Remote, remote};

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
}
