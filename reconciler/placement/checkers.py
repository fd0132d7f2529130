"""Feasibility: can this offer take this instance at all?

A :class:`Checker` answers for one offer part and one candidate with the reason
it cannot, or None. The stack runs them cheapest first and stops at the first
reason (:func:`reconciler.placement.stack.build_default_stack`):

* :class:`PinnedHostChecker`: the App's constraints on ``hostname`` that need
  no counts (IS, CLUSTER, LIKE, UNLIKE), first, so an App pinned to a host
  (an AgentSet's agent) reports the hosts it excludes by that constraint
  rather than by the pool they are in.
* :class:`RoleChecker`: the offer is for the domain's role. Reserved resources
  must be reserved for that role. Unreserved resources (offered to the domain's
  role or to "*") are the shared pool: never with ``borrow: Never``; with
  ``WhenExhausted`` only once no own offer can take the candidate (the stack
  sets ``state.borrowing`` for that second pass) and within ``maxBorrow``.
  Unreserved resources of a host dedicated to a domain
  (:attr:`Snapshot.host_roles`) are nobody's: "unreserved on a domain host".
* :class:`LifecycleChecker`: nothing new on Draining or Decommissioned hosts.
  Offers from hosts without a Host object are taken as Active (the CMDB sync
  may lag behind a new agent; Mesos maintenance still guards them), unless the
  snapshot says otherwise (``unknown_hosts_active=False``: "host unknown").
* :class:`AgentsChecker`: outside the system domain, nothing on a host until
  every AgentSet that selects it has its agent ready there
  (:attr:`Snapshot.agents_waiting`): "waiting for agents on HOST: AGENTSET".
* :class:`ResourceChecker`: cpus, mem, disk and host ports still left in the
  offer after this plan's earlier placements.
* :class:`ConstraintChecker`: every App constraint, Marathon's semantics, over
  existing plus planned instances (see :func:`check_constraint`).
* :class:`QuotaChecker`: the domain's quota on cpus, mem, disk and instances.
  It looks only at the candidate, and sits last among the resource checks as
  in Nomad, so the summary counts the agents that quota alone rejected.
* :class:`IpChecker`: a free address in the host's block of the pool: the App's
  ``ipPool`` ("not in IPPool vlan20" on a host it does not select), else the
  host's own pool (:attr:`Snapshot.ip_pool_of`; a host no pool selects takes
  the instance without an address). "no free IP in vlan20" when the block is
  full or the pool gave the host no block yet. Without IPAM (``free_ips``
  None) it passes everything.

Next: :mod:`reconciler.placement.scorers`.
"""

from __future__ import annotations

import functools
import re
from typing import Protocol

from crds.app import Constraint, ConstraintOperator
from crds.domain import BorrowPolicy
from crds.host import HostLifecycle
from reconciler.placement.snapshot import SHARED_ROLE, AgentOffer, Candidate
from reconciler.placement.state import PlanState, ValueCounts, attribute
from reconciler.system import SYSTEM_DOMAIN

__all__ = [
    "AgentsChecker",
    "Checker",
    "ConstraintChecker",
    "IpChecker",
    "LifecycleChecker",
    "PinnedHostChecker",
    "QuotaChecker",
    "ResourceChecker",
    "RoleChecker",
    "check_constraint",
    "is_shared_pool",
]

_EPSILON = 1e-9


class Checker(Protocol):
    def feasible(self, agent: AgentOffer, candidate: Candidate, state: PlanState) -> str | None:
        """Why ``agent`` cannot take ``candidate``, or None when it can."""
        ...


def is_shared_pool(agent: AgentOffer, candidate: Candidate) -> bool:
    """Unreserved resources the candidate's domain could borrow."""
    return not agent.reserved and agent.role in (candidate.role, SHARED_ROLE)


class PinnedHostChecker:
    def feasible(self, agent: AgentOffer, candidate: Candidate, state: PlanState) -> str | None:
        for constraint in candidate.constraints:
            if constraint.field != "hostname" or constraint.operator in _COUNTED:
                continue
            if not check_constraint(constraint, agent.hostname, _NO_COUNTS):
                return _describe(constraint)
        return None


class RoleChecker:
    def feasible(self, agent: AgentOffer, candidate: Candidate, state: PlanState) -> str | None:
        if agent.reserved or agent.role not in (candidate.role, SHARED_ROLE):
            return None if agent.role == candidate.role else f"offer for role {agent.role}"
        if agent.hostname in state.snapshot.host_roles:
            return "unreserved on a domain host"
        if candidate.borrow is BorrowPolicy.NEVER:
            return "shared pool: borrow Never"
        if not state.borrowing:
            return "shared pool: own offers first"
        usage = state.usage(candidate.app.domain)
        limit = candidate.max_borrow_cpus
        if limit is not None and usage.borrowed_cpus + candidate.cpus > limit + _EPSILON:
            return "maxBorrow cpus"
        limit = candidate.max_borrow_mem
        if limit is not None and usage.borrowed_mem + candidate.mem > limit + _EPSILON:
            return "maxBorrow mem"
        return None


class LifecycleChecker:
    def feasible(self, agent: AgentOffer, candidate: Candidate, state: PlanState) -> str | None:
        lifecycle = state.snapshot.lifecycles.get(agent.hostname)
        if lifecycle is None:
            return None if state.snapshot.unknown_hosts_active else "host unknown"
        return None if lifecycle is HostLifecycle.ACTIVE else f"host {lifecycle}"


class AgentsChecker:
    def feasible(self, agent: AgentOffer, candidate: Candidate, state: PlanState) -> str | None:
        if candidate.app.domain == SYSTEM_DOMAIN:
            return None
        waiting = state.snapshot.agents_waiting.get(agent.hostname)
        if not waiting:
            return None
        return f"waiting for agents on {agent.hostname}: {', '.join(waiting)}"


class ResourceChecker:
    def feasible(self, agent: AgentOffer, candidate: Candidate, state: PlanState) -> str | None:
        lacking = state.fits(agent, candidate)
        return None if lacking is None else f"{lacking} exhausted"


class ConstraintChecker:
    def feasible(self, agent: AgentOffer, candidate: Candidate, state: PlanState) -> str | None:
        for constraint in candidate.constraints:
            value = attribute(agent.hostname, agent.attributes, constraint.field)
            if constraint.operator in _COUNTED:
                counts = state.counts(candidate.app, constraint.field)
            else:
                counts = _NO_COUNTS
            if not check_constraint(constraint, value, counts):
                return _describe(constraint)
        return None


class QuotaChecker:
    def feasible(self, agent: AgentOffer, candidate: Candidate, state: PlanState) -> str | None:
        domain = candidate.app.domain
        quota = state.quota(domain)
        usage = state.usage(domain)
        if _over(quota.quota_cpus, usage.cpus + candidate.cpus):
            return "quota cpus"
        if _over(quota.quota_mem, usage.mem + candidate.mem):
            return "quota mem"
        if _over(quota.quota_disk, usage.disk + candidate.disk):
            return "quota disk"
        if _over(quota.quota_instances, usage.instances + 1):
            return "quota instances"
        return None


class IpChecker:
    def feasible(self, agent: AgentOffer, candidate: Candidate, state: PlanState) -> str | None:
        if not candidate.needs_ip or state.snapshot.free_ips is None:
            return None
        pool = state.ip_pool(candidate, agent.hostname)
        if pool is None and state.snapshot.ip_pool_of is not None:
            return None  # no pool selects the host: launched without an address
        free = state.free_ips(pool, agent.hostname)
        if free is None:
            return None if pool is None else f"not in IPPool {pool}"
        if free <= 0:
            return "no free IP" if pool is None else f"no free IP in {pool}"
        ready = state.snapshot.network_ready
        if pool is not None and ready is not None and not ready(pool, agent.hostname):
            return f"network of {pool} not ready"
        return None


def check_constraint(constraint: Constraint, value: str | None, counts: ValueCounts) -> bool:
    """Whether a host whose attribute ``constraint.field`` is ``value`` (None: the host
    lacks it) may take one more instance, given the app's instances per value.

    As in Marathon: a host without the attribute satisfies only UNLIKE. UNIQUE: no
    instance has this value yet. MAX_PER n: fewer than n have it. CLUSTER v and IS v:
    the value is v. LIKE / UNLIKE r: the value does / does not fully match r.
    GROUP_BY [n]: a value holding no instance yet is always fine; one that holds
    some is fine only when at least n values (0 when n is left out) hold instances
    and this value holds the fewest. So the first n instances go to n different
    values, then each value is filled up to the level of the others; with fewer
    than n values on offer, placement stops after one instance per value.
    """
    op, wanted = constraint.operator, constraint.value
    if value is None:
        return op is ConstraintOperator.UNLIKE
    if op is ConstraintOperator.UNIQUE:
        return value not in counts.counts
    if op is ConstraintOperator.MAX_PER:
        return counts.counts.get(value, 0) < int(wanted or 0)
    if op is ConstraintOperator.GROUP_BY:
        count = counts.counts.get(value, 0)
        if count == 0:
            return True
        return len(counts.counts) >= int(wanted or 0) and count == counts.min_count()
    if op is ConstraintOperator.LIKE:
        return _regex(wanted or "").fullmatch(value) is not None
    if op is ConstraintOperator.UNLIKE:
        return _regex(wanted or "").fullmatch(value) is None
    return value == wanted  # CLUSTER and IS


_COUNTED = {ConstraintOperator.UNIQUE, ConstraintOperator.MAX_PER, ConstraintOperator.GROUP_BY}
_NO_COUNTS = ValueCounts()  # for operators that never look at counts


@functools.lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@functools.lru_cache(maxsize=1024)
def _describe(constraint: Constraint) -> str:
    """The rejection reason, Marathon's array form without brackets: "MAX_PER rack 2"."""
    value = "" if constraint.value is None else f" {constraint.value}"
    return f"{constraint.operator} {constraint.field}{value}"


def _over(limit: float | None, wanted: float) -> bool:
    return limit is not None and wanted > limit + _EPSILON
