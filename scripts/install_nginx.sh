#!/usr/bin/env bash
# Install Debian's nginx for the lecture-hall deployment and its tests if it is missing
# (deploy/hall.sh runs its own nginx from a configuration in its state folder; the
# package's own service is not used).
set -euo pipefail
command -v nginx >/dev/null 2>&1 && exit 0
[ -x /usr/sbin/nginx ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -q
$sudo apt-get install -y -q nginx
