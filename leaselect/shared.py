"""Backends shared per store URL inside a process.

Electors made from the same URL string use one backend: one connection, one keep-alive round per
TTL, one kazoo client, where a backend each cost a connection, a keep-alive thread and a round
trip per elector (100 electors on ZooKeeper: 301 threads and 100 connections). The backend
closes when the last elector that borrowed it closes. A backend from ``connect()`` is never
shared: pass one to ``Elector`` to keep an elector's connection to itself.

Keys are the URL strings as given (credentials included, kept in memory only). A forked child
shares nothing with its parent: its electors open backends of their own.
"""

from __future__ import annotations

import os
import threading
import weakref

from .backend import Backend
from .registry import connect

_lock = threading.Lock()
# Weak both ways: electors dropped without ``close()`` leave nothing behind (their backend is
# collected with them, as an unshared one would be).
_shared: weakref.WeakValueDictionary[str, Backend] = weakref.WeakValueDictionary()
_users: weakref.WeakKeyDictionary[Backend, int] = weakref.WeakKeyDictionary()


def borrow(url: str) -> Backend:
    """The backend shared for ``url``, opened on first use; give it back with ``give_back``."""
    with _lock:
        found = _take(url)
    if found is not None:
        return found
    opened = connect(url)  # outside the lock: opening may take a round trip
    with _lock:
        found = _take(url)
        if found is None:
            _shared[url], _users[opened] = opened, 1
            return opened
    opened.close()  # another thread opened one meanwhile
    return found


def _take(url: str) -> Backend | None:
    """The open shared backend of ``url``, counted as used once more (under ``_lock``)."""
    backend = _shared.get(url)
    if backend is None or backend.closing:
        return None
    _users[backend] = _users.get(backend, 0) + 1
    return backend


def give_back(backend: Backend) -> None:
    """One elector is done with ``backend``; the last one closes it."""
    with _lock:
        users = _users.get(backend, 0) - 1
        if users > 0:
            _users[backend] = users
            return
        _users.pop(backend, None)
        for url, shared in list(_shared.items()):
            if shared is backend:
                del _shared[url]
    backend.close()


def _forget_in_child() -> None:
    """The parent's backends are not the child's (their threads did not follow the fork)."""
    global _lock
    _lock = threading.Lock()
    _shared.clear()
    _users.clear()


os.register_at_fork(after_in_child=_forget_in_child)
