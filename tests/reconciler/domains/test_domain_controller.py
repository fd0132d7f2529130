"""The Domain controller against the local master: dynamic reservations and quota."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from adapters.etcd import EtcdStore
from adapters.mesos.http import MesosSettings
from adapters.mesos.operator import MesosOperatorClient
from adapters.protocols import ObjectKey
from crds.agentset import AgentSet, AgentSetSpec, ContainerTemplate
from crds.app import App
from crds.domain import BorrowPolicy, Domain, DomainSpec, Quota, SharedPoolPolicy
from crds.host import Host, HostResources, HostSpec
from crds.meta import ObjectMeta
from e2e.harness import sim_master_settings
from localcluster.mesos.server import LocalMaster
from reconciler.apps.instances import Instance, InstanceState
from reconciler.controllers.domain import DomainReconciler
from reconciler.domains import Amount, reserved_by_role
from reconciler.runtime import Recorder, Request
from reconciler.system import SYSTEM_ROLE


@pytest.fixture
async def mesos() -> AsyncIterator[MesosOperatorClient]:
    settings = sim_master_settings(agents=2)
    agents = tuple(
        dataclasses.replace(spec, hostname=name)
        for spec, name in zip(settings.agents, ("h1", "h2"), strict=True)
    )
    async with (
        LocalMaster(dataclasses.replace(settings, agents=agents)) as master,
        MesosOperatorClient(MesosSettings(masters=(master.url,))) as client,
    ):
        yield client


def host(name: str, domain: str | None) -> Host:
    spec = HostSpec(domain=domain, address="127.0.0.1", resources=HostResources(cpus=4, mem=4096))
    return Host(metadata=ObjectMeta(name=name), spec=spec)


async def reservations(mesos: MesosOperatorClient) -> dict[str, dict[str, Amount]]:
    agents = (await mesos.get_agents()).agents
    return {a.agent_info.hostname: reserved_by_role(a.total_resources) for a in agents}


async def test_reserves_dynamically_sets_quota_and_is_idempotent(
    store: EtcdStore, mesos: MesosOperatorClient
) -> None:
    quota = Quota(cpus=3, mem=2048)
    await store.create(Domain(metadata=ObjectMeta(name="checkout"), spec=DomainSpec(quota=quota)))
    await store.create(host("h1", "checkout"))
    await store.create(host("h2", None))
    template = ContainerTemplate(image="proxy:1", cpus=0.5, mem=256)
    await store.create(
        AgentSet(metadata=ObjectMeta(name="proxy"), spec=AgentSetSpec(template=template))
    )
    reconciler = DomainReconciler(
        store=store, mesos=mesos, recorder=Recorder(store, "domain-controller")
    )
    request = Request("Domain", None, "checkout")

    await reconciler.reconcile(request)

    # The agents' ports are 31000-31019: the top two go to the system slice, the rest to
    # the domain's role.
    system = Amount(0.5, 256, ports=((31018, 31019),))
    assert await reservations(mesos) == {
        "h1": {SYSTEM_ROLE: system, "checkout": Amount(3.5, 3840, ports=((31000, 31017),))},
        "h2": {SYSTEM_ROLE: system},
    }
    configs = {c.role: c for c in (await mesos.get_quota()).configs}
    assert {k: v.value for k, v in configs["checkout"].limits.items()} == {
        "cpus": 3,
        "mem": 2048,
    }
    domain = await store.get(ObjectKey("Domain", None, "checkout"))
    assert isinstance(domain, Domain)
    (reserved,) = [c for c in domain.status.conditions if c.type == "Reserved"]
    assert (reserved.status, domain.status.hosts) == ("True", 1)

    # The agent leaves the domain: its domain share is unreserved, nothing else moves.
    moved = await store.get(ObjectKey("Host", None, "h1"))
    assert isinstance(moved, Host)
    await store.update(
        moved.model_copy(update={"spec": moved.spec.model_copy(update={"domain": None})})
    )
    await reconciler.reconcile(request)
    await reconciler.reconcile(request)
    assert await reservations(mesos) == {
        "h1": {SYSTEM_ROLE: system},
        "h2": {SYSTEM_ROLE: system},
    }


async def test_status_reports_usage_and_borrowed_share(
    store: EtcdStore, mesos: MesosOperatorClient
) -> None:
    borrowing = DomainSpec(shared_pool=SharedPoolPolicy(borrow=BorrowPolicy.WHEN_EXHAUSTED))
    await store.create(Domain(metadata=ObjectMeta(name="checkout"), spec=borrowing))
    await store.create(host("h1", "checkout"))
    await store.create(host("h2", None))
    await store.create(
        App.model_validate(
            {
                "metadata": {"name": "cart", "domain": "checkout"},
                "spec": {"image": "registry.local/cart:1", "cpus": 0.5, "mem": 256},
            }
        )
    )
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    live = [
        Instance(
            instance_id=f"checkout.cart.v1.{n}",
            domain="checkout",
            app="cart",
            version="v1",
            state=InstanceState.RUNNING,
            hostname=hostname,
            launched_at=t0,
        )
        for n, hostname in enumerate(("h1", "h1", "h2"))
    ]
    reconciler = DomainReconciler(
        store=store,
        mesos=mesos,
        recorder=Recorder(store, "domain-controller"),
        instances=lambda: live,
    )

    await reconciler.reconcile(Request("Domain", None, "checkout"))

    domain = await store.get(ObjectKey("Domain", None, "checkout"))
    assert isinstance(domain, Domain)
    status = domain.status
    assert (status.instances, status.allocated_cpus, status.allocated_mem) == (3, 1.5, 768)
    assert (status.borrowed_cpus, status.borrowed_mem) == (0.5, 256)
    assert (status.capacity_cpus, status.capacity_mem) == (4, 4096)
