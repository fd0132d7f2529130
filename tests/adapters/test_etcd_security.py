"""User/password auth against a real etcd with auth enabled, and TLS settings."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.etcd import EtcdSettings, open_store
from adapters.etcd.client import EtcdClient, _TlsClient
from adapters.etcd.settings import parse_endpoint
from adapters.protocols import ObjectKey
from crds.errors import StoreError, Unavailable
from localcluster.etcd import EtcdServer, free_port
from tests.adapters.kinds import registered, widget


@pytest.fixture(autouse=True)
def _kinds() -> Iterator[None]:
    with registered():
        yield


def _enable_auth(server: EtcdServer) -> EtcdServer:
    """Auth on; user ``shop`` may read and write only under ``/dcos-shop/``."""
    run = server.etcdctl
    run("user", "add", "root:rootpw")
    run("user", "grant-role", "root", "root")
    run("role", "add", "shop-rw")
    run("role", "grant-permission", "shop-rw", "--prefix=true", "readwrite", "/dcos-shop/")
    run("user", "add", "shop:shoppw")
    run("user", "grant-role", "shop", "shop-rw")
    run("auth", "enable")
    return server


@pytest.fixture(scope="module")
def auth_etcd() -> Iterator[EtcdServer]:
    """One etcd with auth for this module's tests that only read or write under a prefix."""
    with EtcdServer() as server:
        yield _enable_auth(server)


async def test_user_password_auth_reads_writes_and_watches(auth_etcd: EtcdServer) -> None:
    settings = EtcdSettings(
        endpoints=(auth_etcd.endpoint,), prefix="/dcos-shop", username="shop", password="shoppw"
    )
    async with open_store(settings) as store:
        start = await store.revision()
        created = await store.create(widget("a"))
        assert await store.get(ObjectKey.of(created)) == created
        async with contextlib.aclosing(store.watch("Widget", revision=start)) as events:
            event = await anext(events)
        assert event.obj == created


async def test_an_expired_auth_token_is_renewed() -> None:
    async with EtcdServer(extra_args=["--auth-token-ttl=1"]) as server:
        await asyncio.to_thread(_enable_auth, server)
        await _renews_token(server)


async def _renews_token(server: EtcdServer) -> None:
    settings = EtcdSettings(
        endpoints=(server.endpoint,), prefix="/dcos-shop", username="shop", password="shoppw"
    )
    async with open_store(settings) as store:
        start = await store.revision()
        created = await store.create(widget("a"))
        token = store.client._client.metadata
        # Not synchronisation: etcd forgets a simple token after its TTL of idleness.
        await asyncio.sleep(2.5)
        async with contextlib.aclosing(store.watch("Widget", revision=start)) as events:
            async with asyncio.timeout(10):
                event = await anext(events)
        assert event.obj == created
        assert store.client._client.metadata != token, "a new token was issued"
        assert await store.get(ObjectKey.of(created)) == created


@pytest.mark.parametrize(
    ("username", "password", "prefix", "message"),
    [
        pytest.param("shop", "wrong", "/dcos-shop", "authentication failed", id="bad-password"),
        pytest.param("shop", "shoppw", "/dcos", "permission denied", id="outside-its-prefix"),
        pytest.param(None, None, "/dcos-shop", "user name is empty", id="no-credentials"),
    ],
)
async def test_refused_credentials_are_store_errors_not_unavailable(
    auth_etcd: EtcdServer, username: str | None, password: str | None, prefix: str, message: str
) -> None:
    settings = EtcdSettings(
        endpoints=(auth_etcd.endpoint,), prefix=prefix, username=username, password=password
    )
    with pytest.raises(StoreError, match=message) as caught:
        async with open_store(settings):
            pass
    assert not isinstance(caught.value, Unavailable)
    assert auth_etcd.endpoint in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"username": "u"}, "username and password", id="user-without-password"),
        pytest.param({"cert_file": "c.pem"}, "cert_file and key_file", id="cert-without-key"),
        pytest.param({"max_txn_ops": 1}, "max_txn_ops", id="txn-too-small"),
        pytest.param({"endpoints": ("ftp://x:1",)}, "http", id="bad-scheme"),
        pytest.param({"endpoints": ()}, "at least one", id="no-endpoints"),
    ],
)
def test_settings_refuse_inconsistent_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EtcdSettings(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "tls", "expected"),
    [
        pytest.param("http://10.0.0.1:2379", False, "http://10.0.0.1:2379", id="http"),
        pytest.param(
            "https://etcd.example.com:2379", False, "https://etcd.example.com:2379", id="https"
        ),
        pytest.param("10.0.0.1:4001", False, "http://10.0.0.1:4001", id="bare"),
        pytest.param("10.0.0.1:4001", True, "https://10.0.0.1:4001", id="bare-with-tls"),
        pytest.param("http://etcd", False, "http://etcd:2379", id="default-port"),
    ],
)
def test_parse_endpoint(text: str, tls: bool, expected: str) -> None:
    assert str(parse_endpoint(text, tls=tls)) == expected


def test_tls_settings_select_a_tls_channel(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    settings = EtcdSettings(endpoints=("https://127.0.0.1:2379",), ca_file=str(ca))
    client = EtcdClient(settings, parse_endpoint(settings.endpoints[0], tls=settings.tls))
    assert isinstance(client._client, _TlsClient)
    plain = EtcdSettings(endpoints=("http://127.0.0.1:2379",))
    assert not isinstance(
        EtcdClient(plain, parse_endpoint("http://127.0.0.1:2379"))._client, _TlsClient
    )


async def test_tls_to_a_plaintext_server_is_unavailable_naming_it(etcd_server: EtcdServer) -> None:
    endpoint = f"https://127.0.0.1:{etcd_server.client_port}"
    with pytest.raises(Unavailable, match=endpoint):
        async with open_store(EtcdSettings(endpoints=(endpoint,), timeout=2.0)):
            pass


async def test_unreachable_tls_endpoint_is_unavailable() -> None:
    endpoint = f"https://127.0.0.1:{free_port()}"
    with pytest.raises(Unavailable, match="dcosctl up"):
        async with open_store(EtcdSettings(endpoints=(endpoint,), timeout=2.0)):
            pass


def _openssl(command: str, **paths: Path) -> None:
    argv = [part.format(**paths) for part in command.split()]
    subprocess.run(["openssl", *argv], check=True, capture_output=True, timeout=60)


@pytest.fixture
def certificates(tmp_path: Path) -> dict[str, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 it signed."""
    files = {n: tmp_path / f"{n}.pem" for n in ("ca", "ca_key", "server", "server_key", "csr")}
    files["san"] = tmp_path / "san.cnf"
    files["san"].write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl(
        "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-ca -keyout {ca_key} -out {ca}",
        **files,
    )
    _openssl(
        "req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout {server_key} -out {csr}",
        **files,
    )
    _openssl(
        "x509 -req -in {csr} -CA {ca} -CAkey {ca_key} -CAcreateserial -days 1 "
        "-extfile {san} -out {server}",
        **files,
    )
    files["client"], files["client_key"] = tmp_path / "client.pem", tmp_path / "client-key.pem"
    _openssl("req -newkey rsa:2048 -nodes -subj /CN=dcos -keyout {client_key} -out {csr}", **files)
    _openssl(
        "x509 -req -in {csr} -CA {ca} -CAkey {ca_key} -CAcreateserial -days 1 -out {client}",
        **files,
    )
    return files


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_tls_with_a_ca_file_round_trips(certificates: dict[str, Path]) -> None:
    async with EtcdServer(tls=(certificates["server"], certificates["server_key"])) as server:
        assert server.endpoint.startswith("https://")
        trusted = EtcdSettings(endpoints=(server.endpoint,), ca_file=str(certificates["ca"]))
        async with open_store(trusted) as store:
            created = await store.create(widget("a"))
            assert await store.get(ObjectKey.of(created)) == created
        untrusted = EtcdSettings(endpoints=(server.endpoint,), timeout=2.0)
        with pytest.raises(Unavailable, match=server.endpoint):
            async with open_store(untrusted):
                pass


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_mutual_tls_with_a_client_certificate(certificates: dict[str, Path]) -> None:
    server_tls = (certificates["server"], certificates["server_key"])
    trust = [f"--trusted-ca-file={certificates['ca']}", "--client-cert-auth"]
    async with EtcdServer(tls=server_tls, extra_args=trust) as server:
        with_cert = EtcdSettings(
            endpoints=(server.endpoint,),
            ca_file=str(certificates["ca"]),
            cert_file=str(certificates["client"]),
            key_file=str(certificates["client_key"]),
        )
        async with open_store(with_cert) as store:
            assert (await store.create(widget("a"))).metadata.name == "a"
        without_cert = EtcdSettings(
            endpoints=(server.endpoint,), ca_file=str(certificates["ca"]), timeout=2.0
        )
        with pytest.raises(Unavailable, match=server.endpoint):
            async with open_store(without_cert):
                pass
