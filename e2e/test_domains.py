"""Borrowing and give-back on the local master: a domain full at home borrows, then comes home.

Real etcd, a local master of sim agents, and in this process a controller
manager running the Mesos framework, the App controller and the Domain
controller (dynamic reservations of the domains' hosts, status every half
second). The data center::

    home-1    3 cpus   Host.spec.domain shop    reserved to role shop by the Domain controller
    vault-1   1 cpu    Host.spec.domain vault   reserved to role vault
    shared-1  2 cpus   no domain                the shared pool
    shared-2  2 cpus   no domain                the shared pool

Domain shop borrows (``WhenExhausted``, ``maxBorrow: {cpus: 1.5}``), vault
never does. shop/filler (1.5 cpus) takes half of home-1, so shop/web
(0.5 cpus each) scaled to 7 runs 3 at home, borrows 3 (1.5 cpus, the
limit) and leaves the 7th waiting; vault/safe (0.5 cpus) scaled to 4 runs 2
and leaves 2 waiting, never on the shared pool. A watch of every instance
record checks, at every etcd revision, that shop never borrows more than
1.5 cpus and vault nothing. Then web is scaled to 6 and filler to 0: home
has room again, and the three borrowed instances come home one replacement
at a time, while a :class:`~e2e.harness.CapacityWatch` checks at every
revision that web never has fewer than 6 healthy instances (nor more than
12 active).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.etcd import EtcdStore
from adapters.mesos.operator import MesosOperatorClient
from adapters.protocols import ObjectKey
from crds.app import App
from crds.domain import Domain
from crds.host import Host
from e2e.harness import CapacityWatch, controllers_on, mesos_client_settings, until
from localcluster.mesos.server import LocalMaster
from localcluster.mesos.settings import AgentSpec, MasterSettings, SimSettings
from reconciler.apps.instances import Instance
from reconciler.controllers import domain as domain_controller
from reconciler.framework import MesosFramework
from reconciler.runtime import Manager

WITHIN = 20.0
HOSTS: dict[str, tuple[float, str | None]] = {  # hostname -> (cpus, Host.spec.domain)
    "home-1": (3.0, "shop"),
    "vault-1": (1.0, "vault"),
    "shared-1": (2.0, None),
    "shared-2": (2.0, None),
}
SHARED = {"shared-1", "shared-2"}
MAX_BORROW_CPUS = 1.5
WEB_CPUS = 0.5


@pytest.fixture
async def master() -> AsyncIterator[LocalMaster]:
    agents = tuple(
        AgentSpec(
            hostname=name,
            cpus=cpus,
            mem=1024 * cpus,
            ports="31000-31019",
            containerizer="sim",
        )
        for name, (cpus, _) in HOSTS.items()
    )
    settings = MasterSettings(
        agents=agents,
        heartbeat_interval=0.5,
        allocation_interval=0.05,
        allocation_batch=0.01,
        status_update_retry=0.5,
        default_refuse_seconds=0.2,
        sim=SimSettings(running_delay=0.05),
    )
    async with LocalMaster(settings) as started:
        yield started


@contextlib.asynccontextmanager
async def controllers(master: LocalMaster, store: EtcdStore) -> AsyncIterator[None]:
    async def domains(
        manager: Manager, framework: MesosFramework, stack: contextlib.AsyncExitStack
    ) -> None:
        ops = await stack.enter_async_context(MesosOperatorClient(mesos_client_settings(master)))
        domain_controller.register(manager, mesos=ops, instances=framework.records.all, resync=0.5)

    async with controllers_on(master, store, domains):
        yield


class BorrowWatch(CapacityWatch):
    """Every revision of all instance records (the record following of
    :class:`~e2e.harness.CapacityWatch`): shop borrows at most ``maxBorrow`` cpus
    of the shared pool, vault nothing."""

    def __init__(self, store: EtcdStore) -> None:
        super().__init__(store, domain="", name="", instances=0, min_health=0, max_over=0)
        self.start = store.keys.raw("instances/")
        self.most_borrowed = 0.0

    def _check(self) -> None:
        away = [
            i
            for i in (Instance.from_json(v) for v in self.records.values())
            if i.is_active and i.hostname in SHARED
        ]
        borrowed = sum(WEB_CPUS for i in away if i.domain == "shop")
        self.most_borrowed = max(self.most_borrowed, borrowed)
        if borrowed > MAX_BORROW_CPUS + 1e-9:
            self.violations.append(f"revision {self.revision}: shop borrows {borrowed} cpus")
        for i in away:
            if i.domain != "shop":
                self.violations.append(f"revision {self.revision}: {i.instance_id} on {i.hostname}")
        self.checked += 1


def _host(name: str, cpus: float, domain: str | None) -> Host:
    spec: dict[str, Any] = {
        "address": "127.0.0.1",
        "resources": {"cpus": cpus, "mem": 1024 * cpus},
    }
    if domain is not None:
        spec["domain"] = domain
    return Host.model_validate({"metadata": {"name": name}, "spec": spec})


def _app(domain: str, name: str, instances: int, cpus: float) -> App:
    return App.model_validate(
        {
            "metadata": {"name": name, "domain": domain},
            "spec": {
                "image": f"registry.example.com/{domain}/{name}:1.0",
                "instances": instances,
                "cpus": cpus,
                "mem": 64,
                "backoff": {"backoffSeconds": 0.05, "maxLaunchDelaySeconds": 0.5},
            },
        }
    )


async def _scale(store: EtcdStore, domain: str, name: str, instances: int) -> None:
    obj = await store.get(ObjectKey("App", domain, name))
    assert isinstance(obj, App)
    spec = obj.spec.model_copy(update={"instances": instances})
    await store.update(obj.model_copy(update={"spec": spec}))


def _running(master: LocalMaster, app: str) -> dict[str, int]:
    """Running tasks of the App per host, as the master reports them."""
    hosts = {a.id: a.hostname for a in master.master.state.agents.values()}
    found: dict[str, int] = {}
    for fw in master.master.state.frameworks.values():
        for rec in fw.tasks.values():
            if str(rec.state) == "TASK_RUNNING" and f".{app}." in rec.task_id:
                host = hosts.get(rec.agent_id, "?")
                found[host] = found.get(host, 0) + 1
    return found


async def _domain(store: EtcdStore, name: str) -> Domain:
    obj = await store.get(ObjectKey("Domain", None, name))
    assert isinstance(obj, Domain)
    return obj


async def _app_status(store: EtcdStore, domain: str, name: str) -> App:
    obj = await store.get(ObjectKey("App", domain, name))
    assert isinstance(obj, App)
    return obj


async def test_borrow_up_to_max_borrow_then_give_back(
    master: LocalMaster, store: EtcdStore
) -> None:
    for name, (cpus, domain) in HOSTS.items():
        await store.create(_host(name, cpus, domain))
    await store.create(
        Domain.model_validate(
            {
                "metadata": {"name": "shop"},
                "spec": {"sharedPool": {"borrow": "WhenExhausted", "maxBorrow": {"cpus": 1.5}}},
            }
        )
    )
    await store.create(Domain.model_validate({"metadata": {"name": "vault"}, "spec": {}}))

    async def describe() -> str:
        web = await _app_status(store, "shop", "web")
        shop = await _domain(store, "shop")
        return (
            f"running: web {_running(master, 'web')}, filler {_running(master, 'filler')}, "
            f"safe {_running(master, 'safe')}\nweb status: {web.status.model_dump_json()}\n"
            f"shop status: {shop.status.model_dump_json()}"
        )

    async def settled(app: str, per_host: dict[str, int]) -> bool:
        return _running(master, app) == per_host

    async def reserved() -> bool:
        for name in ("shop", "vault"):
            conditions = (await _domain(store, name)).status.conditions
            if not any(c.type == "Reserved" and c.status == "True" for c in conditions):
                return False
        return True

    async with controllers(master, store), BorrowWatch(store) as borrow:
        await until("home hosts reserved", reserved, within=WITHIN, describe=describe)
        await store.create(_app("shop", "filler", 1, 1.5))
        await until(
            "filler at home",
            lambda: settled("filler", {"home-1": 1}),
            within=WITHIN,
            describe=describe,
        )
        await store.create(_app("shop", "web", 7, WEB_CPUS))
        await store.create(_app("vault", "safe", 4, 0.5))

        async def web_borrows() -> bool:
            running = _running(master, "web")
            app = await _app_status(store, "shop", "web")
            return (
                running.get("home-1") == 3
                and sum(running.get(h, 0) for h in SHARED) == 3
                and "maxBorrow cpus" in (app.status.placement or "")
            )

        await until(
            "web borrowing 3, the 7th waiting", web_borrows, within=WITHIN, describe=describe
        )

        async def safe_waits() -> bool:
            app = await _app_status(store, "vault", "safe")
            placement = app.status.placement or ""
            return _running(master, "safe") == {"vault-1": 2} and "borrow Never" in placement

        await until("safe at home only", safe_waits, within=WITHIN, describe=describe)

        async def status_borrowed() -> bool:
            shop = await _domain(store, "shop")
            rows = {r.host: r for r in shop.status.per_host}
            return (
                shop.status.borrowed_cpus == 1.5
                and "home-1" in rows
                and not rows["home-1"].borrowed
                and rows["home-1"].used_cpus == 3.0
                and sum(r.instances for r in rows.values() if r.borrowed) == 3
            )

        await until(
            "shop's status shows the borrowing", status_borrowed, within=WITHIN, describe=describe
        )

        # Home capacity returns: web back to 6 (the waiting one is dropped), filler gone.
        await _scale(store, "shop", "web", 6)

        async def web_six() -> bool:
            app = await _app_status(store, "shop", "web")
            running = _running(master, "web")
            return sum(running.values()) == 6 and app.status.placement is None

        await until("web at 6", web_six, within=WITHIN, describe=describe)
        async with CapacityWatch(
            store, domain="shop", name="web", instances=6, min_health=1.0, max_over=1.0
        ) as capacity:
            await _scale(store, "shop", "filler", 0)
            await until(
                "every web instance home",
                lambda: settled("web", {"home-1": 6}),
                within=WITHIN,
                describe=describe,
            )

            async def records_home() -> bool:
                records = [
                    Instance.from_json(v) for _, v in await store.list_raw("instances/shop/web")
                ]
                live = [i for i in records if i.is_active]
                return len(live) == 6 and all(i.hostname == "home-1" for i in live)

            await until("web's records all at home", records_home, within=WITHIN, describe=describe)
        assert capacity.violations == []
        assert capacity.checked > 0

        async def status_home() -> bool:
            shop = await _domain(store, "shop")
            return shop.status.borrowed_cpus == 0 and not any(
                r.borrowed for r in shop.status.per_host
            )

        await until(
            "shop's status shows nothing borrowed", status_home, within=WITHIN, describe=describe
        )
        events = await store.events(ObjectKey("App", "shop", "web"))
        told = "\n".join(f"{e.reason} x{e.count}: {e.message}" for e in events)
        counts = {e.reason: e.count for e in events}  # one event per reason, counted
        assert counts.get("GivingBack") == 3, told
        assert counts.get("GaveBack") == 3, told
        giving = next(e for e in events if e.reason == "GivingBack")
        assert "to home-1" in giving.message and "from shared-" in giving.message
    assert borrow.violations == []
    assert borrow.most_borrowed == MAX_BORROW_CPUS
    assert borrow.checked > 0
    assert _running(master, "safe") == {"vault-1": 2}
