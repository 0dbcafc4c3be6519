//! Benchmark of the remote-object framework against a bare tarpc 0.38 service with the same
//! methods, side by side in one run. The `bench` binary (`src/main.rs`) drives it; see
//! `docs/PERFORMANCE.md`.
//!
//! - `bench_obj`: the `#[remote]` types our server hosts ([`Bench`](bench_obj::Bench), ...)
//!   and the subscriber a client hosts.
//! - `both_ways`: the measures of objects in both directions (P9-P11), ours alone.
//! - `bare`: the bare tarpc service and its README-pattern server.
//! - `servers`: starting either server in a child process or in this process.
//! - `conn`: one client connection of either system and the calls both answer.
//! - `measure`: the measurements.
//! - `report`: the table and the JSON.
//! - `sys`: `/proc` readers, the descriptor limit, the date.

pub mod bare;
pub mod bench_obj;
pub mod both_ways;
pub mod conn;
pub mod measure;
pub mod report;
pub mod servers;
pub mod sys;

use std::fmt;

/// The two systems compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum System {
    /// This workspace's framework (`rpc-server` + `rpc-client`).
    Ours,
    /// A bare tarpc service.
    Tarpc,
}

impl System {
    /// Both, ours first.
    pub const BOTH: [System; 2] = [System::Ours, System::Tarpc];

    /// The command-line spelling.
    pub fn arg(self) -> &'static str {
        match self {
            System::Ours => "ours",
            System::Tarpc => "tarpc",
        }
    }

    /// Parses the command-line spelling.
    pub fn parse(text: &str) -> Option<System> {
        match text {
            "ours" => Some(System::Ours),
            "tarpc" => Some(System::Tarpc),
            _ => None,
        }
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            System::Ours => "ours",
            System::Tarpc => "bare tarpc",
        })
    }
}

/// A tokio runtime flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `new_current_thread`.
    Current,
    /// `new_multi_thread` (one worker per CPU).
    Multi,
}

impl Flavor {
    /// The command-line spelling.
    pub fn arg(self) -> &'static str {
        match self {
            Flavor::Current => "current",
            Flavor::Multi => "multi",
        }
    }

    /// Parses the command-line spelling.
    pub fn parse(text: &str) -> Option<Flavor> {
        match text {
            "current" => Some(Flavor::Current),
            "multi" => Some(Flavor::Multi),
            _ => None,
        }
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Flavor::Current => "current_thread",
            Flavor::Multi => "multi_thread",
        })
    }
}
