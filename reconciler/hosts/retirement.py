"""Decommissioning a Host, the I/O side: :class:`Decommissioner`.

:func:`reconciler.hosts.decommission.next_step` decides; this module gathers
the facts it decides from (the pass's instance count, agent and blocks, the
CMDB device's status from the mirror or the CMDB) and takes each action
step (DRAIN_AGENT, device offline, ``spec.lifecycle: Decommissioned``,
block release) until a step waits or the host is done, then sets the
``Draining`` and ``Decommissioned`` conditions. A failed step is reported
as ``<Step>Failed`` with the error and retried by the next reconcile.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import cast

from adapters.protocols import CmdbDevices, DeviceStatus, IpamStore, MesosOperator, ObjectKey, Store
from crds.errors import CmdbRejected, ConflictError, DcosError
from crds.events import EventKind
from crds.host import Host, HostLifecycle
from crds.meta import ConditionStatus
from reconciler.hosts import conditions as c
from reconciler.hosts.decommission import AgentFact, DecommissionFacts, Step, next_step
from reconciler.hosts.mirror import CmdbMirror
from reconciler.hosts.onboarding import AgentView, DrainState
from reconciler.hosts.outcome import Outcome
from reconciler.hosts.snapshot import Pass, PassCache

__all__ = ["Decommissioner"]

logger = logging.getLogger(__name__)

TRUE, FALSE = ConditionStatus.TRUE, ConditionStatus.FALSE
_WAITS = {Step.WAIT_INSTANCES, Step.WAIT_AGENT}
_ACTIONS = {Step.DRAIN_AGENT, Step.SET_OFFLINE, Step.SET_DECOMMISSIONED, Step.RELEASE_BLOCKS}


class Decommissioner:
    def __init__(
        self,
        *,
        store: Store,
        ipam: IpamStore,
        passes: PassCache,
        cmdb: CmdbDevices | None = None,
        mirror: CmdbMirror | None = None,
        mesos: MesosOperator | None = None,
        poll: float = 1.0,
        drain_grace: float | None = None,
    ) -> None:
        self._store = store
        self._ipam = ipam
        self._passes = passes
        self._cmdb = cmdb
        self._mirror = mirror
        self._mesos = mesos
        self._poll = poll
        self._drain_grace = drain_grace

    async def _facts(self, out: Outcome, snapshot: Pass) -> DecommissionFacts:
        host = out.host
        name = host.metadata.name
        agent = None if snapshot.agents is None else snapshot.agents.get(name)
        if self._mesos is None:
            fact = AgentFact.NOT_CONFIGURED
        elif snapshot.agents is None:
            fact = AgentFact.UNKNOWN
        else:
            fact = AgentFact.PRESENT if agent is not None else AgentFact.ABSENT
        device_status: DeviceStatus | None = None
        if self._cmdb is not None:
            device = self._mirror.device(name) if self._mirror is not None else None
            if device is None:
                try:
                    device = await self._cmdb.get_device(name)
                except CmdbRejected as exc:
                    if exc.status != 404:
                        raise
                    logger.info("Host %s has no CMDB device: nothing to set offline", name)
            device_status = None if device is None else device.status
        return DecommissionFacts(
            lifecycle=host.spec.lifecycle,
            instances=snapshot.instances.get(name, 0),
            agent_fact=fact,
            agent=agent,
            device_status=device_status,
            blocks_held=len(snapshot.blocks.get(name, ())),
        )

    async def run(self, out: Outcome, snapshot: Pass) -> None:
        """Take the steps due for ``out.host`` (nothing for an Active host); conditions."""
        if out.host.spec.lifecycle is HostLifecycle.ACTIVE:
            return
        step, error = Step.NONE, ""
        instances = snapshot.instances.get(out.host.metadata.name, 0)
        try:
            facts = await self._facts(out, snapshot)
            for _ in range(len(Step)):
                step = next_step(facts)
                instances = facts.instances
                if step not in _ACTIONS:
                    break
                facts = await self._act(out, step, facts, snapshot)
        except DcosError as exc:  # Mesos, CMDB, IPAM (held addresses) or etcd: retried
            error = str(exc)
            out.failed = True
            logger.warning("Host %s: %s failed: %s", out.host.metadata.name, step, exc)
        self._conditions(out, step, error, snapshot, instances)

    async def _act(
        self, out: Outcome, step: Step, facts: DecommissionFacts, snapshot: Pass
    ) -> DecommissionFacts:
        """Do ``step``; the facts after it."""
        host = out.host
        name = host.metadata.name
        if step is Step.DRAIN_AGENT:
            assert self._mesos is not None and facts.agent is not None
            # DRAIN_AGENT kills whatever still runs there: count the host's live
            # instances again from etcd first, never from a pass that may predate them.
            self._passes.invalidate()
            live = (await self._passes.get()).instances.get(name, 0)
            if live:
                return replace(facts, instances=live)
            await self._mesos.drain_agent(facts.agent.agent_id, max_grace_period=self._drain_grace)
            self._passes.invalidate()
            out.event(EventKind.NORMAL, "AgentDraining", f"DRAIN_AGENT {facts.agent.agent_id}")
            agent = AgentView(
                agent_id=facts.agent.agent_id,
                hostname=facts.agent.hostname,
                attributes=facts.agent.attributes,
                drain=DrainState.DRAINING,
                deactivated=True,
            )
            return replace(facts, agent=agent)
        if step is Step.SET_OFFLINE:
            assert self._cmdb is not None
            device = await self._cmdb.set_device_status(name, DeviceStatus.OFFLINE)
            if self._mirror is not None:
                self._mirror.observed(device)
            out.event(EventKind.NORMAL, "SetOffline", f"CMDB device {name} set offline")
            return replace(facts, device_status=device.status)
        if step is Step.SET_DECOMMISSIONED:
            spec = host.spec.model_copy(update={"lifecycle": HostLifecycle.DECOMMISSIONED})
            try:
                updated = await self._store.update(host.model_copy(update={"spec": spec}))
                out.event(EventKind.NORMAL, "Decommissioned", "spec.lifecycle is Decommissioned")
            except ConflictError:  # the mirror may have written it from the offline device
                updated = await self._store.get(ObjectKey.of(host))
                if cast(Host, updated).spec.lifecycle is not HostLifecycle.DECOMMISSIONED:
                    raise
            out.host = cast(Host, updated).model_copy(update={"status": host.status})
            return replace(facts, lifecycle=HostLifecycle.DECOMMISSIONED)
        # RELEASE_BLOCKS
        for block in snapshot.blocks.get(name, ()):
            released = await self._ipam.release_block(pool=block.pool, host=name)
            if released is not None:
                message = f"block {released} of IPPool {block.pool} released"
                out.event(EventKind.NORMAL, "BlockReleased", message)
        self._passes.invalidate()
        return replace(facts, blocks_held=0)

    def _conditions(
        self, out: Outcome, step: Step, error: str, snapshot: Pass, instances: int
    ) -> None:
        host = out.host
        name = host.metadata.name
        messages = {
            Step.WAIT_INSTANCES: f"{instances} live instance{'s' if instances != 1 else ''} "
            "on the host; the App controller replaces them elsewhere",
            Step.WAIT_AGENT: (
                f"Mesos cannot be read: {snapshot.mesos_error}"
                if snapshot.mesos_error
                else "waiting for Mesos to report the agent DRAINED"
            ),
        }
        if error:
            reason, message = f"{step}Failed", error
        else:
            reason, message = str(step), messages.get(step, "")
        if step in _WAITS or error:
            out.soon(self._poll)
        if host.spec.lifecycle is HostLifecycle.DRAINING:
            out.set(c.DRAINING, TRUE, reason, message)
            out.set(c.DECOMMISSIONED, FALSE, "Draining", "the host is draining")
            return
        out.set(c.DRAINING, FALSE, "Drained")
        if step is Step.DONE:
            out.set(c.DECOMMISSIONED, TRUE, "Recycled", "drained, offline, block released")
            was = out.was(c.DECOMMISSIONED)
            if was is None or was.status is not TRUE:
                out.event(EventKind.NORMAL, "Recycled", f"host {name} is recycled")
        else:
            out.set(c.DECOMMISSIONED, FALSE, reason, message)
