#!/usr/bin/env python3
"""Start, stop and inspect the coordination servers that leaselect's tests run against.

Everything listens on 127.0.0.1 only:

- ``redis``: one redis-server on 16379 (append-only file, fsync every second);
- ``etcd-1..3``: a 3-member etcd cluster, clients on 23791-23793, peers on 23801-23803;
- ``zookeeper-1..3``: a 3-member ZooKeeper ensemble, clients on 21811-21813, quorum on
  28881-28883, leader election on 38881-38883.

Usage::

    python3 backends/launch.py up|down [--wipe]|status [STORE...]  # redis, etcd, zookeeper
    python3 backends/launch.py start|stop|kill|pause|resume MEMBER # zookeeper-2, etcd-1, redis
    python3 backends/launch.py leader STORE                         # the raft/zab leader member
    python3 backends/launch.py env                                  # LEASELECT_TEST_*_URL lines
                                                                    # and LEASELECT_URL (for .env)

Data, logs and pid files live in ``$LEASELECT_BACKENDS_STATE`` (default ``<repo>/.backends-state``),
one directory per member. Missing servers are installed from Debian packages when run as root.
The code is the package ``backends.testbed`` (tests import its modules, e.g.
``from backends.testbed import control``). Python standard library only.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends.testbed.cli import main

if __name__ == "__main__":
    sys.exit(main())
