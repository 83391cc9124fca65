#!/usr/bin/env bash
# Recording rules against a real Prometheus 2.42: Prometheus and Strata (each on a loopback
# port with a fresh data directory) evaluate the same rule files over the same data, and
# `strata-rules-e2e` checks that the series they record agree: names, labels, timestamps,
# values within 1e-9 relative.
#
# Method (details in tests/src/rules_e2e.rs):
# - common alignment: both watch the same rule-file glob ($tmp/rules/*.yml) with the same
#   evaluation interval (5 s), and Strata runs with --rule-alignment prometheus2, so every
#   group evaluates at the same instants on both servers (Prometheus's slots are a hash of
#   the file path and group name; 2.x and 3.x hash differently);
# - same data: strata-rules-e2e remote-writes the generated canary fleet to both, reaching a
#   couple of minutes into the future, so every evaluation sees the same samples however late
#   it runs; sample times avoid the millisecond of every slot, so none sits on a window
#   edge (2.42's windows are closed, 3.x's left-open);
# - then it copies the example rule files into the glob's directory and POSTs /-/reload to
#   both (Prometheus runs with --web.enable-lifecycle), lets the rules run for a minute, and
#   compares raw recorded samples (and ALERTS / ALERTS_FOR_STATE) since the reload, plus
#   instant queries (stale markers).
# Bounded: about two minutes. Both servers are stopped by PID on exit.
#
# Usage: tests/e2e/rules.sh [path/to/strata] [RULE_FILE...]
#        (default strata: target/debug/strata; default rules: examples/rules/canary.yml)
# Env:   PROMETHEUS (default: prometheus on PATH), RULES_E2E (default: builds and uses
#        target/debug/strata-rules-e2e), RULES_RUN_SECONDS (default 60)
set -euo pipefail

cd "$(dirname "$0")/../.."
STRATA=${1:-target/debug/strata}
shift || true
PROMETHEUS=${PROMETHEUS:-$(command -v prometheus || true)}
RULE_FILES=("$@")
[ ${#RULE_FILES[@]} -gt 0 ] || RULE_FILES=(examples/rules/canary.yml)
INTERVAL=5s
INTERVAL_MS=5000

. tests/e2e/lib.sh
E2E_FAIL_STATUS=2
E2E_LOGS_FROM_STATUS=1
e2e_setup rules

[ -n "$PROMETHEUS" ] || fail "prometheus not installed (apt-get install prometheus)"
[ -x "$STRATA" ] || fail "strata binary not found at $STRATA (cargo build -p strata-server --bin strata)"
command -v curl >/dev/null || fail "curl not installed"
if [ -z "${RULES_E2E:-}" ]; then
  cargo build -q -p strata-tests --bin strata-rules-e2e
  RULES_E2E=target/debug/strata-rules-e2e
fi
[ -x "$RULES_E2E" ] || fail "strata-rules-e2e not found at $RULES_E2E"

e2e_on_failure() {
  echo "--- strata stderr (tail)" >&2; tail -n 30 "$tmp/strata/strata.err" >&2 2>/dev/null || true
  echo "--- prometheus log (tail)" >&2; tail -n 30 "$tmp/prom/prometheus.log" >&2 2>/dev/null || true
}

rules_dir="$tmp/rules"
mkdir -p "$rules_dir" "$tmp/prom"
printf 'global:\n  scrape_interval: 15s\n  evaluation_interval: %s\nrule_files:\n  - %s/*.yml\n' \
  "$INTERVAL" "$rules_dir" >"$tmp/prom/prometheus.yml"
start_prometheus "$tmp/prom" "" --web.enable-remote-write-receiver --web.enable-lifecycle \
  --query.lookback-delta=5m
prom_pid=$started_pid
prom=$started_url
log "prometheus $("$PROMETHEUS" --version 2>&1 | head -n 1 | awk '{print $3}') on $prom (pid $prom_pid)"

start_strata "$tmp/strata" --rules "$rules_dir/*.yml" --evaluation-interval "$INTERVAL" \
  --rule-alignment prometheus2
strata_pid=$started_pid
log "strata on http://$started_addr (pid $strata_pid)"
wait_ready "$prom" "$prom_pid" prometheus

rc=0
"$RULES_E2E" --prometheus "$prom" --strata "http://$started_addr" --rules-dir "$rules_dir" \
  --interval-ms "$INTERVAL_MS" --run-seconds "${RULES_RUN_SECONDS:-60}" "${RULE_FILES[@]}" || rc=$?
if [ "$rc" -eq 0 ]; then
  # The reload and the evaluations left no error on Strata's side either.
  curl -fsS "http://$started_addr/api/v1/rules" | grep '"health":"err"' >/dev/null &&
    fail "strata reports a rule with health err: $(curl -fsS "http://$started_addr/api/v1/rules")"
  log "PASS"
fi
exit "$rc"
