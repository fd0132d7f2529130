"""Give-back of 20 borrowed instances: from home capacity returning to every instance home.

Three processes besides the benchmark's own: a private etcd, the local Mesos
master with four sim agents (two home hosts of the domain ``shop``, two
shared-pool hosts, 10 cpus each), and one ``dcos-controller run --mesos``
replica, whose Domain controller reserves the home hosts to the role
``shop``.

**Setup.** Domain ``shop`` borrows (``WhenExhausted``, no maxBorrow).
``shop/filler`` (4 instances of 5 cpus) fills both home hosts; then
``shop/web`` (``WEB`` instances of 0.5 cpus, the default capacity bounds:
minimumHealthCapacity 1, maximumOverCapacity 1) can only borrow: the
benchmark waits until all of them run on the shared pool.

**Give-back.** The clock starts when the store answers the write that
scales filler to 0. A watch of web's instance records keeps, at every etcd
revision, the fewest healthy instances and the most active ones seen (they
must stay within ``WEB`` and ``2 * WEB``), and the clock stops at the first
revision where ``WEB`` instances are live, healthy and all on home hosts,
with none left on the shared pool. The controller looks for home capacity
once a second (:data:`reconciler.controllers.giveback.RECHECK_SECONDS`), so
the figure includes up to a second of that wait.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import crds.kinds  # noqa: F401  (registers the kinds)
from adapters.etcd import EtcdStore
from adapters.protocols import Create, ObjectKey
from bench.common import Figure, etcd
from bench.stack import RecordsFollower, controller_on_master
from crds.app import App
from crds.domain import Domain
from crds.registry import parse_object
from reconciler.apps.instances import Instance

logger = logging.getLogger(__name__)

WEB = 20
HOME = ("home-1", "home-2")
SHARED = ("shared-1", "shared-2")
PREFIX = "/bench-giveback"
ALLOCATION_INTERVAL = 0.1
SETUP_TIMEOUT = 20.0
GIVEBACK_TIMEOUT = 60.0
LOG_LEVEL = "warning"


def _cluster_yaml() -> dict[str, Any]:
    resources = {"cpus": 10, "mem": 10240, "disk": 10000, "ports": "31000-32000"}
    return {"agents": [{"hostname": h, "resources": resources} for h in (*HOME, *SHARED)]}


def _app(name: str, instances: int, cpus: float) -> dict[str, Any]:
    return {
        "apiVersion": "dcos/v1",
        "kind": "App",
        "metadata": {"name": name, "domain": "shop"},
        "spec": {
            "image": f"registry.local:5000/shop/{name}:1",
            "instances": instances,
            "cpus": cpus,
            "mem": 64,
        },
    }


def _docs() -> list[dict[str, Any]]:
    hosts = [
        {
            "apiVersion": "dcos/v1",
            "kind": "Host",
            "metadata": {"name": h},
            "spec": {
                "address": "127.0.0.1",
                "resources": {"cpus": 10, "mem": 10240},
                **({"domain": "shop"} if h in HOME else {}),
            },
        }
        for h in (*HOME, *SHARED)
    ]
    domain = {
        "apiVersion": "dcos/v1",
        "kind": "Domain",
        "metadata": {"name": "shop"},
        "spec": {"sharedPool": {"borrow": "WhenExhausted"}},
    }
    return [*hosts, domain]


@dataclass
class _Watch(RecordsFollower):
    """web's instance records revision by revision."""

    checked: int = 0
    armed: bool = False
    fewest_healthy: int = WEB
    most_active: int = 0
    home_at: float | None = None

    def __post_init__(self) -> None:
        self.root = self.store.keys.raw("instances/shop/web") + b"/"

    def live(self) -> list[Instance]:
        return [i for i in self.records.values() if i.is_active]

    def on(self, hosts: tuple[str, ...]) -> int:
        return sum(1 for i in self.live() if i.hostname in hosts and i.is_healthy)

    def _check(self) -> None:
        if not self.armed:
            return
        self.fewest_healthy = min(self.fewest_healthy, sum(i.is_healthy for i in self.live()))
        self.most_active = max(self.most_active, len(self.live()))
        if self.home_at is None and self.home():
            self.home_at = time.perf_counter()
        self.checked += 1

    def arrived(self) -> bool:
        """Every instance is home (the last revision has no successor to check it yet)."""
        if self.home_at is None and self.home():
            self._check()
        return self.home_at is not None

    def home(self) -> bool:
        live = self.live()
        return len(live) == WEB and self.on(HOME) == WEB


@dataclass
class _Results:
    setup: float = 0.0
    giveback: float = 0.0
    fewest_healthy: int = 0
    most_active: int = 0
    checked: int = 0


async def _running(store: EtcdStore, name: str) -> int:
    app = await store.get(ObjectKey("App", "shop", name))
    assert isinstance(app, App)
    return app.status.running_instances or 0


async def _reserved(store: EtcdStore) -> bool:
    domain = await store.get(ObjectKey("Domain", None, "shop"))
    assert isinstance(domain, Domain)
    return any(c.type == "Reserved" and c.status == "True" for c in domain.status.conditions)


async def _scenario(store: EtcdStore, watch: _Watch, res: _Results) -> None:
    started = time.perf_counter()
    await store.commit([Create(parse_object(doc)) for doc in _docs()])
    async with asyncio.timeout(SETUP_TIMEOUT):  # the home hosts reserved to the role shop
        while not await _reserved(store):  # noqa: ASYNC110 (no watch of status)
            await asyncio.sleep(0.05)
    await store.create(parse_object(_app("filler", 4, 5.0)))
    async with asyncio.timeout(SETUP_TIMEOUT):  # filler first, so web finds home full
        while await _running(store, "filler") != 4:  # noqa: ASYNC110 (no watch of status)
            await asyncio.sleep(0.05)
    await store.create(parse_object(_app("web", WEB, 0.5)))
    try:
        await watch.until("setup: web all borrowed", lambda: watch.on(SHARED) == WEB, SETUP_TIMEOUT)
    except RuntimeError:
        web = await store.get(ObjectKey("App", "shop", "web"))
        where = sorted((i.hostname or "-", i.state.value) for i in watch.live())
        raise RuntimeError(f"web not all borrowed: {where}; status {web.status}") from None
    res.setup = time.perf_counter() - started
    filler = await store.get(ObjectKey("App", "shop", "filler"))
    assert isinstance(filler, App)
    spec = filler.spec.model_copy(update={"instances": 0})
    watch.armed = True
    await store.update(filler.model_copy(update={"spec": spec}))
    started = time.perf_counter()
    await watch.until("give-back: web all home", watch.arrived, GIVEBACK_TIMEOUT)
    assert watch.home_at is not None
    res.giveback = watch.home_at - started
    res.fewest_healthy = watch.fewest_healthy
    res.most_active = watch.most_active
    res.checked = watch.checked


async def _measure(endpoint: str, tmp: Path, res: _Results) -> None:
    async with controller_on_master(
        endpoint,
        PREFIX,
        tmp,
        _cluster_yaml(),
        name="bench-giveback",
        allocation_interval=ALLOCATION_INTERVAL,
        log_level=LOG_LEVEL,
    ) as store:
        watch = _Watch(store)
        async with watch.followed():
            await _scenario(store, watch, res)


def run() -> list[Figure]:
    res = _Results()
    with etcd() as server, tempfile.TemporaryDirectory(prefix="bench-giveback-") as tmp:
        asyncio.run(_measure(server.endpoint, Path(tmp), res))
    if res.fewest_healthy < WEB or res.most_active > 2 * WEB:
        raise RuntimeError(
            f"bounds broken: {res.fewest_healthy} healthy (>= {WEB}), "
            f"{res.most_active} active (<= {2 * WEB})"
        )
    return [
        Figure(f"giveback: {WEB} instances borrowed (setup)", res.setup, "s"),
        Figure(f"giveback: home capacity back -> {WEB} instances home", res.giveback, "s"),
        Figure(
            "giveback: fewest healthy during give-back", res.fewest_healthy, "inst", f">= {WEB}"
        ),
        Figure("giveback: most active during give-back", res.most_active, "inst", f"<= {2 * WEB}"),
        Figure("giveback: revisions checked", res.checked, "revs"),
    ]
