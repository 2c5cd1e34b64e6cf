#!/usr/bin/env bash
# Create .venv (installing Debian's python3-venv first if needed) and install leaselect into it.
# Usage: bash tests/venv.sh [EXTRAS]   (default: all,dev)
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${1:-all,dev}
python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { echo "leaselect needs Python >= 3.10 (found $(python3 --version))" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  if ! python3 -m venv .venv 2>/dev/null; then
    rm -rf .venv
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get install -y -q python3-venv >/dev/null || { apt-get update -q && apt-get install -y -q python3-venv; }
      python3 -m venv .venv
    else
      echo "python3 -m venv failed: install your distribution's python3-venv package" >&2; exit 1
    fi
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[${extras}]"
