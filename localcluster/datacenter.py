"""The local data center behind ``dcosctl up``: a Mesos master whose agents are the Hosts.

The specs describe servers as Host objects; the local master gets one agent
per Host that is not Decommissioned, with the Host's name as hostname, its
rack, dc and custom attributes, and its resources. A Host dedicated to a
business domain has all its resources statically reserved for that domain's
Mesos role, as the platform reserves a domain's servers; the others are the
shared pool. :func:`cluster_from_hosts` is that mapping (pure);
:func:`start_mesos_detached` runs ``python -m localcluster mesos`` in its own
session so it outlives ``dcosctl up``, and :func:`stop_mesos` stops exactly it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from crds.host import Host, HostLifecycle

__all__ = ["cluster_from_hosts", "mesos_running", "start_mesos_detached", "stop_mesos"]

logger = logging.getLogger(__name__)

_POLL = 0.1


def cluster_from_hosts(hosts: Iterable[Host], roles: Mapping[str, str]) -> dict[str, Any]:
    """The cluster file of the local master: one agent per usable Host.

    ``roles`` maps a domain name to its Mesos role (a domain missing from it
    uses its own name, as Domain.mesos_role does).
    """
    agents: list[dict[str, Any]] = []
    for host in sorted(hosts, key=lambda h: h.metadata.name):
        spec = host.spec
        if spec.lifecycle is HostLifecycle.DECOMMISSIONED:
            continue
        res = spec.resources
        resources = f"cpus:{res.cpus:g};mem:{res.mem:g};disk:{res.disk:g}"
        agent: dict[str, Any] = {
            "hostname": host.metadata.name,
            "resources": {"cpus": res.cpus, "mem": res.mem, "disk": res.disk},
            "attributes": spec.attributes.as_mesos(),
        }
        if spec.domain is not None:
            agent["reservations"] = {roles.get(spec.domain, spec.domain): resources}
        agents.append(agent)
    return {"agents": agents}


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def mesos_running(pid: int) -> bool:
    """True when ``pid`` is a running local Mesos master."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return _alive(pid) and b"localcluster" in cmdline and b"mesos" in cmdline


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1.0).status_code == 200
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
    log_file.parent.mkdir(parents=True, exist_ok=True)
    # posix_spawn: no Popen object is left to warn that its child still runs.
    pid = os.posix_spawn(
        argv[0],
        argv,
        dict(os.environ),
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log_file), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            raise RuntimeError(f"the Mesos master exited at start:\n{_tail(log_file)}")
        if _healthy(url):
            logger.info("local Mesos master %s started detached (pid %d)", url, pid)
            return pid
        time.sleep(_POLL)
    stop_mesos(pid)
    raise RuntimeError(f"the Mesos master did not answer on {url}:\n{_tail(log_file)}")


def stop_mesos(pid: int, *, timeout: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after ``timeout``; False (nothing signalled) when
    ``pid`` is not a local Mesos master."""
    if not mesos_running(pid):
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                return True
            time.sleep(_POLL)
    return not _alive(pid)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
