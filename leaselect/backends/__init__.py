"""Store adapters, imported lazily by ``leaselect.connect``: one subpackage per store (``redis``,
``etcd``, ``zookeeper``, ``sqlite``), each exporting its backend class; ``etcd_fence`` keeps an
old import path working."""
