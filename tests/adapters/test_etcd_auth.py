"""Users, roles and key-range permissions on a real etcd: idempotent, converging."""

from __future__ import annotations

import uuid

import pytest

from adapters.etcd import EtcdSettings, open_store
from adapters.etcd.auth import (
    EtcdAuth,
    Grant,
    controller_grants,
    domain_grants,
    domain_user,
)
from adapters.etcd.client import EtcdClient, PermissionDenied
from adapters.etcd.keys import KeySpace
from adapters.etcd.settings import parse_endpoint
from localcluster.etcd import EtcdServer


def test_a_domain_reads_everything_and_writes_only_its_own_specs_events_and_applysets() -> None:
    grants = domain_grants(KeySpace("/dcos"), "shop", ["App", "ScalingPolicy"])
    described = {(g.perm, g.describe()) for g in grants}
    assert described == {
        ("read", "/dcos/*"),
        ("readwrite", "/dcos/spec/App/shop/*"),
        ("readwrite", "/dcos/spec/ScalingPolicy/shop/*"),
        ("readwrite", "/dcos/events/App/shop/*"),
        ("readwrite", "/dcos/events/ScalingPolicy/shop/*"),
        ("readwrite", "/dcos/applysets/shop"),
        ("readwrite", "/dcos/applysets/shop.*"),
    }
    assert Grant.prefix(b"/dcos/spec/App/shop/", "readwrite").range_end == b"/dcos/spec/App/shop0"
    assert domain_user("shop") == "domain-shop"
    assert [g.describe() for g in controller_grants(KeySpace("/dcos"))] == ["/dcos/*"]


def _covers(grant: Grant, key: bytes) -> bool:
    return grant.key <= key < grant.range_end if grant.range_end else grant.key == key


def test_a_domain_never_writes_a_domain_whose_name_starts_with_its_own() -> None:
    writable = [g for g in domain_grants(KeySpace("/dcos"), "shop", ["App"]) if g.perm != "read"]
    for key in (
        b"/dcos/spec/App/shop-eu/web",
        b"/dcos/applysets/shop-eu",
        b"/dcos/status/App/shop/web",
    ):
        assert not any(_covers(g, key) for g in writable), key
    assert any(_covers(g, b"/dcos/applysets/shop.apps") for g in writable)


def _settings(server: EtcdServer, **kwargs: str) -> EtcdSettings:
    return EtcdSettings(endpoints=(server.endpoint,), **kwargs)  # type: ignore[arg-type]


async def test_roles_and_users_are_idempotent_and_converge(etcd_server: EtcdServer) -> None:
    role = f"test-{uuid.uuid4().hex[:8]}"
    settings = _settings(etcd_server)
    client = EtcdClient(settings, parse_endpoint(etcd_server.endpoint))
    auth = EtcdAuth(client)
    try:
        first = [Grant.prefix(b"/a/", "read"), Grant.exact(b"/b", "readwrite")]
        assert await auth.ensure_role(role, first) is True
        assert await auth.ensure_role(role, first) is False
        assert await auth.grants(role) == sorted(first)
        changed = [Grant.prefix(b"/a/", "readwrite"), Grant.prefix(b"/c/", "write")]
        assert await auth.ensure_role(role, changed) is True
        assert await auth.grants(role) == sorted(changed)

        assert await auth.ensure_user(role, "pw-1") is True
        assert await auth.ensure_user(role, "pw-2") is False
        assert await auth.grant_role(role, role) is True
        assert await auth.grant_role(role, role) is False
        assert [u.roles for u in await auth.users() if u.name == role] == [(role,)]
        assert await auth.enabled() is False
    finally:
        await client.close()
        etcd_server.etcdctl("user", "delete", role, check=False)
        etcd_server.etcdctl("role", "delete", role, check=False)


async def test_auth_enabled_confines_a_user_to_its_grants(private_etcd: EtcdServer) -> None:
    admin = EtcdClient(_settings(private_etcd), parse_endpoint(private_etcd.endpoint))
    auth = EtcdAuth(admin)
    try:
        await auth.ensure_role(
            "shop", [Grant.prefix(b"/p/", "read"), Grant.prefix(b"/p/s/", "readwrite")]
        )
        await auth.ensure_user("shop", "shop-pw")
        await auth.grant_role("shop", "shop")
        await auth.ensure_user("root", "root-pw")
        await auth.grant_role("root", "root")
        assert await auth.enable() is True
    finally:
        await admin.close()
    root = EtcdClient(
        _settings(private_etcd, username="root", password="root-pw"),
        parse_endpoint(private_etcd.endpoint),
    )
    try:
        assert await EtcdAuth(root).enable() is False  # already on
    finally:
        await root.close()
    settings = _settings(private_etcd, prefix="/p", username="shop", password="shop-pw")
    async with open_store(settings) as store:
        await store.put_raw("s/mine", b"1")
        assert await store.get_raw("s/mine") == b"1"
        with pytest.raises(PermissionDenied, match=r"user 'shop'.*writing /p/t/theirs"):
            await store.put_raw("t/theirs", b"1")
    assert "shop-pw" not in repr(settings)
