#!/usr/bin/env bash
# End-to-end: start a fresh 3-node cluster of bin/herald (built beforehand by
# `make build`; this script builds nothing), drive it with the real
# python-zaqarclient (scripts/e2e/zaqarclient_e2e.py), always stop the
# cluster, and exit with the test's status.
#
# Env: PYTHON (interpreter to use), HERALD_E2E_KEEP=1 (keep the temp dir
# with data and logs even on success), plus those of cluster.sh and
# zaqarclient_e2e.py.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)

# python3 on PATH may not be the interpreter the Debian package installed
# into (e.g. a pyenv shim); prefer one that can import zaqarclient.
pick_python() {
  local py
  for py in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import zaqarclient' >/dev/null 2>&1; then
      echo "$py"
      return 0
    fi
  done
  return 1
}

if ! py=$(pick_python); then
  # Let the test script print its SKIP line and choose the exit status (CI=true fails).
  exec "${PYTHON:-python3}" "$here/zaqarclient_e2e.py"
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/herald-e2e.XXXXXX")
# shellcheck disable=SC2317 # invoked by trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  "$here/cluster.sh" stop "$dir" || true
  if [ "$rc" -eq 0 ] && [ "${HERALD_E2E_KEEP:-}" != 1 ]; then
    rm -rf "$dir"
  else
    if [ "$rc" -ne 0 ]; then
      for f in "$dir"/node*.log; do
        [ -f "$f" ] || continue
        echo "----- last lines of $f -----" >&2
        tail -n 20 "$f" >&2
      done
    fi
    echo "run.sh: data and logs kept in $dir" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mapfile -t urls < <("$here/cluster.sh" start 3 "$dir")
[ "${#urls[@]}" -eq 3 ] || { echo "run.sh: cluster did not start" >&2; exit 1; }

set +e
"$py" "$here/zaqarclient_e2e.py" "${urls[@]}"
rc=$?
set -e
exit "$rc"
