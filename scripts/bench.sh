#!/usr/bin/env bash
# Starts 3 real bin/herald nodes on loopback and drives them with
# bin/herald-bench through the presets of docs/PERFORMANCE.md, one run each
# (repeat and take medians for published figures). `make bench-load`.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d /tmp/herald-bench.XXXXXX)
trap 'scripts/e2e/cluster.sh stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
HERALD_E2E_LOG_LEVEL=warn scripts/e2e/cluster.sh start 3 "$dir"
T=$(paste -sd, "$dir/urls")
B=(bin/herald-bench -targets "$T" -duration "${BENCH_DURATION:-20s}" -warmup 2s -setup -drain)
for args in "-mode post1 -producers 1" "-mode post1 -producers 64" "-mode post10 -producers 64" \
            "-mode consume -consumers 64 -prefill 30000" "-mode mixed"; do
  echo "== herald-bench $args"
  # shellcheck disable=SC2086
  "${B[@]}" $args
done
