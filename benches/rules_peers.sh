#!/usr/bin/env bash
# Steady-state cost of long-window SLO rules: Strata's rule groups (incremental windows) vs
# Prometheus 2.42 evaluating the same rule file, vs VictoriaMetrics answering the same
# expressions as instant queries (with its cache, and with -search.disableCache).
#
# The rule file (written by this script) has two groups evaluated every 30 s: `slo-30d`, the
# three 30-day SLO rules of issue 9 (availability ratio, share of requests over 0.25 s, error
# ratio by job), and `slo-1d`, the same three over one day. The data is the load generator's
# canary fleet (SERIES series at 15 s over HOURS hours, ending when it is generated).
#
# For each server, one at a time, on a free loopback port with a fresh temp data dir:
#   strata      start without rules, load the payloads by remote-write (time order), stop;
#               restart with --rules (this is the restart: its first iteration builds the
#               windows from storage), then record each group's
#               prometheus_rule_group_last_duration_seconds for ITERATIONS iterations after
#               the first, the strata_rule_window_* state figures, and the time of each
#               expression as an instant query (full evaluation, no incremental state).
#   prometheus  start (--storage.tsdb.retention.time=60d) without rules, load, then add the
#               rule file and reload (SIGHUP); record the groups' last durations as above.
#   victoria-metrics  start with its defaults, load, then time each expression as an instant
#               query at the current time (one warm-up, REPEAT timed); restart on the same
#               data with -search.disableCache and time them again.
# Each server is stopped by PID before the next starts. No new samples arrive while rules
# are measured (the same for every server).
#
# usage: benches/rules_peers.sh [SERIES [HOURS [SERVER...]]]     (default 1000 720, all)
#   SERVER: strata | prometheus | victoria-metrics
# environment:
#   PAYLOADS    payload dir (default /tmp/strata-rb-SERIESs-HOURSh; generated if missing,
#               ending now; the data must end shortly before the run, as rules evaluate at
#               the current time and Prometheus refuses samples older than its head)
#   ITERATIONS  steady-state group iterations recorded per server (default 5)
#   REPEAT      timed instant queries per expression (default 5)
#   RESULTS     where figures and logs go (default: a temp dir, printed)
#   LOADGEN STRATA_BIN PROMETHEUS VICTORIA   binaries (defaults: target/release/...,
#               /usr/bin/prometheus, /usr/bin/victoria-metrics)
#   CONCURRENCY replay connections (default 4); MAX_SECONDS replay bound (default 3600)
#   KEEP_LOGS   keep each server's temp dir
#
# Build first: cargo build --release -p strata-server -p strata-benches
# Loopback only. Every wait is bounded; servers are stopped by PID, also on exit.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=benches/lib.sh
. "$here/lib.sh"
LOADGEN="${LOADGEN:-$root/target/release/strata-loadgen}"
STRATA_BIN="${STRATA_BIN:-$root/target/release/strata}"
PROMETHEUS="${PROMETHEUS:-/usr/bin/prometheus}"
VICTORIA="${VICTORIA:-/usr/bin/victoria-metrics}"
CONCURRENCY="${CONCURRENCY:-4}"
MAX_SECONDS="${MAX_SECONDS:-3600}"
ITERATIONS="${ITERATIONS:-5}"
REPEAT="${REPEAT:-5}"

series=${1:-1000}
hours=${2:-720}
if [[ ! "$series" =~ ^[0-9]+$ || ! "$hours" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 [SERIES [HOURS [strata|prometheus|victoria-metrics ...]]]" >&2
    exit 2
fi
shift $(($# < 2 ? $# : 2))
for bin in "$LOADGEN" "$STRATA_BIN"; do
    if [[ ! -x "$bin" ]]; then
        echo "missing $bin: cargo build --release -p strata-server -p strata-benches" >&2
        exit 2
    fi
done
for tool in curl jq python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
servers=("$@")
if [[ ${#servers[@]} -eq 0 ]]; then
    servers+=(strata)
    [[ -x "$PROMETHEUS" ]] && servers+=(prometheus)
    [[ -x "$VICTORIA" ]] && servers+=(victoria-metrics)
fi

payloads="${PAYLOADS:-/tmp/strata-rb-${series}s-${hours}h}"
if [[ ! -f "$payloads/manifest.json" ]]; then
    echo "generating $series series x $hours h into $payloads"
    "$LOADGEN" generate --series "$series" --hours "$hours" --out "$payloads" --end-time now
fi
echo "payloads: $payloads"
echo "manifest: $(cat "$payloads/manifest.json")"

results="${RESULTS:-$(mktemp -d /tmp/strata-rb-results.XXXXXX)}"
mkdir -p "$results"
summary="$results/summary.txt"
: >"$summary"
note() { echo "$*" | tee -a "$summary"; }

# The three SLO expressions over a window.
exprs() {
    local w=$1
    printf '%s\n' \
        "sum(rate(http_requests_total{status=~\"5..\"}[$w])) / sum(rate(http_requests_total[$w]))" \
        "1 - sum(rate(http_request_duration_seconds_bucket{le=\"0.25\"}[$w])) / sum(rate(http_request_duration_seconds_count[$w]))" \
        "sum by (job) (rate(http_requests_total{status=~\"5..\"}[$w])) / sum by (job) (rate(http_requests_total[$w]))"
}
rules="$results/slo-rules.yml"
{
    echo "groups:"
    for w in 30d 1d; do
        echo "  - name: slo-$w"
        echo "    interval: 30s"
        echo "    rules:"
        i=0
        names=(slo:availability_errors:ratio_rate slo:latency_slow:ratio_rate job:availability_errors:ratio_rate)
        while IFS= read -r e; do
            echo "      - record: ${names[$i]}$w"
            echo "        expr: '$e'"
            i=$((i + 1))
        done < <(exprs "$w")
    done
} >"$rules"

# group_values BASE GROUP: "<last_evaluation_timestamp> <last_duration_seconds>" of the
# group whose rule_group label ends in ;GROUP.
group_values() {
    curl -fs --max-time 30 "$1/metrics" 2>/dev/null | python3 -c '
import sys
group = sys.argv[1]
ts = dur = "nan"
for line in sys.stdin:
    if line.startswith("#") or ";" + group + "\"" not in line:
        continue
    name, value = line.split("{", 1)[0], line.rsplit(" ", 1)[1].strip()
    if name == "prometheus_rule_group_last_evaluation_timestamp_seconds":
        ts = value
    elif name == "prometheus_rule_group_last_duration_seconds":
        dur = value
print(ts, dur)
' "$2" || echo "nan nan"
}

# window_values BASE GROUP: the strata_rule_window_* gauges of GROUP, as name=value.
window_values() {
    curl -fs --max-time 30 "$1/metrics" 2>/dev/null |
        awk -v g=";$2\"" '$0 !~ /^#/ && index($0, g) && $1 ~ /^strata_rule_window_/ {
            split($1, a, "{"); printf "%s=%s ", a[1], $NF }'
}

# measure_groups BASE LABEL: waits for ITERATIONS+1 iterations of slo-30d (and as many of
# slo-1d), writes every duration to RESULTS/LABEL.groups and prints first/median.
measure_groups() {
    local base=$1 label=$2 g deadline ts dur last n
    for g in slo-30d slo-1d; do
        : >"$results/$label.$g"
    done
    deadline=$((SECONDS + 60 + 40 * (ITERATIONS + 2)))
    declare -A last_ts=([slo-30d]=nan [slo-1d]=nan)
    while ((SECONDS < deadline)); do
        n=0
        for g in slo-30d slo-1d; do
            read -r ts dur < <(group_values "$base" "$g")
            if [[ "$ts" != nan && "$ts" != 0 && "$ts" != "${last_ts[$g]}" ]]; then
                last_ts[$g]=$ts
                echo "$ts $dur" >>"$results/$label.$g"
            fi
            (($(wc -l <"$results/$label.$g") > ITERATIONS)) && n=$((n + 1))
        done
        ((n == 2)) && break
        sleep 1
    done
    for g in slo-30d slo-1d; do
        python3 - "$results/$label.$g" "$label" "$g" <<'EOF' | tee -a "$summary"
import statistics, sys
path, label, group = sys.argv[1:]
d = [float(l.split()[1]) for l in open(path) if l.strip()]
if len(d) < 2:
    print(f"{label} {group}: only {len(d)} iterations seen")
else:
    steady = d[1:]
    print(f"{label} {group}: first iteration {d[0]*1000:.1f} ms; steady median "
          f"{statistics.median(steady)*1000:.2f} ms (min {min(steady)*1000:.2f}, "
          f"max {max(steady)*1000:.2f}, n={len(steady)})")
EOF
    done
}

# time_queries BASE LABEL W: per expression over W, one warm-up then REPEAT instant queries at
# the current time; prints the median seconds of each and their sum.
time_queries() {
    local base=$1 label=$2 w=$3 e i t out
    local -a meds=()
    while IFS= read -r e; do
        : >"$results/q.tmp"
        for ((i = 0; i <= REPEAT; i++)); do
            out=$(curl -s --max-time 300 -o "$results/q.body" -w '%{http_code} %{time_total}' \
                -G "$base/api/v1/query" --data-urlencode "query=$e" \
                --data-urlencode "time=$(date +%s.%N | cut -c1-14)") || out="000 nan"
            if [[ "${out%% *}" != 200 ]]; then
                echo "query failed on $label ($out): $e: $(head -c 300 "$results/q.body")" >&2
            fi
            ((i > 0)) && echo "${out#* }" >>"$results/q.tmp"
        done
        t=$(sort -g "$results/q.tmp" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
        meds+=("$t")
    done < <(exprs "$w")
    python3 -c '
import sys
label, w, *m = sys.argv[1:]
m = [float(x) for x in m]
print(f"{label} instant queries [{w}]: " + ", ".join(f"{x*1000:.1f}" for x in m)
      + f" ms; sum {sum(m)*1000:.1f} ms")' "$label" "$w" "${meds[@]}" | tee -a "$summary"
}

stop_on_exit
trap 'exit 130' INT TERM

# start KIND DATA LOG EXTRA...: starts a server on a new port; sets pid, base.
start() {
    local kind=$1 data=$2 log=$3
    shift 3
    port="$(free_port)"
    base="http://127.0.0.1:$port"
    start_peer "$kind" "$port" "$data" "$log" "$@"
    pid=$peer_pid
    cleanup_pid=$pid
    local t0=$SECONDS
    if ! wait_http "$peer_ready" 600; then
        echo "$kind did not become ready; log:" >&2
        tail -20 "$log" >&2
        exit 1
    fi
    ready_seconds=$((SECONDS - t0))
}

stop() {
    stop_pid "$pid"
    cleanup_pid=""
}

load() {
    local kind=$1 t0=$SECONDS
    "$LOADGEN" replay --write-url "$base/api/v1/write" --dir "$payloads" \
        --concurrency "$CONCURRENCY" --max-seconds "$MAX_SECONDS" --pid "$pid" \
        >"$results/$kind.load" 2>&1 || { echo "replay against $kind failed:" >&2; tail -5 "$results/$kind.load" >&2; }
    note "$kind load: $((SECONDS - t0)) s; $(tail -1 "$results/$kind.load" | jq -c '{samples_ok, failed_requests, stopped_early, samples_per_second}' 2>/dev/null || tail -1 "$results/$kind.load")"
}

note "rules_peers: $series series x $hours h, groups every 30 s, $(date -u '+%F %T UTC')"
for server in "${servers[@]}"; do
    tmp="$(mktemp -d "/tmp/strata-rb-$server.XXXXXX")"
    cleanup_dir="$tmp"
    log="$tmp/server.log"
    echo
    echo "== $server"
    case "$server" in
    strata)
        start strata "$tmp/data" "$log" --retention 60d
        load strata
        stop
        start strata "$tmp/data" "$log" --retention 60d --rules "$rules"
        note "strata restart: ready in ${ready_seconds} s (the first iteration below rebuilds the windows)"
        measure_groups "$base" strata
        for g in slo-30d slo-1d; do
            note "strata $g windows: $(window_values "$base" "$g")"
        done
        note "strata $(ps -o rss= -p "$pid" | awk '{printf "RSS %.0f MiB", $1/1024}')"
        time_queries "$base" strata 30d
        time_queries "$base" strata 1d
        stop
        ;;
    prometheus)
        start prometheus "$tmp/data" "$log" --storage.tsdb.retention.time=60d
        load prometheus
        printf 'global:\n  scrape_interval: 15s\n  evaluation_interval: 30s\nrule_files: [%s]\nscrape_configs: []\n' \
            "$rules" >"$tmp/data.yml"
        kill -HUP "$pid"
        measure_groups "$base" prometheus
        note "prometheus $(ps -o rss= -p "$pid" | awk '{printf "RSS %.0f MiB", $1/1024}')"
        stop
        ;;
    victoria-metrics)
        start victoria-metrics "$tmp/data" "$log" -retentionPeriod=60d
        load victoria-metrics
        curl -fs -o /dev/null --max-time 60 "$base/internal/force_flush" || true
        time_queries "$base" victoria-metrics 30d
        time_queries "$base" victoria-metrics 1d
        stop
        start victoria-metrics "$tmp/data" "$log" -retentionPeriod=60d -search.disableCache
        time_queries "$base" "victoria-metrics(-search.disableCache)" 30d
        time_queries "$base" "victoria-metrics(-search.disableCache)" 1d
        stop
        ;;
    *)
        echo "unknown server $server" >&2
        exit 2
        ;;
    esac
    if [[ -n "${KEEP_LOGS:-}" ]]; then echo "kept: $tmp"; else rm -rf "$tmp"; fi
    cleanup_dir=""
done
echo
echo "results: $results"
cat "$summary"
