"""``dcosctl hosts``: a Host's profile as files, and its drift from the Docker engine.

* ``render HOST`` prints (or writes under ``-o DIR``) the files the host
  should have (:mod:`reconciler.hosts.render`): ``daemon.json`` with the
  host's block as ``fixed-cidr`` and its IPPool's gateway, a sysctl.d file and
  a udev rule for block device settings. The block is the one IPAM recorded
  for the host in etcd, or ``--block``;
* ``drift [HOST]`` reads each Host's engine (``spec.engine``), compares it
  with the profile (:mod:`reconciler.hosts.drift`) and prints HOST, FIELD,
  WANT, HAVE; exit 0 when nothing differs, 1 when something does (or an
  engine cannot be read).

The IPPool of a host is the one whose ``hostSelector`` matches its labels
(the one holding a block for it, when several match).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.commands import connection, guard, open_store, run
from cli.config import Connection
from cli.output import fail, render_table

if TYPE_CHECKING:
    from ipaddress import IPv4Network

    from adapters.protocols import Store
    from crds.host import Host
    from crds.ippool import IPPool
    from reconciler.hosts.drift import Drift
    from reconciler.hosts.render import RenderedFile

__all__ = ["drift", "hosts", "render"]

hosts = typer.Typer(
    name="hosts",
    help="Render a Host's profile as files; compare it with the host's Docker engine.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

DRIFT_HEADERS = ["HOST", "FIELD", "WANT", "HAVE"]


@hosts.command("render", no_args_is_help=True)
@guard()
def render(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="HOST", help="The Host's name.")],
    block: Annotated[
        str | None,
        typer.Option("--block", metavar="CIDR", help="The host's block (else IPAM's in etcd)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--output-dir", "-o", metavar="DIR", help="Write the files under DIR."),
    ] = None,
) -> None:
    """Print the files a Host's profile means: daemon.json, sysctl.d, udev rules."""
    given = _parse_block(block) if block is not None else None
    files, note = run(_render(connection(ctx), name, given))
    if note:
        print(note, file=sys.stderr)
    if out is None:
        for i, file in enumerate(files):
            sys.stdout.write(("\n" if i else "") + f"==> {file.path} <==\n{file.content}")
        return
    for file in files:
        target = out / file.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(file.content)
        print(f"wrote {target}")


def _parse_block(text: str) -> IPv4Network:
    from ipaddress import IPv4Network

    try:
        return IPv4Network(text)
    except ValueError as exc:
        fail(f"--block {text}: {exc}")


async def _render(
    conn: Connection, name: str, given: IPv4Network | None
) -> tuple[list[RenderedFile], str | None]:
    from reconciler.hosts.render import render_host

    async with open_store(conn) as store:
        host = await _host(store, name)
        pool, block = await _network(store, host)
    note = None
    if pool is not None and given is not None and not given.subnet_of(pool.spec.cidr):
        fail(f"--block {given} is outside IPPool {pool.metadata.name} ({pool.spec.cidr})")
    if given is None and block is None and host.spec.profile.docker.fixed_cidr is None:
        where = f"IPPool {pool.metadata.name}" if pool else "any IPPool"
        note = f"Host {name} has no block in {where} yet: no fixed-cidr (give --block CIDR)"
    files = render_host(
        name,
        host.spec.profile,
        address=host.spec.address,
        block=given or block,
        pool=None if pool is None else pool.spec,
    )
    return files, note


async def _host(store: Store, name: str) -> Host:
    from adapters.protocols import ObjectKey
    from crds.host import Host

    found = await store.get(ObjectKey("Host", None, name))
    assert isinstance(found, Host)
    return found


async def _network(store: Store, host: Host) -> tuple[IPPool | None, IPv4Network | None]:
    """The host's IPPool and its block there (None: none allocated yet)."""
    from adapters.etcd import EtcdStore
    from adapters.etcd.ipam import EtcdIpam
    from crds.ippool import IPPool

    listed = await store.list("IPPool")
    pools = sorted(
        (p for p in listed.items if isinstance(p, IPPool)), key=lambda p: p.metadata.name
    )
    matching = [p for p in pools if p.spec.host_selector.matches(host.metadata.labels)]
    if not matching:
        return None, None
    if isinstance(store, EtcdStore):
        ipam = EtcdIpam(store)
        for pool in matching:
            allocations = await ipam.list_allocations(pool.metadata.name)
            for allocation in allocations.blocks:
                if allocation.host == host.metadata.name:
                    return pool, allocation.cidr
    return matching[0], None


@hosts.command("drift")
@guard()
def drift(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(metavar="[HOST]", help="One Host; every Host when left out.")
    ] = None,
) -> None:
    """Compare each Host's Docker engine with its profile: exit 0 none, 1 drift."""
    rows, unchecked = run(_drift(connection(ctx), name))
    if unchecked:
        print(f"not checked, no spec.engine: {', '.join(unchecked)}", file=sys.stderr)
    if not rows:
        print("no drift")
        return
    table, _ = render_table(DRIFT_HEADERS, [[h, d.field, d.want, d.have] for h, d in rows])
    print(table)
    raise typer.Exit(1)


async def _drift(conn: Connection, name: str | None) -> tuple[list[tuple[str, Drift]], list[str]]:
    from crds.host import Host

    async with open_store(conn) as store:
        if name is not None:
            targets = [await _host(store, name)]
            if targets[0].spec.engine is None:
                fail(f"Host {name} has no spec.engine: nowhere to read its Docker state")
        else:
            listed = await store.list("Host")
            targets = sorted(
                (h for h in listed.items if isinstance(h, Host)), key=lambda h: h.metadata.name
            )
        rows: list[tuple[str, Drift]] = []
        unchecked: list[str] = []
        known = await _live_tasks(store) if any(h.spec.engine for h in targets) else set()
        for host in targets:
            if host.spec.engine is None:
                unchecked.append(host.metadata.name)
                continue
            pool, block = await _network(store, host)
            for found in await _host_drift(host, pool, block, known):
                rows.append((host.metadata.name, found))
    return rows, unchecked


async def _host_drift(
    host: Host, pool: IPPool | None, block: IPv4Network | None, known: set[str]
) -> list[Drift]:
    from adapters.docker_host import DockerHostReader, EngineEndpoint
    from crds.errors import DockerError
    from reconciler.hosts.drift import Drift, compare

    engine = host.spec.engine
    assert engine is not None
    endpoint = EngineEndpoint(engine.url, engine.ca_file, engine.cert_file, engine.key_file)
    try:
        async with DockerHostReader(endpoint, network=engine.network) as reader:
            state = await reader.read_state()
    except DockerError as exc:
        return [Drift("engine", "reachable", str(exc), str(exc))]
    gateway = None if pool is None else pool.spec.gateway
    return compare(host.spec.profile, state, known_task_ids=known, block=block, gateway=gateway)


async def _live_tasks(store: Any) -> set[str]:
    """Task ids of the instance records not ended: a labelled container of any other
    task is an orphan (the Host controller asks Mesos; this command reads etcd only)."""
    from reconciler.apps.instances import Instance

    live: set[str] = set()
    for _key, raw in await store.list_raw("instances/"):
        try:
            inst = Instance.from_json(raw)
        except ValueError:
            continue
        if not inst.is_terminal:
            live.add(inst.instance_id)
    return live
