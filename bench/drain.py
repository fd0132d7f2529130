"""Draining a host with 100 instances: the time until nothing runs on it, bounds kept.

Three processes besides the benchmark's own: a private etcd, the local Mesos
master with ``AGENTS`` sim agents (``python -m localcluster mesos --cluster``)
and one ``dcos-controller run --mesos`` replica.

**Setup.** The agents are ``node-01`` ... ``node-20``, each mirrored by an
Active Host. ``node-01`` is the Domain's own host: all of it is reserved for
the Domain's role (the Host has ``spec.domain``), the others are the shared
pool. The Domain borrows nothing at first (``sharedPool.borrow: Never``), so
the ``APPS`` Apps of ``INSTANCES`` each, committed in one transaction batch,
all land on ``node-01``: 100 instances on one host, the others empty. Once
they run, the Domain may borrow (``WhenExhausted``): nothing moves, its own
host still has room.

**Drain.** The clock starts when the store answers the write that sets
``node-01``'s ``spec.lifecycle`` to Draining (what the Host controller does
when the CMDB marks the server decommissioning). Placement then refuses
``node-01``, its own offers no longer fit and the shared pool takes the
replacements; each App moves its instances within its capacity bounds
(``STRATEGY``). The benchmark's watch of the instance records reports:

- the time until no live record (neither ended nor Killing) is on the host,
  until no active one is (every KILL ended), and until every App is back to
  exactly ``INSTANCES`` healthy instances;
- the capacity bounds checked at every etcd revision, per App, as
  ``e2e.harness.CapacityWatch`` does: at most ``N + floor(N x
  maximumOverCapacity)`` active and at least ``ceil(N x
  minimumHealthCapacity)`` healthy; and records placed on the draining host
  after the drain (none may be).

Sizes are module constants; a run takes about ten seconds. ``KEEP_DIR``
keeps the master's and controller's logs.
"""

from __future__ import annotations

import asyncio
import logging
import math
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import crds.kinds  # noqa: F401  (registers the kinds)
from adapters.etcd import EtcdStore
from adapters.etcd.client import prefix_end
from adapters.protocols import Create, ObjectKey
from bench.common import Figure, etcd
from bench.stack import RecordsFollower, controller_on_master
from crds.domain import BorrowPolicy, Domain, SharedPoolPolicy
from crds.host import Host, HostLifecycle
from crds.registry import parse_object
from reconciler.apps.instances import Instance, InstanceState

logger = logging.getLogger(__name__)

AGENTS = 20
APPS = 10
INSTANCES = 10
CPUS = 0.1
MEM = 32
STRATEGY = {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 0.2}
"""Every App's upgradeStrategy: never below N healthy, two replacements at a time."""
DRAINED = "node-01"
DOMAIN = "bench"
PREFIX = "/bench-drain"
ALLOCATION_INTERVAL = 0.1
SETUP_TIMEOUT = 60.0
DRAIN_TIMEOUT = 120.0
LOG_LEVEL = "warning"
KEEP_DIR: str | None = None


def _hostname(i: int) -> str:
    return f"node-{i:02d}"


def _cluster_yaml() -> dict[str, Any]:
    """``node-01`` reserved whole for the Domain's role; the rest in the shared pool."""
    own = {"cpus": 12, "mem": 8192, "disk": 10000, "ports": "31000-32000"}
    amounts = f"cpus:{own['cpus']};mem:{own['mem']}"
    shared = {"cpus": 16, "mem": 16384, "disk": 10000, "ports": "31000-32000"}
    return {
        "agents": [
            {"hostname": DRAINED, "resources": own, "reservations": {DOMAIN: amounts}},
            {"hostname": _hostname(2), "count": AGENTS - 1, "resources": shared},
        ]
    }


def _docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "dcos/v1",
            "kind": "Domain",
            "metadata": {"name": DOMAIN},
            "spec": {"sharedPool": {"borrow": "Never"}},
        }
    ]
    for i in range(1, AGENTS + 1):
        spec: dict[str, Any] = {
            "address": f"10.0.0.{i}",
            "resources": {"cpus": 12 if i == 1 else 16, "mem": 8192 if i == 1 else 16384},
        }
        if i == 1:
            spec["domain"] = DOMAIN
        docs.append(
            {
                "apiVersion": "dcos/v1",
                "kind": "Host",
                "metadata": {"name": _hostname(i)},
                "spec": spec,
            }
        )
    for a in range(APPS):
        docs.append(
            {
                "apiVersion": "dcos/v1",
                "kind": "App",
                "metadata": {"name": f"app-{a:02d}", "domain": DOMAIN},
                "spec": {
                    "image": "registry.local:5000/bench/web:1.0",
                    "instances": INSTANCES,
                    "cpus": CPUS,
                    "mem": MEM,
                    "upgradeStrategy": STRATEGY,
                },
            }
        )
    return docs


# ------------------------------------------------------------------ processes


# ------------------------------------------------------------------ the watch


@dataclass
class _Watch(RecordsFollower):
    """The instance records revision by revision: bounds per App, the drained host."""

    touched: set[str] = field(default_factory=set)  # apps changed in ``revision``
    checked: int = 0
    violations: list[str] = field(default_factory=list)
    max_active: int = INSTANCES + math.floor(INSTANCES * STRATEGY["maximumOverCapacity"] + 1e-9)
    min_healthy: int = math.ceil(INSTANCES * STRATEGY["minimumHealthCapacity"] - 1e-9)
    armed: bool = False  # bounds checked (from convergence on)
    there: set[str] = field(default_factory=set)  # on the drained host when the drain began
    landed: list[str] = field(default_factory=list)  # placed there after it

    def __post_init__(self) -> None:
        self.root = self.store.keys.raw(f"instances/{DOMAIN}") + b"/"

    def _applied(self, old: Instance | None, new: Instance | None) -> None:
        self.touched.update(i.app for i in (old, new) if i is not None)

    def _check(self) -> None:
        if self.armed and self.touched:
            per_app: dict[str, list[Instance]] = defaultdict(list)
            for inst in self.records.values():
                if inst.app in self.touched:
                    per_app[inst.app].append(inst)
            for app in self.touched:
                insts = per_app.get(app, [])
                active = sum(i.is_active for i in insts)
                healthy = sum(i.is_healthy for i in insts)
                if active > self.max_active:
                    self.violations.append(f"rev {self.revision} {app}: {active} active")
                if healthy < self.min_healthy:
                    self.violations.append(f"rev {self.revision} {app}: {healthy} healthy")
            for inst in self.records.values():
                if inst.hostname == DRAINED and inst.instance_id not in self.there:
                    self.landed.append(inst.instance_id)
                    self.there.add(inst.instance_id)
            self.checked += 1
        self.touched = set()

    async def final(self) -> None:
        """Once the records followed are those in etcd, check the last revision."""
        async with asyncio.timeout(10):
            while True:
                kvs, _, _ = await self.store.client.range(self.root, prefix_end(self.root))
                if self.records == {kv.key: Instance.from_json(kv.value) for kv in kvs}:
                    break
                await asyncio.sleep(0.05)
        self._check()

    def running(self) -> int:
        return sum(i.is_running for i in self.records.values())

    def on_drained(self, *, killing: bool) -> int:
        """Records on the drained host: live ones, or with ``killing`` every active one."""
        return sum(
            i.hostname == DRAINED
            and i.is_active
            and (killing or i.state is not InstanceState.KILLING)
            for i in self.records.values()
        )

    def settled(self) -> bool:
        per_app: dict[str, list[Instance]] = defaultdict(list)
        for inst in self.records.values():
            if inst.is_active:
                per_app[inst.app].append(inst)
        return len(per_app) == APPS and all(
            len(insts) == INSTANCES and all(i.is_healthy for i in insts)
            for insts in per_app.values()
        )


@dataclass
class _Results:
    setup: float = 0.0
    on_host: int = 0
    live_gone: float = 0.0
    active_gone: float = 0.0
    settled: float = 0.0
    first_kill: float = float("nan")
    checked: int = 0
    violations: list[str] = field(default_factory=list)
    landed: int = 0


async def _measure(endpoint: str, tmp: Path, res: _Results) -> None:
    async with controller_on_master(
        endpoint,
        PREFIX,
        tmp,
        _cluster_yaml(),
        name="bench-drain",
        allocation_interval=ALLOCATION_INTERVAL,
        log_level=LOG_LEVEL,
        master_flags=(
            "--status-update-retry",
            "30",
        ),
    ) as store:
        watch = _Watch(store)
        async with watch.followed():
            await _scenario(store, watch, res)


async def _scenario(store: EtcdStore, watch: _Watch, res: _Results) -> None:
    total = APPS * INSTANCES
    started = time.perf_counter()
    await store.commit([Create(parse_object(doc)) for doc in _docs()])
    await watch.until(
        "setup: every instance Running and settled",
        lambda: watch.running() >= total and watch.settled(),
        SETUP_TIMEOUT,
    )
    res.setup = time.perf_counter() - started
    res.on_host = watch.on_drained(killing=True)
    if res.on_host != total:
        raise RuntimeError(f"setup: {res.on_host} of {total} instances on {DRAINED}")
    watch.there = {i.instance_id for i in watch.records.values() if i.hostname == DRAINED}
    watch.armed = True
    domain = await store.get(ObjectKey("Domain", None, DOMAIN))
    assert isinstance(domain, Domain)
    policy = SharedPoolPolicy(borrow=BorrowPolicy.WHEN_EXHAUSTED)
    await store.update(
        domain.model_copy(update={"spec": domain.spec.model_copy(update={"shared_pool": policy})})
    )

    host = await store.get(ObjectKey("Host", None, DRAINED))
    assert isinstance(host, Host)
    spec = host.spec.model_copy(update={"lifecycle": HostLifecycle.DRAINING})
    await store.update(host.model_copy(update={"spec": spec}))
    drained_at = time.perf_counter()

    def some_killed() -> bool:
        return watch.on_drained(killing=False) < total

    first = asyncio.create_task(watch.until("a first kill", some_killed, DRAIN_TIMEOUT))
    res.live_gone = (
        await watch.until(
            "no live record on the host", lambda: not watch.on_drained(killing=False), DRAIN_TIMEOUT
        )
        - drained_at
    )
    res.first_kill = await first - drained_at
    res.active_gone = (
        await watch.until(
            "no active record on the host",
            lambda: not watch.on_drained(killing=True),
            DRAIN_TIMEOUT,
        )
        - drained_at
    )
    res.settled = (
        await watch.until("every App back to N", watch.settled, DRAIN_TIMEOUT) - drained_at
    )
    await watch.final()
    res.checked = watch.checked
    res.violations = watch.violations
    res.landed = len(watch.landed)


def run() -> list[Figure]:
    res = _Results()
    with tempfile.TemporaryDirectory() as tmp, etcd() as server:
        folder = Path(KEEP_DIR or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        asyncio.run(_measure(server.endpoint, folder, res))
    for line in res.violations[:10]:
        logger.warning("capacity bound broken: %s", line)
    bounds = f"min {STRATEGY['minimumHealthCapacity']:g}, over {STRATEGY['maximumOverCapacity']:g}"
    return [
        Figure(f"drain: setup, {APPS} Apps x {INSTANCES} on {DRAINED} -> Running", res.setup, "s"),
        Figure(
            f"drain: {res.on_host} on {DRAINED}, Draining -> first off", 1000 * res.first_kill, "ms"
        ),
        Figure(f"drain: -> none live on {DRAINED} ({bounds})", res.live_gone, "s"),
        Figure(f"drain: -> none on {DRAINED} (kills ended)", res.active_gone, "s"),
        Figure("drain: -> every App back to N healthy", res.settled, "s"),
        Figure("drain: instances moved", res.on_host / res.active_gone, "inst/s"),
        Figure("drain: etcd revisions checked against the bounds", res.checked, "count"),
        Figure("drain: capacity bound violations", len(res.violations), "count", "0"),
        Figure(f"drain: records placed on {DRAINED} after the drain", res.landed, "count", "0"),
    ]


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    for figure in run():
        print(figure.render())
