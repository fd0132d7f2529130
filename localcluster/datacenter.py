"""The local data center behind ``dcosctl up``: a Mesos master whose agents are the Hosts.

The specs describe servers as Host objects; the local master gets one agent
per Host that is not Decommissioned, with the Host's name as hostname, its
rack, dc and custom attributes, and its resources, all unreserved: the
Domain controller reserves them once the controllers run (dynamic
reservations: each host's system slice for the per-host agents, the rest of
a domain's host for the domain's role), as it does on a real data center,
and placement puts nothing on a domain's host before its reservation exists.
:func:`cluster_from_hosts` is that mapping (pure);
:func:`start_mesos_detached` runs ``python -m localcluster mesos`` in its own
session so it outlives ``dcosctl up``, and :func:`stop_mesos` stops exactly it.

:func:`prepare_docker` readies a private Docker engine for ``--containerizer
docker``: it imports the stand-in image (:data:`STAND_IN`, busybox; see
:mod:`localcluster.mesos.stand_in`) and says which images of the specs the
engine lacks.

:func:`start_controller_detached` does the same for one ``dcos-controller run``
replica (the installed console script next to this interpreter), waiting
until its ``/healthz`` answers; :func:`controller_running` and
:func:`stop_controller` recognise a replica by its command line and ``--id``.

The CMDB is the local NetBox (``python -m localcluster netbox``, SQLite):
:func:`netbox_seed` turns the Hosts into its seed document (device name =
host name, status from the lifecycle, site and rack from the attributes, the
domain custom field, primary IP = ``spec.address``); :func:`spawn_netbox`
starts it with the token read from a file (never on the command line) and
:func:`wait_netbox` waits until ``/api/status/`` answers, so ``up`` can start
the Mesos master meanwhile; :func:`stop_netbox` stops exactly it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from crds.host import Host, HostLifecycle
from localcluster.processes import alive, cmdline, spawn_detached, terminate, wait_ready

__all__ = [
    "CMDB_ROLE",
    "STAND_IN",
    "cluster_from_hosts",
    "controller_argv",
    "controller_running",
    "mesos_running",
    "netbox_running",
    "netbox_seed",
    "prepare_docker",
    "spawn_netbox",
    "start_controller_detached",
    "start_mesos_detached",
    "stop_controller",
    "stop_controllers",
    "stop_mesos",
    "stop_netbox",
    "wait_netbox",
]

logger = logging.getLogger(__name__)

PORTS = "31000-32000"
"""The host ports every agent offers (the Mesos agent's default range)."""
STAND_IN = "dcos-local/stand-in:busybox"
"""The image that runs tasks whose image the local engine lacks."""


def prepare_docker(socket_path: Path, *, images: Iterable[str]) -> list[str]:
    """Import :data:`STAND_IN` into the engine at ``socket_path``; those of ``images``
    the engine lacks (their tasks run as the stand-in). Blocking: it runs its own
    event loop, so call it from no running one."""
    from adapters.docker import DockerEngine
    from localcluster.dockerd import import_busybox_image

    async def prepare() -> list[str]:
        async with DockerEngine(str(socket_path)) as engine:
            await import_busybox_image(engine, STAND_IN)
            return [ref for ref in sorted(set(images)) if not await engine.has_image(ref)]

    return asyncio.run(prepare())


def cluster_from_hosts(hosts: Iterable[Host]) -> dict[str, Any]:
    """The cluster file of the local master: one unreserved agent per usable Host,
    offering host ports :data:`PORTS`, each at a loopback address of its own
    (127.0.0.10, 127.0.0.11, ...; 127.0.1.10 after 200), so the processes of
    command tasks on two agents (registry replicas) can take the same port."""
    agents: list[dict[str, Any]] = []
    for index, host in enumerate(sorted(hosts, key=lambda h: h.metadata.name)):
        spec = host.spec
        if spec.lifecycle is HostLifecycle.DECOMMISSIONED:
            continue
        res = spec.resources
        agents.append(
            {
                "hostname": host.metadata.name,
                "ip": f"127.0.{index // 200}.{10 + index % 200}",
                "resources": {"cpus": res.cpus, "mem": res.mem, "disk": res.disk, "ports": PORTS},
                "attributes": spec.attributes.as_mesos(),
            }
        )
    return {"agents": agents}


def mesos_running(pid: int) -> bool:
    """True when ``pid`` is a running local Mesos master."""
    argv = cmdline(pid)
    return alive(pid) and b"localcluster" in argv and b"mesos" in argv


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def start_mesos_detached(
    *,
    cluster_file: Path,
    log_file: Path,
    port: int,
    containerizer: str = "sim",
    extra_args: tuple[str, ...] = (),
    start_timeout: float = 30.0,
) -> int:
    """Start the local master in its own session; its pid once ``/health`` answers.

    RuntimeError with the log's tail when it exits or does not answer.
    """
    argv = [
        sys.executable,
        "-m",
        "localcluster",
        "mesos",
        "--listen",
        f"127.0.0.1:{port}",
        "--cluster",
        str(cluster_file),
        "--containerizer",
        containerizer,
        *extra_args,
    ]
    pid = spawn_detached(argv, log_file)
    url = f"http://127.0.0.1:{port}"
    wait_ready(
        pid,
        lambda: _healthy(f"{url}/health"),
        what=f"the Mesos master on {url}",
        log_file=log_file,
        timeout=start_timeout,
    )
    logger.info("local Mesos master %s started detached (pid %d)", url, pid)
    return pid


def stop_mesos(pid: int, *, timeout: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after ``timeout``; False (nothing signalled) when
    ``pid`` is not a local Mesos master."""
    if not mesos_running(pid):
        return False
    return terminate([pid], timeout=timeout) == [pid]


CONTROLLER = "dcos-controller"


def controller_running(pid: int, identity: str) -> bool:
    """True when ``pid`` is a running ``dcos-controller run --id identity``."""
    argv = cmdline(pid)
    script = any(arg.endswith(CONTROLLER.encode()) for arg in argv)
    named = any(a == b"--id" and b == identity.encode() for a, b in itertools.pairwise(argv))
    return alive(pid) and script and b"run" in argv and named


def controller_argv(
    *,
    identity: str | None,
    etcd: str,
    prefix: str,
    mesos: str,
    metrics_port: int,
    lease_ttl: int,
    cmdb: str | None = None,
    config: Path | None = None,
) -> list[str]:
    """The command line of one ``dcos-controller run`` replica (``--id`` unless ``identity`` is
    None; with ``cmdb``, ``--cmdb`` and the devices of role :data:`CMDB_ROLE`: its token
    comes from the ``config`` file, never from the command line)."""
    cmdb_args = ("--cmdb", cmdb, "--cmdb-role", CMDB_ROLE) if cmdb is not None else ()
    return [
        str(Path(sys.executable).parent / CONTROLLER),
        "run",
        "--etcd",
        etcd,
        "--prefix",
        prefix,
        "--mesos",
        mesos,
        "--metrics-addr",
        f"127.0.0.1:{metrics_port}",
        *(("--id", identity) if identity is not None else ()),
        "--lease-ttl",
        str(lease_ttl),
        *(("--config", str(config)) if config is not None else ()),
        *cmdb_args,
    ]


def start_controller_detached(
    *,
    identity: str,
    etcd: str,
    mesos: str,
    metrics_port: int,
    log_file: Path,
    prefix: str = "/dcos",
    lease_ttl: int = 5,
    cmdb: str | None = None,
    config: Path | None = None,
    start_timeout: float = 30.0,
) -> int:
    """Start one ``dcos-controller run`` replica in its own session; its pid once
    ``/healthz`` answers (its informers have listed).

    RuntimeError with the log's tail when it exits or does not answer.
    """
    argv = controller_argv(
        identity=identity,
        etcd=etcd,
        prefix=prefix,
        mesos=mesos,
        metrics_port=metrics_port,
        lease_ttl=lease_ttl,
        cmdb=cmdb,
        config=config,
    )
    pid = spawn_detached(argv, log_file)
    url = f"http://127.0.0.1:{metrics_port}"
    wait_ready(
        pid,
        lambda: _healthy(f"{url}/healthz"),
        what=f"{identity} on {url}",
        log_file=log_file,
        timeout=start_timeout,
    )
    logger.info("%s %s started detached (pid %d)", CONTROLLER, identity, pid)
    return pid


def stop_controller(pid: int, identity: str, *, timeout: float = 15.0) -> bool:
    """SIGTERM (the replica resigns its lease), then SIGKILL after ``timeout``;
    False (nothing signalled) when ``pid`` is not the replica ``identity``."""
    return stop_controllers([(pid, identity)], timeout=timeout) == [pid]


def stop_controllers(replicas: Iterable[tuple[int, str]], *, timeout: float = 15.0) -> list[int]:
    """Stop the replicas ``(pid, identity)`` together: SIGTERM to all, so no standby
    takes over only to be stopped next, then SIGKILL to those left after
    ``timeout``. The pids stopped; one that is not its replica is not signalled."""
    pids = [pid for pid, identity in replicas if controller_running(pid, identity)]
    return terminate(pids, timeout=timeout)


# ------------------------------------------------------------------ the CMDB

CMDB_ROLE = "container-host"
"""The device role of the seeded hosts (and the controllers' ``--cmdb-role``)."""
CMDB_TAG = "dcos"
"""The tag of the seeded hosts."""
CMDB_SITE = "local"
"""The site of a Host whose attributes name no dc."""
_STATUS = {
    HostLifecycle.ACTIVE: "active",
    HostLifecycle.DRAINING: "decommissioning",
    HostLifecycle.DECOMMISSIONED: "offline",
}


def netbox_seed(hosts: Iterable[Host]) -> dict[str, Any]:
    """The local NetBox's seed document (``hosts: [...]``) for ``hosts``, by name."""
    seeded: list[dict[str, Any]] = []
    for host in sorted(hosts, key=lambda h: h.metadata.name):
        spec = host.spec
        device: dict[str, Any] = {
            "name": host.metadata.name,
            "site": spec.attributes.dc or CMDB_SITE,
            "role": CMDB_ROLE,
            "status": _STATUS[spec.lifecycle],
            "address": str(spec.address),
            "tags": [CMDB_TAG],
        }
        if spec.attributes.rack:
            device["rack"] = spec.attributes.rack
        if spec.domain is not None:
            device["domain"] = spec.domain
        seeded.append(device)
    return {"hosts": seeded}


def netbox_running(pid: int) -> bool:
    """True when ``pid`` is a running local NetBox."""
    argv = cmdline(pid)
    return alive(pid) and b"localcluster" in argv and b"netbox" in argv


def spawn_netbox(
    *, db: Path, port: int, token_file: Path, seed_file: Path | None, log_file: Path
) -> int:
    """Start the local NetBox in its own session (not waiting); its pid."""
    argv = [
        sys.executable,
        "-m",
        "localcluster",
        "netbox",
        "--listen",
        f"127.0.0.1:{port}",
        "--db",
        str(db),
        "--token-file",
        str(token_file),
        *(("--seed", str(seed_file)) if seed_file is not None else ()),
    ]
    return spawn_detached(argv, log_file)


def wait_netbox(pid: int, *, port: int, log_file: Path, timeout: float = 30.0) -> None:
    """Return once the NetBox ``pid`` answers ``/api/status/``; RuntimeError with the
    log's tail when it exits or does not answer (it is then stopped)."""
    url = f"http://127.0.0.1:{port}"
    wait_ready(
        pid,
        lambda: _healthy(f"{url}/api/status/"),
        what=f"the local NetBox on {url}",
        log_file=log_file,
        timeout=timeout,
    )
    logger.info("local NetBox %s started detached (pid %d)", url, pid)


def stop_netbox(pid: int, *, timeout: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after ``timeout``; False (nothing signalled) when ``pid``
    is not a local NetBox."""
    if not netbox_running(pid):
        return False
    return terminate([pid], timeout=timeout) == [pid]
