#!/usr/bin/env bash
# Runs a 3-node Herald cluster in the foreground on loopback for local use
# (`make cluster`). Data lives in ./herald-cluster/nodeN; Ctrl-C stops all
# three gracefully. HTTP APIs: 127.0.0.1:8888, :8898, :8908.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./bin/herald
base=${HERALD_CLUSTER_DIR:-./herald-cluster}
secret=${HERALD_CLUSTER_SECRET:-local-cluster-secret}
pids=()
stop() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM EXIT
for i in 1 2 3; do
  off=$(( (i - 1) * 10 ))
  join=""
  [ "$i" -gt 1 ] && join="-join 127.0.0.1:8890"
  mkdir -p "$base/node$i"
  $bin serve -node-id "node$i" -data-dir "$base/node$i" \
    -http-addr "127.0.0.1:$((8888 + off))" -raft-addr "127.0.0.1:$((8889 + off))" \
    -gossip-addr "127.0.0.1:$((8890 + off))" -bootstrap-expect 3 \
    -cluster-secret "$secret" $join > >(sed -u "s/^/[node$i] /") 2>&1 &
  pids+=($!)
done
echo "3 nodes starting: http://127.0.0.1:8888 http://127.0.0.1:8898 http://127.0.0.1:8908 (Ctrl-C stops)"
wait
