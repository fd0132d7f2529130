"""``dcosctl plan``: where the Apps of the files would land now; writes nothing.

:func:`reconciler.plan_live.plan_manifests` does the planning. This module
reads the files, asks the Mesos operator API what every agent has free
(:class:`AgentsOfferSource`), and prints one row per new instance, then the
etcd revision the plan was made at, for ``apply --if-revision``.

What an offer would hold now (GET_AGENTS, per active agent that is not
draining or deactivated): ``total_resources`` minus ``allocated_resources``,
``cpus``/``mem``/``disk`` and ``ports`` ranges, split into one view per
reservation role (reserved for that role) and one for the unreserved rest
(role ``*``, the shared pool). Resources offered to a framework but not
accepted count as free: that framework is ours or will decline them.
Revocable resources and disks with disk info (volumes, MOUNT disks) are left
out, as the framework leaves them out of real offers.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from cli.commands import connection, guard, read_manifests, run
from cli.commands.apply import FILES_HELP
from cli.config import Connection
from cli.output import render_table, terminal_width

if TYPE_CHECKING:
    from adapters.mesos.model_common import Resource
    from adapters.mesos.model_operator import GetAgents
    from adapters.mesos.operator import MesosOperatorClient
    from adapters.protocols import OfferAmounts, OfferView
    from reconciler.plan_live import LivePlan

__all__ = ["DEFAULT_MESOS", "AgentsOfferSource", "free_offer_views", "plan", "plan_rows"]

DEFAULT_MESOS = "http://127.0.0.1:5050"
HEADERS = ["APP", "CHANGE", "INSTANCE", "VERSION", "HOST", "BORROWED", "DETAIL"]


@guard()
def plan(
    ctx: typer.Context,
    filenames: Annotated[
        list[str], typer.Option("--filename", "-f", metavar="FILE|DIR|-", help=FILES_HELP)
    ],
    recursive: Annotated[
        bool, typer.Option("--recursive", "-R", help="Descend into sub-folders.")
    ] = False,
    mesos: Annotated[
        str | None,
        typer.Option(
            "--mesos",
            metavar="URL[,URL]",
            help=f"Mesos masters (else $DCOS_MESOS, else {DEFAULT_MESOS}).",
        ),
    ] = None,
) -> None:
    """Show where each new instance of the files' Apps would be placed now."""
    masters = (mesos or os.environ.get("DCOS_MESOS") or DEFAULT_MESOS).split(",")
    result = run(_plan(connection(ctx), filenames, recursive, masters))
    text, _ = render_table(HEADERS, plan_rows(result), width=terminal_width())
    sys.stdout.write(text + "\n")
    for change in result.apps:
        if change.new == 0 and change.error is None:
            print(f"{change.key}: nothing to place ({change.change})")
    placed = sum(i.hostname is not None for i in result.instances)
    borrowed = sum(i.borrowed for i in result.instances)
    lent = f" ({borrowed} borrowed from the shared pool)" if borrowed else ""
    print(
        f"{placed} of {len(result.instances)} new instance(s) placed{lent} over "
        f"{result.offers} offer(s); planned at etcd revision {result.revision}"
    )
    files = " ".join(f"-f {name}" for name in filenames)
    print(f"apply exactly this with: dcosctl apply {files} --if-revision {result.revision}")


async def _plan(
    conn: Connection, filenames: list[str], recursive: bool, masters: list[str]
) -> LivePlan:
    from adapters.etcd import open_store as open_etcd
    from adapters.mesos.http import MesosSettings
    from adapters.mesos.operator import MesosOperatorClient
    from cli.config import etcd_settings
    from reconciler.plan_live import plan_manifests

    manifests = read_manifests(filenames, recursive=recursive)
    settings = MesosSettings(masters=tuple(m.strip() for m in masters), request_timeout=10.0)
    async with open_etcd(etcd_settings(conn)) as store, MesosOperatorClient(settings) as client:
        return await plan_manifests(store, manifests, source=AgentsOfferSource(client))


def plan_rows(result: LivePlan) -> list[list[str]]:
    changes = {c.key: c for c in result.apps}
    rows = []
    for change in result.apps:
        if change.error is not None and change.new:
            rows.append(
                [str(change.key), str(change.change), f"{change.new}", "", "", "", change.error]
            )
    for inst in result.instances:
        change = changes[inst.app]
        if inst.hostname is None:
            host, detail = "<none>", f"cannot be placed: {inst.detail}"
        else:
            pool = "reserved" if inst.reserved else "shared pool"
            host, detail = inst.hostname, f"role {inst.role} ({pool})"
        where = f"{inst.index}/{change.new}"
        lent = "-" if inst.hostname is None else ("yes" if inst.borrowed else "no")
        rows.append(
            [str(inst.app), str(change.change), where, inst.version[:8], host, lent, detail]
        )
    return rows


class AgentsOfferSource:
    """:class:`reconciler.plan_live.OfferSource` from the operator API's GET_AGENTS."""

    def __init__(self, client: MesosOperatorClient) -> None:
        self._client = client

    async def offers(self) -> Sequence[OfferView]:
        return free_offer_views(await self._client.get_agents())


def free_offer_views(agents: GetAgents) -> list[OfferView]:
    """What each usable agent would offer now (see the module docstring)."""
    from adapters.mesos import ValueType
    from adapters.protocols import OfferAmounts, OfferView

    empty = OfferAmounts()
    views: list[OfferView] = []
    for agent in agents.agents:
        info = agent.agent_info
        if not agent.active or agent.deactivated or agent.drain_info is not None:
            continue
        if info.id is None:
            continue
        attributes: dict[str, str | float] = {}
        for attr in info.attributes:
            if attr.type == ValueType.TEXT and attr.text is not None:
                attributes[attr.name] = attr.text.value
            elif attr.type == ValueType.SCALAR and attr.scalar is not None:
                attributes[attr.name] = attr.scalar.value
        total = _by_role(agent.total_resources)
        used = _by_role(agent.allocated_resources)
        for role in sorted(total, key=lambda r: (r is None, r or "")):
            amounts = _minus(total[role], used.get(role))
            if amounts is None:
                continue
            views.append(
                OfferView(
                    offer_id=f"{info.id.value}/{role or '*'}",
                    agent_id=info.id.value,
                    hostname=info.hostname,
                    role=role or "*",
                    attributes=attributes,
                    reserved=amounts if role is not None else empty,
                    unreserved=amounts if role is None else empty,
                )
            )
    return views


class _Part:
    """Scalars and port ranges of one reservation role (None: unreserved)."""

    def __init__(self) -> None:
        self.scalars: dict[str, float] = {}
        self.ports: list[tuple[int, int]] = []


def _by_role(resources: Sequence[Resource]) -> dict[str | None, _Part]:
    from adapters.mesos import ValueType

    parts: dict[str | None, _Part] = {}
    for res in resources:
        if res.revocable is not None or res.disk is not None:
            continue
        role = res.reservations[-1].role if res.reservations else res.role
        part = parts.setdefault(None if role in (None, "*") else role, _Part())
        if res.type == ValueType.SCALAR and res.scalar is not None:
            if res.name in ("cpus", "mem", "disk"):
                part.scalars[res.name] = part.scalars.get(res.name, 0.0) + res.scalar.value
        elif res.type == ValueType.RANGES and res.ranges is not None and res.name == "ports":
            part.ports.extend((r.begin, r.end) for r in res.ranges.range)
    return parts


def _minus(total: _Part, used: _Part | None) -> OfferAmounts | None:
    from adapters.protocols import OfferAmounts

    taken = used.scalars if used is not None else {}
    left = {
        n: max(0.0, total.scalars.get(n, 0.0) - taken.get(n, 0.0)) for n in ("cpus", "mem", "disk")
    }
    ports = _subtract_ranges(total.ports, used.ports if used is not None else [])
    amounts = OfferAmounts(cpus=left["cpus"], mem=left["mem"], disk=left["disk"], ports=ports)
    if not (amounts.cpus or amounts.mem or amounts.disk or amounts.ports):
        return None
    return amounts


def _subtract_ranges(
    have: Sequence[tuple[int, int]], used: Sequence[tuple[int, int]]
) -> tuple[tuple[int, int], ...]:
    """Inclusive ranges ``have`` without the ports in ``used``."""
    out: list[tuple[int, int]] = []
    for begin, end in sorted(have):
        pieces = [(begin, end)]
        for u_begin, u_end in used:
            kept = []
            for b, e in pieces:
                if u_end < b or u_begin > e:
                    kept.append((b, e))
                    continue
                if b < u_begin:
                    kept.append((b, u_begin - 1))
                if u_end < e:
                    kept.append((u_end + 1, e))
            pieces = kept
        out.extend(pieces)
    return tuple(out)
