#!/usr/bin/env bash
# Install Debian's chromium for the browser tests if it is missing (Playwright
# drives it; Playwright's own browser download needs the internet and is not used).
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -q
$sudo apt-get install -y -q chromium
