"""The throwaway CA and an etcd that serves mutual TLS with it; auth turned on."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from adapters.etcd import EtcdSettings, open_store
from crds.errors import Unavailable
from localcluster.certs import CLIENT_CN, make_ca
from localcluster.etcd import EtcdServer

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _openssl(*args: str) -> str:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, check=True)
    return done.stdout


def test_the_ca_signs_a_server_and_a_client_certificate_with_private_keys(tmp_path: Path) -> None:
    certs = make_ca(tmp_path / "pki")
    client = certs.client()
    assert "OK" in _openssl("verify", "-CAfile", str(certs.ca), str(certs.server.cert))
    assert "OK" in _openssl("verify", "-CAfile", str(certs.ca), str(client.cert))
    server = _openssl("x509", "-in", str(certs.server.cert), "-noout", "-ext", "subjectAltName")
    assert "IP Address:127.0.0.1" in server and "DNS:localhost" in server
    subject = _openssl("x509", "-in", str(client.cert), "-noout", "-subject")
    assert f"CN = {CLIENT_CN}" in subject
    for key in (certs.ca_key, certs.server.key, client.key):
        assert key.stat().st_mode & 0o777 == 0o600, key
    assert (tmp_path / "pki").stat().st_mode & 0o777 == 0o700
    before = certs.ca.read_bytes()
    assert make_ca(tmp_path / "pki").ca.read_bytes() == before  # reused, not replaced


def test_etcd_with_client_certificates_and_auth(tmp_path: Path) -> None:
    certs = make_ca(tmp_path / "pki")
    client = certs.client()
    tls = (certs.server.cert, certs.server.key)
    with EtcdServer(tls=tls, client_ca=certs.ca, client_cert=(client.cert, client.key)) as server:
        assert server.endpoint.startswith("https://")
        server.etcdctl("put", "/k", "v")
        without_cert = EtcdSettings(endpoints=(server.endpoint,), ca_file=str(certs.ca), timeout=1)
        with pytest.raises(Unavailable):
            asyncio.run(_open(without_cert))
        server.enable_auth("root-pw")
        assert server.etcdctl("get", "/k", check=False).returncode != 0
        got = server.etcdctl("get", "/k", "--print-value-only", user="root:root-pw")
        assert got.stdout.strip() == "v"


async def _open(settings: EtcdSettings) -> None:
    async with open_store(settings):
        pass


def test_client_ca_needs_tls(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="client_ca needs tls"):
        EtcdServer(tmp_path / "data", client_ca=tmp_path / "ca.pem")
