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
#        place (a self-check of the harness: everything must pass).
set -euo pipefail

cd "$(dirname "$0")/../.."
STRATA=${1:-target/debug/strata}
shift || true
PROMETHEUS=${PROMETHEUS:-$(command -v prometheus || true)}

fail() { echo "differential: FAIL: $*" >&2; exit 2; }
log() { echo "differential: $*"; }

[ -n "$PROMETHEUS" ] || fail "prometheus not installed (apt-get install prometheus)"
if [ "${DIFF_ONLY_PROMETHEUS:-0}" != 1 ] && [ "${DIFF_PEER:-strata}" = strata ]; then
  [ -x "$STRATA" ] || fail "strata binary not found at $STRATA (cargo build -p strata-server --bin strata)"
fi
if [ -z "${DIFFERENTIAL:-}" ]; then
  cargo build -q -p strata-tests --bin strata-differential
  DIFFERENTIAL=target/debug/strata-differential
fi
[ -x "$DIFFERENTIAL" ] || fail "strata-differential not found at $DIFFERENTIAL"

tmp=$(mktemp -d)
strata_pid=""
prom_pid=""
cleanup() {
  local rc=$?
  for pid in "$prom_pid" "$strata_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for pid in "$prom_pid" "$strata_pid"; do
    if [ -n "$pid" ]; then
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [ "$rc" -ge 2 ]; then
    echo "--- strata stderr (tail)" >&2; tail -n 30 "$tmp/strata.err" >&2 2>/dev/null || true
    echo "--- prometheus log (tail)" >&2; tail -n 30 "$tmp/prom/prometheus.log" >&2 2>/dev/null || true
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT INT TERM

# A loopback port nobody listens on (checked by trying to connect).
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  return 1
}

# Starts a Prometheus with no scrape jobs, only the remote-write receiver and the query API,
# in directory $1; sets started_pid and started_url.
start_prometheus() {
  local dir=$1 port
  port=$(free_port) || fail "no free port"
  mkdir -p "$dir"
  printf 'global:\n  scrape_interval: 15s\n  evaluation_interval: 1m\n' >"$dir/prometheus.yml"
  "$PROMETHEUS" --config.file="$dir/prometheus.yml" \
    --web.listen-address="127.0.0.1:$port" \
    --web.enable-remote-write-receiver \
    --storage.tsdb.path="$dir/data" \
    --query.lookback-delta=5m \
    --log.level=warn >"$dir/prometheus.log" 2>&1 &
  started_pid=$!
  started_url="http://127.0.0.1:$port"
}

start_prometheus "$tmp/prom"
prom_pid=$started_pid
prom=$started_url
log "prometheus $("$PROMETHEUS" --version 2>&1 | head -n 1 | awk '{print $3}') on $prom (pid $prom_pid)"

args=(--prometheus "$prom")
if [ "${DIFF_ONLY_PROMETHEUS:-0}" = 1 ]; then
  :
elif [ "${DIFF_PEER:-strata}" = prometheus ]; then
  # Self-check of the harness: a second Prometheus in Strata's place must agree on everything.
  start_prometheus "$tmp/peer"
  strata_pid=$started_pid
  log "peer prometheus on $started_url (pid $strata_pid) in place of strata"
  args+=(--strata "$started_url")
else
  # --- Strata on a free port (it prints the address it bound).
  "$STRATA" serve --listen 127.0.0.1:0 --data-dir "$tmp/strata" >"$tmp/strata.out" 2>"$tmp/strata.err" &
  strata_pid=$!
  strata_addr=""
  for _ in $(seq 1 300); do
    strata_addr=$(sed -n 's#^listening on http://##p' "$tmp/strata.out" | head -n 1)
    [ -n "$strata_addr" ] && break
    kill -0 "$strata_pid" 2>/dev/null || fail "strata exited during startup"
    sleep 0.1
  done
  [ -n "$strata_addr" ] || fail "strata did not print its address"
  log "strata on http://$strata_addr (pid $strata_pid)"
  args+=(--strata "http://$strata_addr")
fi

# strata-differential waits for both to be ready, writes, queries and compares.
rc=0
"$DIFFERENTIAL" "${args[@]}" "$@" || rc=$?
exit "$rc"
