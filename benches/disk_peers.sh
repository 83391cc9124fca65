#!/usr/bin/env bash
# Disk bytes per sample of the canary-fleet workload in Strata, VictoriaMetrics and
# Prometheus, on the same samples.
#
# usage: benches/disk_peers.sh SERIES HOURS [SERVER...]
#   SERVER: victoria-metrics | prometheus   (default: those whose binary exists)
#
# It generates the fleet's remote-write payloads (`strata-loadgen generate`, ending now),
# replays them into each peer (fresh temp data dir, free loopback port), makes the peer
# write everything out (VictoriaMetrics: /internal/force_flush then /internal/force_merge,
# waiting until no merge is active, then a clean stop; Prometheus: a TSDB snapshot with the
# head, which writes it as blocks) and measures the bytes of its data (`du -sb` of
# VictoriaMetrics' data/ and indexdb/, not its cache/; of Prometheus' snapshot). Strata's figure comes
# from `block_size` on the same samples (same seed and start time) in-process: blocks after
# `Db::flush`. Prints one table row per store and the ratio to VictoriaMetrics.
#
# environment:
#   LOADGEN      loadgen binary       (default: target/release/strata-loadgen)
#   BLOCK_SIZE   block_size binary    (default: target/release/block_size)
#   PROMETHEUS   prometheus binary    (default: /usr/bin/prometheus)
#   VICTORIA     victoria-metrics     (default: /usr/bin/victoria-metrics)
#   CONCURRENCY  loadgen connections  (default: 4)
#   KEEP         if set, keep the payloads and data dirs (printed)
#
# Traffic goes only to 127.0.0.1. Servers are stopped by PID (SIGTERM, then SIGKILL after
# 30 s). Every wait is bounded.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
LOADGEN="${LOADGEN:-$root/target/release/strata-loadgen}"
BLOCK_SIZE="${BLOCK_SIZE:-$root/target/release/block_size}"
PROMETHEUS="${PROMETHEUS:-/usr/bin/prometheus}"
VICTORIA="${VICTORIA:-/usr/bin/victoria-metrics}"
CONCURRENCY="${CONCURRENCY:-4}"

if [[ $# -lt 2 ]]; then
    echo "usage: $0 SERIES HOURS [victoria-metrics|prometheus ...]" >&2
    exit 2
fi
series=$1
hours=$2
shift 2
for b in "$LOADGEN" "$BLOCK_SIZE"; do
    if [[ ! -x "$b" ]]; then
        echo "missing $b: cargo build --release -p strata-benches" >&2
        exit 2
    fi
done
servers=("$@")
if [[ ${#servers[@]} -eq 0 ]]; then
    [[ -x "$VICTORIA" ]] && servers+=(victoria-metrics)
    [[ -x "$PROMETHEUS" ]] && servers+=(prometheus)
fi

work="$(mktemp -d /tmp/strata-disk-peers.XXXXXX)"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do stop_pid "$p"; done
    if [[ -z "${KEEP:-}" ]]; then rm -rf "$work"; else echo "kept $work" >&2; fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL SECONDS: polls until URL answers 2xx.
wait_http() {
    local url=$1 deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        if curl -fs -o /dev/null --max-time 2 "$url"; then return 0; fi
        sleep 0.2
    done
    return 1
}

# stop_pid PID: SIGTERM, wait up to 30 s, then SIGKILL.
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
trap cleanup EXIT

# metric_sum URL REGEX: sum of the values of /metrics lines matching REGEX.
metric_sum() {
    curl -fs --max-time 10 "$1" 2>/dev/null |
        awk -v re="$2" '$0 !~ /^#/ && $1 ~ re { s += $NF } END { printf "%.0f", s }'
}

# The payloads end now (Prometheus refuses samples older than its head); the fleet's first
# round starts where `generate` puts it, which block_size is told too.
end_ms=$(($(date +%s) * 1000))
rounds=$(python3 -c "print(max(1, round($hours * 3.6e6 / 15000)))")
start_ms=$((end_ms - rounds * 15000 - 3 - 4000))
"$LOADGEN" generate --series "$series" --hours "$hours" --end-time "$end_ms" \
    --out "$work/payloads" >/dev/null 2>&1
samples=$(python3 -c "import json; print(json.load(open('$work/payloads/manifest.json'))['samples'])")

rows=()
vm_bps=""

for srv in "${servers[@]}"; do
    port=$(free_port)
    data="$work/$srv"
    mkdir -p "$data"
    case "$srv" in
    victoria-metrics)
        "$VICTORIA" -storageDataPath="$data" -httpListenAddr="127.0.0.1:$port" \
            -retentionPeriod=100y >"$work/$srv.log" 2>&1 &
        ;;
    prometheus)
        printf 'global:\n  scrape_interval: 1h\n' >"$work/prometheus.yml"
        "$PROMETHEUS" --config.file="$work/prometheus.yml" --storage.tsdb.path="$data" \
            --web.listen-address="127.0.0.1:$port" --web.enable-remote-write-receiver \
            --web.enable-admin-api --storage.tsdb.retention.time=100y \
            >"$work/$srv.log" 2>&1 &
        ;;
    *)
        echo "unknown server $srv" >&2
        exit 2
        ;;
    esac
    pid=$!
    pids+=("$pid")
    base="http://127.0.0.1:$port"
    ready=$base/health
    [[ $srv == prometheus ]] && ready=$base/-/ready
    wait_http "$ready" 60 || { echo "$srv did not become ready" >&2; exit 1; }
    "$LOADGEN" replay --write-url "$base/api/v1/write" --dir "$work/payloads" \
        --concurrency "$CONCURRENCY" >"$work/$srv.replay" 2>&1
    case "$srv" in
    victoria-metrics)
        curl -fs --max-time 60 "$base/internal/force_flush" >/dev/null
        curl -fs --max-time 60 "$base/internal/force_merge" >/dev/null
        # Merges run in the background: wait until none has been active for 3 s (<= 10 min).
        quiet=0
        for ((i = 0; i < 600 && quiet < 3; i++)); do
            sleep 1
            active=$(metric_sum "$base/metrics" '^vm_active_merges')
            if [[ "$active" == 0 ]]; then quiet=$((quiet + 1)); else quiet=0; fi
        done
        ;;
    prometheus)
        snap=$(curl -fs --max-time 600 -XPOST "$base/api/v1/admin/tsdb/snapshot" |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["name"])')
        ;;
    esac
    stop_pid "$pid"
    case "$srv" in
    # After a clean stop (which flushes what was still in memory): data and index, not the
    # caches VictoriaMetrics persists for a faster restart.
    victoria-metrics) bytes=$(du -sb "$data/data" "$data/indexdb" | awk '{s += $1} END {print s}') ;;
    prometheus) bytes=$(du -sb "$data/snapshots/$snap" | cut -f1) ;;
    esac
    bps=$(python3 -c "print(f'{$bytes / $samples:.4f}')")
    [[ $srv == victoria-metrics ]] && vm_bps=$bps
    rows+=("$srv $bytes $bps")
done

strata_json=$("$BLOCK_SIZE" --series "$series" --hours "$hours" --start-ms "$start_ms" \
    --decode-passes 1 | tail -1)
strata_bps=$(python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["all_in"])' <<<"$strata_json")
strata_bytes=$(python3 -c "print(round($strata_bps * $samples))")
rows+=("strata $strata_bytes $strata_bps")

echo "canary fleet: $series series x $hours h, $samples samples (start $start_ms ms)"
printf '| %-16s | %12s | %12s | %8s |\n' store bytes bytes/sample "/ VM"
printf '|%s|%s|%s|%s|\n' ------------------ -------------- -------------- ----------
for r in "${rows[@]}"; do
    read -r name b bps <<<"$r"
    ratio="n/a"
    [[ -n "$vm_bps" ]] && ratio=$(python3 -c "print(f'{$bps / $vm_bps:.2f}')")
    printf '| %-16s | %12s | %12s | %8s |\n' "$name" "$b" "$bps" "$ratio"
done
