#!/usr/bin/env bash
# Short fuzz smoke run for CI: every target for a few seconds. Long runs are done by hand:
#   RUSTC_BOOTSTRAP=1 cargo fuzz run <target>
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-10}
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --quiet
fi
for t in $(RUSTC_BOOTSTRAP=1 cargo fuzz list); do
  echo "fuzz smoke: $t (${secs}s)"
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" -- -max_total_time="$secs" -rss_limit_mb=2048 2>&1 | tail -3
done
