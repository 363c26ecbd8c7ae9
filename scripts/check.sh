#!/usr/bin/env bash
# Checks the package import rules of DESIGN.md and the purity of the FSM.
# Run by `make check`.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=$(go list -m)
fail=0

# deps PKG -> the project packages PKG imports (non-test files).
deps() { go list -f '{{join .Imports "\n"}}' "./$1" 2>/dev/null | grep "^$mod/" | sed "s#^$mod/##" || true; }

# allow PKG PATTERN...: PKG may import only project packages matching a pattern.
allow() {
  local pkg=$1; shift
  [ -d "$pkg" ] || return 0
  while read -r dep; do
    [ -z "$dep" ] && continue
    local ok=0
    for p in "$@"; do case "$dep" in $p) ok=1 ;; esac; done
    if [ $ok = 0 ]; then echo "import rule: $pkg must not import $dep"; fail=1; fi
  done < <(deps "$pkg")
}

allow fsm
allow client
allow internal/faultnet
allow cluster 'fsm' 'internal/*'
allow httpapi 'fsm' 'internal/*'
allow dispatcher 'fsm' 'internal/*' 'dispatcher/*'
allow node 'fsm' 'cluster' 'httpapi' 'dispatcher' 'dispatcher/*' 'internal/*'
allow cmd/herald 'node' 'client' 'internal/*' 'fsm'

# Only cmd/herald and testcluster may import node.
for p in $(go list ./... | sed "s#^$mod/##"); do
  case "$p" in cmd/*|testcluster|testcluster/*|node) continue ;; esac
  if deps "$p" | grep -qx node; then echo "import rule: $p must not import node"; fail=1; fi
done

# FSM purity: no clocks, randomness, I/O, environment or goroutines.
if grep -nE 'time\.(Now|Since|Until|Sleep|After|Tick|NewTimer|NewTicker)|math/rand|crypto/rand|"os"|(^|[^a-zA-Z0-9_])os\.|"net"|"net/|go func|^\s*go [a-zA-Z]' $(ls fsm/*.go | grep -v '_test.go'); then
  echo "fsm purity: the lines above use a clock, randomness, I/O or goroutines"; fail=1
fi

[ $fail = 0 ] && echo "check: ok"
exit $fail
