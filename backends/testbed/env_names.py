"""The environment variables of the testbed: the store URLs it hands to the tests (read by
``tests/stores.py``) and the settings it reads itself."""

from __future__ import annotations

REDIS_URL = "LEASELECT_TEST_REDIS_URL"
ETCD_URL = "LEASELECT_TEST_ETCD_URL"
ZK_URL = "LEASELECT_TEST_ZK_URL"
URL_VARIABLES = {"redis": REDIS_URL, "etcd": ETCD_URL, "zookeeper": ZK_URL}

STATE_DIR = "LEASELECT_BACKENDS_STATE"  # data, logs, pid files and test.env
PORT_OFFSET = "LEASELECT_BACKENDS_PORT_OFFSET"  # added to every port
ETCD_VERSION = "LEASELECT_ETCD_VERSION"  # 3.5: Debian 13's etcd
ZOOKEEPER_VERSION = "LEASELECT_ZOOKEEPER_VERSION"  # 3.9: Debian 13's ZooKeeper
