#!/usr/bin/env bash
# Install Debian's PostgreSQL server for the room store's tests if initdb is missing
# (the tests start a private, throwaway server of their own: tests/pg.py).
set -euo pipefail
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && exit 0
command -v initdb >/dev/null 2>&1 && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -q
$sudo apt-get install -y -q postgresql
