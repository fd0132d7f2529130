"""A changed AgentSet template rolled over 50 hosts: wall time, the bound, per-host times.

Three processes besides the benchmark's own: a private etcd, the local Mesos
master with ``HOSTS`` sim agents (``python -m localcluster mesos --cluster``),
each with a static slice reserved for the role ``dcos-system``, and one
``dcos-controller run --mesos`` replica.

**Setup.** Every agent is mirrored by an Active Host (``node-01`` ...); one
AgentSet (``maxUnavailable: MAX_UNAVAILABLE``) is committed with them and the
benchmark waits until the AgentSet reports every agent ready.

**Rollout.** The clock starts when the store answers the write of a new
image. The benchmark's watch of the system domain's instance records counts,
at every etcd revision, the agents with no healthy instance (an agent is
down from the moment its old container is killed until the new one is
healthy) and keeps the most seen at once (it must not exceed the bound).
Per host, the update time runs from the first revision its agent is down to
the first revision it is healthy again at the new version. The rollout ends
when every agent is healthy at the new version.

Sizes are module constants; a run takes a few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import crds.kinds  # noqa: F401  (registers the kinds)
from adapters.etcd import EtcdStore
from adapters.protocols import Create, ObjectKey
from bench.common import Figure, etcd
from bench.stack import RecordsFollower, controller_on_master
from crds.agentset import AgentSet
from crds.registry import parse_object
from reconciler.system import SYSTEM_DOMAIN, SYSTEM_ROLE

logger = logging.getLogger(__name__)

HOSTS = 50
MAX_UNAVAILABLE = 5
NAME = "proxy"
PREFIX = "/bench-agentset"
ALLOCATION_INTERVAL = 0.1
SETUP_TIMEOUT = 90.0
ROLLOUT_TIMEOUT = 60.0
LOG_LEVEL = "warning"


def _hostname(i: int) -> str:
    return f"node-{i:02d}"


def _cluster_yaml() -> dict[str, Any]:
    resources = {"cpus": 8, "mem": 8192, "disk": 10000, "ports": "31000-32000"}
    return {
        "agents": [
            {
                "hostname": _hostname(1),
                "count": HOSTS,
                "resources": resources,
                "reservations": {SYSTEM_ROLE: "cpus:1;mem:512"},
            }
        ]
    }


def _agentset(tag: str) -> dict[str, Any]:
    return {
        "apiVersion": "dcos/v1",
        "kind": "AgentSet",
        "metadata": {"name": NAME},
        "spec": {
            "template": {
                "image": f"registry.local:5000/platform/proxy:{tag}",
                "cpus": 0.25,
                "mem": 64,
            },
            "updateStrategy": {"maxUnavailable": MAX_UNAVAILABLE},
        },
    }


def _docs() -> list[dict[str, Any]]:
    docs = [
        {
            "apiVersion": "dcos/v1",
            "kind": "Host",
            "metadata": {"name": _hostname(i)},
            "spec": {"address": f"10.0.0.{i}", "resources": {"cpus": 8, "mem": 8192}},
        }
        for i in range(1, HOSTS + 1)
    ]
    return [*docs, _agentset("1")]


@dataclass
class _Watch(RecordsFollower):
    """The system domain's instance records revision by revision."""

    checked: int = 0
    most_down: int = 0
    armed: bool = False
    old_version: dict[str, str] = field(default_factory=dict)  # app -> version before the edit
    down_at: dict[str, float] = field(default_factory=dict)  # app -> first down after arming
    back_at: dict[str, float] = field(default_factory=dict)  # app -> healthy at new version

    def __post_init__(self) -> None:
        self.root = self.store.keys.raw(f"instances/{SYSTEM_DOMAIN}") + b"/"

    def healthy_apps(self) -> dict[str, set[str]]:
        """App -> versions of its healthy instances."""
        out: dict[str, set[str]] = {}
        for inst in self.records.values():
            if inst.is_healthy:
                out.setdefault(inst.app, set()).add(inst.version)
        return out

    def _check(self) -> None:
        if not self.armed:
            return
        now = time.perf_counter()
        healthy = self.healthy_apps()
        apps = [f"{NAME}-{_hostname(i)}" for i in range(1, HOSTS + 1)]
        down = [a for a in apps if a not in healthy]
        self.most_down = max(self.most_down, len(down))
        for app in down:
            self.down_at.setdefault(app, now)
        self.back(healthy, now)
        self.checked += 1

    def back(self, healthy: dict[str, set[str]], now: float) -> None:
        """Note the agents that were down and are healthy at a new version."""
        for app, versions in healthy.items():
            old = self.old_version.get(app)
            if app in self.down_at and app not in self.back_at and versions - {old}:
                self.back_at[app] = now

    def up(self) -> int:
        return len(self.healthy_apps())


@dataclass
class _Results:
    setup: float = 0.0
    rollout: float = 0.0
    most_down: int = 0
    checked: int = 0
    per_host: list[float] = field(default_factory=list)


async def _status(store: EtcdStore) -> AgentSet:
    got = await store.get(ObjectKey("AgentSet", None, NAME))
    assert isinstance(got, AgentSet)
    return got


async def _scenario(store: EtcdStore, watch: _Watch, res: _Results) -> None:
    started = time.perf_counter()
    await store.commit([Create(parse_object(doc)) for doc in _docs()])
    await watch.until(
        "setup: an agent healthy on every host", lambda: watch.up() == HOSTS, SETUP_TIMEOUT
    )
    res.setup = time.perf_counter() - started
    async with asyncio.timeout(SETUP_TIMEOUT):  # as an operator would: the AgentSet says Ready
        while (await _status(store)).status.ready != HOSTS:  # noqa: ASYNC110 (no watch here)
            await asyncio.sleep(0.05)
    before = {i.app: i.version for i in watch.records.values() if i.is_healthy}
    watch.old_version = before  # "back" means healthy at another version
    watch.armed = True
    current = await _status(store)
    edited = parse_object(_agentset("2"))
    meta = current.metadata
    await store.update(edited.model_copy(update={"metadata": meta}))
    started = time.perf_counter()

    def done() -> bool:
        healthy = watch.healthy_apps()
        watch.back(healthy, time.perf_counter())  # the last revision has no successor yet
        return len(watch.back_at) == HOSTS and all(
            before.get(app) not in versions for app, versions in healthy.items()
        )

    try:
        await watch.until("rollout: every agent healthy at the new version", done, ROLLOUT_TIMEOUT)
    except RuntimeError:
        status = (await _status(store)).status
        raise RuntimeError(
            f"rollout stuck: {len(watch.back_at)}/{HOSTS} hosts updated, AgentSet status "
            f"{status.model_dump_json(by_alias=True, exclude={'hosts'})}"
        ) from None
    res.rollout = time.perf_counter() - started
    res.most_down = watch.most_down
    res.checked = watch.checked
    res.per_host = [watch.back_at[a] - watch.down_at[a] for a in watch.back_at]


async def _measure(endpoint: str, tmp: Path, res: _Results) -> None:
    async with controller_on_master(
        endpoint,
        PREFIX,
        tmp,
        _cluster_yaml(),
        name="bench-agentset",
        allocation_interval=ALLOCATION_INTERVAL,
        log_level=LOG_LEVEL,
    ) as store:
        watch = _Watch(store)
        async with watch.followed():
            await _scenario(store, watch, res)


def run() -> list[Figure]:
    res = _Results()
    with etcd() as server, tempfile.TemporaryDirectory(prefix="bench-agentset-") as tmp:
        asyncio.run(_measure(server.endpoint, Path(tmp), res))
    if res.most_down > MAX_UNAVAILABLE:
        raise RuntimeError(f"{res.most_down} agents down at once, bound {MAX_UNAVAILABLE}")
    per_host = sorted(res.per_host)
    p95 = per_host[max(0, int(len(per_host) * 0.95) - 1)]
    return [
        Figure(f"agentset: {HOSTS} agents placed (setup)", res.setup, "s"),
        Figure(
            f"agentset: rollout over {HOSTS} hosts, maxUnavailable {MAX_UNAVAILABLE}",
            res.rollout,
            "s",
        ),
        Figure(
            "agentset: most agents down at once", res.most_down, "hosts", f"<= {MAX_UNAVAILABLE}"
        ),
        Figure("agentset: revisions checked", res.checked, "revs"),
        Figure("agentset: per-host update, median", statistics.median(per_host) * 1000, "ms"),
        Figure("agentset: per-host update, p95", p95 * 1000, "ms"),
        Figure("agentset: per-host update, max", per_host[-1] * 1000, "ms"),
    ]
