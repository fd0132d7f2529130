"""Apps through the faults a data center has: a lost agent, a master failover, no room.

The installed ``dcos-controller`` process on the test's etcd and a local
Mesos master with sim agents (in this process); faults are injected through
the master's HTTP fault API (``POST /faults/...``), as an operator's chaos
tooling would. Waits are conditions with deadlines; the master's tasks are
compared with the instance records in etcd.
"""

from __future__ import annotations

import asyncio
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

BIN = Path(sys.executable).parent
TIMEOUT = 30.0
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
  image: registry.example.com/shop/web:1.0
  instances: {instances}
  cpus: {cpus}
  mem: 128Mi
  constraints:
    - [hostname, MAX_PER, "2"]
"""


def _spec(*, instances: int = 4, cpus: float = 0.5) -> str:
    return SPEC.format(instances=instances, cpus=cpus)


@pytest.fixture
async def local() -> AsyncIterator[LocalMaster]:
    settings = sim_master_settings(agents=4, running_delay=0.05, unreachable_gone_timeout=2.0)
    async with LocalMaster(settings) as started:
        yield started


@pytest.fixture
async def controller(
    local: LocalMaster, etcd_endpoint: str, etcd_prefix: str, tmp_path: Path
) -> AsyncIterator[Path]:
    """The ``dcos-controller`` process; yields its log file."""
    log = tmp_path / "dcos-controller.log"
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            str(BIN / "dcos-controller"),
            "run",
            "--etcd",
            etcd_endpoint,
            "--prefix",
            etcd_prefix,
            "--mesos",
            local.url,
            "--metrics-addr",
            f"127.0.0.1:{free_port()}",
            "--lease-ttl",
            "2",
            stdout=sink,
            stderr=sink,
        )
        try:
            yield log
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(TIMEOUT):
                await proc.wait()


async def _apply(etcd: str, prefix: str, home: Path, manifest: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "dcosctl"),
        "--etcd",
        etcd,
        "--prefix",
        prefix,
        "apply",
        "-f",
        "-",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k != "DCOS_CONFIG"} | {"HOME": str(home)},
    )
    async with asyncio.timeout(TIMEOUT):
        _, err = await proc.communicate(manifest.encode())
    assert proc.returncode == 0, err.decode()


async def _app(store: EtcdStore) -> App | None:
    try:
        got = await store.get(KEY)
    except NotFound:
        return None
    return got if isinstance(got, App) else None


async def _records(store: EtcdStore) -> list[Instance]:
    return [Instance.from_json(value) for _, value in await store.list_raw("instances/")]


async def _until(
    what: str, check: Callable[[], Awaitable[bool]], log: Path, store: EtcdStore
) -> None:
    """Poll ``check`` until it holds; at the deadline fail with the App's status and the log."""
    end = time.monotonic() + TIMEOUT
    while not await check():
        if time.monotonic() > end:
            app = await _app(store)
            status = None if app is None else app.status.model_dump_json(by_alias=True)
            text = await asyncio.to_thread(log.read_text)
            pytest.fail(f"timed out waiting for {what}: {status}\n{text[-3000:]}")
        await asyncio.sleep(0.05)


def _running_tasks(local: LocalMaster) -> dict[str, str]:
    """Task id -> agent id of every running task the master knows."""
    return {
        rec.task_id: rec.agent_id
        for fw in local.master.state.frameworks.values()
        for rec in fw.tasks.values()
        if str(rec.state) == "TASK_RUNNING"
    }


def _all_task_ids(local: LocalMaster) -> list[str]:
    return [
        rec.task_id
        for fw in local.master.state.frameworks.values()
        for rec in [*fw.tasks.values(), *fw.completed]
    ]


async def _converged(store: EtcdStore, local: LocalMaster, instances: int) -> bool:
    app = await _app(store)
    if app is None or app.status.observed_generation != app.metadata.generation:
        return False
    conditions = {c.type: (str(c.status), c.reason) for c in app.status.conditions}
    running = {i.instance_id for i in await _records(store) if i.state is InstanceState.RUNNING}
    return (
        app.status.running_instances == instances
        and len(running) == instances
        and conditions.get("Available") == ("True", "MinimumHealthy")
        and conditions.get("Progressing") == ("True", "RolloutComplete")
        and running == set(_running_tasks(local))
    )


async def _fault(local: LocalMaster, name: str, body: dict[str, str]) -> None:
    async with httpx.AsyncClient() as client:
        got = await client.post(f"{local.url}/faults/{name}", json=body, timeout=5.0)
    assert got.status_code == 200, got.text


async def test_lost_agent_instances_are_replaced_elsewhere(
    local: LocalMaster,
    controller: Path,
    store: EtcdStore,
    etcd_endpoint: str,
    etcd_prefix: str,
    tmp_path: Path,
) -> None:
    await _apply(etcd_endpoint, etcd_prefix, tmp_path, _spec())
    await _until("4 instances", lambda: _converged(store, local, 4), controller, store)
    before = _running_tasks(local)
    lost_agent = next(iter(before.values()))
    lost = {task for task, agent in before.items() if agent == lost_agent}

    await _fault(local, "lose-agent", {"agent_id": lost_agent})

    async def replaced() -> bool:
        running = _running_tasks(local)
        return (
            await _converged(store, local, 4)
            and lost_agent not in running.values()
            and not lost & set(running)
        )

    await _until("the lost instances to be replaced", replaced, controller, store)
    records = {i.instance_id: i for i in await _records(store)}
    assert all(i.agent_id != lost_agent for i in records.values() if i.is_active)
    ids = _all_task_ids(local)
    assert len(ids) == len(set(ids))
    assert len(set(ids) - set(before)) == len(lost)  # one replacement per lost instance


async def test_master_failover_loses_and_duplicates_nothing(
    local: LocalMaster,
    controller: Path,
    store: EtcdStore,
    etcd_endpoint: str,
    etcd_prefix: str,
    tmp_path: Path,
) -> None:
    await _apply(etcd_endpoint, etcd_prefix, tmp_path, _spec())
    await _until("4 instances", lambda: _converged(store, local, 4), controller, store)
    before = _running_tasks(local)
    (framework,) = local.master.state.frameworks.values()
    failed_over = time.time()

    await _fault(local, "failover-master", {})

    async def resubscribed() -> bool:
        again = (
            framework.reregistered_time is not None and framework.reregistered_time > failed_over
        )
        return framework.connected and again and await _converged(store, local, 4)

    await _until("the framework to resubscribe", resubscribed, controller, store)
    assert list(local.master.state.frameworks) == [framework.id]  # failed over, not new
    assert _running_tasks(local) == before  # nothing lost, nothing relaunched
    ids = _all_task_ids(local)
    assert sorted(ids) == sorted(before)
    records = await _records(store)
    assert sorted(i.instance_id for i in records) == sorted(before)


async def test_app_too_big_says_why_and_converges_once_it_fits(
    local: LocalMaster,
    controller: Path,
    store: EtcdStore,
    etcd_endpoint: str,
    etcd_prefix: str,
    tmp_path: Path,
) -> None:
    await _apply(etcd_endpoint, etcd_prefix, tmp_path, _spec(instances=2, cpus=6))

    async def explained() -> bool:
        app = await _app(store)
        if app is None:
            return False
        available = next((c for c in app.status.conditions if c.type == "Available"), None)
        return (
            "cpus" in (app.status.placement or "")
            and available is not None
            and str(available.status) == "False"
        )

    await _until("the placement failure in the status", explained, controller, store)
    assert _running_tasks(local) == {}
    app = await _app(store)
    assert app is not None
    assert "agents filtered" in (app.status.placement or "")

    await _apply(etcd_endpoint, etcd_prefix, tmp_path, _spec(instances=2, cpus=2))
    await _until("the shrunk App to run", lambda: _converged(store, local, 2), controller, store)
    app = await _app(store)
    assert app is not None
    assert not app.status.placement
    assert len(_running_tasks(local)) == 2
