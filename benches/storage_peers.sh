#!/usr/bin/env bash
# Storage comparison on one payload directory (from `strata-loadgen generate`): for each of
# Prometheus, VictoriaMetrics and Strata, on a free loopback port with a fresh data dir:
#   1. replay the payloads (peak RSS and CPU while ingesting, from the loadgen's --pid);
#   2. make everything durable and compacted the way each server offers it: Strata
#      `POST /api/v1/admin/tsdb/flush` (head cut into blocks, compacted to completion);
#      Prometheus `POST /api/v1/admin/tsdb/snapshot` (its blocks plus the head as a block,
#      hard-linked into snapshots/); VictoriaMetrics `/internal/force_flush` and
#      `/internal/force_merge` (then waits until the data dir stops changing);
#   3. disk bytes per sample: Strata's blocks and WAL; Prometheus's snapshot (and, for
#      reference, its whole data dir); VictoriaMetrics' whole data dir (data + indexdb);
#   4. stop (SIGTERM), start again on the same data, and time from exec to ready, then RSS
#      2 s after ready (and the samples still answered by a count query).
# Every server runs with its defaults except retention (100 d everywhere, so that month-long
# payloads are kept) and the API switches the steps need.
#
# usage: benches/storage_peers.sh PAYLOAD_DIR [prometheus|victoria-metrics|strata ...]
# environment: LOADGEN, STRATA_BIN, PROMETHEUS, VICTORIA, CONCURRENCY (4), MAX_SECONDS (3600),
#              KEEP_LOGS
# Traffic goes only to 127.0.0.1; servers are stopped by PID; every wait is bounded.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=benches/lib.sh
. "$here/lib.sh"
MAX_SECONDS="${MAX_SECONDS:-3600}"

if [[ $# -lt 1 || ! -f "$1/manifest.json" ]]; then
    echo "usage: $0 PAYLOAD_DIR [prometheus|victoria-metrics|strata ...]" >&2
    exit 2
fi
payloads="$(cd "$1" && pwd)"
shift
servers=("$@")
[[ ${#servers[@]} -gt 0 ]] || servers=(prometheus victoria-metrics strata)
manifest="$(cat "$payloads/manifest.json")"
samples="$(printf '%s' "$manifest" | jq -r .samples)"
max_time_ms="$(printf '%s' "$manifest" | jq -r .max_time)"
echo "payloads: $payloads"
echo "manifest: $manifest"

stop_on_exit
trap 'exit 130' INT TERM

# How many samples the server answers: count_over_time over the whole span in one-day
# windows, one metric name at a time (the function drops the name, so one query over all
# names would collide; day windows keep each query under the servers' sample limits).
answered() {
    local min_s=$(( $(printf '%s' "$manifest" | jq -r .min_time) / 1000 ))
    local t=$((max_time_ms / 1000 + 1)) total=0 name n
    for name in $(curl -fs --max-time 60 "$1/api/v1/label/__name__/values" | jq -r '.data[]'); do
        local at=$t
        while ((at > min_s)); do
            n=$(curl -fs --max-time 600 -G "$1/api/v1/query" \
                --data-urlencode "query=sum(count_over_time(${name}[1d]))" \
                --data-urlencode "time=$at" 2>/dev/null | jq -r '.data.result[0].value[1] // "0"')
            total=$((total + ${n:-0}))
            at=$((at - 86400))
        done
    done
    echo "$total"
}

# Waits until `du -sb DIR` stops changing for three polls (bounded).
settle_dir() {
    local dir=$1 last=-1 same=0 now deadline=$((SECONDS + 600))
    while ((SECONDS < deadline && same < 3)); do
        now=$(du -sb "$dir" | cut -f1)
        if [[ "$now" == "$last" ]]; then same=$((same + 1)); else same=0; fi
        last=$now
        sleep 2
    done
}

rows=()
for server in "${servers[@]}"; do
    port="$(free_port)"
    base="http://127.0.0.1:$port"
    tmp="$(mktemp -d "/tmp/strata-storage-$server.XXXXXX")"
    cleanup_dir="$tmp"
    log="$tmp/server.log"
    case "$server" in
    prometheus) extra=(--web.enable-admin-api --storage.tsdb.retention.time=100d) ;;
    victoria-metrics) extra=(-retentionPeriod=100d) ;;
    strata) extra=(--enable-admin-api --retention 100d) ;;
    *) echo "unknown server $server" >&2; exit 2 ;;
    esac
    start_peer "$server" "$port" "$tmp/data" "$log" "${extra[@]}"
    cleanup_pid=$peer_pid
    if ! wait_http "$peer_ready" 60; then
        echo "$server did not become ready; log:" >&2
        tail -20 "$log" >&2
        exit 1
    fi
    echo
    echo "== $server (pid $peer_pid, $base)"
    load="$("$LOADGEN" replay --write-url "$base/api/v1/write" --dir "$payloads" \
        --concurrency "$CONCURRENCY" --pid "$peer_pid" --max-seconds "$MAX_SECONDS" 2>&1)" || true
    printf '%s\n' "$load" | tail -3
    json="$(printf '%s\n' "$load" | tail -1)"
    peak_rss="$(printf '%s' "$json" | jq -r '((.server_peak_rss_bytes // 0) / 1048576 | floor)' 2>/dev/null || echo '-')"
    per_cpu="$(printf '%s' "$json" | jq -r '((.samples_per_cpu_second // 0) | floor)' 2>/dev/null || echo '-')"
    failed="$(printf '%s' "$json" | jq -r '.failed_requests // "-"' 2>/dev/null || echo '-')"
    t0=$SECONDS
    case "$server" in
    strata)
        curl -fs --max-time 3600 -X POST "$base/api/v1/admin/tsdb/flush" >/dev/null
        disk=$(du -sb "$tmp/data" | cut -f1)
        detail="blocks $(du -sb "$tmp/data/blocks" | cut -f1) B, wal $(du -sb "$tmp/data/wal" | cut -f1) B"
        ;;
    prometheus)
        name=$(curl -fs --max-time 3600 -X POST "$base/api/v1/admin/tsdb/snapshot" | jq -r .data.name)
        disk=$(du -sb "$tmp/data/snapshots/$name" | cut -f1)
        detail="whole data dir $(du -sb --exclude=snapshots "$tmp/data" | cut -f1) B"
        ;;
    victoria-metrics)
        curl -fs -o /dev/null --max-time 600 "$base/internal/force_flush" || true
        curl -fs -o /dev/null --max-time 3600 "$base/internal/force_merge" || true
        settle_dir "$tmp/data"
        disk=$(du -sb "$tmp/data" | cut -f1)
        detail="data $(du -sb "$tmp/data/data" | cut -f1) B, indexdb $(du -sb "$tmp/data/indexdb" | cut -f1) B"
        ;;
    esac
    compact_s=$((SECONDS - t0))
    bps=$(awk -v b="$disk" -v s="$samples" 'BEGIN { printf "%.3f", b / s }')
    echo "disk: $disk bytes = $bps bytes/sample ($detail; compaction step ${compact_s}s)"
    stop_pid "$peer_pid"
    # Restart on the same data: time to ready, RSS after ready.
    start_ns=$(date +%s%N)
    start_peer "$server" "$port" "$tmp/data" "$log" "${extra[@]}"
    cleanup_pid=$peer_pid
    if ! wait_http "$peer_ready" 600; then
        echo "$server did not come back; log:" >&2
        tail -20 "$log" >&2
        exit 1
    fi
    ready_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
    sleep 2
    rss_after=$(( $(rss_kib "$peer_pid") / 1024 ))
    got=$(answered "$base")
    echo "restart: ready in ${ready_ms} ms, RSS ${rss_after} MiB 2 s later; answers $got of $samples samples"
    stop_pid "$peer_pid"
    cleanup_pid=""
    if [[ -n "${KEEP_LOGS:-}" ]]; then echo "kept: $tmp"; else rm -rf "$tmp"; fi
    cleanup_dir=""
    rows+=("$server|$bps|$peak_rss|$per_cpu|$failed|$ready_ms|$rss_after|$got")
done

echo
printf '%-18s %12s %14s %14s %7s %12s %14s %14s\n' server bytes/sample ingest_peakMiB samples/CPU-s failed restart_ms rss_after_MiB answered
for r in "${rows[@]}"; do
    IFS='|' read -r s a b c d e f g <<<"$r"
    printf '%-18s %12s %14s %14s %7s %12s %14s %14s\n' "$s" "$a" "$b" "$c" "$d" "$e" "$f" "$g"
done
