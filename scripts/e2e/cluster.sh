#!/usr/bin/env bash
# Starts and stops a local N-node Herald cluster of real processes for
# end-to-end tests. Builds nothing: it runs bin/herald (make build), or
# $HERALD_BIN.
#
#   cluster.sh start N DIR   start N nodes on 127.0.0.1 (ports chosen by the
#                            kernel), data in DIR/nodeK, logs in DIR/nodeK.log,
#                            PIDs in DIR/pids; wait (bounded) until all agree
#                            on a leader, see N alive members and are ready;
#                            print the HTTP URLs (also written to DIR/urls)
#   cluster.sh stop DIR      SIGTERM exactly the PIDs in DIR/pids, wait
#                            (bounded), then SIGKILL those still alive
#   cluster.sh urls DIR      print the HTTP URLs of a started cluster
#
# Environment: HERALD_BIN (binary), HERALD_E2E_START_TIMEOUT (seconds,
# default 30), HERALD_E2E_STOP_TIMEOUT (seconds, default 15),
# HERALD_E2E_LOG_LEVEL (default info), HERALD_E2E_DEBUG=1 (each node also
# serves pprof on a kernel-chosen loopback port, logged as "serving pprof").
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${HERALD_BIN:-$root/bin/herald}
start_timeout=${HERALD_E2E_START_TIMEOUT:-30}
stop_timeout=${HERALD_E2E_STOP_TIMEOUT:-15}
log_level=${HERALD_E2E_LOG_LEVEL:-info}
debug=${HERALD_E2E_DEBUG:-}

die() { echo "cluster.sh: $*" >&2; exit 1; }

usage() {
  echo "usage: $0 start N DIR | stop DIR | urls DIR" >&2
  exit 2
}

# json_field FILE-OR-STRING KEY: the string value of "KEY" in a flat JSON
# document (good enough for listen.json and /cluster/status).
json_field() {
  tr -d '\n' <<<"$1" | grep -o "\"$2\"[[:space:]]*:[[:space:]]*\"[^\"]*\"" | head -n1 |
    sed 's/.*:[[:space:]]*"\([^"]*\)"$/\1/'
}

# alive PID DIR: the process exists, is not a zombie and is a node of the
# cluster in DIR (its command line names DIR/node...), which guards
# against signalling a recycled PID.
alive() {
  local pid=$1 dir=$2 state cmd
  [ -r "/proc/$pid/stat" ] || return 1
  state=$(sed 's/^.*) \(.\).*/\1/' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ "$state" != Z ] && [ "$state" != X ] || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *" -data-dir $dir/node"* ]]
}

now() { date +%s; }

stop_cluster() {
  local dir=$1 pids=() pid deadline left
  [ -f "$dir/pids" ] || { echo "cluster.sh: no $dir/pids; nothing to stop" >&2; return 0; }
  dir=$(cd "$dir" && pwd)
  while read -r pid; do
    [[ $pid =~ ^[0-9]+$ ]] && pids+=("$pid")
  done <"$dir/pids"
  for pid in "${pids[@]}"; do
    # SIGCONT too, so a node a chaos test left SIGSTOPped can act on SIGTERM.
    if alive "$pid" "$dir"; then
      kill -TERM "$pid" 2>/dev/null || true
      kill -CONT "$pid" 2>/dev/null || true
    fi
  done
  deadline=$(($(now) + stop_timeout))
  while :; do
    left=()
    for pid in "${pids[@]}"; do
      if alive "$pid" "$dir"; then left+=("$pid"); fi
    done
    [ ${#left[@]} -eq 0 ] && break
    if [ "$(now)" -ge "$deadline" ]; then
      echo "cluster.sh: still alive after ${stop_timeout}s, sending SIGKILL: ${left[*]}" >&2
      for pid in "${left[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
      break
    fi
    sleep 0.2
  done
  # Reap our own children (when called from start's failure path).
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -f "$dir/pids"
}

# status_ok URL N: prints the leader id if the node is ready, knows a leader
# and sees N alive members; fails otherwise.
status_ok() {
  local url=$1 n=$2 body leader members
  curl -fsS -m 2 -o /dev/null "$url/readyz" 2>/dev/null || return 1
  body=$(curl -fsS -m 2 "$url/cluster/status" 2>/dev/null) || return 1
  leader=$(json_field "$body" leader_id)
  [ -n "$leader" ] || return 1
  members=$(grep -o '"gossip_state"[[:space:]]*:[[:space:]]*"alive"' <<<"$body" | wc -l)
  [ "$members" -eq "$n" ] || return 1
  echo "$leader"
}

dump_logs() {
  local dir=$1 f
  for f in "$dir"/node*.log; do
    [ -f "$f" ] || continue
    echo "----- last lines of $f -----" >&2
    tail -n 30 "$f" >&2
  done
}

# on_start_exit runs when start exits early: a failed start leaves nothing running.
# shellcheck disable=SC2317 # invoked by trap
on_start_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "cluster.sh: start failed" >&2
    dump_logs "$start_dir"
    stop_cluster "$start_dir"
  fi
}

start_cluster() {
  local n=$1 dir=$2 k pid deadline join="" listen urls=() leaders leader url ok
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, got '$n'"
  [ -x "$bin" ] || die "$bin not found or not executable; run 'make build' first (or set HERALD_BIN)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/pids" ]; then
    while read -r pid; do
      if [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" "$dir"; then die "$dir already has a running cluster (pid $pid)"; fi
    done <"$dir/pids"
  fi
  : >"$dir/pids"
  rm -f "$dir/urls"

  # On any failure from here on: show the logs and stop what was started.
  start_dir=$dir
  trap on_start_exit EXIT
  deadline=$(($(now) + start_timeout))

  start_node() { # start_node K
    local k=$1 args
    mkdir -p "$dir/node$k"
    rm -f "$dir/node$k/listen.json"
    args=(serve -node-id "node$k" -data-dir "$dir/node$k"
      -http-addr 127.0.0.1:0 -raft-addr 127.0.0.1:0 -gossip-addr 127.0.0.1:0
      -bootstrap-expect "$n" -cluster-secret e2e-secret -signed-url-key e2e-signing-key
      -subscriber-allow-cidrs 127.0.0.0/8
      -log-level "$log_level")
    if [ -n "$join" ]; then args+=(-join "$join"); fi
    if [ -n "$debug" ]; then args+=(-debug-addr 127.0.0.1:0); fi
    "$bin" "${args[@]}" >"$dir/node$k.log" 2>&1 </dev/null &
    echo $! >>"$dir/pids"
  }

  # wait_listen K: wait for DIR/nodeK/listen.json; prints its contents.
  wait_listen() {
    local k=$1 f pid
    f="$dir/node$k/listen.json"
    pid=$(sed -n "${k}p" "$dir/pids")
    while [ ! -s "$f" ]; do
      alive "$pid" "$dir" || die "node$k (pid $pid) exited during start"
      [ "$(now)" -lt "$deadline" ] || die "node$k wrote no $f within ${start_timeout}s"
      sleep 0.1
    done
    cat "$f"
  }

  start_node 1
  listen=$(wait_listen 1)
  join=$(json_field "$listen" gossip_addr)
  [ -n "$join" ] || die "no gossip_addr in $dir/node1/listen.json: $listen"
  for ((k = 2; k <= n; k++)); do start_node "$k"; done
  for ((k = 1; k <= n; k++)); do
    listen=$(wait_listen "$k")
    url="http://$(json_field "$listen" http_addr)"
    [ "$url" != "http://" ] || die "no http_addr in $dir/node$k/listen.json: $listen"
    urls+=("$url")
  done

  while :; do
    ok=1 leaders=()
    for url in "${urls[@]}"; do
      if leader=$(status_ok "$url" "$n"); then leaders+=("$leader"); else ok=0; break; fi
    done
    if [ $ok -eq 1 ] && [ "$(printf '%s\n' "${leaders[@]}" | sort -u | wc -l)" -eq 1 ]; then break; fi
    for ((k = 1; k <= n; k++)); do
      pid=$(sed -n "${k}p" "$dir/pids")
      alive "$pid" "$dir" || die "node$k (pid $pid) exited while waiting for the cluster to form"
    done
    [ "$(now)" -lt "$deadline" ] ||
      die "cluster not formed within ${start_timeout}s (want one leader, $n alive members, /readyz 200 on every node)"
    sleep 0.2
  done

  printf '%s\n' "${urls[@]}" >"$dir/urls"
  trap - EXIT
  echo "cluster.sh: $n nodes up in $dir, leader ${leaders[0]}" >&2
  printf '%s\n' "${urls[@]}"
}

case "${1:-}" in
start)
  [ $# -eq 3 ] || usage
  start_cluster "$2" "$3"
  ;;
stop)
  [ $# -eq 2 ] || usage
  stop_cluster "$2"
  ;;
urls)
  [ $# -eq 2 ] || usage
  [ -f "$2/urls" ] || die "no $2/urls; is the cluster started?"
  cat "$2/urls"
  ;;
*) usage ;;
esac
