#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian/Ubuntu machine, then run them:
#   ./run_tests.sh            (extra arguments go to pytest)
# Installs Debian's chromium for the browser tests (scripts/install_browser.sh),
# makes .venv, installs requirements-dev.txt, checks lint and formatting with
# ruff, then runs pytest.
set -euo pipefail
cd "$(dirname "$0")"

scripts/install_browser.sh
scripts/install_postgres.sh
scripts/install_nginx.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
