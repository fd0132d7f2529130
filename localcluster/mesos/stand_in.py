"""Stand-ins: run a task whose image the local Docker engine does not have.

The example specs name images of an in-house registry that a laptop cannot
pull. With a stand-in image configured (``--docker-stand-in``, which
``dcosctl up --containerizer docker`` sets to the busybox image it imports),
the ``docker`` containerizer (:mod:`.docker`) runs such a task as a real
container of the stand-in image instead of failing it:

- the container keeps the task's name, labels, environment, network, IP and
  volumes, and gets the label ``dcos.stand_in`` = the image asked for;
- its command is :data:`SCRIPT`, not the task's (the task's binary is not in
  the stand-in): it serves HTTP with busybox ``httpd`` on the health check's
  port, answering the check's path, and sleeps until stopped (SIGTERM ends it
  at once);
- its health check runs inside it as a COMMAND check (``wget`` of the
  check's port and path), whatever the check's protocol: an HTTP, HTTPS or
  TCP check is made over plain HTTP, since a stand-in has no certificate.

So the App controller sees instances start, turn healthy and count as
Available exactly as with the real image, while ``docker ps`` shows what
runs. A task whose image the engine has runs that image unchanged, and its
checks are the containerizer's usual ones.
"""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

from adapters.docker import ContainerSpec
from adapters.mesos import CommandInfo, HealthCheck, HealthCheckType
from localcluster.mesos.containerizer import Launch
from localcluster.mesos.process import safe_name

__all__ = ["LABEL_STAND_IN", "SCRIPT", "checked_port", "rooted", "stand_in_check", "stand_in_spec"]

LABEL_STAND_IN = "dcos.stand_in"

SCRIPT = (
    "mkdir -p /tmp/www && echo ok > /tmp/www/index.html; "
    'path="${DCOS_STAND_IN_PATH#/}"; '
    'if [ -n "$path" ]; then busybox mkdir -p "/tmp/www/$(busybox dirname "$path")"; '
    'echo ok > "/tmp/www/$path"; fi; '
    'for port in $DCOS_STAND_IN_PORTS; do busybox httpd -p "$port" -h /tmp/www; done; '
    "trap 'exit 0' TERM INT; "
    "while true; do sleep 3600 & wait $!; done"
)
"""The stand-in's command (busybox ``sh -c``)."""


def checked_port(check: HealthCheck | None) -> tuple[int, str] | None:
    """(port, path) the health check probes; None when it probes no port."""
    if check is None:
        return None
    if check.type == HealthCheckType.HTTP and check.http is not None:
        return check.http.port, check.http.path or "/"
    if check.type == HealthCheckType.TCP and check.tcp is not None:
        return check.tcp.port, "/"
    return None


def stand_in_spec(spec: ContainerSpec, launch: Launch, *, image: str) -> ContainerSpec:
    """``spec`` run by the stand-in ``image`` (see the module docstring)."""
    probed = checked_port(launch.task.health_check)
    env = dict(spec.env)
    if probed is not None:
        env["DCOS_STAND_IN_PORTS"] = str(probed[0])
        env["DCOS_STAND_IN_PATH"] = probed[1]
    return dataclasses.replace(
        spec,
        image=image,
        entrypoint=("/bin/sh", "-c", SCRIPT, "stand-in"),
        command=(),
        env=env,
        labels={**spec.labels, LABEL_STAND_IN: spec.image},
        user=None,
        workdir=None,
    )


def stand_in_check(launch: Launch) -> Launch:
    """``launch`` with its HTTP, HTTPS or TCP check as the COMMAND check a stand-in answers."""
    check = launch.task.health_check
    probed = checked_port(check)
    if check is None or probed is None:
        return launch
    port, path = probed
    url = shlex.quote(f"http://127.0.0.1:{port}/{path.lstrip('/')}")
    command = CommandInfo(shell=True, value=f"wget -q -O /dev/null {url}")
    converted = check.model_copy(
        update={"type": HealthCheckType.COMMAND, "command": command, "http": None, "tcp": None}
    )
    task = launch.task.model_copy(update={"health_check": converted})
    return dataclasses.replace(launch, task=task)


def rooted(spec: ContainerSpec, root: Path, hostname: str) -> ContainerSpec:
    """``spec`` with its host paths under ``root/<hostname>/``: one tree per agent."""
    host = safe_name(hostname)
    mounts = tuple(
        dataclasses.replace(m, host_path=str(root / host / m.host_path.lstrip("/")))
        for m in spec.mounts
    )
    return dataclasses.replace(spec, mounts=mounts)
