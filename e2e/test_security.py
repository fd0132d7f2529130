"""etcd with mutual TLS and authentication, set up by ``dcosctl admin init``.

One etcd for the module, started by it and stopped after: a throwaway CA
(:mod:`localcluster.certs`), a server certificate for 127.0.0.1, clients
must present a certificate the CA signed (``--client-cert-auth``). Two
Domains are applied while auth is still off, then ``dcosctl admin init``
creates root, the controller and one user per Domain and turns auth on.
From then on every command runs as an operator would: the installed
``dcosctl`` with ``DCOS_CONFIG`` naming the config file ``admin`` wrote for
the user, the installed ``dcos-controller`` with ``--config``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from adapters.etcd import EtcdSettings, open_store
from adapters.etcd.client import PermissionDenied
from adapters.protocols import ObjectKey
from crds.errors import Unavailable
from e2e.harness import (
    BIN,
    TIMEOUT,
    Ran,
    app_manifest,
    controller,
    domain_manifest,
    get_app,
    manifest,
    rolled_out,
    sim_master_settings,
    until,
)
from localcluster.certs import Certificates, make_ca
from localcluster.etcd import EtcdServer
from localcluster.mesos.server import LocalMaster

PREFIX = "/dcos"
SCALING_POLICY = """\
apiVersion: dcos/v1
kind: ScalingPolicy
metadata: {name: cart-sales, domain: shop}
spec:
  targetRef: {name: cart}
  schedules:
    - {name: noon, cron: "0 12 * * *", timezone: Asia/Shanghai, instances: 3, until: 1h}
"""
IMAGE = "registry.example.com/shop/web:1.0"
IPPOOL = """\
apiVersion: dcos/v1
kind: IPPool
metadata: {name: vlan9}
spec: {vlan: 9, cidr: 10.9.0.0/24, gateway: 10.9.0.1}
"""


@dataclass(frozen=True)
class Secure:
    """The module's etcd, its certificates and the users' config files."""

    server: EtcdServer
    certs: Certificates
    bootstrap: Path
    users: Path
    init: Ran

    def config(self, user: str) -> Path:
        return self.users / f"{user}.yaml"

    def password(self, user: str) -> str:
        data = yaml.safe_load(self.config(user).read_text())
        password: str = data["contexts"][0]["etcd"]["password"]
        return password

    def settings(
        self, user: str | None, *, cert: bool = True, timeout: float = 5.0
    ) -> EtcdSettings:
        client = self.certs.client()
        return EtcdSettings(
            endpoints=(self.server.endpoint,),
            prefix=PREFIX,
            username=user,
            password=None if user is None else self.password(user),
            ca_file=str(self.certs.ca),
            cert_file=str(client.cert) if cert else None,
            key_file=str(client.key) if cert else None,
            timeout=timeout,
        )


async def ctl(config: Path, *args: str, stdin: str | None = None) -> Ran:
    """The installed ``dcosctl`` with ``DCOS_CONFIG=config`` and nothing else to go on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DCOS_")}
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "dcosctl"),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**env, "DCOS_CONFIG": str(config), "HOME": str(config.parent)},
    )
    try:
        async with asyncio.timeout(TIMEOUT):
            out, err = await proc.communicate(None if stdin is None else stdin.encode())
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


def _write_bootstrap(path: Path, endpoint: str, certs: Certificates) -> None:
    client = certs.client()
    context = {
        "name": "bootstrap",
        "etcd": {
            "endpoints": [endpoint],
            "prefix": PREFIX,
            "ca-file": str(certs.ca),
            "cert-file": str(client.cert),
            "key-file": str(client.key),
        },
    }
    path.write_text(yaml.safe_dump({"current-context": "bootstrap", "contexts": [context]}))
    path.chmod(0o600)


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secure]:
    base = tmp_path_factory.mktemp("secure")
    certs = make_ca(base / "pki")
    client = certs.client()
    tls = (certs.server.cert, certs.server.key)
    with EtcdServer(tls=tls, client_ca=certs.ca, client_cert=(client.cert, client.key)) as server:
        bootstrap = base / "bootstrap.yaml"
        _write_bootstrap(bootstrap, server.endpoint, certs)
        users = base / "users"

        async def prepare() -> Ran:
            spec = manifest(domain_manifest("shop"), domain_manifest("web"))
            applied = await ctl(bootstrap, "apply", "-f", "-", stdin=spec)
            assert applied.code == 0, applied.err
            return await ctl(bootstrap, "admin", "init", "--dir", str(users))

        init = asyncio.run(prepare())
        assert init.code == 0, init.err
        yield Secure(server, certs, bootstrap, users, init)


def _one_error_line(ran: Ran) -> str:
    assert ran.code == 1, (ran.out, ran.err)
    assert "Traceback" not in ran.err, ran.err
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1, ran.err
    return lines[0]


async def test_admin_init_writes_private_configs_and_is_idempotent(secure: Secure) -> None:
    users = ("root", "controller", "viewer", "gitops", "domain-shop", "domain-web")
    for user in users:
        assert re.search(rf"^{user}\s+created\s+{secure.config(user)}$", secure.init.out, re.M)
        assert secure.config(user).stat().st_mode & 0o777 == 0o600
    assert (secure.users / "dcos-controller.yaml").stat().st_mode & 0o777 == 0o600
    assert secure.users.stat().st_mode & 0o777 == 0o700
    assert "etcd auth: enabled" in secure.init.out
    passwords = [secure.password(user) for user in users]
    assert len(set(passwords)) == len(passwords)

    root = secure.config("root")
    again = await ctl(root, "admin", "init", "--dir", str(secure.users))
    assert again.code == 0, again.err
    for user in users:
        assert re.search(rf"^{user}\s+unchanged\s", again.out, re.M), again.out
    assert "etcd auth: already enabled" in again.out
    added = await ctl(root, "admin", "domain", "search", "--dir", str(secure.users))
    assert added.code == 0, added.err
    assert re.search(r"^domain-search\s+created\s", added.out, re.M), added.out

    listed = await ctl(root, "admin", "users")
    assert listed.code == 0, listed.err
    assert re.search(
        r"^domain-shop\s+domain-shop\s+readwrite\s+/dcos/spec/App/shop/\*$", listed.out, re.M
    )
    assert re.search(r"^domain-shop\s+domain-shop\s+read\s+/dcos/\*$", listed.out, re.M)
    assert re.search(r"^controller\s+controller\s+readwrite\s+/dcos/\*$", listed.out, re.M)
    assert re.search(r"^viewer\s+viewer\s+read\s+/dcos/\*$", listed.out, re.M)
    assert not re.search(r"^viewer\s+viewer\s+(read)?write\s", listed.out, re.M)
    assert re.search(r"^gitops\s+gitops\s+readwrite\s+/dcos/spec/\*$", listed.out, re.M)
    for ran in (secure.init, again, listed):
        assert not any(p in ran.out + ran.err for p in passwords)


async def test_a_domain_user_applies_its_apps_and_nothing_else(secure: Secure) -> None:
    shop = secure.config("domain-shop")
    own = await ctl(shop, "apply", "-f", "-", stdin=app_manifest("cart", image=IMAGE, instances=1))
    assert own.code == 0, own.err
    assert "App/shop/cart created" in own.out
    assert own.err == "", own.err  # its apply events were recorded, no warning
    got = await ctl(shop, "get", "apps", "-A")
    assert got.code == 0 and "cart" in got.out, got.err

    other = app_manifest("cart", image=IMAGE, instances=1, domain="web")
    line = _one_error_line(await ctl(shop, "apply", "-f", "-", stdin=other))
    assert "permission denied for user 'domain-shop'" in line
    assert "/dcos/spec/App/web/cart" in line

    cases = {
        "Domain": (domain_manifest("shop"), "/dcos/spec/Domain/_/shop"),
        "IPPool": (IPPOOL, "/dcos/spec/IPPool/_/vlan9"),
    }
    for kind, (doc, key) in cases.items():
        text = doc.replace("WhenExhausted", "Never") if kind == "Domain" else doc
        line = _one_error_line(await ctl(shop, "apply", "-f", "-", stdin=text))
        assert "permission denied" in line and key in line, (kind, line)

    async with open_store(secure.settings("domain-shop")) as store:
        cart = await get_app(store, "shop", "cart")
        assert cart is not None
        with pytest.raises(PermissionDenied, match="/dcos/status/App/shop/cart"):
            await store.update_status(cart)
        with pytest.raises(PermissionDenied, match="/dcos/instances/"):
            await store.put_raw("instances/shop/cart/forged", b"{}")


async def test_a_client_without_credentials_or_certificate_gets_nothing(
    secure: Secure, tmp_path: Path
) -> None:
    async with open_store(secure.settings("root")) as store:
        assert await store.get(ObjectKey("Domain", None, "shop"))
    # The client certificate's common name (dcos-client) is no etcd user: nothing is readable.
    with pytest.raises(PermissionDenied, match="a client without credentials") as caught:
        async with open_store(secure.settings(None)) as store:
            await store.list("Domain")
    assert not isinstance(caught.value, Unavailable)
    with pytest.raises(Unavailable):  # the TLS handshake fails: no client certificate
        async with open_store(secure.settings("domain-shop", cert=False, timeout=2.0)) as store:
            await store.list("Domain")
    line = _one_error_line(await ctl(secure.bootstrap, "get", "domains"))
    assert "permission denied for a client without credentials" in line
    nothing = tmp_path / "nothing.yaml"
    etcd = {"endpoints": [secure.server.endpoint], "ca-file": str(secure.certs.ca), "timeout": 2}
    context = {"name": "x", "etcd": etcd}
    nothing.write_text(yaml.safe_dump({"current-context": "x", "contexts": [context]}))
    line = _one_error_line(await ctl(nothing, "get", "domains"))
    assert "the TLS handshake failed" in line


async def test_a_config_file_readable_by_others_is_refused(secure: Secure, tmp_path: Path) -> None:
    leaky = tmp_path / "leaky.yaml"
    leaky.write_text(secure.config("domain-shop").read_text())
    leaky.chmod(0o644)
    line = _one_error_line(await ctl(leaky, "get", "domains"))
    assert str(leaky) in line and f"chmod 600 {leaky}" in line
    assert secure.password("domain-shop") not in line


@pytest.fixture
async def sim_master() -> AsyncIterator[LocalMaster]:
    async with LocalMaster(sim_master_settings(agents=2)) as started:
        yield started


async def test_the_controller_user_converges_an_app_and_no_secret_leaks(
    secure: Secure, sim_master: LocalMaster, tmp_path: Path
) -> None:
    log = tmp_path / "dcos-controller.log"
    config = secure.users / "dcos-controller.yaml"
    shop = secure.config("domain-shop")
    spec = app_manifest("search", image=IMAGE, instances=2)
    async with (
        controller(
            etcd=secure.server.endpoint,
            prefix=PREFIX,
            mesos=sim_master.url,
            log=log,
            extra_args=("--config", str(config), "--log-level", "debug"),
        ),
        open_store(secure.settings("domain-shop")) as store,
    ):
        applied = await ctl(shop, "apply", "-f", "-", stdin=spec)
        assert applied.code == 0, applied.err

        async def describe() -> str:
            return log.read_text(errors="replace")[-4000:]

        await until(
            "App shop/search to roll out as the controller user",
            lambda: rolled_out(store, "shop", "search"),
            describe=describe,
        )
        events = [e.model_dump_json() for e in await store.events()]
        statuses = json.dumps(await store.list_wire("App"))
        described = await ctl(shop, "describe", "app", "search", "-d", "shop")
    text = log.read_text(errors="replace")
    assert "DEBUG" in text
    everything = "\n".join([text, *events, statuses, described.out, described.err])
    for user in ("root", "controller", "viewer", "gitops", "domain-shop", "domain-web"):
        assert secure.password(user) not in everything, user


async def test_the_viewer_reads_and_diffs_but_writes_nothing(secure: Secure) -> None:
    viewer = secure.config("viewer")
    got = await ctl(viewer, "get", "domains")
    assert got.code == 0 and "shop" in got.out, got.err
    spec = app_manifest("viewed", image=IMAGE, instances=1)
    diffed = await ctl(viewer, "diff", "-f", "-", stdin=spec)
    assert diffed.code == 1 and "App/shop/viewed" in diffed.out, (diffed.out, diffed.err)
    line = _one_error_line(await ctl(viewer, "apply", "-f", "-", stdin=spec))
    assert "permission denied for user 'viewer'" in line and "/dcos/spec/App/shop/viewed" in line


async def test_gitops_syncs_and_prunes_every_kind_but_writes_no_status(
    secure: Secure, tmp_path: Path
) -> None:
    gitops = secure.config("gitops")
    folder = tmp_path / "specs"
    (folder / "ops").mkdir(parents=True)
    (folder / "domains.yaml").write_text(domain_manifest("ops"))
    (folder / "ippools.yaml").write_text(IPPOOL)
    app = folder / "ops" / "apps.yaml"
    app.write_text(app_manifest("tools", image=IMAGE, instances=1, domain="ops"))
    synced = await ctl(gitops, "sync", str(folder), "--prune", "--self-heal")
    assert synced.code == 0, synced.err
    for key in ("Domain/ops", "IPPool/vlan9", "App/ops/tools"):
        assert f"{key} created" in synced.out, synced.out
    assert "warning" not in synced.err, synced.err  # the apply events were recorded

    app.unlink()
    pruned = await ctl(gitops, "sync", str(folder), "--prune")
    assert pruned.code == 0, pruned.err
    assert "App/ops/tools pruned" in pruned.out, pruned.out
    status = await ctl(secure.config("viewer"), "sync", "status", "specs")
    assert status.code == 0, status.err

    async with open_store(secure.settings("gitops")) as store:
        domain = await store.get(ObjectKey("Domain", None, "ops"))
        with pytest.raises(PermissionDenied, match="/dcos/status/Domain/_/ops"):
            await store.update_status(domain)
        with pytest.raises(PermissionDenied, match="/dcos/leader/"):
            await store.put_raw("leader/controller", b"forged")


async def test_a_domain_user_deletes_its_fresh_scaling_policy(secure: Secure) -> None:
    shop = secure.config("domain-shop")
    applied = await ctl(shop, "apply", "-f", "-", stdin=SCALING_POLICY)
    assert applied.code == 0, applied.err
    deleted = await ctl(shop, "delete", "scalingpolicy", "cart-sales", "-d", "shop")
    assert deleted.code == 0, deleted.err
    gone = await ctl(shop, "get", "scalingpolicies", "-d", "shop", "-o", "name")
    assert gone.code == 0 and "cart-sales" not in gone.out, (gone.out, gone.err)
