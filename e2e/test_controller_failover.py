"""The leading controller dies mid-rollout; the standby finishes it within bounds.

Two installed ``dcos-controller`` processes (``ctl-a``, ``ctl-b``) on the
test's etcd and a local Mesos master with sim agents (in this process). An
App converges, an image change starts a rolling upgrade, and once the first
instance of the new version is recorded the leader gets SIGKILL. The standby
must take over within the lease TTL (plus the time its watch needs) and
finish the rollout. Meanwhile every snapshot of the instance records in etcd
is checked against the capacity bounds, and at the end the master's tasks
are compared with the records: no task without a record, no instance id
launched twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from adapters.etcd import EtcdStore
from adapters.protocols import ObjectKey
from crds.app import App
from crds.errors import NotFound
from e2e.harness import free_port, sim_master_settings
from localcluster.mesos.server import LocalMaster
from reconciler.apps.instances import Instance, InstanceState
from reconciler.apps.version import spec_version

BIN = Path(sys.executable).parent
TIMEOUT = 30.0
TTL = 2
N = 6
MIN_HEALTH = 0.5
MAX_OVER = 0.5
KEY = ObjectKey("App", "shop", "web")

SPEC = """\
apiVersion: dcos/v1
kind: Domain
metadata:
  name: shop
spec:
  timezone: Asia/Shanghai
  sharedPool:
    borrow: WhenExhausted
---
apiVersion: dcos/v1
kind: App
metadata:
  name: web
  domain: shop
spec:
  image: registry.example.com/shop/web:{tag}
  instances: {n}
  cpus: 0.5
  mem: 128Mi
  upgradeStrategy:
    minimumHealthCapacity: {min_health}
    maximumOverCapacity: {max_over}
"""


def _spec(tag: str) -> str:
    return SPEC.format(tag=tag, n=N, min_health=MIN_HEALTH, max_over=MAX_OVER)


@pytest.fixture
async def local() -> AsyncIterator[LocalMaster]:
    settings = sim_master_settings(agents=3, running_delay=0.3)
    async with LocalMaster(settings) as started:
        yield started


class Replica:
    def __init__(self, proc: asyncio.subprocess.Process, metrics: int, log: Path) -> None:
        self.proc = proc
        self.url = f"http://127.0.0.1:{metrics}"
        self.log = log

    async def leading(self) -> bool:
        async with httpx.AsyncClient() as client:
            try:
                got = await client.get(f"{self.url}/healthz", timeout=1.0)
            except httpx.HTTPError:
                return False
        return bool(got.json().get("leader"))


@contextlib.asynccontextmanager
async def replica(
    identity: str, etcd: str, prefix: str, mesos: str, tmp: Path
) -> AsyncIterator[Replica]:
    log = tmp / f"{identity}.log"
    metrics = free_port()
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            str(BIN / "dcos-controller"),
            "run",
            "--etcd",
            etcd,
            "--prefix",
            prefix,
            "--mesos",
            mesos,
            "--metrics-addr",
            f"127.0.0.1:{metrics}",
            "--id",
            identity,
            "--lease-ttl",
            str(TTL),
            stdout=sink,
            stderr=sink,
        )
        try:
            yield Replica(proc, metrics, log)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(TIMEOUT):
                await proc.wait()


async def _dcosctl(etcd: str, prefix: str, home: Path, *args: str, stdin: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "dcosctl"),
        "--etcd",
        etcd,
        "--prefix",
        prefix,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k != "DCOS_CONFIG"} | {"HOME": str(home)},
    )
    async with asyncio.timeout(TIMEOUT):
        _, err = await proc.communicate(stdin.encode())
    assert proc.returncode == 0, err.decode()


async def _until(
    what: str,
    check: Callable[[], Awaitable[bool]],
    deadline: float = TIMEOUT,
    describe: Callable[[], Awaitable[str]] | None = None,
) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` at the deadline."""
    end = time.monotonic() + deadline
    while not await check():
        if time.monotonic() > end:
            detail = "" if describe is None else f": {await describe()}"
            pytest.fail(f"timed out waiting for {what}{detail}")
        await asyncio.sleep(0.05)


async def _app(store: EtcdStore) -> App | None:
    try:
        got = await store.get(KEY)
    except NotFound:
        return None
    return got if isinstance(got, App) else None


async def _status(store: EtcdStore) -> str:
    app = await _app(store)
    return "no App" if app is None else app.status.model_dump_json(by_alias=True)


async def _rolled_out(store: EtcdStore, version: str) -> bool:
    app = await _app(store)
    if app is None:
        return False
    status = app.status
    conditions = {c.type: (str(c.status), c.reason) for c in status.conditions}
    return (
        status.version == version
        and status.updated_instances == N
        and status.running_instances == N
        and conditions.get("Progressing") == ("True", "RolloutComplete")
    )


class Observer:
    """Snapshots of the instance records, each checked against the capacity bounds."""

    def __init__(self, store: EtcdStore) -> None:
        self.store = store
        self.seen: dict[str, set[str]] = {}  # instance id -> versions it was seen with
        self.snapshots = 0
        self.violations: list[str] = []
        self.check_healthy = False
        self.max_active = N + math.floor(N * MAX_OVER)
        self.min_healthy = math.ceil(N * MIN_HEALTH)

    async def snapshot(self) -> list[Instance]:
        raw = await self.store.list_raw("instances/")
        return [Instance.from_json(value) for _, value in raw]

    async def run(self) -> None:
        while True:
            records = await self.snapshot()
            self.snapshots += 1
            for inst in records:
                self.seen.setdefault(inst.instance_id, set()).add(inst.version)
            active = sum(i.is_active for i in records)
            healthy = sum(i.is_healthy for i in records)
            if active > self.max_active:
                self.violations.append(f"{active} active > {self.max_active}")
            if self.check_healthy and healthy < self.min_healthy:
                self.violations.append(f"{healthy} healthy < {self.min_healthy}")
            await asyncio.sleep(0.01)


async def test_standby_takes_over_mid_rollout_within_bounds(
    local: LocalMaster, store: EtcdStore, etcd_endpoint: str, etcd_prefix: str, tmp_path: Path
) -> None:
    args = (etcd_endpoint, etcd_prefix, local.url, tmp_path)
    async with replica("ctl-a", *args) as a:
        await _until("ctl-a to lead", a.leading)
        async with replica("ctl-b", *args) as b:
            await _dcosctl(
                etcd_endpoint, etcd_prefix, tmp_path, "apply", "-f", "-", stdin=_spec("1")
            )
            app = await _app(store)
            assert app is not None
            await _until(
                "the first version to run",
                lambda: _rolled_out(store, spec_version(app.spec)),
                describe=lambda: _status(store),
            )
            assert not await b.leading()

            observer = Observer(store)
            observer.check_healthy = True
            watching = asyncio.create_task(observer.run())
            try:
                await _dcosctl(
                    etcd_endpoint, etcd_prefix, tmp_path, "apply", "-f", "-", stdin=_spec("2")
                )
                new = await _app(store)
                assert new is not None
                version = spec_version(new.spec)

                async def new_recorded() -> bool:
                    return any(i.version == version for i in await observer.snapshot())

                await _until("an instance of the new version", new_recorded)
                a.proc.send_signal(signal.SIGKILL)
                killed = time.monotonic()
                await a.proc.wait()
                mid_rollout = not await _rolled_out(store, version)
                await _until("ctl-b to lead", b.leading, deadline=TTL * 3)
                took_over = time.monotonic() - killed
                await _until(
                    "the rollout to finish",
                    lambda: _rolled_out(store, version),
                    describe=lambda: _status(store),
                )
                records = await observer.snapshot()
            finally:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching

            logs = f"\n{a.log.read_text()[-2000:]}\n{b.log.read_text()[-3000:]}"
            assert mid_rollout, "the leader was killed after the rollout had finished"
            assert took_over <= TTL + 1.5, f"failover took {took_over:.1f} s"
            assert observer.snapshots > 10
            assert observer.violations == [], logs

            # the master's tasks against the records: nothing launched twice or unrecorded
            tasks = [
                rec
                for fw in local.master.state.frameworks.values()
                for rec in [*fw.tasks.values(), *fw.completed]
            ]
            ids = [rec.task_id for rec in tasks]
            live = {rec.task_id for rec in tasks if str(rec.state) == "TASK_RUNNING"}
            assert len(ids) == len(set(ids)), "a task id was launched twice"
            assert set(ids) <= set(observer.seen) | {i.instance_id for i in records}, logs
            active = {i.instance_id for i in records if i.state is InstanceState.RUNNING}
            assert live == active
            assert len(active) == N
            assert all(len(versions) == 1 for versions in observer.seen.values())
