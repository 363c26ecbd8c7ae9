#!/usr/bin/env bash
# Load figures of docs/PERFORMANCE.md: starts 3 real bin/herald nodes on
# loopback and drives them with bin/herald-bench (`make bench-load`).
#
# Each preset runs BENCH_RUNS times (default 3), interleaved, every run on
# fresh queues; the summary is the median of the runs for every figure, plus
# the servers' CPU time per 1000 requests (utime+stime of the 3 node
# processes) and the raft entries per 1000 requests, which are steadier than
# rates on a shared machine. With BENCH_RSS=1 it then stores 1,000,000
# messages of 256 bytes and reports each node's RSS (and its anonymous and
# file-backed parts: raft.db is mmapped), peak RSS, data dir and newest
# snapshot size.
#
# Environment: BENCH_RUNS (3), BENCH_DURATION (20s), BENCH_PRESETS (all of
# post1-1 post1-64 post10-64 consume consume-bulk mixed), BENCH_RSS (0),
# BENCH_RSS_COUNT (1000000), BENCH_PREFILL (messages stored before each
# consume run, 80000; a run that empties the queues shows many empty
# claims and understates the rate), BENCH_OUT (results dir; default a temp dir,
# kept and printed), BENCH_GOMAXPROCS (the nodes' GOMAXPROCS; default "go":
# Go's default of every core; "share": each node's share of the cores,
# max(1, nproc/3); or a number). Needs jq.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v jq >/dev/null || { echo "bench.sh: needs jq (apt-get install -y jq)" >&2; exit 1; }
if [ ! -x bin/herald ] || [ ! -x bin/herald-bench ]; then
  echo "bench.sh: run 'make build tools' first" >&2
  exit 1
fi

runs=${BENCH_RUNS:-3}
duration=${BENCH_DURATION:-20s}
presets=${BENCH_PRESETS:-post1-1 post1-64 post10-64 consume consume-bulk mixed}
out=${BENCH_OUT:-$(mktemp -d /tmp/herald-bench-results.XXXXXX)}
mkdir -p "$out"
dir=$(mktemp -d /tmp/herald-bench.XXXXXX)
trap 'scripts/e2e/cluster.sh stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
# The three nodes share this machine's cores; BENCH_GOMAXPROCS=share gives
# each its share (docs/PERFORMANCE.md compares both). The load generator
# keeps Go's default.
procs=${BENCH_GOMAXPROCS:-go}
if [ "$procs" = share ]; then
  procs=$(($(nproc) / 3 > 0 ? $(nproc) / 3 : 1))
fi
if [ "$procs" = go ]; then
  HERALD_E2E_LOG_LEVEL=warn scripts/e2e/cluster.sh start 3 "$dir" >/dev/null
else
  GOMAXPROCS=$procs HERALD_E2E_LOG_LEVEL=warn scripts/e2e/cluster.sh start 3 "$dir" >/dev/null
fi
T=$(paste -sd, "$dir/urls")
first=$(head -n1 "$dir/urls")
hz=$(getconf CLK_TCK)

# cpu_ticks: utime+stime of the node processes, in clock ticks.
cpu_ticks() {
  local s=0 pid f
  while read -r pid; do
    read -ra f <"/proc/$pid/stat"
    s=$((s + f[13] + f[14]))
  done <"$dir/pids"
  echo "$s"
}
# commit_index: the leader's raft commit index.
commit_index() {
  local l
  l=$(curl -fsS -m 5 "$first/cluster/status" | jq -r .leader_http_addr)
  curl -fsS -m 5 "http://$l/cluster/status" | jq .commit_index
}

# args_for PRESET: herald-bench flags of the measured run; prefill_for
# PRESET: messages stored (unmeasured) before it.
args_for() {
  case $1 in
  post1-1) echo "-mode post1 -producers 1" ;;
  post1-64) echo "-mode post1 -producers 64" ;;
  post10-64) echo "-mode post10 -producers 64" ;;
  consume) echo "-mode consume -consumers 64 -prefill 0" ;;
  consume-bulk) echo "-mode consume -consumers 64 -prefill 0 -bulk-delete" ;;
  mixed) echo "-mode mixed" ;;
  *) echo "bench.sh: unknown preset $1" >&2; return 1 ;;
  esac
}
prefill_for() {
  case $1 in
  consume*) echo "${BENCH_PREFILL:-80000}" ;;
  *) echo 0 ;;
  esac
}

echo "bench.sh: 3 nodes (GOMAXPROCS $procs), $runs runs x [$presets], $duration each; results in $out" >&2
for ((r = 1; r <= runs; r++)); do
  for p in $presets; do
    a=$(args_for "$p")
    # Queues and prefill first, outside the CPU and entry counts.
    bin/herald-bench -targets "$T" -setup -producers 0 -prefill "$(prefill_for "$p")" -duration 0s \
      >/dev/null 2>&1
    c0=$(cpu_ticks)
    i0=$(commit_index)
    # shellcheck disable=SC2086 # a is a list of flags
    bin/herald-bench -targets "$T" -duration "$duration" -warmup 2s -json $a \
      >"$out/$p-$r.raw.json" 2>/dev/null
    c1=$(cpu_ticks)
    i1=$(commit_index)
    bin/herald-bench -targets "$T" -producers 0 -duration 0s -drain >/dev/null 2>&1
    jq --argjson cpu "$(((c1 - c0) * 1000 / hz))" --argjson ent "$((i1 - i0))" \
      '. + {server_cpu_ms: $cpu, raft_entries: $ent}' "$out/$p-$r.raw.json" >"$out/$p-$r.json"
    rm -f "$out/$p-$r.raw.json"
    jq -r --arg p "$p" --arg r "$r" \
      '"\($p) run \($r): \(.overall.req_per_s) req/s, p99 \(.overall.latency.p99_us/1000) ms, \(.overall.errors) errors"' \
      "$out/$p-$r.json" >&2
  done
done

# Summary: medians over the runs.
echo
echo "| preset | req/s | msgs/s | p50 ms | p90 ms | p99 ms | errors | server CPU ms / 1k req | raft entries / 1k req |"
echo "|---|---|---|---|---|---|---|---|---|"
for p in $presets; do
  jq -s -r --arg p "$p" '
    def median: sort | if length % 2 == 1 then .[length/2|floor] else (.[length/2-1] + .[length/2]) / 2 end;
    def msgs: ([.ops[] | select(.op == "post") | .msgs_per_s] | add) // ([.ops[] | select(.op == "delete") | .msgs_per_s] | add) // 0;
    def r1: . * 10 | round / 10;
    "| \($p) | \([.[].overall.req_per_s] | median | round) | \([.[] | msgs] | median | round) | \([.[].overall.latency.p50_us] | median / 1000 | r1) | \([.[].overall.latency.p90_us] | median / 1000 | r1) | \([.[].overall.latency.p99_us] | median / 1000 | r1) | \([.[].overall.errors] | add) | \([.[] | .server_cpu_ms * 1000 / (.overall.requests + 0.001)] | median | round) | \([.[] | .raft_entries * 1000 / (.overall.requests + 0.001)] | median | round) |"
  ' "$out"/"$p"-[0-9]*.json
done
echo
echo "msgs/s: posted for post presets, consumed (deleted) for consume presets, posted for mixed."

if [ "${BENCH_RSS:-0}" = 1 ]; then
  n=${BENCH_RSS_COUNT:-1000000}
  echo >&2
  echo "bench.sh: storing $n messages of 256 bytes (20 per POST, 16 goroutines)" >&2
  bin/herald-bench -targets "$T" -setup -producers 0 -prefill "$n" -duration 0s -warmup 0s \
    >"$out/rss-fill.log" 2>&1
  sleep 5 # let followers apply the tail
  echo
  echo "| node | VmRSS MiB | RssAnon MiB | RssFile MiB | VmHWM MiB | data dir MiB | newest snapshot MiB |"
  echo "|---|---|---|---|---|---|---|"
  k=0
  while read -r pid; do
    k=$((k + 1))
    rss=$(awk '/^VmRSS/ {print int($2/1024)}' "/proc/$pid/status")
    hwm=$(awk '/^VmHWM/ {print int($2/1024)}' "/proc/$pid/status")
    anon=$(awk '/^RssAnon/ {print int($2/1024)}' "/proc/$pid/status")
    file=$(awk '/^RssFile/ {print int($2/1024)}' "/proc/$pid/status")
    data=$(du -sm "$dir/node$k" | cut -f1)
    snap=$(find "$dir/node$k/raft/snapshots" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' 2>/dev/null |
      sort -n | tail -n1 | cut -d' ' -f2-)
    snapmb=-
    if [ -n "$snap" ]; then snapmb=$(du -sm "$snap" | cut -f1); fi
    echo "| node$k | $rss | $anon | $file | $hwm | $data | $snapmb |"
  done <"$dir/pids"
  echo
  echo "fill: $(tr '\r' '\n' <"$out/rss-fill.log" | grep -v "^$" | tail -n1)"
fi
echo "bench.sh: raw results in $out" >&2
