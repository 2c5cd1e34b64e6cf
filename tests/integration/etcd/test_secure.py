"""etcds:// and etcd auth on a private single-member etcd: client certificates, or passwords.

Run: .venv/bin/python -m pytest tests/integration/etcd/test_secure.py
The fixtures start their own /usr/bin/etcd on free 127.0.0.1 ports (the shared test cluster has
neither TLS nor auth) and stop it afterwards. Two setups, because etcd 3.4's gateway refuses a
request that carries a client certificate once auth is enabled ("CommonName of client sending a
request against gateway will be ignored"): mutual TLS without auth, and server TLS with auth.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

import leaselect
from leaselect.backends.etcd.transport import b64, prefix_end
from tests.support.private import elect_and_hand_over, free_port, stop
from tests.support.tls import Certs, make_certs
from tests.support.watching import Recorder, led_by, nobody

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
USER, PASSWORD = "elector", "s3cret-pw"


@dataclass(frozen=True)
class SecureEtcd:
    port: int
    certs: Certs

    mutual: bool  # client certificates required (and no auth)

    def url(self, password: str = PASSWORD, **options: str) -> str:
        files = {"ca": str(self.certs.ca)}
        if self.mutual:
            files.update(cert=str(self.certs.cert), key=str(self.certs.key))
        query = "&".join(f"{k}={v}" for k, v in {**files, **options}.items() if v)
        credentials = "" if self.mutual else f"{USER}:{password}@"
        return f"etcds://{credentials}127.0.0.1:{self.port}?{query}"


def admin_post(base: str, certs: Certs, path: str, body: dict[str, Any], token: str = "") -> Any:
    headers = {"Authorization": token} if token else {}
    response = requests.post(
        f"{base}/v3/{path}",
        json=body,
        headers=headers,
        timeout=5,
        verify=str(certs.ca),
        cert=(str(certs.cert), str(certs.key)),
    )
    assert response.status_code == 200, (path, response.text)
    return response.json()


def enable_auth(base: str, certs: Certs) -> None:
    """root (role root), and USER whose role may read and write /leaselect/ only; auth on."""

    def post(path: str, body: dict[str, Any]) -> None:
        admin_post(base, certs, path, body)

    post("auth/user/add", {"name": "root", "password": "root-pw"})
    post("auth/role/add", {"name": "root"})
    post("auth/user/grant", {"user": "root", "role": "root"})
    post("auth/user/add", {"name": USER, "password": PASSWORD})
    post("auth/role/add", {"name": "elections"})
    prefix = "/leaselect/"
    perm = {"permType": "READWRITE", "key": b64(prefix), "range_end": b64(prefix_end(prefix))}
    post("auth/role/grant", {"name": "elections", "perm": perm})
    post("auth/user/grant", {"user": USER, "role": "elections"})
    post("auth/enable", {})


@pytest.fixture
def mtls_etcd(tmp_path: Path) -> Iterator[SecureEtcd]:
    yield from private_etcd(tmp_path, mutual=True)


@pytest.fixture
def auth_etcd(tmp_path: Path) -> Iterator[SecureEtcd]:
    yield from private_etcd(tmp_path, mutual=False)


def private_etcd(tmp_path: Path, mutual: bool) -> Iterator[SecureEtcd]:
    certs = make_certs(tmp_path)
    port, peer = free_port(), free_port()
    base = f"https://127.0.0.1:{port}"
    tls = ["--cert-file", certs.cert, "--key-file", certs.key]
    if mutual:  # a trusted CA alone already makes etcd ask for client certificates
        tls += ["--trusted-ca-file", certs.ca, "--client-cert-auth"]
    argv = [
        ETCD,
        "--name",
        "secure",
        "--data-dir",
        tmp_path / "data",
        "--listen-client-urls",
        base,
        "--advertise-client-urls",
        base,
        "--listen-peer-urls",
        f"http://127.0.0.1:{peer}",
        "--initial-advertise-peer-urls",
        f"http://127.0.0.1:{peer}",
        "--initial-cluster",
        f"secure=http://127.0.0.1:{peer}",
        *tls,
        "--log-outputs",
        "stderr",
    ]
    with (tmp_path / "etcd.log").open("wb") as log:
        proc = subprocess.Popen([str(a) for a in argv], stdout=log, stderr=log)
    try:
        wait_ready(base, certs, proc)
        if not mutual:
            enable_auth(base, certs)
        yield SecureEtcd(port, certs, mutual)
    finally:
        stop(proc)


def wait_ready(base: str, certs: Certs, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the private etcd exited"
        try:
            admin_post(base, certs, "kv/range", {"key": b64("/")})
            return
        except (requests.RequestException, AssertionError):
            time.sleep(0.1)
    raise AssertionError("the private etcd did not become ready")


def test_client_certificates_elect_and_hand_over(mtls_etcd: SecureEtcd) -> None:
    elect_and_hand_over(mtls_etcd.url(), "secure-job", 3)


def test_a_password_over_tls_elects_and_hands_over(auth_etcd: SecureEtcd) -> None:
    elect_and_hand_over(auth_etcd.url(), "secure-job", 3, PASSWORD)


def test_wrong_password_is_refused_without_showing_it(auth_etcd: SecureEtcd) -> None:
    with pytest.raises(leaselect.ConfigError) as caught:
        leaselect.connect(auth_etcd.url(password="wrong-pw")).observe("secure-job")
    assert "wrong-pw" not in str(caught.value) and USER in str(caught.value)


def test_a_user_outside_its_prefix_is_refused(auth_etcd: SecureEtcd) -> None:
    with pytest.raises(leaselect.ConfigError) as caught:
        leaselect.connect(auth_etcd.url(prefix="/elsewhere")).observe("secure-job")
    assert "permission denied" in str(caught.value) and PASSWORD not in str(caught.value)


def test_an_untrusted_server_certificate_is_refused(mtls_etcd: SecureEtcd, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    other = make_certs(tmp_path / "other")
    with pytest.raises(leaselect.BackendUnavailable, match="not trusted"):
        leaselect.connect(mtls_etcd.url(ca=str(other.ca))).observe("secure-job")


def test_a_missing_client_certificate_is_refused(mtls_etcd: SecureEtcd) -> None:
    with pytest.raises(leaselect.BackendUnavailable):
        leaselect.connect(mtls_etcd.url(cert="", key="")).observe("secure-job")


def test_a_watch_over_tls_with_a_password_sees_the_hand_over(auth_etcd: SecureEtcd) -> None:
    url = auth_etcd.url()
    recorder = Recorder(url, "secure-watch")
    a = leaselect.Elector(url, "secure-watch", ttl=3, identity="a")
    b = leaselect.Elector(url, "secure-watch", ttl=3, identity="b")
    try:
        recorder.expect(nobody, within=5)
        assert a.acquire(timeout=10) is not None
        recorder.expect(led_by("a"), within=3)
        b.start()
        a.release()
        recorder.expect(led_by("b"), within=3)
    finally:
        a.close()
        b.close()
        recorder.close()
