"""Reading the ensemble's tickTime at connect: a refusal of ``conf`` means the default tick, a
question without an answer never leaves a guessed tick behind (the store went down just after
the connect: a guessed 2 s tick refused TTL 2 s for good, and the elector never led again)."""

from __future__ import annotations

import pytest
from kazoo.exceptions import ConnectionLoss

from leaselect.backends.zookeeper.client import DEFAULT_TICK, ClientConfig
from leaselect.backends.zookeeper.connection import Connection
from leaselect.errors import BackendUnavailable
from leaselect.urls import parse

REFUSED = "conf is not executed because it is not in the whitelist.\n"
ANSWER = "clientPort=2181\ntickTime=200\ninitLimit=10\n"


class Client:
    """A kazoo client whose ``conf`` answers are scripted (None: no answer)."""

    def __init__(self, answers: list[str | None], connected: bool = True) -> None:
        self.answers = answers
        self.connected = connected
        self.asked = 0

    def command(self, cmd: bytes) -> str:
        assert cmd == b"conf"
        self.asked += 1
        answer = self.answers.pop(0)
        if answer is None:
            raise ConnectionLoss("No connection to server")
        return answer


def connection() -> Connection:
    return Connection(ClientConfig.from_url(parse("zk://127.0.0.1:1")))


def test_the_tick_comes_from_conf() -> None:
    assert connection()._ask_tick(Client([ANSWER])) == 0.2


def test_a_refused_conf_means_the_default_tick() -> None:
    assert connection()._ask_tick(Client([REFUSED])) == DEFAULT_TICK


def test_no_answer_is_asked_again() -> None:
    client = Client([None, ANSWER])
    assert connection()._ask_tick(client) == 0.2
    assert client.asked == 2


def test_no_answer_on_a_dropped_connection_fails_the_connect() -> None:
    with pytest.raises(BackendUnavailable, match="tickTime"):
        connection()._ask_tick(Client([None, None], connected=False))


def test_an_empty_answer_on_a_dropped_connection_fails_the_connect() -> None:
    """A server going down accepts the four-letter-word connection and closes it: the answer
    is empty, which is no answer (not a refusal)."""
    with pytest.raises(BackendUnavailable, match="tickTime"):
        connection()._ask_tick(Client(["", ""], connected=False))
