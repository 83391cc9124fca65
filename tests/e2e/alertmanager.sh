#!/usr/bin/env bash
# End to end with a real Alertmanager: starts Debian's prometheus-alertmanager on a free
# loopback port (clustering off, temporary storage), then runs the strata-rules integration
# test rules/tests/alertmanager.rs against it. That test drives an alerting rule through
# pending -> firing -> resolved, posts through Strata's notifier, and checks through
# Alertmanager's API (GET /api/v2/alerts) that the alert arrives with its labels and
# annotations and that after the resolution it is no longer active. Afterwards this script
# checks Alertmanager's own counters for the firing and the resolved notification.
# Alertmanager is stopped by PID on exit.
#
# Usage: tests/e2e/alertmanager.sh
# Env:   ALERTMANAGER (default: /usr/bin/prometheus-alertmanager, else alertmanager on PATH)
set -euo pipefail

cd "$(dirname "$0")/../.."
ALERTMANAGER=${ALERTMANAGER:-$(command -v prometheus-alertmanager || command -v alertmanager || true)}

fail() { echo "e2e-alertmanager: FAIL: $*" >&2; exit 1; }
log() { echo "e2e-alertmanager: $*"; }

[ -n "$ALERTMANAGER" ] && [ -x "$ALERTMANAGER" ] ||
  fail "alertmanager not installed (apt-get install prometheus-alertmanager)"
command -v curl >/dev/null || fail "curl not installed"

tmp=$(mktemp -d)
am_pid=""
cleanup() {
  local rc=$?
  if [ -n "$am_pid" ] && kill -0 "$am_pid" 2>/dev/null; then
    kill -TERM "$am_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$am_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$am_pid" 2>/dev/null || true
    wait "$am_pid" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ]; then
    echo "--- alertmanager log (tail)" >&2; tail -n 30 "$tmp/alertmanager.log" >&2 || true
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

# Build first so that Alertmanager does not sit idle during compilation.
timeout 1200 cargo test -p strata-rules --test alertmanager --no-run >/dev/null 2>&1 ||
  fail "building the strata-rules alertmanager test failed"

cat >"$tmp/alertmanager.yml" <<'EOF'
route:
  receiver: blackhole
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: blackhole
EOF

port=$(free_port) || fail "no free port"
"$ALERTMANAGER" --config.file="$tmp/alertmanager.yml" \
  --storage.path="$tmp/data" \
  --web.listen-address="127.0.0.1:$port" \
  --cluster.listen-address= \
  --log.level=warn >"$tmp/alertmanager.log" 2>&1 &
am_pid=$!
am="http://127.0.0.1:$port"
for _ in $(seq 1 300); do
  curl -fsS "$am/-/ready" >/dev/null 2>&1 && break
  kill -0 "$am_pid" 2>/dev/null || fail "alertmanager exited during startup"
  sleep 0.1
done
curl -fsS "$am/-/ready" >/dev/null || fail "alertmanager not ready"
log "alertmanager $("$ALERTMANAGER" --version 2>&1 | head -n 1 | awk '{print $3}') on 127.0.0.1:$port (pid $am_pid)"

out="$tmp/test.out"
if ! STRATA_ALERTMANAGER_URL="$am" timeout 600 \
  cargo test -p strata-rules --test alertmanager -- --nocapture >"$out" 2>&1; then
  cat "$out" >&2
  fail "integration test failed"
fi
grep -q '^alertmanager e2e: ok' "$out" || { cat "$out" >&2; fail "integration test did not run against alertmanager"; }
grep '^alertmanager e2e: ok' "$out" | sed 's/^/e2e-alertmanager: /'

# Alertmanager's own counters saw the firing and the resolved notification.
metrics=$(curl -fsS "$am/metrics")
# (0.25 labels them {status=...,version="v2"}; newer versions drop the version label.)
counter() { echo "$metrics" | sed -n "s/^$1{\(.*,\)\{0,1\}$2\(,version=\"v2\"\)\{0,1\}} //p" | head -n 1; }
firing=$(counter alertmanager_alerts_received_total 'status="firing"')
resolved=$(counter alertmanager_alerts_received_total 'status="resolved"')
invalid=$(echo "$metrics" | sed -n 's/^alertmanager_alerts_invalid_total\({version="v2"}\)\{0,1\} //p' | head -n 1)
log "alertmanager received firing=$firing resolved=$resolved invalid=${invalid:-0}"
[ "${firing:-0}" != "0" ] || fail "alertmanager received no firing alert"
[ "${resolved:-0}" != "0" ] || fail "alertmanager received no resolved alert"
[ "${invalid:-0}" = "0" ] || fail "alertmanager rejected $invalid alerts as invalid"
log "PASS"
