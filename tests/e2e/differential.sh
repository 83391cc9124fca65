#!/usr/bin/env bash
# Differential PromQL test: starts Debian's Prometheus 2.42 (remote-write receiver on, no
# scrape jobs) and Strata, each on a loopback port with a fresh data directory, then runs
# `strata-differential`, which remote-writes the same generated data into both, runs every
# query of tests/differential/queries.txt on both and compares the answers. It prints every
# mismatch and ends with `N passed, M failed`; the script's status is that of the comparison.
# Both servers are stopped by PID on exit.
#
# `@` and negative offsets need no feature flag: they are on by default since 2.33.
#
# Usage: tests/e2e/differential.sh [path/to/strata] [extra strata-differential args...]
#        (default strata: target/debug/strata)
# Env:   PROMETHEUS (default: prometheus on PATH), DIFFERENTIAL (default: builds and uses
#        target/debug/strata-differential), DIFF_ONLY_PROMETHEUS=1 checks the query list
#        against Prometheus alone, DIFF_PEER=prometheus runs a second Prometheus in Strata's
#        place (a self-check of the harness: everything must pass), DIFF_LATE=1 delivers a
#        quarter of the samples up to 20 minutes late, with a 30-minute out-of-order window
#        on both servers (Prometheus's storage.tsdb.out_of_order_time_window).
set -euo pipefail

cd "$(dirname "$0")/../.."
STRATA=${1:-target/debug/strata}
shift || true
PROMETHEUS=${PROMETHEUS:-$(command -v prometheus || true)}

. tests/e2e/lib.sh
E2E_FAIL_STATUS=2
E2E_LOGS_FROM_STATUS=2
e2e_setup differential

[ -n "$PROMETHEUS" ] || fail "prometheus not installed (apt-get install prometheus)"
if [ "${DIFF_ONLY_PROMETHEUS:-0}" != 1 ] && [ "${DIFF_PEER:-strata}" = strata ]; then
  [ -x "$STRATA" ] || fail "strata binary not found at $STRATA (cargo build -p strata-server --bin strata)"
fi
if [ -z "${DIFFERENTIAL:-}" ]; then
  cargo build -q -p strata-tests --bin strata-differential
  DIFFERENTIAL=target/debug/strata-differential
fi
[ -x "$DIFFERENTIAL" ] || fail "strata-differential not found at $DIFFERENTIAL"

e2e_on_failure() {
  echo "--- strata stderr (tail)" >&2; tail -n 30 "$tmp/strata/strata.err" >&2 2>/dev/null || true
  echo "--- prometheus log (tail)" >&2; tail -n 30 "$tmp/prom/prometheus.log" >&2 2>/dev/null || true
}

# A Prometheus with no scrape jobs, only the remote-write receiver and the query API, in
# directory $1; sets started_pid and started_url.
start_receiver() {
  mkdir -p "$1"
  printf 'global:\n  scrape_interval: 15s\n  evaluation_interval: 1m\n' >"$1/prometheus.yml"
  if [ "${DIFF_LATE:-0}" = 1 ]; then
    printf 'storage:\n  tsdb:\n    out_of_order_time_window: 30m\n' >>"$1/prometheus.yml"
  fi
  start_prometheus "$1" "" --web.enable-remote-write-receiver --query.lookback-delta=5m
}

start_receiver "$tmp/prom"
prom_pid=$started_pid
prom=$started_url
log "prometheus $("$PROMETHEUS" --version 2>&1 | head -n 1 | awk '{print $3}') on $prom (pid $prom_pid)"

args=(--prometheus "$prom")
strata_args=()
if [ "${DIFF_LATE:-0}" = 1 ]; then
  args+=(--late)
  strata_args+=(--out-of-order-window 30m)
fi
if [ "${DIFF_ONLY_PROMETHEUS:-0}" = 1 ]; then
  :
elif [ "${DIFF_PEER:-strata}" = prometheus ]; then
  # Self-check of the harness: a second Prometheus in Strata's place must agree on everything.
  start_receiver "$tmp/peer"
  strata_pid=$started_pid
  log "peer prometheus on $started_url (pid $strata_pid) in place of strata"
  args+=(--strata "$started_url")
else
  # --- Strata on a free port (it prints the address it bound).
  start_strata "$tmp/strata" "${strata_args[@]}"
  strata_pid=$started_pid
  strata_addr=$started_addr
  log "strata on http://$strata_addr (pid $strata_pid)"
  args+=(--strata "http://$strata_addr")
fi

# strata-differential waits for both to be ready, writes, queries and compares.
rc=0
"$DIFFERENTIAL" "${args[@]}" "$@" || rc=$?
exit "$rc"
