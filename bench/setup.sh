#!/usr/bin/env bash
# Installs what bench/run.py needs on a fresh Debian machine (run as root).
# System packages are installed only when missing, so a second run is quick and offline-safe.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
dpkg -s libev-dev >/dev/null 2>&1 || missing+=(libev-dev)       # bjoern links against libev
dpkg -s nginx-light >/dev/null 2>&1 || missing+=(nginx-light)
command -v strace >/dev/null 2>&1 || missing+=(strace)         # optional: --syscalls
command -v cc >/dev/null 2>&1 || missing+=(gcc)                # bjoern ships only as sdist

if ((${#missing[@]})); then
    echo "setup: apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
else
    echo "setup: system packages already present"
fi

"$PYTHON" -m pip install -q --root-user-action=ignore -r bench/requirements.txt
echo "setup: done"
