#!/usr/bin/env bash
# Replays one payload directory (from `strata-loadgen generate`) against Prometheus,
# VictoriaMetrics and Strata, one at a time, each on a free loopback port with a fresh temp
# data dir, and prints a table: samples/s, samples per server CPU-second, peak RSS.
#
# usage: benches/peers.sh PAYLOAD_DIR [SERVER...]
#   SERVER: prometheus | victoria-metrics | strata   (default: all whose binary exists)
# environment:
#   LOADGEN      loadgen binary       (default: target/release/strata-loadgen)
#   STRATA_BIN   strata binary        (default: target/release/strata)
#   PROMETHEUS   prometheus binary    (default: /usr/bin/prometheus)
#   VICTORIA     victoria-metrics     (default: /usr/bin/victoria-metrics)
#   CONCURRENCY  connections          (default: 4)
#   STRATA_ARGS  extra flags for `strata serve`, split on spaces (e.g.
#                "--out-of-order-window 30m")
#   MAX_SECONDS  replay time bound    (default: 900)
#   KEEP_LOGS    if set, keep each server's temp dir and log
#
# Traffic goes only to 127.0.0.1. Servers are stopped by PID (SIGTERM, then SIGKILL after
# 30 s). Every wait is bounded.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=benches/lib.sh
. "$here/lib.sh"
MAX_SECONDS="${MAX_SECONDS:-900}"

if [[ $# -lt 1 || ! -f "$1/manifest.json" ]]; then
    echo "usage: $0 PAYLOAD_DIR [prometheus|victoria-metrics|strata ...]" >&2
    echo "(PAYLOAD_DIR must hold manifest.json from strata-loadgen generate)" >&2
    exit 2
fi
payloads="$(cd "$1" && pwd)"
shift
if [[ ! -x "$LOADGEN" ]]; then
    echo "no loadgen at $LOADGEN: cargo build --release -p strata-benches --bin strata-loadgen" >&2
    exit 2
fi

servers=("$@")
if [[ ${#servers[@]} -eq 0 ]]; then
    [[ -x "$PROMETHEUS" ]] && servers+=(prometheus)
    [[ -x "$VICTORIA" ]] && servers+=(victoria-metrics)
    [[ -x "$STRATA_BIN" ]] && servers+=(strata)
fi

rows=()
manifest="$(cat "$payloads/manifest.json")"
echo "payloads: $payloads"
echo "manifest: $manifest"
echo "loadgen: $LOADGEN, concurrency $CONCURRENCY${STRATA_ARGS:+, strata flags: $STRATA_ARGS}"

stop_on_exit

for server in "${servers[@]}"; do
    port="$(free_port)"
    tmp="$(mktemp -d "/tmp/strata-peer-$server.XXXXXX")"
    cleanup_dir="$tmp"
    log="$tmp/server.log"
    case "$server" in
    prometheus)
        : >"$tmp/prometheus.yml"
        printf 'global:\n  scrape_interval: 15s\nscrape_configs: []\n' >"$tmp/prometheus.yml"
        "$PROMETHEUS" --web.enable-remote-write-receiver --storage.tsdb.path="$tmp/data" \
            --web.listen-address="127.0.0.1:$port" --config.file="$tmp/prometheus.yml" \
            >"$log" 2>&1 &
        ready="http://127.0.0.1:$port/-/ready"
        accepted_re='^prometheus_tsdb_head_samples_appended_total'
        ;;
    victoria-metrics)
        "$VICTORIA" -httpListenAddr="127.0.0.1:$port" -storageDataPath="$tmp/data" \
            -retentionPeriod=100y >"$log" 2>&1 &
        ready="http://127.0.0.1:$port/health"
        accepted_re='^vm_rows_inserted_total\{type="promremotewrite"\}'
        ;;
    strata)
        # shellcheck disable=SC2086 # split on purpose: several flags
        "$STRATA_BIN" serve --listen "127.0.0.1:$port" --data-dir "$tmp/data" ${STRATA_ARGS:-} \
            >"$log" 2>&1 &
        ready="http://127.0.0.1:$port/-/ready"
        accepted_re='^strata_ingest_samples_total'
        ;;
    *)
        echo "unknown server $server" >&2
        exit 2
        ;;
    esac
    pid=$!
    cleanup_pid=$pid
    if ! wait_http "$ready" 60; then
        echo "$server did not become ready on port $port; log:" >&2
        tail -20 "$log" >&2
        stop_pid "$pid"
        cleanup_pid=""
        rows+=("$server|not ready|-|-|-|-")
        continue
    fi
    echo
    echo "== $server (pid $pid, 127.0.0.1:$port)"
    out="$("$LOADGEN" replay --write-url "http://127.0.0.1:$port/api/v1/write" --dir "$payloads" \
        --concurrency "$CONCURRENCY" --pid "$pid" --max-seconds "$MAX_SECONDS" 2>&1)" || {
        echo "$out" >&2
        echo "loadgen failed against $server" >&2
    }
    echo "$out"
    accepted="$(metric_sum "http://127.0.0.1:$port/metrics" "$accepted_re")"
    echo "server's own count of accepted samples: ${accepted:-n/a}"
    if [[ "$server" == strata ]]; then
        curl -fs --max-time 10 "http://127.0.0.1:$port/metrics" 2>/dev/null |
            grep -E '^strata_head_(series|samples|chunk_bytes|symbols) ' | tr '\n' ' ' || true
        echo
    fi
    stop_pid "$pid"
    cleanup_pid=""
    if [[ -n "${KEEP_LOGS:-}" ]]; then echo "log kept: $log"; else rm -rf "$tmp"; fi
    cleanup_dir=""
    json="$(printf '%s\n' "$out" | tail -1)"
    if printf '%s' "$json" | jq -e . >/dev/null 2>&1; then
        rows+=("$(printf '%s' "$json" | jq -r --arg s "$server" --arg a "${accepted:-n/a}" \
            '[$s, (.samples_per_second|floor|tostring), ((.samples_per_cpu_second // 0)|floor|tostring),
              (((.server_peak_rss_bytes // 0) / 1048576 * 10 | floor) / 10 | tostring),
              (.failed_requests|tostring), $a] | join("|")')")
    else
        rows+=("$server|error|-|-|-|-")
    fi
done

echo
printf '%-18s %14s %20s %14s %8s %14s\n' server samples/s samples/CPU-s peakRSS_MiB failed srv_accepted
for r in "${rows[@]}"; do
    IFS='|' read -r s a b c d e <<<"$r"
    printf '%-18s %14s %20s %14s %8s %14s\n' "$s" "$a" "$b" "$c" "$d" "$e"
done
