"""TLS checks the server's host name on every scheme: a certificate from the configured CA but
for another name (``evil.example``) is refused on ``zks://`` (kazoo's default is off) and named
as a host-name mismatch on ``etcds://``. The server is a plain TLS listener that records whether
a handshake completed; the client is the real ``leaselect`` command."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tls import Certs, make_certs

from .helpers import cli


def _evil_cert(certs: Certs, directory: Path) -> tuple[Path, Path]:
    """A certificate for ``evil.example`` signed by the same CA as ``certs``."""
    key, csr, cert, ext = (directory / n for n in ("evil-key.pem", "evil.csr", "evil.pem", "x.cnf"))
    ext.write_text("subjectAltName=DNS:evil.example\nextendedKeyUsage=serverAuth\n")
    run = ["openssl"]
    subprocess.run(
        [
            *run,
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=evil.example",
            "-keyout",
            key,
            "-out",
            csr,
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *run,
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            certs.ca,
            "-CAkey",
            certs.ca.parent / "ca-key.pem",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            ext,
            "-out",
            cert,
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class TlsListener:
    """Accepts TLS connections with one certificate; counts completed handshakes."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.handshakes = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            try:
                with self.context.wrap_socket(raw, server_side=True) as conn:
                    self.handshakes += 1
                    conn.settimeout(0.2)
                    conn.recv(1024)
            except (OSError, ssl.SSLError):
                raw.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def evil(certs: Certs, tmp_path: Path) -> Iterator[TlsListener]:
    listener = TlsListener(*_evil_cert(certs, tmp_path))
    yield listener
    listener.listener.close()


@pytest.fixture
def honest(certs: Certs) -> Iterator[TlsListener]:
    listener = TlsListener(certs.cert, certs.key)
    yield listener
    listener.listener.close()


def test_zks_refuses_a_certificate_for_another_host(certs: Certs, evil: TlsListener) -> None:
    url = f"zks://127.0.0.1:{evil.port}?ca={certs.ca}&connect_timeout=1"
    result = cli("status", "x", "--url", url)
    assert result.returncode == 2
    assert evil.handshakes == 0, "kazoo accepted a certificate for evil.example"


def test_zks_accepts_the_right_host(certs: Certs, honest: TlsListener) -> None:
    url = f"zks://127.0.0.1:{honest.port}?ca={certs.ca}&connect_timeout=1"
    cli("status", "x", "--url", url)  # fails later: the listener speaks no ZooKeeper
    assert honest.handshakes > 0


def test_zks_verify_0_warns_naming_the_option(certs: Certs, evil: TlsListener) -> None:
    url = f"zks://127.0.0.1:{evil.port}?verify=0&connect_timeout=1"
    result = cli("status", "x", "--url", url)
    assert evil.handshakes > 0
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1 and "verify=0" in warnings[0], result.stderr


def test_rediss_verification_off_warns_naming_the_option() -> None:
    for option in ("ssl_cert_reqs=none", "ssl_check_hostname=false"):
        url = f"rediss://127.0.0.1:1/0?{option}&timeout=0.3"
        result = cli("status", "x", "--url", url)
        warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
        assert len(warnings) == 1 and option in warnings[0], result.stderr


def test_etcds_names_a_host_name_mismatch(certs: Certs, evil: TlsListener) -> None:
    url = f"etcds://127.0.0.1:{evil.port}?ca={certs.ca}&timeout=1"
    result = cli("status", "x", "--url", url)
    assert result.returncode == 2
    assert "host name" in result.stderr and "not trusted" not in result.stderr, result.stderr
