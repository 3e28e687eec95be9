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
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -c requirements/constraints.txt -e '.[test,nlp,images,gnn,neo4j,api,mcp,graphrag,ray,remote,eval]'
# The Browser test drives Debian's Chromium with playwright-core (npm; it downloads no browser).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "tests/run.sh: chromium is missing and cannot be installed here (need root and apt-get); the Browser test will skip" >&2
  fi
fi
if command -v npm >/dev/null 2>&1; then
  (cd tests/browser && npm ci --no-audit --no-fund --silent)
fi
# Neo4j: the tests use NEO4J_URI when it is set, else they assemble (Maven) and start the project's own
# server in .neo4j/ on free loopback ports, and stop it at the end.
# The venv's bin first on PATH: any `kg` or `python` a test or tool starts is the one just installed.
export PATH="$(cd "$VENV/bin" && pwd):$PATH"
export MEDKG_NEO4J_HOME=${MEDKG_NEO4J_HOME:-$PWD/.neo4j}
# The layering contract (pyproject.toml [tool.importlinter]): kg.core < extract, embed < graph < kg; no cycles.
"$VENV/bin/lint-imports" --no-cache
# Style and types (pyproject.toml [tool.ruff], [tool.mypy]): zero findings, or the run stops here.
"$VENV/bin/ruff" check kg extract embed graph tests bench docs
"$VENV/bin/mypy"
set +e
"$VENV/bin/python" -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "tests/run.sh: no tests were collected; that is a failure" >&2
  exit 1
fi
exit "$rc"
