//! `rpc`: inspect and drive the objects of an rpc server. See the `rpc_cli` library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    rpc_cli::run(rpc_cli::Cli::parse())
}
