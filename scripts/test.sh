#!/usr/bin/env bash
# Install everything the test suite needs, then run it against this machine's MariaDB and a
# redis-server of the run's own. Fails if any test fails or if pytest collected no test (exit 5).
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages: Chromium for the dead letter queue page (Playwright drives it; it never downloads a
# browser), Node.js and npm for the Desk report's and realtime/handlers.js's tests, and what building
# mysqlclient (the C MariaDB driver) needs.
debs=()
command -v chromium >/dev/null 2>&1 || debs+=(chromium)
command -v node >/dev/null 2>&1 || debs+=(nodejs)
command -v npm >/dev/null 2>&1 || debs+=(npm)
pkg-config --exists libmariadb 2>/dev/null || debs+=(libmariadb-dev pkg-config gcc)
if [ "${#debs[@]}" -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${debs[@]}" >/dev/null
fi
python3 -m pip install --quiet --upgrade pip
python3 -m pip install --quiet -e '.[test]'
python3 -m ruff check .
# Two pytest-xdist workers (one per core): most tests wait on servers, workers and sockets rather than
# compute. Each worker is a session of its own (its own redis-server and MariaDB database).
python3 -m pytest -n "${DARTWING_TEST_WORKERS:-2}" --dist worksteal --durations=15 "$@"

# Frappe v15 pins rq 1.15, redis-py 4.5 and PyMySQL 1.1.1. In a virtualenv holding exactly those:
# the Frappe v15 contract host suite (tests/frappe_contract: the binding under Frappe's semantics, on
# MariaDB and the run's own Redis; it is skipped under rq 2 and required here), then the submit- and
# worker-side tests again.
if [ "$#" -eq 0 ]; then
  venv=.venv-frappe-v15-pins
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -e '.[test]'
  "$venv/bin/python" -m pip install --quiet 'rq==1.15.1' 'redis==4.5.5' 'PyMySQL==1.1.1'
  "$venv/bin/python" -c 'import rq, redis; print(f"compat run: rq {rq.__version__}, redis-py {redis.__version__}")'
  PATH="$PWD/$venv/bin:$PATH" DARTWING_CONTRACT_REQUIRED=1 "$venv/bin/python" -m pytest -q -n 2 tests/frappe_contract
  PATH="$PWD/$venv/bin:$PATH" "$venv/bin/python" -m pytest -q -n 2 -k sqlite tests/test_execution.py tests/test_failures.py \
    tests/test_submit.py tests/test_heartbeat.py
fi
