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
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -c requirements/constraints.txt -e '.[test,nlp,images,neo4j]'
# Neo4j: the tests use NEO4J_URI when it is set, else they assemble (Maven) and start the project's own
# server in .neo4j/ on free loopback ports, and stop it at the end.
export MEDKG_NEO4J_HOME=${MEDKG_NEO4J_HOME:-$PWD/.neo4j}
set +e
"$VENV/bin/python" -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "tests/run.sh: no tests were collected; that is a failure" >&2
  exit 1
fi
exit "$rc"
