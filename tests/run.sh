#!/usr/bin/env bash
# The whole test suite, from a fresh clone: creates .venv, installs medkg with pinned
# dependencies, starts what the tests need, runs pytest. Usage: bash tests/run.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${MEDKG_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -c requirements/constraints.txt -e '.[test,nlp]'
set +e
"$VENV/bin/python" -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "tests/run.sh: no tests were collected; that is a failure" >&2
  exit 1
fi
exit "$rc"
