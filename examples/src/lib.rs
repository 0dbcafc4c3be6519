//! Types shared by the runnable examples and the integration tests.
//!
//! [`Counter`] is the `#[remote]` type the `server` example serves as the per-session root
//! `counter`: fields of each kind, sync and async methods, a method returning a child object,
//! one returning an error and one that panics. [`demo_server`] builds that server, so the
//! examples and the tests exercise exactly the same thing.

pub mod counter;

pub use counter::{Counter, CounterError, demo_server};
