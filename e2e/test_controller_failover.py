"""The leading controller dies mid-rollout; the standby finishes it within bounds.

Two installed ``dcos-controller`` processes (``ctl-a``, ``ctl-b``) on the
test's etcd and a local Mesos master with sim agents (in this process). An
App converges, an image change starts a rolling upgrade, and once the first
instance of the new version is recorded the leader gets SIGKILL. The standby
must take over within the lease TTL (plus the time its watch needs) and
finish the rollout. Meanwhile every revision of the instance records in etcd
is checked against the capacity bounds, and at the end the master's tasks
are compared with the records: no task without a record, no instance id
launched twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from adapters.etcd import EtcdStore
from e2e.harness import (
    CapacityWatch,
    conditions,
    controller,
    dcosctl,
    domain_manifest,
    get_app,
    instance_records,
    manifest,
    sim_master_settings,
    until,
)
from localcluster.etcd import free_port
from localcluster.mesos.server import LocalMaster
from reconciler.apps.instances import InstanceState
from reconciler.apps.version import spec_version

TTL = 2
N = 6
MIN_HEALTH = 0.5
MAX_OVER = 0.5

APP = """\
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
SPEC = manifest(domain_manifest(), APP)


def _spec(tag: str) -> str:
    return SPEC.format(tag=tag, n=N, min_health=MIN_HEALTH, max_over=MAX_OVER)


@pytest.fixture
async def sim_master() -> AsyncIterator[LocalMaster]:
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
    async with controller(
        etcd=etcd,
        prefix=prefix,
        mesos=mesos,
        log=log,
        identity=identity,
        lease_ttl=TTL,
        metrics_port=metrics,
    ) as proc:
        yield Replica(proc, metrics, log)


async def _apply(etcd: str, prefix: str, home: Path, manifest: str) -> None:
    ran = await dcosctl(etcd, prefix, home, "apply", "-f", "-", stdin=manifest)
    assert ran.code == 0, ran.err


async def _status(store: EtcdStore) -> str:
    app = await get_app(store, "shop", "web")
    return "no App" if app is None else app.status.model_dump_json(by_alias=True)


async def _rolled_out(store: EtcdStore, version: str) -> bool:
    """Every instance is updated to ``version`` and running (the App has no health checks)."""
    app = await get_app(store, "shop", "web")
    if app is None:
        return False
    status = app.status
    return (
        status.version == version
        and status.updated_instances == N
        and status.running_instances == N
        and conditions(app).get("Progressing") == ("True", "RolloutComplete")
    )


async def test_standby_takes_over_mid_rollout_within_bounds(
    sim_master: LocalMaster, store: EtcdStore, etcd_endpoint: str, etcd_prefix: str, tmp_path: Path
) -> None:
    args = (etcd_endpoint, etcd_prefix, sim_master.url, tmp_path)
    async with replica("ctl-a", *args) as a:
        await until("ctl-a to lead", a.leading)
        async with replica("ctl-b", *args) as b:
            await _apply(etcd_endpoint, etcd_prefix, tmp_path, _spec("1"))
            app = await get_app(store, "shop", "web")
            assert app is not None
            await until(
                "the first version to run",
                lambda: _rolled_out(store, spec_version(app.spec)),
                describe=lambda: _status(store),
            )
            assert not await b.leading()

            watch = CapacityWatch(
                store,
                domain="shop",
                name="web",
                instances=N,
                min_health=MIN_HEALTH,
                max_over=MAX_OVER,
            )
            async with watch:
                await _apply(etcd_endpoint, etcd_prefix, tmp_path, _spec("2"))
                new = await get_app(store, "shop", "web")
                assert new is not None
                version = spec_version(new.spec)

                async def new_recorded() -> bool:
                    records = await instance_records(store, "shop", "web")
                    return any(i.version == version for i in records)

                await until("an instance of the new version", new_recorded)
                a.proc.send_signal(signal.SIGKILL)
                killed = time.monotonic()
                await a.proc.wait()
                mid_rollout = not await _rolled_out(store, version)
                await until("ctl-b to lead", b.leading, within=TTL * 3)
                took_over = time.monotonic() - killed
                await until(
                    "the rollout to finish",
                    lambda: _rolled_out(store, version),
                    describe=lambda: _status(store),
                )
                records = await instance_records(store, "shop", "web")

            logs = f"\n{a.log.read_text()[-2000:]}\n{b.log.read_text()[-3000:]}"
            assert mid_rollout, "the leader was killed after the rollout had finished"
            assert took_over <= TTL + 1.5, f"failover took {took_over:.1f} s"
            assert watch.checked > 10
            assert watch.violations == [], logs

            # the master's tasks against the records: nothing launched twice or unrecorded
            tasks = [
                rec
                for fw in sim_master.master.state.frameworks.values()
                for rec in [*fw.tasks.values(), *fw.completed]
            ]
            ids = [rec.task_id for rec in tasks]
            live = {rec.task_id for rec in tasks if str(rec.state) == "TASK_RUNNING"}
            assert len(ids) == len(set(ids)), "a task id was launched twice"
            assert set(ids) <= set(watch.versions) | {i.instance_id for i in records}, logs
            active = {i.instance_id for i in records if i.state is InstanceState.RUNNING}
            assert live == active
            assert len(active) == N
            assert all(len(versions) == 1 for versions in watch.versions.values())
