#!/usr/bin/env bash
# Run the test suite in parallel under a Hypothesis profile (default: ci, the deterministic
# gate). Usage: ci/run-tests.sh [PYTEST_ARGS...]; env: HYPOTHESIS_PROFILE, PYTHON.
# pytest's exit code 5 ("no tests collected") is a failure here: an empty run proves nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-ci}"
export MPLBACKEND="${MPLBACKEND:-Agg}"
PYTHON="${PYTHON:-python}"

echo "ci/run-tests.sh: HYPOTHESIS_PROFILE=$HYPOTHESIS_PROFILE" >&2
"$PYTHON" -m pytest -n auto --durations=10 "$@"
status=$?
if [ "$status" -eq 5 ]; then
    echo "ci/run-tests.sh: pytest collected no tests; failing." >&2
    exit 1
fi
exit "$status"
