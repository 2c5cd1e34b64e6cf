"""etcd: a release whose delete of the leader key failed (the store unreachable, its leader
gone) still hands over as soon as the store answers again, not when the lease runs out."""

from __future__ import annotations

import threading
import time
import uuid

import leaselect
from tests.support.proxy import Proxy, first_host, proxied_url

TTL = 6.0


def test_a_release_whose_delete_failed_hands_over_once_the_store_answers(url: str) -> None:
    name = f"resign-{uuid.uuid4().hex[:8]}"
    proxy = Proxy(first_host(url), mode="forward")
    elected = threading.Event()
    leader = leaselect.Elector(proxied_url(url, [proxy]), name, ttl=TTL, identity="cut")
    waiter = leaselect.Elector(
        url, name, ttl=TTL, identity="next", on_elected=lambda lease: elected.set()
    )
    try:
        assert leader.acquire(timeout=10) is not None
        waiter.start()
        time.sleep(0.5)  # queued behind the leader, watching its key
        proxy.reset("refuse")
        leader.release()  # its delete fails: the key stays, bound to its lease
        assert not elected.is_set()
        proxy.reset("forward")
        healed = time.monotonic()
        assert elected.wait(TTL + 5)
        took = time.monotonic() - healed
        # the lease the key is bound to is no longer kept alive: it would have ended by
        # itself within TTL of the last renewal (1.7-5.7 s after the heal)
        assert took < 1.5, f"the successor led {took:.2f}s after the store answered again"
    finally:
        leader.close()
        waiter.close()
        proxy.close()
