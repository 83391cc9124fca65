#!/usr/bin/env bash
# Helpers shared by the peer comparison scripts (sourced, not run):
#   free_port              prints a free loopback port
#   wait_http URL SECONDS  polls until URL answers 2xx; status 1 on timeout
#   stop_pid PID           SIGTERM, up to 30 s, then SIGKILL; reaps it
#   metric_sum URL REGEX   sum of the values of /metrics lines whose name matches REGEX
#   rss_kib PID            current VmRSS of PID in KiB
# Defaults (override in the environment): LOADGEN, STRATA_BIN, PROMETHEUS, VICTORIA,
# CONCURRENCY (4). Expects $root (the repository) to be set by the sourcing script.
#   start_peer KIND PORT DATA_DIR LOG [EXTRA...]
#                          starts prometheus | victoria-metrics | strata (binaries from
#                          $PROMETHEUS, $VICTORIA, $STRATA_BIN) with the users' default
#                          settings plus EXTRA flags; sets peer_pid and peer_ready (the URL
#                          that answers 2xx once the server is ready)

LOADGEN="${LOADGEN:-$root/target/release/strata-loadgen}"
STRATA_BIN="${STRATA_BIN:-$root/target/release/strata}"
PROMETHEUS="${PROMETHEUS:-/usr/bin/prometheus}"
VICTORIA="${VICTORIA:-/usr/bin/victoria-metrics}"
CONCURRENCY="${CONCURRENCY:-4}"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_http() {
    local url=$1 deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        if curl -fs -o /dev/null --max-time 2 "$url"; then return 0; fi
        sleep 0.05
    done
    return 1
}

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

metric_sum() {
    curl -fs --max-time 10 "$1" 2>/dev/null |
        awk -v re="$2" '$0 !~ /^#/ && $1 ~ re { s += $NF } END { printf "%.0f", s }'
}

rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

start_peer() {
    local kind=$1 port=$2 data=$3 log=$4
    shift 4
    case "$kind" in
    prometheus)
        mkdir -p "$data"
        printf 'global:\n  scrape_interval: 15s\nscrape_configs: []\n' >"$data.yml"
        "$PROMETHEUS" --web.enable-remote-write-receiver --storage.tsdb.path="$data" \
            --web.listen-address="127.0.0.1:$port" --config.file="$data.yml" "$@" \
            >>"$log" 2>&1 &
        peer_ready="http://127.0.0.1:$port/-/ready"
        ;;
    victoria-metrics)
        "$VICTORIA" -httpListenAddr="127.0.0.1:$port" -storageDataPath="$data" "$@" \
            >>"$log" 2>&1 &
        peer_ready="http://127.0.0.1:$port/health"
        ;;
    strata)
        "$STRATA_BIN" serve --listen "127.0.0.1:$port" --data-dir "$data" "$@" >>"$log" 2>&1 &
        peer_ready="http://127.0.0.1:$port/-/ready"
        ;;
    *)
        echo "unknown server $kind" >&2
        return 2
        ;;
    esac
    peer_pid=$!
}

# On exit, stops the server whose PID is in `cleanup_pid` and deletes `cleanup_dir` (kept
# with KEEP_LOGS); scripts set both as they start each server.
stop_on_exit() {
    cleanup_pid=""
    cleanup_dir=""
    cleanup() {
        [[ -n "$cleanup_pid" ]] && stop_pid "$cleanup_pid"
        [[ -n "$cleanup_dir" && -z "${KEEP_LOGS:-}" ]] && rm -rf "$cleanup_dir"
        return 0
    }
    trap cleanup EXIT
}
