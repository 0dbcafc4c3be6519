#!/usr/bin/env bash
# Runs the cargo-fuzz targets for a bounded time each (default 60 s; FUZZ_SECS to change).
#   scripts/fuzz.sh            # every target
#   scripts/fuzz.sh decode     # one target
# cargo-fuzz needs nightly-only compiler flags; on a stable toolchain RUSTC_BOOTSTRAP=1 lets
# the stable compiler accept them. cargo-fuzz itself is installed if missing.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${FUZZ_SECS:-60}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode host session)
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
for target in "${targets[@]}"; do
  echo "== fuzzing $target for ${secs}s"
  mkdir -p "corpus/$target"
  cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$secs" -rss_limit_mb=4096 -timeout=20
done
