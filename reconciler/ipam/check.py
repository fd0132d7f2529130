"""Checking IPAM against what runs: leaked allocations, conflicts, addresses outside.

:func:`check` compares one sighting of three sources and says what disagrees:

- the allocations of the checked pools (:class:`adapters.protocols.PoolAllocations`);
- the instance records (:class:`InstanceAddress`: id, address, host, live or not);
- the task-labelled containers of each host whose Docker engine was read
  (:class:`ContainerAddress`).

It reports three kinds of :class:`Finding`:

- **leaked** — an address held by an owner that has no live instance record and
  no container on any engine read, and that no other instance or container
  uses (that is a conflict: releasing it would hand it out twice).
  :func:`check` only names *candidates*; :func:`confirm_leaks` turns them
  into leaks (below);
- **conflict** — one address on two live instances or two containers; a live
  instance whose address is not the one IPAM gives its id; a container whose
  address is in another host's block, allocated to another owner, released,
  or not allocated at all;
- **outside** — a container address in no IPPool, or in a pool but in no block.

**Two sightings.** A candidate may be an instance between its record and its
allocation, or one whose release is on its way. As Calico's ``ipam check``
does, an allocation counts as leaked only if it was a candidate in a first
sighting, is still one, with the same record (owner and store revision), in
a second sighting taken at least ``grace`` seconds later, and in a final
re-check right before it is reported or released.

Addresses in a pool that is not checked (``dcosctl ipam check --pool``) are
left alone; an instance or container without an address is not compared.
On a host with no engine to read the instance records alone decide whether
an address leaked; on a host whose engine did not answer none is a leak.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from adapters.protocols import IpAllocation, PoolAllocations
from crds.ippool import IPPoolSpec

__all__ = [
    "CheckReport",
    "ContainerAddress",
    "Finding",
    "FindingKind",
    "InstanceAddress",
    "Sighting",
    "check",
    "confirm_leaks",
]


class FindingKind(enum.StrEnum):
    LEAKED = "leaked"
    CONFLICT = "conflict"
    OUTSIDE = "outside"


@dataclass(frozen=True)
class InstanceAddress:
    """An instance record: ``instance_id`` (also the Mesos task id and the IPAM owner),
    its address and host when known, and ``live`` unless its state is terminal."""

    instance_id: str
    ip: IPv4Address | None
    host: str | None
    live: bool


@dataclass(frozen=True)
class ContainerAddress:
    """A task-labelled container on ``host``'s engine: its task id and bridge address."""

    host: str
    name: str
    task_id: str
    ip: IPv4Address | None


@dataclass(frozen=True)
class Finding:
    """One line of the report. ``pool`` is empty for an address in no pool,
    ``owner`` the IPAM owner (leaks) or the instance or task id (conflicts,
    outside); ``revision`` is the allocation record's, for leaks."""

    kind: FindingKind
    pool: str
    ip: IPv4Address
    host: str
    owner: str
    detail: str
    revision: int = 0

    @property
    def key(self) -> tuple[str, IPv4Address, str, int]:
        """What must be unchanged between sightings for a leak to be confirmed."""
        return self.pool, self.ip, self.owner, self.revision


@dataclass(frozen=True)
class CheckReport:
    """What one sighting found, and what it counted."""

    candidates: tuple[Finding, ...] = ()
    """Leak candidates: held, with no live instance and no container."""
    conflicts: tuple[Finding, ...] = ()
    outside: tuple[Finding, ...] = ()
    held: int = 0
    """Addresses held by an owner, in the checked pools."""
    released: int = 0
    """Released addresses still recorded (cooling down or free again)."""
    ok: int = 0
    """Held addresses neither leak candidates nor named in a conflict."""
    instances: int = 0
    """Live instance records with an address in a checked pool."""
    containers: int = 0
    """Containers with an address, on the engines read."""


@dataclass(frozen=True)
class Sighting:
    """A report and when (seconds, any monotonic clock) its sources were read."""

    at: float
    report: CheckReport


def check(
    *,
    pools: Mapping[str, IPPoolSpec],
    allocations: Mapping[str, PoolAllocations],
    instances: Iterable[InstanceAddress],
    containers: Iterable[ContainerAddress],
    unknown_hosts: Collection[str] = (),
    unpooled: bool = True,
) -> CheckReport:
    """One sighting's findings; ``allocations`` names the checked pools (a subset
    of ``pools``). Addresses on ``unknown_hosts`` (an engine that could not be
    read) are never leak candidates. ``unpooled`` reports container addresses
    in no pool at all (leave it off when only some pools are checked)."""
    unknown = set(unknown_hosts)
    nets = {name: spec.cidr for name, spec in pools.items()}
    sizes = {name: spec.block_size for name, spec in pools.items()}

    def pool_of(ip: IPv4Address) -> str | None:
        return next((name for name, net in nets.items() if ip in net), None)

    records: dict[tuple[str, IPv4Address], IpAllocation] = {}
    held_by: dict[str, IpAllocation] = {}  # owner -> its held address (any checked pool)
    blocks: dict[tuple[str, IPv4Network], str] = {}
    for checked, listed in allocations.items():
        for b in listed.blocks:
            blocks[(checked, b.cidr)] = b.host
        for a in listed.ips:
            records[(checked, a.ip)] = a
            if a.held:
                held_by[a.owner] = a

    live = [i for i in instances if i.live]
    live_ids = {i.instance_id for i in live}
    conflicts: list[Finding] = []
    outside: list[Finding] = []
    involved: set[tuple[str, IPv4Address]] = set()

    def conflict(pool: str, ip: IPv4Address, host: str, owner: str, detail: str) -> None:
        conflicts.append(Finding(FindingKind.CONFLICT, pool, ip, host, owner, detail))
        involved.add((pool, ip))

    # live instances: one address each, the one IPAM gave them
    by_ip: dict[IPv4Address, list[InstanceAddress]] = defaultdict(list)
    counted_instances = 0
    for inst in live:
        if inst.ip is None:
            continue
        pool = pool_of(inst.ip)
        if pool is None or pool not in allocations:
            continue
        counted_instances += 1
        by_ip[inst.ip].append(inst)
        host = inst.host or ""
        mine = held_by.get(inst.instance_id)
        record = records.get((pool, inst.ip))
        if mine is not None and mine.ip != inst.ip:
            conflict(pool, inst.ip, host, inst.instance_id, f"instance has it; IPAM gave {mine.ip}")
            involved.add((mine.pool, mine.ip))
        elif mine is None:
            if record is None:
                why = "instance has it; not allocated"
            elif record.held:
                why = f"instance has it; allocated to {record.owner}"
            else:
                why = "instance has it; released"
            conflict(pool, inst.ip, host, inst.instance_id, why)
    for ip, sharing in by_ip.items():
        if len(sharing) > 1:
            ids = ", ".join(sorted(i.instance_id for i in sharing))
            conflict(pool_of(ip) or "", ip, sharing[0].host or "", "", f"on instances {ids}")

    # containers: in their host's block, allocated to their own task
    on_ip: dict[IPv4Address, list[ContainerAddress]] = defaultdict(list)
    tasks: set[str] = set()
    counted_containers = 0
    for c in containers:
        tasks.add(c.task_id)
        if c.ip is None:
            continue
        counted_containers += 1
        in_pool = pool_of(c.ip)
        if in_pool is None:
            if unpooled:
                on_ip[c.ip].append(c)
                outside.append(
                    Finding(
                        FindingKind.OUTSIDE, "", c.ip, c.host, c.task_id, f"{c.name}: in no pool"
                    )
                )
            continue
        if in_pool not in allocations:
            continue
        pool = in_pool
        on_ip[c.ip].append(c)
        block = IPv4Network((int(c.ip) >> (32 - sizes[pool]) << (32 - sizes[pool]), sizes[pool]))
        owner_host = blocks.get((pool, block))
        record = records.get((pool, c.ip))
        if owner_host is None:
            outside.append(
                Finding(
                    FindingKind.OUTSIDE, pool, c.ip, c.host, c.task_id, f"{c.name}: in no block"
                )
            )
        elif owner_host != c.host:
            conflict(pool, c.ip, c.host, c.task_id, f"{c.name}: in block {block} of {owner_host}")
        elif record is None:
            conflict(pool, c.ip, c.host, c.task_id, f"{c.name}: not allocated")
        elif not record.held:
            conflict(pool, c.ip, c.host, c.task_id, f"{c.name}: released by {record.owner}")
        elif record.owner != c.task_id:
            conflict(pool, c.ip, c.host, c.task_id, f"{c.name}: allocated to {record.owner}")
    for ip, shared in on_ip.items():
        if len(shared) > 1:
            names = ", ".join(sorted(f"{c.name} on {c.host}" for c in shared))
            conflict(pool_of(ip) or "", ip, shared[0].host, "", f"on containers {names}")

    candidates = [
        Finding(
            FindingKind.LEAKED,
            a.pool,
            a.ip,
            a.host,
            a.owner,
            "no instance, no container",
            a.revision,
        )
        for a in held_by.values()
        if a.owner not in live_ids
        and a.owner not in tasks
        and a.host not in unknown
        and a.ip not in by_ip
        and a.ip not in on_ip
    ]
    held = len(held_by)
    flagged = {(f.pool, f.ip) for f in candidates} | involved
    ok = sum((a.pool, a.ip) not in flagged for a in held_by.values())
    return CheckReport(
        candidates=tuple(sorted(candidates, key=_order)),
        conflicts=tuple(sorted(conflicts, key=_order)),
        outside=tuple(sorted(outside, key=_order)),
        held=held,
        released=sum(not a.held for a in records.values()),
        ok=ok,
        instances=counted_instances,
        containers=counted_containers,
    )


def confirm_leaks(
    first: Sighting, second: Sighting, final: CheckReport, *, grace: float
) -> tuple[Finding, ...]:
    """The leaks: candidates of both sightings, ``grace`` seconds or more apart,
    with an unchanged record, that the final re-check still names. None when the
    sightings are closer than ``grace``."""
    if second.at - first.at < grace:
        return ()
    keys = {f.key for f in first.report.candidates} & {f.key for f in final.candidates}
    return tuple(f for f in second.report.candidates if f.key in keys)


def _order(f: Finding) -> tuple[str, int, str, str]:
    return f.pool, int(f.ip), f.owner, f.detail
