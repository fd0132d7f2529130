"""Apps through the faults a data center has: a lost agent, a master failover, no room.

The installed ``dcos-controller`` process on the test's etcd and a local
Mesos master with sim agents (in this process); faults are injected through
the master's HTTP fault API (``POST /faults/...``), as an operator's chaos
tooling would. Waits are conditions with deadlines; the master's tasks are
compared with the instance records in etcd.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from e2e.harness import (
    Stack,
    conditions,
    domain_manifest,
    get_app,
    instance_records,
    manifest,
    sim_master_settings,
)
from localcluster.mesos.server import LocalMaster
from reconciler.apps.instances import InstanceState

APP = """\
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
SPEC = manifest(domain_manifest(), APP)


def _spec(*, instances: int = 4, cpus: float = 0.5) -> str:
    return SPEC.format(instances=instances, cpus=cpus)


@pytest.fixture
async def sim_master() -> AsyncIterator[LocalMaster]:
    settings = sim_master_settings(agents=4, running_delay=0.05, unreachable_gone_timeout=2.0)
    async with LocalMaster(settings) as started:
        yield started


@pytest.fixture
def stack(sim_stack: Stack) -> Stack:
    """The ``dcos-controller`` process on ``sim_master``; a wait that fails shows ``shop/web``."""
    sim_stack.apps.append(("shop", "web"))
    return sim_stack


def _running_tasks(master: LocalMaster) -> dict[str, str]:
    """Task id -> agent id of every running task the master knows."""
    return {
        rec.task_id: rec.agent_id
        for fw in master.master.state.frameworks.values()
        for rec in fw.tasks.values()
        if str(rec.state) == "TASK_RUNNING"
    }


def _all_task_ids(master: LocalMaster) -> list[str]:
    return [
        rec.task_id
        for fw in master.master.state.frameworks.values()
        for rec in [*fw.tasks.values(), *fw.completed]
    ]


async def _converged(stack: Stack, instances: int) -> bool:
    app = await get_app(stack.store, "shop", "web")
    if app is None or app.status.observed_generation != app.metadata.generation:
        return False
    records = await instance_records(stack.store, "shop", "web")
    running = {i.instance_id for i in records if i.state is InstanceState.RUNNING}
    return (
        app.status.running_instances == instances
        and len(running) == instances
        and conditions(app).get("Available") == ("True", "MinimumHealthy")
        and conditions(app).get("Progressing") == ("True", "RolloutComplete")
        and running == set(_running_tasks(stack.master))
    )


async def _fault(master: LocalMaster, name: str, body: dict[str, str]) -> None:
    async with httpx.AsyncClient() as client:
        got = await client.post(f"{master.url}/faults/{name}", json=body, timeout=5.0)
    assert got.status_code == 200, got.text


async def test_lost_agent_instances_are_replaced_elsewhere(
    sim_master: LocalMaster, stack: Stack
) -> None:
    await stack.apply(_spec())
    await stack.until("4 instances", lambda: _converged(stack, 4))
    before = _running_tasks(sim_master)
    lost_agent = next(iter(before.values()))
    lost = {task for task, agent in before.items() if agent == lost_agent}

    await _fault(sim_master, "lose-agent", {"agent_id": lost_agent})

    async def replaced() -> bool:
        running = _running_tasks(sim_master)
        return (
            await _converged(stack, 4)
            and lost_agent not in running.values()
            and not lost & set(running)
        )

    await stack.until("the lost instances to be replaced", replaced)
    records = {i.instance_id: i for i in await instance_records(stack.store, "shop", "web")}
    assert all(i.agent_id != lost_agent for i in records.values() if i.is_active)
    ids = _all_task_ids(sim_master)
    assert len(ids) == len(set(ids))
    assert len(set(ids) - set(before)) == len(lost)  # one replacement per lost instance


async def test_master_failover_loses_and_duplicates_nothing(
    sim_master: LocalMaster, stack: Stack
) -> None:
    await stack.apply(_spec())
    await stack.until("4 instances", lambda: _converged(stack, 4))
    before = _running_tasks(sim_master)
    (framework,) = sim_master.master.state.frameworks.values()
    failed_over = time.time()

    await _fault(sim_master, "failover-master", {})

    async def resubscribed() -> bool:
        again = (
            framework.reregistered_time is not None and framework.reregistered_time > failed_over
        )
        return framework.connected and again and await _converged(stack, 4)

    await stack.until("the framework to resubscribe", resubscribed)
    assert list(sim_master.master.state.frameworks) == [framework.id]  # failed over, not new
    assert _running_tasks(sim_master) == before  # nothing lost, nothing relaunched
    ids = _all_task_ids(sim_master)
    assert sorted(ids) == sorted(before)
    records = await instance_records(stack.store, "shop", "web")
    assert sorted(i.instance_id for i in records) == sorted(before)


async def test_app_too_big_says_why_and_converges_once_it_fits(
    sim_master: LocalMaster, stack: Stack
) -> None:
    await stack.apply(_spec(instances=2, cpus=6))

    async def explained() -> bool:
        app = await get_app(stack.store, "shop", "web")
        if app is None:
            return False
        available = next((c for c in app.status.conditions if c.type == "Available"), None)
        return (
            "cpus" in (app.status.placement or "")
            and available is not None
            and str(available.status) == "False"
        )

    await stack.until("the placement failure in the status", explained)
    assert _running_tasks(sim_master) == {}
    app = await stack.app("shop", "web")
    assert "agents filtered" in (app.status.placement or "")

    await stack.apply(_spec(instances=2, cpus=2))
    await stack.until("the shrunk App to run", lambda: _converged(stack, 2))
    app = await stack.app("shop", "web")
    assert not app.status.placement
    assert len(_running_tasks(sim_master)) == 2
