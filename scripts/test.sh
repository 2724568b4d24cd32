#!/usr/bin/env bash
# The whole test suite, on a fresh machine or an old one: installs the test dependencies (and Debian's
# PostgreSQL server when it is missing), runs the style gates, then pytest. The runtime tests start a
# throwaway PostgreSQL cluster on a free local port themselves and stop it afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

echo "== installing orgguard with its test extras"
"$PY" -m pip install -q --disable-pip-version-check -e ".[test,docs]"

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  echo "== installing PostgreSQL (Debian package) for the runtime tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi

echo "== the other supported Pythons (3.10-3.13, where installed), for tests/test_python_versions.py"
"$PY" scripts/pythons.py || echo "   (not all could be prepared: their smoke tests are skipped, saying why)"

echo "== ruff"
"$PY" -m ruff check src tests scripts
echo "== mypy --strict"
"$PY" -m mypy
echo "== pytest"
# exit code 5 (no tests collected) is non-zero, so it fails this script like any other failure
"$PY" -m pytest -n 2 -p no:cacheprovider "$@"
