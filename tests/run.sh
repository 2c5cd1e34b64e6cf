#!/usr/bin/env bash
# The whole test suite on a fresh machine: Python deps, the real servers, lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/venv.sh all,dev
python3 backends/launch.py up
set -a; . .backends-state/test.env; set +a
trap 'python3 backends/launch.py down >/dev/null 2>&1 || true' EXIT
.venv/bin/ruff check leaselect tests benchmarks examples backends
.venv/bin/ruff format --check leaselect tests benchmarks examples backends
.venv/bin/mypy leaselect tests benchmarks
# 4 rounds of every fault per store in CI: at least 180 faults across the four stores
export LEASELECT_FAULT_ROUNDS="${LEASELECT_FAULT_ROUNDS:-4}"
.venv/bin/python -m pytest -p no:cacheprovider "$@"
# The newer lines users run, from Debian 13's packages (backends/README.md, "Newer servers"):
# the contract suite and the etcd and ZooKeeper tests again on etcd 3.5 and ZooKeeper 3.9, but
# not the tests of private servers (system binaries) nor the fault files of each store's directory
# (tests/integration/<store>/test_*faults.py, kept to the main pass so the whole run stays under
# 45 minutes; the anchor tests still kill members here).
if [ "$#" -eq 0 ]; then
  python3 backends/launch.py down etcd zookeeper
  export LEASELECT_ETCD_VERSION=3.5 LEASELECT_ZOOKEEPER_VERSION=3.9
  python3 backends/launch.py up etcd zookeeper
  set -a; . .backends-state/test.env; set +a
  .venv/bin/python -m pytest -p no:cacheprovider tests/contract tests/integration \
    -k "(etcd or zookeeper) and not secure and not faults"
fi
