"""No password in any output or child environment, and no secret sent where a .env points.
Real processes; a private Redis with a password; a fake server that records what it receives."""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.support.private import free_port, stop
from tests.support.waiting import eventually

from .helpers import CLI, cli, env_without_url

SECRET = "p@ss:w/o#r%d? wörd密"
ENCODED = quote(SECRET, safe="")


def spellings(secret: str) -> list[str]:
    """Every way ``secret`` (or a telling part of it) could show up in text."""
    return [secret, quote(secret, safe=""), quote(secret), "wörd", "w%C3%B6rd", "w\\xf6rd"]


def assert_hidden(text: str) -> None:
    for spelling in spellings(SECRET):
        assert spelling not in text, f"{spelling!r} shown in:\n{text}"


@pytest.mark.parametrize(
    "url",
    [
        "redis://alice:{pw}@127.0.0.1:{port}/0?timeout=0.5",
        "redis://127.0.0.1:{port}/0?timeout=0.5&password={pw}",
        "rediss://alice:{pw}@127.0.0.1:{port}/0?timeout=0.5&ssl_password={pw}",
        "unix://alice:{pw}@/nonexistent/redis.sock?timeout=0.5",
        "etcd://alice:{pw}@127.0.0.1:{port}?timeout=1",
        "etcds://alice:{pw}@127.0.0.1:{port}?timeout=1",
        "zk://alice:{pw}@127.0.0.1:{port}?connect_timeout=1",
        "zks://alice:{pw}@127.0.0.1:{port}?connect_timeout=1",
    ],
)
def test_no_output_shows_the_password(url: str) -> None:
    full = url.format(pw=ENCODED, port=free_port())
    for args in (["-vv", "status", "x"], ["run", "-vv", "x", "--once"]):
        extra = ["--", "true"] if args[0] == "run" else []
        result = cli(*args, "--url", full, *extra, timeout=30)
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines()[-1].startswith("leaselect: error: ")
        assert_hidden(result.stdout + result.stderr)


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    conf = tmp_path / "redis.conf"
    conf.write_text(f'port {port}\nbind 127.0.0.1\nsave ""\nrequirepass "{SECRET}"\n')
    server = subprocess.Popen(["redis-server", str(conf)], stdout=subprocess.DEVNULL)
    try:
        assert eventually(lambda: _listening(port))
        yield port
    finally:
        stop(server)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_password_option_reaches_redis_and_never_the_output(redis_with_password: int) -> None:
    port = redis_with_password
    for url in (
        f"redis://127.0.0.1:{port}/0?password={ENCODED}",
        f"redis://:{ENCODED}@127.0.0.1:{port}/0",
    ):
        result = cli("-vv", "status", "x", "--url", url)
        assert result.returncode == 3, result.stderr  # authenticated: nobody leads
        assert_hidden(result.stdout + result.stderr)
    wrong = cli("-vv", "status", "x", "--url", f"redis://:{ENCODED}x@127.0.0.1:{port}/0")
    assert wrong.returncode == 2
    assert_hidden(wrong.stdout + wrong.stderr)


def test_the_command_gets_no_credentials(tmp_path: Path) -> None:
    url, out = f"sqlite:///{tmp_path}/r.db", tmp_path / "env"
    script = f"env > {out}; tr '\\0' '\\n' < /proc/$PPID/environ >> {out}"
    secrets = {
        "LEASELECT_REDIS_PASSWORD": "s-one",
        "REDIS_PASSWORD": "s-two",
        "LEASELECT_ZK_USER": "zk-user",
        "LEASELECT_ZK_PASSWORD": "s-three",
    }
    env = {"LEASELECT_URL": url, **secrets}
    result = subprocess.run(
        [*CLI, "run", "j", "--once", "--", "sh", "-c", script],
        env=env_without_url(**env),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    seen = out.read_text()
    assert "LEASELECT_TOKEN=1" in seen and "LEASELECT_NAME=j" in seen
    for key, value in [*secrets.items(), ("LEASELECT_URL", url)]:
        assert f"{key}=" not in seen and value not in seen
    kept = subprocess.run(
        [*CLI, "run", "j", "--once", "--keep-credentials", "--", "sh", "-c", script],
        env=env_without_url(**env),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert kept.returncode == 0 and "REDIS_PASSWORD=s-two" in out.read_text()


class Recorder:
    """A TCP server that records every byte it receives (a host a .env file points to)."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.received = b""
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(1)
                try:
                    while data := conn.recv(4096):
                        self.received += data
                        conn.sendall(b"-ERR no\r\n")
                except OSError:
                    pass


def test_a_dotenv_url_gets_no_secret_from_the_environment(tmp_path: Path) -> None:
    recorder = Recorder()
    try:
        (tmp_path / ".env").write_text(
            f"LEASELECT_URL=redis://x:${{AWS_SECRET}}@127.0.0.1:{recorder.port}/0?timeout=0.5\n"
        )
        deep = tmp_path
        result = cli("status", "x", cwd=deep, AWS_SECRET="aws-42-secret", REDIS_PASSWORD="rp-9")
        assert result.returncode == 2
        (tmp_path / ".env").write_text(
            f"LEASELECT_URL=redis://127.0.0.1:{recorder.port}/0?timeout=0.5\n"
        )
        result = cli("status", "x", cwd=deep, REDIS_PASSWORD="rp-9")
        assert result.returncode == 2
        assert "REDIS_PASSWORD" in result.stderr  # says why the password was not used
        assert recorder.received  # the client did talk to the host the .env names
        assert b"aws-42-secret" not in recorder.received and b"rp-9" not in recorder.received
        allowed = cli("status", "x", "--env-credentials", cwd=deep, REDIS_PASSWORD="rp-9")
        assert allowed.returncode == 2 and b"rp-9" in recorder.received  # the user said so
    finally:
        recorder.listener.close()


def _nobody() -> int | None:
    try:
        return pwd.getpwnam("nobody").pw_uid if os.geteuid() == 0 else None
    except KeyError:
        return None


@pytest.mark.skipif(
    _nobody() is None and os.environ.get("CI") != "true",
    reason="needs root and a 'nobody' user to give a file to another user",
)
def test_a_dotenv_of_another_user_or_writable_by_others_is_ignored(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(f"LEASELECT_URL=sqlite:///{tmp_path}/s.db\n")
    assert cli("status", "x", cwd=tmp_path).returncode == 3
    os.chown(env, _nobody() or 0, -1)
    foreign = cli("status", "x", cwd=tmp_path)
    assert foreign.returncode == 2 and "ignoring" in foreign.stderr
    os.chown(env, os.geteuid(), -1)
    env.chmod(0o666)
    writable = cli("status", "x", cwd=tmp_path)
    assert writable.returncode == 2 and "ignoring" in writable.stderr


def test_dotenv_is_found_from_a_subdirectory(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"LEASELECT_URL=sqlite:///{tmp_path}/s.db\n")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert cli("status", "x", cwd=deep).returncode == 3
