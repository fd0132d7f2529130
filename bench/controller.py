"""The controller manager end to end: Apps to running tasks, relaunches, idle cost, latency.

Three processes besides the benchmark's own: a private etcd, the local Mesos
master with sim agents (``python -m localcluster mesos --containerizer sim``)
and one ``dcos-controller run --mesos`` replica, so the controller's CPU and
RSS (``/proc/<pid>/stat`` and ``status``) are its own. The benchmark watches
the etcd prefix itself: instance records (``instances/<domain>/<app>/<id>``)
and App status keys.

1. **Apps to Running.** The Domain and ``APPS`` Apps of ``INSTANCES`` each are
   committed to the store directly, in one transaction batch (not through
   ``dcosctl apply``, whose cost ``bench.apply`` measures). The clock runs from
   the commit to the last instance record in state Running.
2. **Death to relaunch.** ``KILLS`` running tasks, one of each of as many Apps,
   are killed one at a time through the master's fault API
   (``POST /faults/kill-task``); the clock runs from the POST to the new
   instance record of that App appearing in etcd (the record is written before
   the ACCEPT with its LAUNCH is sent). The Apps use ``BACKOFF_SECONDS`` as
   their launch backoff: a killed task ends TASK_FAILED, which counts as a
   failure, and the default backoff (1 s) would otherwise be the whole figure.
   The time to the Failed record is reported too.
3. **Idle.** With every task running and the controller settled (the App
   queue empty and no reconcile for ``SETTLE_SECONDS``; the time it took is
   reported), its CPU over ``IDLE_SECONDS`` and its RSS.
4. **Change to action.** One App's ``spec.instances`` alternates between
   ``INSTANCES + 1`` and ``INSTANCES`` at ``CHANGE_RATE`` updates a second for
   ``CHANGE_SECONDS``. For each update, the clock runs from the store's answer
   (the write's revision exists) to the first write of the controller about
   that App seen by the benchmark's watch with a later revision: its status
   key or one of its instance records.

Sizes are module constants; the full sizes take about five minutes on a
2-core machine. ``LEASE_TTL`` is the controller's ``--lease-ttl``: the times
the controller lost leadership during the run are reported, since a lost term
re-lists and re-queues every App and would be measured as idle work.
``KEEP_DIR`` keeps the logs; with ``PROFILE`` the controller runs under
cProfile and its stats are written there when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import crds.kinds  # noqa: F401  (registers the kinds)
from adapters.etcd import EtcdSettings, EtcdStore, open_store
from adapters.etcd.client import prefix_end
from adapters.protocols import Create, ObjectKey
from bench.common import Figure, etcd, start_controller, stop, wait_leader
from bench.mesos_sim import start_master
from crds.errors import ConflictError
from crds.meta import Resource
from crds.registry import parse_object
from localcluster.etcd import free_port

logger = logging.getLogger(__name__)

AGENTS = 1000
APPS = 1000
INSTANCES = 10
KILLS = 50
IDLE_SECONDS = 30.0
SETTLE_SECONDS = 2.0
SETTLE_TIMEOUT = 120.0
CHANGE_RATE = 100.0
CHANGE_SECONDS = 10.0
BACKOFF_SECONDS = 0.001
ALLOCATION_INTERVAL = 0.1
LOG_LEVEL = "warning"
LEASE_TTL = 5
"""``--lease-ttl`` of the controller (its default); leadership lost is counted."""
PREFIX = "/bench"
DOMAIN = "bench"
RUN_TIMEOUT = 300.0
KEEP_DIR: str | None = None
"""Where the master's and controller's logs are kept (else a temporary folder)."""
PROFILE = False
"""Run the controller under cProfile; the stats go to ``KEEP_DIR/controller.prof``."""

RECONCILE_TIME = "dcos_controller_reconcile_time_seconds"
TERMINAL = {"Finished", "Failed", "Killed", "Lost", "Gone", "Dropped", "Error"}


def _app_doc(name: str, instances: int) -> dict[str, Any]:
    return {
        "apiVersion": "dcos/v1",
        "kind": "App",
        "metadata": {"name": name, "domain": DOMAIN},
        "spec": {
            "image": "registry.local:5000/bench/web:1.0",
            "instances": instances,
            "cpus": 0.1,
            "mem": 32,
            "backoff": {"backoffSeconds": BACKOFF_SECONDS},
        },
    }


def _domain_doc() -> dict[str, Any]:
    """The agents have no reservations: the domain borrows the shared pool."""
    return {
        "apiVersion": "dcos/v1",
        "kind": "Domain",
        "metadata": {"name": DOMAIN},
        "spec": {"sharedPool": {"borrow": "WhenExhausted"}},
    }


def _app_name(i: int) -> str:
    return f"app-{i:04d}"


# ------------------------------------------------------------------ processes


def _start_master(log: Path) -> tuple[subprocess.Popen[str], str]:
    """The master with :data:`AGENTS` sim agents, its log in ``log``."""
    with log.open("w") as sink:
        return start_master(
            "--agents",
            str(AGENTS),
            "--allocation-interval",
            str(ALLOCATION_INTERVAL),
            "--status-update-retry",
            "30",
            "--log-level",
            "WARNING",
            stderr=sink.fileno(),
        )


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (``/proc/<pid>/stat``)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


# ------------------------------------------------------------------ the watch


@dataclass
class _Observer:
    """What the benchmark's watch of the prefix has seen."""

    store: EtcdStore
    instances_root: bytes = b""
    status_root: bytes = b""
    state: dict[str, str] = field(default_factory=dict)
    running_of: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    running: int = 0
    want_running: int = 0
    all_running: asyncio.Event = field(default_factory=asyncio.Event)
    new_record: dict[str, asyncio.Future[float]] = field(default_factory=dict)
    ended: dict[str, asyncio.Future[float]] = field(default_factory=dict)
    on_app_write: Callable[[str, int, float], None] | None = None
    events: int = 0

    def __post_init__(self) -> None:
        self.instances_root = self.store.keys.raw("instances") + b"/"
        self.status_root = self.store.keys.status_root + b"App/" + DOMAIN.encode() + b"/"

    async def follow(self, start_revision: int) -> None:
        root = self.store.keys.root.encode() + b"/"
        async for record in self.store.client.watch(
            root, prefix_end(root), start_revision=start_revision
        ):
            now = time.perf_counter()
            self.events += 1
            kv = record.kv
            if kv.key.startswith(self.instances_root):
                self._instance(kv.key, kv.value, record.deleted, kv, now)
            elif kv.key.startswith(self.status_root) and self.on_app_write is not None:
                app = kv.key[len(self.status_root) :].decode()
                self.on_app_write(app, kv.mod_revision, now)

    def _instance(self, key: bytes, value: bytes, deleted: bool, kv: Any, now: float) -> None:
        _domain, app, iid = key[len(self.instances_root) :].decode().split("/", 2)
        if self.on_app_write is not None:
            self.on_app_write(app, kv.mod_revision, now)
        old = self.state.get(iid)
        if deleted:
            self.state.pop(iid, None)
            new = None
        else:
            new = json.loads(value)["state"]
            self.state[iid] = new
            if old is None:
                waiter = self.new_record.pop(app, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(now)
        if old == "Running" and new != "Running":
            self.running -= 1
            self.running_of[app].discard(iid)
        elif new == "Running" and old != "Running":
            self.running += 1
            self.running_of[app].add(iid)
            if self.want_running and self.running >= self.want_running:
                self.all_running.set()
        if new in TERMINAL and old not in TERMINAL:
            ended = self.ended.pop(iid, None)
            if ended is not None and not ended.done():
                ended.set_result(now)


# ------------------------------------------------------------------ metrics


async def _metrics(client: httpx.AsyncClient) -> dict[str, float]:
    """The controller's /metrics, summed per series name and labels."""
    resp = await client.get("/metrics")
    out: dict[str, float] = {}
    for line in resp.text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        with contextlib.suppress(ValueError):
            out[name] = out.get(name, 0.0) + float(value)
    return out


# ------------------------------------------------------------------ scenarios


@dataclass
class _Results:
    to_running: float = 0.0
    ramp_cpu: float = 0.0
    ramp_master_cpu: float = 0.0
    ramp_rss: float = 0.0
    reconciles: float = 0.0
    lost_leadership: int = 0
    reconcile_s: float = 0.0
    settle: float = 0.0
    idle_cpu: float = 0.0
    idle_rss: float = 0.0
    idle_reconciles: float = 0.0
    relaunch: list[float] = field(default_factory=list)
    death: list[float] = field(default_factory=list)
    action: list[float] = field(default_factory=list)
    changes: int = 0
    unanswered: int = 0
    change_rate: float = 0.0
    notes: dict[str, float] = field(default_factory=dict)


async def _apps_to_running(
    store: EtcdStore, obs: _Observer, ctl: int, master: int, res: _Results
) -> None:
    ops = [Create(parse_object(_domain_doc()))]
    ops += [Create(parse_object(_app_doc(_app_name(i), INSTANCES))) for i in range(APPS)]
    obs.want_running = APPS * INSTANCES
    cpu0, mcpu0 = _cpu_seconds(ctl), _cpu_seconds(master)
    started = time.perf_counter()
    await store.commit(ops)
    res.notes["commit"] = time.perf_counter() - started
    try:
        async with asyncio.timeout(RUN_TIMEOUT):
            await obs.all_running.wait()
    except TimeoutError:
        raise RuntimeError(f"{obs.running:,} of {obs.want_running:,} Running") from None
    res.to_running = time.perf_counter() - started
    res.ramp_cpu = _cpu_seconds(ctl) - cpu0
    res.ramp_master_cpu = _cpu_seconds(master) - mcpu0
    res.ramp_rss = _rss_mib(ctl)


async def _settle(metrics: httpx.AsyncClient) -> float:
    """Wait until the App queue is empty and no reconcile ran for ``SETTLE_SECONDS``."""
    started = time.perf_counter()
    count = f'{RECONCILE_TIME}_count{{controller="app"}}'
    last, quiet_since = -1.0, time.perf_counter()
    while time.perf_counter() - started < SETTLE_TIMEOUT:
        try:
            m = await _metrics(metrics)
        except httpx.TimeoutException:  # the controller's loop is busy: not quiet
            logger.info("/metrics did not answer within 30 s")
            continue
        now = time.perf_counter()
        if m.get('dcos_workqueue_depth{name="app"}', 0.0) > 0 or m.get(count, 0.0) != last:
            last, quiet_since = m.get(count, 0.0), now
        elif now - quiet_since >= SETTLE_SECONDS:
            return quiet_since - started
        await asyncio.sleep(0.5)
    return float("nan")


async def _idle(metrics: httpx.AsyncClient, ctl: int, res: _Results) -> None:
    res.settle = await _settle(metrics)
    before = await _metrics(metrics)
    cpu0, t0 = _cpu_seconds(ctl), time.perf_counter()
    await asyncio.sleep(IDLE_SECONDS)
    cpu1, t1 = _cpu_seconds(ctl), time.perf_counter()
    after = await _metrics(metrics)
    res.idle_cpu = 100 * (cpu1 - cpu0) / (t1 - t0)
    res.idle_rss = _rss_mib(ctl)
    key = f'{RECONCILE_TIME}_count{{controller="app"}}'
    res.idle_reconciles = after.get(key, 0.0) - before.get(key, 0.0)


async def _relaunches(mesos: httpx.AsyncClient, obs: _Observer, res: _Results) -> None:
    loop = asyncio.get_running_loop()
    for n in range(KILLS):
        app = _app_name(APPS - 1 - n)
        iid = next(iter(obs.running_of[app]))
        relaunched: asyncio.Future[float] = loop.create_future()
        ended: asyncio.Future[float] = loop.create_future()
        obs.new_record[app] = relaunched
        obs.ended[iid] = ended
        started = time.perf_counter()
        resp = await mesos.post("/faults/kill-task", json={"task_id": iid})
        resp.raise_for_status()
        async with asyncio.timeout(30):
            res.death.append(await ended - started)
            res.relaunch.append(await relaunched - started)
        await asyncio.sleep(0.05)


async def _changes(store: EtcdStore, obs: _Observer, res: _Results) -> None:
    name = _app_name(0)
    key = ObjectKey("App", DOMAIN, name)
    pending: list[tuple[int, float]] = []  # (revision, answered at), oldest first

    def on_write(app: str, revision: int, now: float) -> None:
        if app != name:
            return
        while pending and pending[0][0] < revision:
            _rev, answered = pending.pop(0)
            res.action.append(max(0.0, now - answered))

    obs.on_app_write = on_write
    app: Resource = await store.get(key)
    count = round(CHANGE_RATE * CHANGE_SECONDS)
    interval = 1 / CHANGE_RATE
    started = time.perf_counter()
    for i in range(count):
        delay = started + i * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        instances = INSTANCES + 1 if i % 2 == 0 else INSTANCES
        spec = app.spec.model_copy(update={"instances": instances})
        while True:
            try:
                app = await store.update(app.model_copy(update={"spec": spec}))
                break
            except ConflictError:
                app = await store.get(key)
        assert app.metadata.resource_version is not None
        pending.append((int(app.metadata.resource_version), time.perf_counter()))
    res.change_rate = count / (time.perf_counter() - started)
    res.changes = count
    await asyncio.sleep(2.0)
    res.unanswered = len(pending)
    obs.on_app_write = None


async def _measure(endpoint: str, tmp: Path, res: _Results) -> None:
    master, mesos_url = _start_master(tmp / "master.log")
    metrics_addr = f"127.0.0.1:{free_port()}"
    ctl_log = tmp / "controller.log"
    profile = [sys.executable, "-m", "cProfile", "-o", str(ctl_log.with_suffix(".prof"))]
    ctl = start_controller(
        endpoint,
        PREFIX,
        mesos_url,
        metrics_addr,
        ctl_log,
        flags=("--id", "bench", "--lease-ttl", str(LEASE_TTL), "--log-level", LOG_LEVEL),
        wrapper=profile if PROFILE else (),
    )
    try:
        settings = EtcdSettings(endpoints=(endpoint,), prefix=PREFIX)
        async with (
            open_store(settings) as store,
            httpx.AsyncClient(base_url=f"http://{metrics_addr}", timeout=30) as metrics,
            httpx.AsyncClient(base_url=mesos_url, timeout=10) as mesos,
        ):
            await wait_leader(metrics, ctl)
            res.notes["rss_start"] = _rss_mib(ctl.pid)
            obs = _Observer(store)
            watch = asyncio.create_task(obs.follow(await store.revision() + 1), name="bench:watch")
            try:
                await _apps_to_running(store, obs, ctl.pid, master.pid, res)
                m = await _metrics(metrics)
                res.reconciles = m.get(f'{RECONCILE_TIME}_count{{controller="app"}}', 0.0)
                res.reconcile_s = m.get(f'{RECONCILE_TIME}_sum{{controller="app"}}', 0.0)
                await _idle(metrics, ctl.pid, res)
                await _relaunches(mesos, obs, res)
                await _changes(store, obs, res)
                res.notes["events_seen"] = obs.events
            finally:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await watch
    finally:
        stop(ctl)
        stop(master)
        lines = ctl_log.read_text(errors="replace").splitlines()
        res.lost_leadership = sum("lost leadership" in line for line in lines)
        tail = lines[-20:]
        if tail:
            logger.info("controller log tail:\n%s", "\n".join(tail))


def run() -> list[Figure]:
    res = _Results()
    with tempfile.TemporaryDirectory() as tmp, etcd() as server:
        folder = Path(KEEP_DIR or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        asyncio.run(_measure(server.endpoint, folder, res))
    total = APPS * INSTANCES
    size = f"{APPS:,} Apps x {INSTANCES}"
    return [
        Figure(f"controller: {size} committed -> all Running", res.to_running, "s", "<= 20"),
        Figure(f"controller: {size} to Running", total / res.to_running, "tasks/s", ">= 500"),
        Figure("controller: CPU during the ramp", res.ramp_cpu, "cpu-s"),
        Figure("controller: master CPU during the ramp", res.ramp_master_cpu, "cpu-s"),
        Figure(f"controller: RSS after the ramp ({total:,} tasks)", res.ramp_rss, "MiB"),
        Figure("controller: App reconciles during the ramp", res.reconciles, "count"),
        Figure("controller: time in App reconciles during the ramp", res.reconcile_s, "s"),
        Figure("controller: all Running -> App queue quiet", res.settle, "s"),
        Figure(
            f"controller: kill -> relaunch record p50 (n={len(res.relaunch)})",
            1000 * _percentile(res.relaunch, 50),
            "ms",
        ),
        Figure(
            f"controller: kill -> relaunch record p99 (n={len(res.relaunch)})",
            1000 * _percentile(res.relaunch, 99),
            "ms",
            "<= 250",
        ),
        Figure("controller: kill -> Failed record p50", 1000 * _percentile(res.death, 50), "ms"),
        Figure("controller: kill -> Failed record p99", 1000 * _percentile(res.death, 99), "ms"),
        Figure(
            f"controller: idle CPU, {total:,} tasks ({IDLE_SECONDS:.0f} s)",
            res.idle_cpu,
            "% core",
            "<= 1",
        ),
        Figure("controller: idle reconciles", res.idle_reconciles, "count"),
        Figure(f"controller: idle RSS, {total:,} tasks", res.idle_rss, "MiB", "<= 250"),
        Figure("controller: changes written", res.change_rate, "changes/s", f"{CHANGE_RATE:.0f}"),
        Figure(
            f"controller: change -> first action p50 (n={len(res.action)})",
            1000 * statistics.median(res.action) if res.action else float("nan"),
            "ms",
            "<= 5",
        ),
        Figure(
            f"controller: change -> first action p99 (n={len(res.action)})",
            1000 * _percentile(res.action, 99),
            "ms",
            "<= 50",
        ),
        Figure("controller: changes with no action seen", res.unanswered, "count"),
        Figure(
            f"controller: leadership lost (lease TTL {LEASE_TTL} s)",
            res.lost_leadership,
            "times",
            "0",
        ),
    ]


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    for figure in run():
        print(figure.render())
