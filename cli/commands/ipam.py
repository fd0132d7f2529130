"""``dcosctl ipam check``: IPAM's allocations against instances and containers.

One sighting reads the allocations of every IPPool (or of ``--pool``) from
etcd (:class:`adapters.etcd.ipam.EtcdIpam`), every instance record
(``instances/<domain>/<app>/<id>``, raw JSON) and the task-labelled
containers of each Host's Docker engine (``spec.engine``; Hosts without one
are named on stderr and only their records count). :func:`reconciler.ipam.check`
compares them. The command takes a first sighting, waits ``--grace`` seconds,
takes a second one and, when both name the same leak candidates, re-checks
right before it reports: only an allocation that was a candidate all three
times counts as leaked (:func:`reconciler.ipam.confirm_leaks`).

``--repair`` releases the leaked allocations through the IPAM store (their
cooldown starts then); conflicts and addresses outside are only reported.
Exit 0 when nothing is wrong (or only leaks, all released by ``--repair``),
1 otherwise.
"""

from __future__ import annotations

import enum
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.commands import connection, guard, open_store, run
from cli.output import dump_json, fail, render_table

if TYPE_CHECKING:
    from adapters.etcd.ipam import EtcdIpam
    from adapters.protocols import RecordStore
    from cli.config import Connection
    from crds.host import Host
    from crds.ippool import IPPoolSpec
    from reconciler.ipam import ContainerAddress, Finding, InstanceAddress, Sighting

__all__ = ["DEFAULT_GRACE", "check", "ipam"]

ipam = typer.Typer(
    name="ipam",
    help="Check IPAM's allocations against instances and the hosts' containers.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

HEADERS = ["KIND", "POOL", "IP", "HOST", "OWNER", "DETAIL"]

DEFAULT_GRACE = 30.0
"""Seconds between the two sightings: far longer than an instance spends
between its allocation and its record, or its end and its release."""


class Output(enum.StrEnum):
    table = "table"
    json = "json"


class _Engines:
    """The Hosts whose engines are read, and what became of the others."""

    def __init__(self, hosts: list[Host]) -> None:
        self.hosts = [h for h in hosts if h.spec.engine is not None]
        self.without = sorted(h.metadata.name for h in hosts if h.spec.engine is None)
        self.unread: dict[str, str] = {}  # host -> why its engine could not be read


@ipam.command("check")
@guard()
def check(
    ctx: typer.Context,
    pool: Annotated[
        str | None, typer.Option("--pool", metavar="POOL", help="Check this IPPool only.")
    ] = None,
    repair: Annotated[
        bool, typer.Option("--repair", help="Release the leaked allocations.")
    ] = False,
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            metavar="SECONDS",
            min=0.0,
            help=f"Wait between the two sightings (default {DEFAULT_GRACE:g}).",
        ),
    ] = DEFAULT_GRACE,
    output: Annotated[Output, typer.Option("--output", "-o", help="table or json.")] = Output.table,
) -> None:
    """Report leaked allocations, conflicts and addresses outside any pool: exit 0 none, 1 some."""
    leaks, last, engines, released = run(_check(connection(ctx), pool, grace, repair))
    if engines.without:
        print(f"containers not read, no spec.engine: {', '.join(engines.without)}", file=sys.stderr)
    for host, why in sorted(engines.unread.items()):
        print(f"containers not read on {host}: {why}", file=sys.stderr)
    report = last.report
    findings = [*leaks, *report.conflicts, *report.outside]
    summary = (
        f"{report.held} held, {report.ok} ok, {len(leaks)} leaked, "
        f"{len(report.conflicts)} conflicts, {len(report.outside)} outside; "
        f"{report.released} released records, {report.instances} instances, "
        f"{report.containers} containers on {len(engines.hosts) - len(engines.unread)} engines"
    )
    if output is Output.json:
        print(dump_json(_json(findings, report, summary, released)))
    else:
        if findings:
            print(render_table(HEADERS, [_row(f) for f in findings])[0])
        for f in released:
            print(f"released {f.ip} of {f.owner} (IPPool {f.pool})")
        print(summary)
    repaired = {f.key for f in released}
    if any(f.key not in repaired for f in findings) or engines.unread:
        raise typer.Exit(1)


def _row(f: Finding) -> list[str]:
    return [str(f.kind), f.pool or "-", str(f.ip), f.host or "-", f.owner or "-", f.detail]


def _json(findings: list[Finding], report: Any, summary: str, released: list[Finding]) -> Any:
    def one(f: Finding) -> dict[str, Any]:
        return {
            "kind": str(f.kind),
            "pool": f.pool,
            "ip": str(f.ip),
            "host": f.host,
            "owner": f.owner,
            "detail": f.detail,
        }

    return {
        "findings": [one(f) for f in findings],
        "released": [one(f) for f in released],
        "counts": {
            "held": report.held,
            "ok": report.ok,
            "released": report.released,
            "instances": report.instances,
            "containers": report.containers,
        },
        "summary": summary,
    }


async def _check(
    conn: Connection, pool: str | None, grace: float, repair: bool
) -> tuple[tuple[Finding, ...], Sighting, _Engines, list[Finding]]:
    import asyncio
    import time

    from adapters.etcd import EtcdStore
    from adapters.etcd.ipam import EtcdIpam
    from crds.host import Host
    from crds.ippool import IPPool
    from reconciler.ipam import confirm_leaks

    async with open_store(conn) as store:
        assert isinstance(store, EtcdStore)
        listed = await store.list("IPPool")
        pools = {p.metadata.name: p.spec for p in listed.items if isinstance(p, IPPool)}
        if pool is not None and pool not in pools:
            fail(f"IPPool {pool} not found")
        checked = [pool] if pool is not None else sorted(pools)
        hosts = await store.list("Host")
        engines = _Engines(
            sorted((h for h in hosts.items if isinstance(h, Host)), key=lambda h: h.metadata.name)
        )
        store_ipam = EtcdIpam(store)

        async def sight() -> Sighting:
            return await _sight(store, store_ipam, pools, checked, engines, pool is None)

        first = await sight()
        last = first
        leaks: tuple[Finding, ...] = ()
        if first.report.candidates:
            await asyncio.sleep(max(0.0, grace - (time.monotonic() - first.at)))
            last = await sight()
            if {f.key for f in first.report.candidates} & {f.key for f in last.report.candidates}:
                final = await sight()
                leaks = confirm_leaks(first, last, final.report, grace=grace)
        released: list[Finding] = []
        if repair:
            for f in leaks:
                got = await store_ipam.release_ip(pool=f.pool, owner=f.owner, at=time.time())
                if got is not None:
                    released.append(f)
    return leaks, last, engines, released


async def _sight(
    store: RecordStore,
    store_ipam: EtcdIpam,
    pools: dict[str, IPPoolSpec],
    checked: list[str],
    engines: _Engines,
    unpooled: bool,
) -> Sighting:
    import asyncio
    import time

    from reconciler.ipam import Sighting, check

    at = time.monotonic()
    listings = await asyncio.gather(*(store_ipam.list_allocations(p) for p in checked))
    raw = await store.list_raw("instances/")
    read = await asyncio.gather(*(_containers(h) for h in engines.hosts))
    containers = [c for found, _ in read for c in found]
    for host, (_, why) in zip(engines.hosts, read, strict=True):
        if why is not None:
            engines.unread[host.metadata.name] = why
        else:
            engines.unread.pop(host.metadata.name, None)
    report = check(
        pools=pools,
        allocations=dict(zip(checked, listings, strict=True)),
        instances=_instances(raw),
        containers=containers,
        unknown_hosts=set(engines.unread),
        unpooled=unpooled,
    )
    return Sighting(at, report)


def _instances(raw: list[tuple[str, bytes]]) -> list[InstanceAddress]:
    """The instance records as :class:`reconciler.ipam.InstanceAddress`; the raw JSON
    is read directly (ten thousand records in milliseconds, not the model's time).
    A record that does not decode counts as live without an address: never a leak."""
    import json
    from ipaddress import IPv4Address

    from reconciler.apps.instances import InstanceState
    from reconciler.ipam import InstanceAddress

    found: list[InstanceAddress] = []
    for path, value in raw:
        try:
            data = json.loads(value)
            ip = data.get("ip")
            found.append(
                InstanceAddress(
                    instance_id=str(data["instanceId"]),
                    ip=IPv4Address(ip) if ip else None,
                    host=data.get("hostname"),
                    live=not InstanceState(data.get("state", "Pending")).is_terminal,
                )
            )
        except (ValueError, KeyError, TypeError):
            found.append(InstanceAddress(path.rsplit("/", 1)[-1], None, None, True))
    return found


async def _containers(host: Host) -> tuple[list[ContainerAddress], str | None]:
    """The task-labelled containers of ``host``'s engine, or why it could not be read."""
    from adapters.docker_host import TASK_ID_LABEL, DockerHostReader, EngineEndpoint
    from crds.errors import DockerError
    from reconciler.ipam import ContainerAddress

    engine = host.spec.engine
    assert engine is not None
    endpoint = EngineEndpoint(engine.url, engine.ca_file, engine.cert_file, engine.key_file)
    try:
        async with DockerHostReader(endpoint, network=engine.network) as reader:
            state = await reader.read_state()
    except DockerError as exc:
        return [], str(exc)
    name = host.metadata.name
    return [
        ContainerAddress(name, c.name, c.labels.get(TASK_ID_LABEL, ""), c.ip)
        for c in state.containers
    ], None
