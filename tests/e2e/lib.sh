# Shared helpers of the end-to-end scripts (sourced, not run).
#
#   e2e_setup NAME        mktemp -d into $tmp, log prefix NAME, and an EXIT trap that stops
#                         every tracked process by PID (SIGTERM, SIGKILL after 10 s), calls
#                         e2e_on_failure (if the script defines it) when the status is at
#                         least ${E2E_LOGS_FROM_STATUS:-1}, then removes $tmp
#   fail MSG / log MSG    print "NAME: FAIL: MSG" and exit ${E2E_FAIL_STATUS:-1} / print
#   track PID, untrack PID
#   free_port             a loopback port nobody listens on
#   start_strata DIR [ARGS...]
#                         "$STRATA" serve on 127.0.0.1:0 with data in DIR/data, stdout and
#                         stderr in DIR/strata.{out,err}; waits for its address; sets
#                         started_pid and started_addr (host:port)
#   start_prometheus DIR PORT [FLAGS...]
#                         "$PROMETHEUS" with DIR/prometheus.yml (written by the caller),
#                         data in DIR/data, log in DIR/prometheus.log, on PORT (empty: a
#                         free one); sets started_pid, started_port and started_url
#   wait_ready URL PID NAME
#                         polls URL/-/ready until it answers (30 s), failing if PID exits

e2e_setup() {
  E2E_NAME=$1
  tmp=$(mktemp -d)
  e2e_pids=()
  trap e2e_cleanup EXIT INT TERM
}

log() { echo "$E2E_NAME: $*"; }
fail() { echo "$E2E_NAME: FAIL: $*" >&2; exit "${E2E_FAIL_STATUS:-1}"; }

track() { e2e_pids+=("$1"); }
untrack() {
  local keep=() p
  for p in "${e2e_pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  e2e_pids=("${keep[@]}")
}

e2e_cleanup() {
  local rc=$? pid
  for pid in "${e2e_pids[@]}"; do
    kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${e2e_pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$rc" -ge "${E2E_LOGS_FROM_STATUS:-1}" ] && declare -F e2e_on_failure >/dev/null; then
    e2e_on_failure || true
  fi
  rm -rf "$tmp"
  exit "$rc"
}

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  return 1
}

start_strata() {
  local dir=$1; shift
  mkdir -p "$dir"
  "$STRATA" serve --listen 127.0.0.1:0 --data-dir "$dir/data" "$@" >"$dir/strata.out" 2>"$dir/strata.err" &
  started_pid=$!
  track "$started_pid"
  started_addr=""
  for _ in $(seq 1 300); do
    started_addr=$(sed -n 's#^listening on http://##p' "$dir/strata.out" | head -n 1)
    [ -n "$started_addr" ] && return 0
    kill -0 "$started_pid" 2>/dev/null || fail "strata exited during startup: $(tail -n 5 "$dir/strata.err")"
    sleep 0.1
  done
  fail "strata did not print its address"
}

start_prometheus() {
  local dir=$1 port=$2; shift 2
  [ -n "$port" ] || port=$(free_port) || fail "no free port"
  mkdir -p "$dir"
  "$PROMETHEUS" --config.file="$dir/prometheus.yml" \
    --web.listen-address="127.0.0.1:$port" \
    --storage.tsdb.path="$dir/data" \
    --log.level=warn "$@" >"$dir/prometheus.log" 2>&1 &
  started_pid=$!
  track "$started_pid"
  started_port=$port
  started_url="http://127.0.0.1:$port"
}

wait_ready() {
  local url=$1 pid=$2 name=$3
  for _ in $(seq 1 300); do
    curl -fsS "$url/-/ready" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || fail "$name exited during startup"
    sleep 0.1
  done
  fail "$name not ready at $url"
}
