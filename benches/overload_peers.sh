#!/usr/bin/env bash
# Runs `strata-loadgen overload` against Strata and VictoriaMetrics, one at a time, each on a
# free loopback port with a fresh temp data dir and the users' default settings: finds the
# sustainable write rate (closed loop), drives twice that open-loop, then half, with a query
# every second and the server's RSS sampled; prints each run's summary and JSON line.
#
# usage: benches/overload_peers.sh PAYLOAD_DIR [SERVER...]
#   SERVER: strata | victoria-metrics   (default: both whose binary exists)
# environment:
#   LOADGEN, STRATA_BIN, VICTORIA   binaries (see benches/lib.sh)
#   OVERLOAD_ARGS                   extra loadgen flags, e.g. "--overload-seconds 20"
#   SAME_RATE                       if set, later servers are driven at multiples of the
#                                   first server's sustainable rate (--rate) instead of
#                                   their own probe's, so all see the same offered load
#   STRATA_ARGS                     extra strata serve flags
#   KEEP_LOGS                       if set, keep each server's temp dir and log
#
# Traffic goes only to 127.0.0.1; the loadgen refuses other addresses. Servers are stopped
# by PID (SIGTERM, then SIGKILL after 30 s). Every phase is bounded in time.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=benches/lib.sh
. "$here/lib.sh"

if [[ $# -lt 1 || ! -f "$1/manifest.json" ]]; then
    echo "usage: $0 PAYLOAD_DIR [strata|victoria-metrics ...]" >&2
    exit 2
fi
payloads="$(cd "$1" && pwd)"
shift
servers=("$@")
if [[ ${#servers[@]} -eq 0 ]]; then
    [[ -x "$STRATA_BIN" ]] && servers+=(strata)
    [[ -x "$VICTORIA" ]] && servers+=(victoria-metrics)
fi
echo "payloads: $payloads"
echo "manifest: $(cat "$payloads/manifest.json")"

stop_on_exit

for server in "${servers[@]}"; do
    dir="$(mktemp -d /tmp/overload-"$server".XXXXXX)"
    cleanup_dir="$dir"
    port="$(free_port)"
    extra=()
    write_path=/api/v1/write
    if [[ "$server" == strata && -n "${STRATA_ARGS:-}" ]]; then
        read -r -a extra <<<"$STRATA_ARGS"
    fi
    start_peer "$server" "$port" "$dir/data" "$dir/log" "${extra[@]}"
    cleanup_pid="$peer_pid"
    if ! wait_http "$peer_ready" 60; then
        echo "$server did not become ready; log:" >&2
        tail -20 "$dir/log" >&2
        exit 1
    fi
    echo
    echo "=== $server (pid $peer_pid, port $port)"
    rate_args=()
    [[ -n "${SAME_RATE:-}" && -n "${first_rate:-}" ]] && rate_args=(--rate "$first_rate")
    # shellcheck disable=SC2086
    "$LOADGEN" overload --write-url "http://127.0.0.1:$port$write_path" \
        --query-url "http://127.0.0.1:$port" --dir "$payloads" --pid "$peer_pid" \
        ${OVERLOAD_ARGS:-} "${rate_args[@]}" | tee "$dir/summary"
    if [[ -z "${first_rate:-}" ]]; then
        first_rate="$(tail -1 "$dir/summary" | sed -n 's/.*"sustainable_samples_per_second":\([0-9]*\).*/\1/p')"
    fi
    stop_pid "$peer_pid"
    cleanup_pid=""
    if [[ -n "${KEEP_LOGS:-}" ]]; then
        echo "kept $dir"
    else
        rm -rf "$dir"
    fi
    cleanup_dir=""
done
