#!/usr/bin/env bash
# PromQL latency of Strata, Prometheus and VictoriaMetrics on the same data.
#
# For each server, one at a time: start it on a free loopback port with a fresh temp data dir,
# load the canary-fleet payloads with `strata-loadgen replay` (time order), wait until every
# series is searchable, run `strata-querybench` (the queries of the benchmark, instant at the
# data's end and range over its last hour at step 60 s; with the server's PID, so it also
# reports the server's CPU time per query and its peak RSS), stop the server by PID. Then print
# two tables: each server's median latency and CPU ms per query, with Strata / best peer (the
# first SERVER named is the subject of that ratio).
#
# usage: benches/query_peers.sh SERIES HOURS [SERVER...]
#   SERVER: strata | prometheus | victoria-metrics   (default: all whose binary exists)
# environment:
#   PAYLOADS     payload dir   (default /tmp/strata-qb-SERIESs-HOURSh; generated if missing,
#                               with the data ending now)
#   REPEAT       timed runs per query (default 5, after one warm-up)
#   RESULTS      where each server's querybench output is kept (default: a temp dir, printed)
#   VM_CACHE     if set, VictoriaMetrics keeps its rollup result cache (default: started with
#                -search.disableCache, so that repeated queries measure evaluation, not cache)
#   LOADGEN QUERYBENCH STRATA_BIN PROMETHEUS VICTORIA   binaries (defaults: target/release/...,
#                /usr/bin/prometheus, /usr/bin/victoria-metrics)
#   CONCURRENCY  replay connections (default 4);  MAX_SECONDS  replay bound (default 900)
#   KEEP_LOGS    keep each server's temp dir and log
#   QB_ARGS      extra strata-querybench arguments, e.g. the long-window set of issue 8:
#                QB_ARGS="--queries benches/longwin.queries --ranges 86400:60,604800:600"
#   RETENTION    retention given to Strata (--retention) and Prometheus
#                (--storage.tsdb.retention.time), e.g. 40d for 30-day sets (VictoriaMetrics
#                always runs with -retentionPeriod=100y)
#
# The peak RSS reported per server covers the query phase only: the script resets the
# server's high-water mark (/proc/PID/clear_refs) after loading, before the queries.
#
# Build first: cargo build --release -p strata-server -p strata-benches
# Traffic goes only to 127.0.0.1. Servers are stopped by PID (SIGTERM, then SIGKILL after
# 30 s), also on exit or interrupt. Every wait is bounded.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=benches/lib.sh
. "$here/lib.sh"
QUERYBENCH="${QUERYBENCH:-$root/target/release/strata-querybench}"
MAX_SECONDS="${MAX_SECONDS:-900}"
REPEAT="${REPEAT:-5}"

if [[ $# -lt 2 || ! "$1" =~ ^[0-9]+$ || ! "$2" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 SERIES HOURS [strata|prometheus|victoria-metrics ...]" >&2
    exit 2
fi
series=$1
hours=$2
shift 2
for bin in "$LOADGEN" "$QUERYBENCH"; do
    if [[ ! -x "$bin" ]]; then
        echo "missing $bin: cargo build --release -p strata-server -p strata-benches" >&2
        exit 2
    fi
done

servers=("$@")
if [[ ${#servers[@]} -eq 0 ]]; then
    [[ -x "$STRATA_BIN" ]] && servers+=(strata)
    [[ -x "$PROMETHEUS" ]] && servers+=(prometheus)
    [[ -x "$VICTORIA" ]] && servers+=(victoria-metrics)
fi

payloads="${PAYLOADS:-/tmp/strata-qb-${series}s-${hours}h}"
if [[ ! -f "$payloads/manifest.json" ]]; then
    echo "generating $series series x $hours h into $payloads"
    "$LOADGEN" generate --series "$series" --hours "$hours" --out "$payloads" --end-time now
fi
manifest="$(cat "$payloads/manifest.json")"
echo "payloads: $payloads"
echo "manifest: $manifest"
want_series="$(printf '%s' "$manifest" | jq -r .series)"
max_time_ms="$(printf '%s' "$manifest" | jq -r .max_time)"
# Queries at the data's end, aligned down to the 60 s step so that every server evaluates the
# same step grid.
end=$((max_time_ms / 60000 * 60))
span="${hours}h"
echo "queries at $end ($(date -u -d "@$end" '+%F %T UTC')), span $span, repeat $REPEAT"

results="${RESULTS:-$(mktemp -d /tmp/strata-qb-results.XXXXXX)}"
mkdir -p "$results"

# series_at BASE: number of series with a `job` label visible at the query time.
series_at() {
    curl -fs --max-time 30 -G "$1/api/v1/query" --data-urlencode 'query=count({job!=""})' \
        --data-urlencode "time=$end" 2>/dev/null |
        jq -r '.data.result[0].value[1] // "0"' 2>/dev/null || echo 0
}

stop_on_exit
trap 'exit 130' INT TERM

ran=()
for server in "${servers[@]}"; do
    port="$(free_port)"
    base="http://127.0.0.1:$port"
    tmp="$(mktemp -d "/tmp/strata-qb-$server.XXXXXX")"
    cleanup_dir="$tmp"
    log="$tmp/server.log"
    case "$server" in
    prometheus)
        printf 'global:\n  scrape_interval: 15s\nscrape_configs: []\n' >"$tmp/prometheus.yml"
        prom_flags=()
        [[ -n "${RETENTION:-}" ]] && prom_flags+=(--storage.tsdb.retention.time="$RETENTION")
        "$PROMETHEUS" --web.enable-remote-write-receiver --storage.tsdb.path="$tmp/data" \
            "${prom_flags[@]}" \
            --web.listen-address="127.0.0.1:$port" --config.file="$tmp/prometheus.yml" \
            >"$log" 2>&1 &
        ready="$base/-/ready"
        ;;
    victoria-metrics)
        vm_flags=(-retentionPeriod=100y -search.latencyOffset=0s)
        [[ -z "${VM_CACHE:-}" ]] && vm_flags+=(-search.disableCache)
        "$VICTORIA" -httpListenAddr="127.0.0.1:$port" -storageDataPath="$tmp/data" \
            "${vm_flags[@]}" >"$log" 2>&1 &
        ready="$base/health"
        ;;
    strata)
        strata_flags=()
        [[ -n "${RETENTION:-}" ]] && strata_flags+=(--retention "$RETENTION")
        "$STRATA_BIN" serve --listen "127.0.0.1:$port" --data-dir "$tmp/data" \
            "${strata_flags[@]}" >"$log" 2>&1 &
        ready="$base/-/ready"
        ;;
    *)
        echo "unknown server $server" >&2
        exit 2
        ;;
    esac
    pid=$!
    cleanup_pid=$pid
    echo
    echo "== $server (pid $pid, 127.0.0.1:$port)"
    if ! wait_http "$ready" 60; then
        echo "$server did not become ready; log:" >&2
        tail -20 "$log" >&2
        stop_pid "$pid"
        cleanup_pid=""
        continue
    fi
    if ! "$LOADGEN" replay --write-url "$base/api/v1/write" --dir "$payloads" \
        --concurrency "$CONCURRENCY" --max-seconds "$MAX_SECONDS" >"$results/$server.load" 2>&1; then
        echo "replay against $server failed:" >&2
        tail -5 "$results/$server.load" >&2
    fi
    tail -1 "$results/$server.load"
    # VictoriaMetrics buffers recent rows for about a second before they are searchable.
    if [[ "$server" == victoria-metrics ]]; then
        curl -fs -o /dev/null --max-time 30 "$base/internal/force_flush" || true
    fi
    deadline=$((SECONDS + 120))
    seen=0
    while ((SECONDS < deadline)); do
        seen="$(series_at "$base")"
        [[ "$seen" == "$want_series" ]] && break
        sleep 1
    done
    echo "series visible at $end: $seen of $want_series"
    if [[ "$seen" != "$want_series" ]]; then
        echo "warning: $server does not show every series; latencies are still measured" >&2
    fi
    # Peak RSS from here on: reset the high-water mark (VmHWM) of the server.
    echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || echo "warning: cannot reset peak RSS of $pid" >&2
    echo "server RSS after loading: $(($(rss_kib "$pid") / 1024)) MiB"
    # shellcheck disable=SC2086
    "$QUERYBENCH" --url "$base" --queries-at "$end" --repeat "$REPEAT" --span "$span" \
        --label "$server" --pid "$pid" ${QB_ARGS:-} >"$results/$server.json" 2>"$results/$server.progress" ||
        echo "warning: some queries failed against $server (see $results/$server.json)" >&2
    sed -n '/^query /,/^{/p' "$results/$server.json" | grep -v '^{' || true
    grep '^server peak RSS' "$results/$server.json" || true
    stop_pid "$pid"
    cleanup_pid=""
    if [[ -n "${KEEP_LOGS:-}" ]]; then echo "log kept: $log"; else rm -rf "$tmp"; fi
    cleanup_dir=""
    ran+=("$results/$server.json")
done

echo
echo "results: $results"
if [[ ${#ran[@]} -ge 2 ]]; then
    echo "$series series x $hours h, median of $REPEAT runs (ms); instant at the end, range = ${QB_ARGS:-last 1 h at step 60 s}"
    "$QUERYBENCH" compare "${ran[@]}"
fi
