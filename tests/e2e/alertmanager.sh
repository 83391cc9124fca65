#!/usr/bin/env bash
# End to end with a real Alertmanager: starts Debian's prometheus-alertmanager on a free
# loopback port (clustering off, temporary storage), then runs the strata-rules integration
# test rules/tests/alertmanager.rs against it. That test drives an alerting rule through
# pending -> firing -> resolved, posts through Strata's notifier, and checks through
# Alertmanager's API (GET /api/v2/alerts) that the alert arrives with its labels and
# annotations and that after the resolution it is no longer active. Afterwards this script
# checks Alertmanager's own counters for the firing and the resolved notification.
# Then the whole path through the server: `strata serve --rules R --alertmanager-url AM`
# evaluates an alerting rule over imported data; the alert must reach Alertmanager with its
# labels and templated annotation, and leave its active list once the data cools down and the
# rule resolves it. Processes are stopped by PID on exit.
#
# Usage: tests/e2e/alertmanager.sh [path/to/strata]   (default: target/debug/strata)
# Env:   ALERTMANAGER (default: /usr/bin/prometheus-alertmanager, else alertmanager on PATH)
set -euo pipefail

cd "$(dirname "$0")/../.."
ALERTMANAGER=${ALERTMANAGER:-$(command -v prometheus-alertmanager || command -v alertmanager || true)}

STRATA=${1:-target/debug/strata}
. tests/e2e/lib.sh
e2e_setup e2e-alertmanager

[ -n "$ALERTMANAGER" ] && [ -x "$ALERTMANAGER" ] ||
  fail "alertmanager not installed (apt-get install prometheus-alertmanager)"
command -v curl >/dev/null || fail "curl not installed"
[ -x "$STRATA" ] || fail "strata binary not found at $STRATA (cargo build -p strata-server --bin strata)"

e2e_on_failure() {
  echo "--- alertmanager log (tail)" >&2; tail -n 30 "$tmp/alertmanager.log" >&2 || true
  echo "--- strata stderr (tail)" >&2; tail -n 30 "$tmp/strata/strata.err" >&2 2>/dev/null || true
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
track "$am_pid"
am="http://127.0.0.1:$port"
wait_ready "$am" "$am_pid" alertmanager
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

# --- The server end to end: rule evaluation -> notifier -> Alertmanager.
mkdir -p "$tmp/strata"
cat >"$tmp/strata/rules.yml" <<'EOF'
groups:
  - name: heat
    interval: 1s
    rules:
      - alert: StrataRoomHot
        expr: room_temperature_celsius > 50
        for: 2s
        labels:
          severity: page
        annotations:
          summary: "room {{ $labels.room }} is at {{ $value }} degrees"
EOF
"$STRATA" check rules "$tmp/strata/rules.yml" >/dev/null || fail "strata check rules rejected the rule file"
start_strata "$tmp/strata" --rules "$tmp/strata/rules.yml" --alertmanager-url "$am"
strata="http://$started_addr"
log "strata on $strata (pid $started_pid)"
import() { # temperature
  curl -fsS -X POST --data-binary "room_temperature_celsius{room=\"lab\"} $1 $(date +%s%3N)" \
    "$strata/api/v1/import/prometheus" >/dev/null || fail "import into strata failed"
}
am_alerts() { curl -fsS "$am/api/v2/alerts?filter=alertname%3D%22StrataRoomHot%22"; }
found=""
for _ in $(seq 1 150); do
  import 80
  if am_alerts | grep '"alertname":"StrataRoomHot"' >/dev/null; then found=1; break; fi
  sleep 0.2
done
[ -n "$found" ] || fail "the alert did not reach alertmanager; strata has: $(curl -fsS "$strata/api/v1/alerts")"
body=$(am_alerts)
echo "$body" | grep -q '"summary":"room lab is at 80 degrees"' || fail "annotation not templated as expected: $body"
echo "$body" | grep -q '"severity":"page"' || fail "rule label missing: $body"
echo "$body" | grep -q '"room":"lab"' || fail "sample label missing: $body"
curl -fsS "$strata/api/v1/alerts" | grep '"state":"firing"' >/dev/null || fail "strata does not list the alert as firing"
log "the alert fired in strata and reached alertmanager"
gone=""
for _ in $(seq 1 150); do
  import 20
  if ! am_alerts | grep '"alertname":"StrataRoomHot"' >/dev/null; then gone=1; break; fi
  sleep 0.2
done
[ -n "$gone" ] || fail "the resolution did not reach alertmanager: $(am_alerts)"
curl -fsS "$strata/metrics" | grep '^prometheus_notifications_sent_total{alertmanager="' >/dev/null ||
  fail "strata's /metrics has no notifier counters"
log "the alert resolved in strata and left alertmanager's active alerts"
log "PASS"
