"""Resource arithmetic for the master: a :class:`Bag` of scalars and ranges.

Every Mesos resource is a name, a value and a reservation. The master keeps
an agent's total, its allocated and its offered resources as bags keyed by
``(name, reservation)``, where the reservation is ``None`` for unreserved
resources or a :data:`Resv` triple ``(type, role, principal)`` for a static or
dynamic reservation. Scalars are rounded to three decimals, as Mesos' fixed
point arithmetic does; ranges (``ports``) are kept as sorted, merged, inclusive
intervals. SET resources are not modelled.

:func:`from_resources` reads wire resources in either form (the refined
``reservations[]`` or the legacy ``role``/``reservation``);
:func:`to_resources` writes them back in the form a framework asked for
(``refined`` when it has RESERVATION_REFINEMENT), with ``allocation_info``
when an allocation role is given. The allocator (:mod:`.allocator`) and the
offer handling (:mod:`.offers`) are the users.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from adapters.mesos import (
    AllocationInfo,
    Range,
    Ranges,
    ReservationInfo,
    ReservationType,
    Resource,
    Scalar,
    ValueType,
)

__all__ = ["Bag", "Resv", "from_resources", "parse_ranges", "to_resources"]

logger = logging.getLogger(__name__)

Resv = tuple[str, str, str] | None
"""``None`` (unreserved) or ``(STATIC|DYNAMIC, role, principal)``."""

Key = tuple[str, Resv]
_EPSILON = 0.0005


def _round(value: float) -> float:
    return round(value * 1000) / 1000


def _merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for begin, end in sorted(ranges):
        if out and begin <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((begin, end))
    return out


def _subtract(have: list[tuple[int, int]], take: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = list(have)
    for t_begin, t_end in take:
        nxt: list[tuple[int, int]] = []
        for begin, end in out:
            if t_end < begin or t_begin > end:
                nxt.append((begin, end))
                continue
            if begin < t_begin:
                nxt.append((begin, t_begin - 1))
            if end > t_end:
                nxt.append((t_end + 1, end))
        out = nxt
    return out


def _covers(have: list[tuple[int, int]], want: list[tuple[int, int]]) -> bool:
    return all(any(b <= w_b and w_e <= e for b, e in have) for w_b, w_e in want)


@dataclass
class Bag:
    """A multiset of resources; all operations return new bags or mutate in place explicitly."""

    scalars: dict[Key, float] = field(default_factory=dict)
    ranges: dict[Key, list[tuple[int, int]]] = field(default_factory=dict)

    def copy(self) -> Bag:
        return Bag(dict(self.scalars), {k: list(v) for k, v in self.ranges.items()})

    def empty(self) -> bool:
        return not any(v > _EPSILON for v in self.scalars.values()) and not any(
            self.ranges.values()
        )

    def add(self, other: Bag) -> None:
        for key, value in other.scalars.items():
            self.scalars[key] = _round(self.scalars.get(key, 0.0) + value)
        for key, rng in other.ranges.items():
            self.ranges[key] = _merge([*self.ranges.get(key, []), *rng])

    def subtract(self, other: Bag) -> None:
        for key, value in other.scalars.items():
            left = _round(self.scalars.get(key, 0.0) - value)
            if left > _EPSILON:
                self.scalars[key] = left
            else:
                self.scalars.pop(key, None)
        for key, rng in other.ranges.items():
            left_r = _subtract(self.ranges.get(key, []), rng)
            if left_r:
                self.ranges[key] = left_r
            else:
                self.ranges.pop(key, None)

    def contains(self, other: Bag) -> bool:
        for key, value in other.scalars.items():
            if self.scalars.get(key, 0.0) + _EPSILON < value:
                return False
        return all(_covers(self.ranges.get(key, []), rng) for key, rng in other.ranges.items())

    def select(self, *, roles: Iterable[str | None]) -> Bag:
        """The part reserved for one of ``roles`` (``None`` selects unreserved)."""
        wanted = set(roles)

        def keep(resv: Resv) -> bool:
            return (resv[1] if resv else None) in wanted

        return Bag(
            {k: v for k, v in self.scalars.items() if keep(k[1])},
            {k: list(v) for k, v in self.ranges.items() if keep(k[1])},
        )

    def scalar(self, name: str) -> float:
        """Total of scalar ``name`` over every reservation."""
        return _round(sum(v for (n, _), v in self.scalars.items() if n == name))

    def port_list(self) -> list[int]:
        """Every port in the bag, ascending."""
        return sorted(
            p
            for (n, _), r in self.ranges.items()
            if n == "ports"
            for b, e in r
            for p in range(b, e + 1)
        )

    def cap(self, limits: dict[str, float]) -> Bag:
        """A copy whose scalars named in ``limits`` add up to at most the limit."""
        out = self.copy()
        for name, limit in limits.items():
            room = limit
            for key in sorted(k for k in out.scalars if k[0] == name):
                take = max(0.0, min(out.scalars[key], room))
                room = _round(room - take)
                if take > _EPSILON:
                    out.scalars[key] = _round(take)
                else:
                    del out.scalars[key]
        return out

    def flat(self) -> dict[str, float | str]:
        """The legacy ``/master/state`` map: ``{"cpus": 1, ..., "ports": "[31000-31005]"}``."""
        out: dict[str, float | str] = {"cpus": 0.0, "disk": 0.0, "gpus": 0.0, "mem": 0.0}
        for name in {n for n, _ in self.scalars}:
            out[name] = self.scalar(name)
        ports = _merge(r for (n, _), rs in self.ranges.items() for r in rs if n == "ports")
        if ports:
            out["ports"] = "[" + ", ".join(f"{b}-{e}" for b, e in ports) + "]"
        return out


def _resv_of(resource: Resource) -> Resv:
    if resource.reservations:
        last = resource.reservations[-1]
        kind = str(last.type or ReservationType.DYNAMIC)
        return (kind, last.role or "*", last.principal or "")
    if resource.role and resource.role != "*":
        if resource.reservation is not None:
            return ("DYNAMIC", resource.role, resource.reservation.principal or "")
        return ("STATIC", resource.role, "")
    return None


def parse_ranges(text: str) -> list[tuple[int, int]]:
    """``"31000-32000,8080"`` or ``"[31000-32000]"`` into inclusive intervals."""
    out = []
    for part in text.strip("[] ").split(","):
        part = part.strip()
        if not part:
            continue
        begin, _, end = part.partition("-")
        out.append((int(begin), int(end or begin)))
    return _merge(out)


def from_resources(resources: Iterable[Resource]) -> Bag:
    """Read wire resources; raises ``ValueError`` for kinds the master cannot account."""
    bag = Bag()
    for res in resources:
        resv = _resv_of(res)
        if res.type == ValueType.SCALAR and res.scalar is not None:
            if res.scalar.value < 0:
                raise ValueError(f"negative scalar resource '{res.name}'")
            piece = Bag({(res.name, resv): _round(res.scalar.value)})
        elif res.type == ValueType.RANGES and res.ranges is not None:
            pairs = [(r.begin, r.end) for r in res.ranges.range]
            if any(b > e for b, e in pairs):
                raise ValueError(f"invalid range in resource '{res.name}'")
            piece = Bag(ranges={(res.name, resv): _merge(pairs)})
        else:
            raise ValueError(f"unsupported resource '{res.name}' of type {res.type}")
        bag.add(piece)
    return bag


def _reservation_fields(resv: Resv, *, refined: bool) -> dict[str, object]:
    if resv is None:
        return {} if refined else {"role": "*"}
    kind, role, principal = resv
    if refined:
        info = ReservationInfo(type=ReservationType(kind), role=role, principal=principal or None)
        return {"reservations": [info]}
    if kind == "STATIC":
        return {"role": role}
    return {"role": role, "reservation": ReservationInfo(principal=principal or None)}


def to_resources(bag: Bag, *, role: str | None = None, refined: bool = True) -> list[Resource]:
    """Wire resources, ordered like Mesos (cpus, mem, disk, ports, then the rest)."""
    order = {"cpus": 0, "mem": 1, "disk": 2, "gpus": 3, "ports": 4}
    alloc = {"allocation_info": AllocationInfo(role=role)} if role is not None else {}
    out: list[tuple[tuple[int, str, str], Resource]] = []
    for (name, resv), value in bag.scalars.items():
        if value <= _EPSILON:
            continue
        fields = _reservation_fields(resv, refined=refined)
        res = Resource(
            name=name, type=ValueType.SCALAR, scalar=Scalar(value=value), **fields, **alloc
        )
        out.append(((order.get(name, 9), name, str(resv)), res))
    for (name, resv), rng in bag.ranges.items():
        if not rng:
            continue
        fields = _reservation_fields(resv, refined=refined)
        ranges = Ranges(range=[Range(begin=b, end=e) for b, e in rng])
        res = Resource(name=name, type=ValueType.RANGES, ranges=ranges, **fields, **alloc)
        out.append(((order.get(name, 9), name, str(resv)), res))
    return [res for _, res in sorted(out, key=lambda item: item[0])]
