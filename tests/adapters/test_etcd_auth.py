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
    gitops_grants,
    viewer_grants,
)
from adapters.etcd.client import EtcdClient, PermissionDenied
from adapters.etcd.keys import KeySpace
from adapters.etcd.settings import parse_endpoint
from adapters.protocols import ObjectKey
from crds.errors import NotFound
from localcluster.etcd import EtcdServer
from tests.adapters.kinds import Widget, WidgetStatus, registered, widget


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


def test_the_viewer_only_reads_and_gitops_writes_what_sync_writes() -> None:
    keys = KeySpace("/dcos")
    assert {(g.perm, g.describe()) for g in viewer_grants(keys)} == {("read", "/dcos/*")}
    gitops = gitops_grants(keys)
    assert {(g.perm, g.describe()) for g in gitops} == {
        ("read", "/dcos/*"),
        ("readwrite", "/dcos/spec/*"),
        ("readwrite", "/dcos/events/*"),
        ("readwrite", "/dcos/applysets/sync.*"),
        ("readwrite", "/dcos/syncs/*"),
    }
    writable = [g for g in gitops if g.perm != "read"]
    for key in (
        b"/dcos/spec/Domain/_/shop",
        b"/dcos/spec/IPPool/_/vlan9",
        b"/dcos/spec/App/shop/web",
        b"/dcos/events/App/shop/web/Created",
        b"/dcos/applysets/sync.specs",
        b"/dcos/syncs/specs",
    ):
        assert any(_covers(g, key) for g in writable), key
    for key in (
        b"/dcos/status/App/shop/web",
        b"/dcos/leader/controller",
        b"/dcos/instances/shop/web/web-0",
        b"/dcos/ipam/IPPool/vlan9/web-0",
        b"/dcos/applysets/shop",
        b"/dcos/syncs",
        b"/dcos/specs/x",
    ):
        assert not any(_covers(g, key) for g in writable), key


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


async def test_a_domain_user_deletes_an_object_without_status_but_not_a_status(
    private_etcd: EtcdServer,
) -> None:
    """Deleting an object without a status writes no status key; one with a
    status needs the controller (etcd refuses the status key's delete)."""
    admin = EtcdClient(_settings(private_etcd), parse_endpoint(private_etcd.endpoint))
    auth = EtcdAuth(admin)
    try:
        await auth.ensure_role("domain-shop", domain_grants(KeySpace("/p"), "shop", ["Widget"]))
        await auth.ensure_user("domain-shop", "shop-pw")
        await auth.grant_role("domain-shop", "domain-shop")
        await auth.ensure_user("root", "root-pw")
        await auth.grant_role("root", "root")
        await auth.enable()
    finally:
        await admin.close()
    fresh, reported = ObjectKey("Widget", "shop", "fresh"), ObjectKey("Widget", "shop", "reported")
    root = _settings(private_etcd, prefix="/p", username="root", password="root-pw")
    shop = _settings(private_etcd, prefix="/p", username="domain-shop", password="shop-pw")
    with registered():
        async with open_store(shop) as store:
            await store.create(widget("fresh"))
            await store.create(widget("reported"))
        async with open_store(root) as store:
            got = await store.get(reported)
            assert isinstance(got, Widget)
            await store.update_status(got.model_copy(update={"status": WidgetStatus(ready=1)}))
        async with open_store(shop) as store:
            assert await store.delete(fresh) is None
            with pytest.raises(NotFound):
                await store.get(fresh)
            with pytest.raises(PermissionDenied, match="/p/status/Widget/shop/reported"):
                await store.delete(reported)
            assert await store.get(reported) is not None, "a refused delete deletes nothing"
