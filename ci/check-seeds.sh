#!/usr/bin/env bash
# Run the suite under several --hypothesis-seed values with the dev profile, so that a
# property that only holds for the derandomised ci examples is caught.
# Usage: ci/check-seeds.sh [SEED...] [-- PYTEST_ARGS...]   (default seeds: 1 2 3 4 5)
# env: PYTHON. Exits non-zero if any seed fails (or collects no tests); lists the failures.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"

seeds=()
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
    seeds+=("$1")
    shift
done
[ "${1:-}" = "--" ] && shift
[ "${#seeds[@]}" -eq 0 ] && seeds=(1 2 3 4 5)

failed=()
for seed in "${seeds[@]}"; do
    echo "ci/check-seeds.sh: --hypothesis-seed=$seed (profile dev)" >&2
    HYPOTHESIS_PROFILE=dev MPLBACKEND=Agg "$PYTHON" -m pytest -n auto -q \
        --hypothesis-seed="$seed" "$@"
    status=$?
    if [ "$status" -ne 0 ]; then
        failed+=("$seed (exit $status)")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "ci/check-seeds.sh: failing seeds: ${failed[*]}" >&2
    exit 1
fi
echo "ci/check-seeds.sh: all seeds passed: ${seeds[*]}" >&2
