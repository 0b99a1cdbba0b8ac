#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian/Ubuntu machine, then run them:
#   ./run_tests.sh            (extra arguments go to pytest)
# Installs Debian's chromium for the browser tests if it is missing (Playwright
# drives it; its own browser download is not used), makes .venv, installs
# requirements-dev.txt, then runs ruff and pytest.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x /usr/bin/chromium ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  $sudo apt-get install -y -q chromium
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
