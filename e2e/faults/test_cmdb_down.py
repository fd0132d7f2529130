"""The CMDB down for a minute while Apps are deployed and rolled out.

The CMDB (the local NetBox) is stopped for 60 real seconds: the controllers
take no clock for the CMDB mirror or the write-back, so the minute is spent
checking, every second, that the outage changes nothing it must not:

- every Host's condition ``CmdbReachable`` turns False (reason
  ``CmdbUnavailable``) once the mirror has tried to read the CMDB; the
  mirror and the write-back retry with backoff;
- no Host spec is written (no lifecycle change: nothing drained or
  decommissioned), no Mesos agent is drained or deactivated;
- 40 Apps are deployed and rolled out to a new image meanwhile, and
  converge: the CMDB is not on their path. They are deployed 24 s into the
  minute: the write-back's backoff (0.5 s doubling up to 30 s) counts from
  its first failure, the first instance change, so its retries come closer
  to the end of the outage than they would from its start;
- the leader's write-back reports the outage (``dcos_cmdb_writeback_reachable``
  0, tasks pending).

Once the CMDB is back the Hosts are ``CmdbReachable`` again with a newer
``lastCmdbSync``, the write-back catches up (nothing pending, every live
instance's address in the CMDB), and the history checks hold.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import httpx
import pytest

from crds.host import Host, HostLifecycle
from e2e.faults.probes import bump
from e2e.faults.stack import TOKEN, FaultStack

pytestmark = pytest.mark.timeout(180)

APPS = 40
OUTAGE = 60.0
WRITEBACK_FIRST_FAILURE = 24.0
"""Seconds into the outage the Apps are deployed (see the module docstring)."""


async def _hosts(stack: FaultStack) -> list[Host]:
    return [h for h in (await stack.store.list("Host")).items if isinstance(h, Host)]


def _reachable(host: Host) -> tuple[str, str] | None:
    found = next((c for c in host.status.conditions if c.type == "CmdbReachable"), None)
    return None if found is None else (str(found.status), found.reason or "")


def _drained(stack: FaultStack) -> list[str]:
    agents = stack.master.master.state.agents.values()
    return [a.hostname for a in agents if a.drain is not None or a.deactivated]


async def _cmdb_tasks(stack: FaultStack) -> set[str]:
    """The task ids of the address objects the write-back keeps in the CMDB."""
    headers = {"Authorization": f"Token {TOKEN}"}
    async with httpx.AsyncClient(base_url=stack.netbox.url, headers=headers) as client:
        got = await client.get("/api/ipam/ip-addresses/", params={"limit": 1000}, timeout=5)
    got.raise_for_status()
    return {
        str(a["custom_fields"]["task"])
        for a in got.json()["results"]
        if (a.get("custom_fields") or {}).get("task")
    }


async def test_cmdb_down_for_a_minute(fault_stack: FaultStack) -> None:
    stack = fault_stack
    synced: list[datetime] = []

    async def mirrored() -> bool:
        hosts = await _hosts(stack)
        synced[:] = [h.status.last_cmdb_sync for h in hosts if h.status.last_cmdb_sync]
        return len(synced) == len(stack.hosts)

    await stack.until("the Hosts to be mirrored from the CMDB", mirrored, within=20)
    last_sync = max(synced)
    specs_before = {h.metadata.name: h.spec for h in await _hosts(stack)}

    await stack.cmdb_down()
    down_at = time.monotonic()
    down_revision = stack.history.last_revision
    leader = stack.replicas[await stack.wait_leader()]
    states: set[tuple[str, str] | None] = set()

    async def unchanged_until(deadline: float) -> None:
        """Check every second until ``deadline`` that the outage changes nothing."""
        while time.monotonic() < deadline:
            assert _drained(stack) == [], "an agent was drained during the CMDB outage"
            hosts = await _hosts(stack)
            assert {h.metadata.name: h.spec for h in hosts} == specs_before
            assert all(h.spec.lifecycle is HostLifecycle.ACTIVE for h in hosts)
            states.update(_reachable(h) for h in hosts)
            await asyncio.sleep(1.0)  # the outage lasts a real minute; these checks fill it

    # The write-back's first failure comes with the first instance change (see above).
    await unchanged_until(down_at + WRITEBACK_FIRST_FAILURE)
    await bump(stack, APPS, "1")
    await stack.until("the Apps to converge without the CMDB", stack.converged, within=30)
    await bump(stack, APPS, "2")
    await stack.until("the rollout without the CMDB", stack.converged, within=30)
    await unchanged_until(down_at + OUTAGE)
    assert ("False", "CmdbUnavailable") in states, f"no Host reported the CMDB down: {states}"
    hosts = await _hosts(stack)
    assert {_reachable(h) for h in hosts} == {("False", "CmdbUnavailable")}
    assert await leader.metric("dcos_cmdb_writeback_reachable") == 0
    assert await leader.metric("dcos_cmdb_writeback_pending") > 0

    await stack.cmdb_up()

    async def recovered() -> bool:
        hosts = await _hosts(stack)
        return all(
            _reachable(h) == ("True", "Synced")
            and h.status.last_cmdb_sync is not None
            and h.status.last_cmdb_sync > last_sync
            for h in hosts
        )

    async def written_back() -> bool:
        if await leader.metric("dcos_cmdb_writeback_pending") != 0:
            return False
        return await leader.metric("dcos_cmdb_writeback_reachable") == 1

    await stack.until("the Hosts to read the CMDB again", recovered, within=45)
    await stack.until("the write-back to catch up", written_back, within=45)

    await stack.verify(within=30)
    host_writes = [
        e
        for e in stack.history.events
        if e.key.startswith("spec/Host/") and e.revision > down_revision
    ]
    assert host_writes == [], "a Host spec was written during or after the outage"
    live = {
        rec.task_id
        for fw in stack.master.master.state.frameworks.values()
        for rec in fw.tasks.values()
    }
    assert len(live) == APPS * 2
    assert live <= await _cmdb_tasks(stack)
