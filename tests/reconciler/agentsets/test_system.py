"""The system domain helpers on real etcd: owned Apps are created, updated, found and deleted."""

from __future__ import annotations

from adapters.etcd import EtcdStore
from adapters.protocols import ObjectKey
from crds.agentset import AgentSet, AgentSetSpec, ContainerTemplate
from crds.app import App, AppSpec
from crds.domain import BorrowPolicy, Domain
from crds.meta import ObjectMeta
from reconciler.system import (
    SYSTEM_DOMAIN,
    SYSTEM_ROLE,
    delete_owned,
    ensure_system_domain,
    owned_app,
    owned_by,
    owner_selector,
    put_owned,
)


async def _owner(store: EtcdStore) -> AgentSet:
    spec = AgentSetSpec(template=ContainerTemplate(image="proxy:1"))
    created = await store.create(AgentSet(metadata=ObjectMeta(name="proxy"), spec=spec))
    assert isinstance(created, AgentSet)
    return created


async def test_ensure_system_domain_creates_it_once(store: EtcdStore) -> None:
    await ensure_system_domain(store)
    await ensure_system_domain(store)
    domain = await store.get(ObjectKey("Domain", None, SYSTEM_DOMAIN))
    assert isinstance(domain, Domain)
    assert domain.mesos_role == SYSTEM_ROLE
    assert domain.spec.shared_pool.borrow is BorrowPolicy.NEVER
    assert domain.spec.quota.cpus is None


async def test_put_owned_creates_updates_and_leaves_alone(store: EtcdStore) -> None:
    owner = await _owner(store)
    app = owned_app(owner, name="proxy-h1", spec=AppSpec(image="proxy:1"), labels={"a": "b"})
    created = await put_owned(store, app)
    assert created.metadata.domain == SYSTEM_DOMAIN
    assert owned_by(created) == ("AgentSet", "proxy")
    assert created.metadata.labels["a"] == "b"
    ref = created.metadata.owner_references[0]
    assert (ref.kind, ref.name, ref.uid, ref.controller) == (
        "AgentSet",
        "proxy",
        owner.metadata.uid,
        True,
    )

    again = await put_owned(store, app)
    assert again.metadata.resource_version == created.metadata.resource_version

    changed = owned_app(owner, name="proxy-h1", spec=AppSpec(image="proxy:2"))
    updated = await put_owned(store, changed)
    assert updated.spec.image == "proxy:2"
    assert "a" not in updated.metadata.labels
    assert updated.metadata.generation == (created.metadata.generation or 0) + 1

    found = await store.list(
        "App", domain=SYSTEM_DOMAIN, selector=owner_selector("AgentSet", "proxy")
    )
    assert [a.metadata.name for a in found.items] == ["proxy-h1"]


async def test_delete_owned_is_idempotent(store: EtcdStore) -> None:
    owner = await _owner(store)
    await put_owned(store, owned_app(owner, name="proxy-h2", spec=AppSpec(image="proxy:1")))
    await delete_owned(store, "proxy-h2")
    await delete_owned(store, "proxy-h2")
    found = await store.list("App", domain=SYSTEM_DOMAIN)
    assert found.items == []


def test_owned_by_is_none_for_plain_apps() -> None:
    app = App(metadata=ObjectMeta(name="web", domain="shop"), spec=AppSpec(image="web:1"))
    assert owned_by(app) is None
