#!/usr/bin/env bash
# Builds the `server` example and the `blackbox` harness (release), then attacks the server
# from outside while measuring it from /proc; every argument goes to the harness.
#   scripts/blackbox.sh --quick                  # about a minute, lowered server clocks
#   scripts/blackbox.sh                          # the server's default clocks (several minutes)
#   scripts/blackbox.sh --quick --json out.json  # also write JSON
#   scripts/blackbox.sh --list                   # the attacks
# CARGO_TARGET_DIR is honoured; the server binary is taken from it unless --server-bin is given.
# Exit status: the harness's (1 when any attack's verdict is FAIL).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
cargo build --release --locked --example server -p rpc-examples
cargo build --release --locked -p rpc-tests --bin blackbox
server=()
case " $* " in
  *" --server-bin "*) ;;
  *) server=(--server-bin "$target/release/examples/server") ;;
esac
exec "$target/release/blackbox" "${server[@]}" "$@"
