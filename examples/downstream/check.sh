#!/usr/bin/env bash
# A downstream project against the flowexec wheel, the way a user's CI runs it:
# a fresh venv outside this repository, the wheel installed (no checkout on sys.path),
# the project's own tests live, with flow_mock, recorded, replayed with its HTTP
# service down (plain and -n 2), and validated. Replayed results must equal the live
# ones exactly: every nested step address, its status and its output's repr (types,
# dict order). Every stage runs; the failures are listed together at the end.
#
# Usage: examples/downstream/check.sh path/to/flowexec-*.whl
set -uo pipefail
wheel="$(realpath "$1")"
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3}"

work="$(mktemp -d "${TMPDIR:-/tmp}/flowexec-downstream.XXXXXX")"
[ -n "${KEEP_DOWNSTREAM:-}" ] || trap 'rm -rf "$work"' EXIT  # KEEP_DOWNSTREAM=1 to debug
echo "downstream: working in $work"

"$python" -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install --quiet "$wheel" "pytest>=8" "pytest-xdist>=3.5" || exit 1
cp -r "$here/project" "$work/project"
cd "$work/project" || exit 1

failures=()
stage() {  # stage NAME EXPECTED_EXIT ENV... -- pytest args...
  local name="$1" expected="$2"
  shift 2
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  echo "--- downstream: $name"
  env "${envs[@]}" "$py" -m pytest -q --tb=line "$@" 2>&1 | tail -n 25
  local status=${PIPESTATUS[0]}
  if [ "$status" -ne "$expected" ]; then
    failures+=("$name (pytest exit $status, expected $expected)")
  fi
}

# The package is the wheel's, not a checkout's.
"$py" - <<'PY' || failures+=("import from the wheel")
import executor, executor.cache, executor.state, pytest_flowexec
from executor import CachePolicy
assert "site-packages" in executor.__file__, executor.__file__
# hypothesis is an extra: every stage below runs the plugin without it
import importlib.util
assert importlib.util.find_spec("hypothesis") is None, "hypothesis came with the wheel"
PY
"$work/venv/bin/flowexec" --help >/dev/null || failures+=("the flowexec command")

mkdir -p "$work/live" "$work/replay" "$work/replay-n2"
stage "live, service up" 0 ORDERS_SERVICE=up ORDERS_DUMP_DIR="$work/live" --
stage "flow_mock, service down" 0 ORDERS_SERVICE=down -- tests/test_orders_mocked.py
stage "live, service down fails (the check below means something)" 1 ORDERS_SERVICE=down -- \
  tests/test_orders.py -x
stage "record" 0 ORDERS_SERVICE=up -- --flow-record-mode=once
ls fixtures/recordings/tests/*/ >/dev/null 2>&1 || failures+=("record: no recording written")
stage "replay, service down" 0 ORDERS_SERVICE=down ORDERS_DUMP_DIR="$work/replay" -- --flow-replay
stage "replay, service down, -n 2" 0 ORDERS_SERVICE=down ORDERS_DUMP_DIR="$work/replay-n2" -- \
  --flow-replay -n 2
stage "validate, service up" 0 ORDERS_SERVICE=up -- --flow-validate

echo "--- downstream: replayed results equal live ones"
"$py" "$here/compare_dumps.py" "$work/live" "$work/replay" "$work/replay-n2" \
  || failures+=("replayed results differ from live ones")

if [ ${#failures[@]} -ne 0 ]; then
  printf 'downstream: FAILED: %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "downstream: all stages passed"
