#!/usr/bin/env bash
# End to end with a real Prometheus: Prometheus scrapes itself (and Strata's /metrics) every
# second and remote-writes everything to Strata. After ~30 s we check, through Prometheus's
# own API, that no sample failed to send and that samples were sent, and that every metric
# name Prometheus has for job="prometheus" is listed by Strata's
# /api/v1/label/__name__/values. Both processes are stopped by PID on exit.
#
# Usage: tests/e2e/prometheus.sh [path/to/strata]   (default: target/debug/strata)
# Env:   E2E_SECONDS (default 30), PROMETHEUS (default: prometheus on PATH)
set -euo pipefail

cd "$(dirname "$0")/../.."
STRATA=${1:-target/debug/strata}
PROMETHEUS=${PROMETHEUS:-$(command -v prometheus || true)}
SECONDS_TO_RUN=${E2E_SECONDS:-30}

. tests/e2e/lib.sh
e2e_setup e2e

[ -x "$STRATA" ] || fail "strata binary not found at $STRATA (cargo build -p strata-server first)"
[ -n "$PROMETHEUS" ] || fail "prometheus not installed (apt-get install prometheus)"
command -v curl >/dev/null || fail "curl not installed"

e2e_on_failure() {
  echo "--- strata stderr (tail)" >&2; tail -n 30 "$tmp/strata/strata.err" >&2 || true
  echo "--- prometheus log (tail)" >&2; tail -n 30 "$tmp/prom/prometheus.log" >&2 || true
}

# --- Strata on a free port (it prints the address it bound).
start_strata "$tmp/strata"
strata_pid=$started_pid
strata_addr=$started_addr
log "strata on $strata_addr (pid $strata_pid)"

# --- Prometheus scraping itself and Strata, remote-writing to Strata.
prom_port=$(free_port) || fail "no free port"
mkdir -p "$tmp/prom"
cat >"$tmp/prom/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:$prom_port"]
  - job_name: strata
    static_configs:
      - targets: ["$strata_addr"]
remote_write:
  - url: http://$strata_addr/api/v1/write
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
    metadata_config:
      send_interval: 5s
EOF
start_prometheus "$tmp/prom" "$prom_port"
prom_pid=$started_pid
prom=$started_url
wait_ready "$prom" "$prom_pid" prometheus
log "prometheus on 127.0.0.1:$prom_port (pid $prom_pid); running for ${SECONDS_TO_RUN}s"
sleep "$SECONDS_TO_RUN"

# Instant query against Prometheus; prints the first sample value (or nothing).
prom_value() {
  curl -fsS --get "$prom/api/v1/query" --data-urlencode "query=$1" |
    sed -n 's/.*"value":\[[^,]*,"\([^"]*\)"\].*/\1/p'
}
# A JSON string array from `data` (one per line).
json_strings() { sed -e 's/.*"data":\[//' -e 's/\].*//' | tr ',' '\n' | sed -e 's/^"//' -e 's/"$//' | sed '/^$/d'; }

failed=$(prom_value 'sum(prometheus_remote_storage_samples_failed_total)')
sent=$(prom_value 'sum(prometheus_remote_storage_samples_total)')
log "prometheus: samples sent=$sent failed=$failed"
[ -n "$failed" ] || fail "prometheus_remote_storage_samples_failed_total not found"
[ "$failed" = "0" ] || fail "prometheus failed to send $failed samples"
[ -n "$sent" ] && [ "$sent" != "0" ] || fail "prometheus sent no samples (sent='$sent')"
# Prometheus scraped Strata's own /metrics successfully: it is valid exposition format.
strata_up=$(prom_value 'up{job="strata"}')
[ "$strata_up" = "1" ] || fail "prometheus cannot scrape strata's /metrics (up=$strata_up)"

# Every metric name Prometheus has for job="prometheus" must be in Strata. Names that appeared
# in Prometheus's last second may still be in its send queue: retry for a few seconds.
match=$(printf '%s' '{job="prometheus"}' | sed -e 's/{/%7B/g' -e 's/}/%7D/g' -e 's/"/%22/g' -e 's/=/%3D/g')
curl -fsS "$prom/api/v1/label/__name__/values?match%5B%5D=$match" | json_strings | sort -u >"$tmp/prom_names"
n_prom=$(wc -l <"$tmp/prom_names")
[ "$n_prom" -gt 10 ] || fail "prometheus has only $n_prom metric names for job=prometheus"
missing=""
for _ in $(seq 1 15); do
  curl -fsS "http://$strata_addr/api/v1/label/__name__/values" | json_strings | sort -u >"$tmp/strata_names"
  missing=$(comm -23 "$tmp/prom_names" "$tmp/strata_names")
  [ -z "$missing" ] && break
  sleep 1
done
[ -z "$missing" ] || fail "metric names missing from strata: $(echo "$missing" | tr '\n' ' ')"
log "all $n_prom metric names of job=prometheus are in strata ($(wc -l <"$tmp/strata_names") names in total)"

# The same series through Strata's series endpoint, and Strata's own write counter.
series=$(curl -fsS --get "http://$strata_addr/api/v1/series" --data-urlencode 'match[]=up{job="prometheus"}')
echo "$series" | grep -q '"instance":"127.0.0.1:'"$prom_port"'"' || fail "up{job=\"prometheus\"} not in strata's /api/v1/series: $series"
# PromQL over the remote-written data.
strata_q=$(curl -fsS --get "http://$strata_addr/api/v1/query" --data-urlencode 'query=up{job="prometheus"}')
echo "$strata_q" | grep -q '"status":"success"' || fail "strata query failed: $strata_q"
echo "$strata_q" | grep -q ',"1"\]' || fail "strata has no up{job=\"prometheus\"} == 1: $strata_q"
# (grep reads the whole reply: `grep -q` would stop at the first match, and curl, writing
# the rest into a closed pipe, would fail the pipeline under pipefail.)
curl -fsS "http://$strata_addr/metrics" | grep '^strata_http_requests_total{handler="write",code="204"}' >/dev/null ||
  fail "strata counted no successful write"

# Graceful stop of strata: exit status 0.
untrack "$strata_pid"
kill -TERM "$strata_pid"
rc=0
wait "$strata_pid" || rc=$?
[ "$rc" -eq 0 ] || fail "strata exited with status $rc on SIGTERM"
log "PASS"
