#!/usr/bin/env bash
# Install everything the test suite needs, then run it against this machine's MariaDB and a
# redis-server of the run's own. Fails if any test fails or if pytest collected no test (exit 5).
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages: Chromium for the dead letter queue page (Playwright drives it; it never downloads a
# browser), and what building mysqlclient (the C MariaDB driver) needs.
debs=()
command -v chromium >/dev/null 2>&1 || debs+=(chromium)
pkg-config --exists libmariadb 2>/dev/null || debs+=(libmariadb-dev pkg-config gcc)
if [ "${#debs[@]}" -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${debs[@]}" >/dev/null
fi
python3 -m pip install --quiet --upgrade pip
python3 -m pip install --quiet -e '.[test]'
python3 -m ruff check .
python3 -m pytest "$@"

# The engine must also work on the RQ and redis-py that Frappe v15 pins (rq 1.15, redis-py 4.5):
# run the submit- and worker-side tests again in a virtualenv holding exactly those versions.
if [ "$#" -eq 0 ]; then
  venv=.venv-frappe-v15-pins
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -e '.[test]'
  "$venv/bin/python" -m pip install --quiet 'rq==1.15.1' 'redis==4.5.5'
  "$venv/bin/python" -c 'import rq, redis; print(f"compat run: rq {rq.__version__}, redis-py {redis.__version__}")'
  PATH="$PWD/$venv/bin:$PATH" "$venv/bin/python" -m pytest -q -k sqlite tests/test_execution.py tests/test_failures.py \
    tests/test_submit.py tests/test_heartbeat.py
fi
