#!/usr/bin/env bash
# Instructions per call, ours (`RUN add` through a proxy) against bare tarpc's `add`, counted
# with valgrind's callgrind: client and server in one process, one current-thread runtime,
# loopback TCP (`bench --callgrind SYSTEM --calls N`). Then P9: instructions per call from the
# server to a closure of the client (`bench --callgrind callback --calls N`: one call whose
# method makes N callbacks) against ours forward.
#
# Start-up and shutdown cancel out by taking two runs per system:
#   instructions per call = (Ir(N2) - Ir(N1)) / (N2 - N1)
# Ir is the total from the callgrind output file (all threads, user space only), so it is
# repeatable to about 0.01 %, unlike times on a shared VM.
#
# Usage: scripts/callgrind.sh [N1 N2]       (default 2000 12000)
# Env:   CARGO_TARGET_DIR (default ./target), CALLGRIND_TIMEOUT seconds per run (default 240)
set -euo pipefail
cd "$(dirname "$0")/.."

n1=${1:-2000}
n2=${2:-12000}
limit=${CALLGRIND_TIMEOUT:-240}
if ! [[ "$n1" =~ ^[0-9]+$ && "$n2" =~ ^[0-9]+$ ]] || (( n2 <= n1 )); then
  echo "usage: $0 [N1 N2] with whole numbers N2 > N1" >&2
  exit 2
fi
if ! command -v valgrind >/dev/null 2>&1; then
  echo "valgrind is not installed; on Debian/Ubuntu: apt-get install valgrind" >&2
  exit 1
fi

echo "building the bench binary (release)..." >&2
cargo build --release -p rpc-bench >&2
bin="${CARGO_TARGET_DIR:-target}/release/bench"
[ -x "$bin" ] || { echo "no binary at $bin" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Total Ir of one run: the `summary:` line (or `totals:` in older valgrinds).
total_ir() {
  local out="$tmp/cg.$1.$2"
  if ! timeout "$limit" valgrind --tool=callgrind --callgrind-out-file="$out" \
      "$bin" --callgrind "$1" --calls "$2" >"$tmp/log.$1.$2" 2>&1; then
    echo "callgrind run '$1 $2' failed or took over ${limit}s; its log:" >&2
    tail -n 20 "$tmp/log.$1.$2" >&2
    exit 1
  fi
  local ir
  ir=$(awk '/^summary:/ {print $2; found=1; exit} /^totals:/ {t=$2} END {if (!found && t) print t}' "$out")
  [ -n "$ir" ] || { echo "no summary/totals line in $out" >&2; exit 1; }
  echo "$ir"
}

declare -A per_call ir_lo ir_hi
for sys in ours tarpc callback; do
  echo "callgrind: $sys, $n1 and $n2 calls..." >&2
  ir_lo[$sys]=$(total_ir "$sys" "$n1")
  ir_hi[$sys]=$(total_ir "$sys" "$n2")
  per_call[$sys]=$(( (ir_hi[$sys] - ir_lo[$sys]) / (n2 - n1) ))
done

valgrind_version=$(valgrind --version)
echo
echo "instructions per add call, client + server in one process ($(date -u '+%Y-%m-%d %H:%M UTC'), $valgrind_version)"
printf '%-28s | %15s | %15s | %12s\n' "system" "Ir($n1)" "Ir($n2)" "Ir / call"
printf '%-28s-|-%15s-|-%15s-|-%12s\n' "----------------------------" "---------------" "---------------" "------------"
printf '%-28s | %15s | %15s | %12s\n' "ours (RUN add via proxy)" "${ir_lo[ours]}" "${ir_hi[ours]}" "${per_call[ours]}"
printf '%-28s | %15s | %15s | %12s\n' "bare tarpc add" "${ir_lo[tarpc]}" "${ir_hi[tarpc]}" "${per_call[tarpc]}"
ratio=$(awk -v a="${per_call[ours]}" -v b="${per_call[tarpc]}" 'BEGIN {printf "%.3f", a / b}')
echo
echo "ratio ours / bare tarpc: ${ratio} (lower is better; P1 goal <= 1.15, stretch <= 1.0)"
# The verdict uses the exact ratio, not the rounded one printed above.
if awk -v a="${per_call[ours]}" -v b="${per_call[tarpc]}" 'BEGIN {exit !(a <= 1.15 * b)}'; then
  echo "P1: met"
else
  echo "P1: NOT met"
fi
echo
printf '%-28s | %15s | %15s | %12s\n' "ours callback (server->client)" "${ir_lo[callback]}" "${ir_hi[callback]}" "${per_call[callback]}"
p9=$(awk -v a="${per_call[callback]}" -v b="${per_call[ours]}" 'BEGIN {printf "%.3f", a / b}')
echo "ratio callback / forward add: ${p9} (P9 goal <= 1.2)"
