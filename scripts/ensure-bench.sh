#!/usr/bin/env bash
# `handover bench --scenario rush` (and its smoke test) drive the API with wrk, Debian's HTTP load
# generator (a C program with Lua scripts: far cheaper than the server it measures). Installs the
# `wrk` package with apt when missing (as root); fails loudly when it is missing and cannot be.
set -euo pipefail

if command -v wrk >/dev/null 2>&1; then
    echo "wrk is present"
    exit 0
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-bench: wrk is missing; install it as root:" >&2
    echo "  apt-get update && apt-get install -y wrk" >&2
    exit 1
fi
echo "Installing: wrk"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends wrk
command -v wrk >/dev/null 2>&1 || { echo "ensure-bench: wrk is still missing" >&2; exit 1; }
