"""The coordination servers leaselect's tests run against, on 127.0.0.1 (standard library only).

Run through ``python3 backends/launch.py`` (``cli``); tests import the modules:

- ``control``: up, down, start/stop/kill/pause/resume a member, restart Redis, status;
- ``health``: health, roles, leaders, waits; ``topology``: the stores and members on this run's
  ports; ``urls``: the ``LEASELECT_TEST_*_URL`` values and test.env; ``env_names``: every
  environment variable name the testbed reads or writes;
- one module per kind of server behind ``kind.ServerKind``: ``redis``, ``etcd``, ``zookeeper``;
- underneath: ``state`` (state dir, port offset), ``lock`` (launchers serialised), ``member``,
  ``procfs`` and ``process`` (processes), ``probe`` (sockets, HTTP), ``envfile``, ``install``
  (Debian packages), ``newer`` (Debian 13's newer servers), ``errors``.
"""
