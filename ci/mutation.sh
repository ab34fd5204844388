#!/usr/bin/env bash
# Bounded mutation testing of the ntpprops core modules (NOT part of every CI run: it takes
# ~1 h of CPU). Samples a fixed number of operator/constant mutants per module with a fixed
# seed, runs each against that module's targeted test files only (dev Hypothesis profile,
# pytest -x, a per-mutant timeout) in a scratch copy, and prints one JSON line per mutant and
# a per-module table. See ci/mutation.py for the operators and docs/testing.md for the last
# measured table and the equivalent mutants.
#
# Usage: ci/mutation.sh [--modules _bounds _compat ...] [--per-module N] [--seed S]
#                       [--timeout SECONDS] [--out FILE]
# env: PYTHON (default: python).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
echo "ci/mutation.sh: $(uptime)" >&2
exec "$PYTHON" ci/mutation.py "$@"
