"""The pure parts of the RegistryMirror controller: the replica App, where each
replica answers, when to sync, and which mirror serves an image.

The replicas are one App ``<mirror>`` in the system domain with
``spec.replicas`` instances and a ``hostname UNIQUE`` constraint, so no two
replicas share a host and the App controller replaces a lost replica on
another host like any instance. The App has no image: each instance is a
Mesos command task running Debian's ``docker-registry serve`` with a
configuration written by the command itself (storage in the task's sandbox,
HTTP on the agent's address ``$LIBPROCESS_IP`` at the offer's first port
``$PORT0``). A replica's endpoint is therefore the agent's address (from the
offer the instance was launched on; else its Host's ``spec.address``, else
the hostname) and the instance's host port, all from the instance records.

A sync is due when the schedule says so (``syncIntervalSeconds`` after the
last one), when a user asked (the annotation ``dcos/sync-requested``, set by
``dcosctl registry sync``, newer than the last sync) or when a replica became
ready that the last sync did not see (a replacement is caught up at once).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from crds.app import AppSpec, Constraint, ConstraintOperator
from crds.common import Port
from crds.host import Host
from crds.registrymirror import RegistryMirror
from reconciler.apps.instances import Instance
from reconciler.registry.gate import split_image

__all__ = [
    "SYNC_REQUESTED",
    "Replica",
    "mirror_for_image",
    "next_sync_in",
    "replica_command",
    "replica_spec",
    "replicas_of",
    "requested_at",
    "sync_due",
]

SYNC_REQUESTED = "dcos/sync-requested"
"""Annotation of a RegistryMirror: an ISO time; a sync runs when it is newer than the last."""

_SCRIPT = """\
set -e
root="$PWD/registry"
mkdir -p "$root"
cat > "$PWD/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $root
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: ${LIBPROCESS_IP:-0.0.0.0}:$PORT0
EOF
exec docker-registry serve "$PWD/registry.yml"
"""


def replica_command() -> list[str]:
    """The command of a replica: write the configuration into the sandbox, then
    ``exec docker-registry serve`` (the task's process is the registry)."""
    return ["/bin/sh", "-c", _SCRIPT]


def _host_pattern(hosts: Iterable[str]) -> str:
    return "^(" + "|".join(re.escape(h) for h in sorted(hosts)) + ")$"


def replica_spec(mirror: RegistryMirror, hosts: Sequence[Host] = ()) -> AppSpec:
    """The spec of the mirror's replica App. With a ``hostSelector``, ``hosts`` are
    every Host (those it selects become a ``hostname LIKE`` constraint)."""
    spec = mirror.spec
    constraints = [Constraint(field="hostname", operator=ConstraintOperator.UNIQUE)]
    if spec.host_selector.match_labels or spec.host_selector.match_expressions:
        chosen = [h.metadata.name for h in hosts if spec.host_selector.matches(h.metadata.labels)]
        pattern = _host_pattern(chosen) if chosen else "^$"
        constraints.append(
            Constraint(field="hostname", operator=ConstraintOperator.LIKE, value=pattern)
        )
    return AppSpec(
        command=replica_command(),
        instances=spec.replicas,
        cpus=spec.cpus,
        mem=spec.mem,
        ports=[Port(container_port=spec.port, name="registry")],
        constraints=constraints,
        labels={"dcos/registry-mirror": mirror.metadata.name},
    )


@dataclass(frozen=True)
class Replica:
    """One running replica instance and where its registry API answers."""

    instance_id: str
    host: str
    address: str
    """host:port of its registry API."""
    started_at: datetime | None

    @property
    def url(self) -> str:
        return f"http://{self.address}"


def replicas_of(instances: Iterable[Instance], addresses: Mapping[str, str]) -> list[Replica]:
    """The running instances with a host port, oldest first (the primary is the
    oldest ready one, so it stays the same while it lives). The address is the
    agent's from the offer, else ``addresses`` (hostname to Host address), else
    the hostname."""
    found = [
        Replica(
            instance_id=inst.instance_id,
            host=inst.hostname,
            address=(
                f"{inst.host_ip or addresses.get(inst.hostname, inst.hostname)}"
                f":{inst.host_ports[0]}"
            ),
            started_at=inst.started_at,
        )
        for inst in instances
        if inst.is_running and inst.hostname is not None and inst.host_ports
    ]
    return sorted(found, key=lambda r: (r.started_at is None, r.started_at, r.instance_id))


def requested_at(mirror: RegistryMirror) -> datetime | None:
    """The time of the last on-demand sync request, when the annotation parses."""
    raw = mirror.metadata.annotations.get(SYNC_REQUESTED)
    if not raw:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def sync_due(
    mirror: RegistryMirror,
    *,
    ready: Iterable[str],
    synced: Iterable[str],
    now: datetime,
) -> str | None:
    """Why a sync is due now, or None: ``ready`` are the ready replicas (instance
    ids), ``synced`` those the last sync covered."""
    ready_set = set(ready)
    if len(ready_set) < 2:
        return None  # nothing to copy between
    last = mirror.status.last_sync_time
    if last is None:
        return "first sync"
    asked = requested_at(mirror)
    if asked is not None and asked > last:
        return "requested"
    if ready_set - set(synced):
        return "replica ready"
    if now - last >= timedelta(seconds=mirror.spec.sync_interval_seconds):
        return "schedule"
    return None


def next_sync_in(mirror: RegistryMirror, now: datetime) -> float:
    """Seconds until the schedule's next sync (0 when due)."""
    last = mirror.status.last_sync_time
    if last is None:
        return 0.0
    left = timedelta(seconds=mirror.spec.sync_interval_seconds) - (now - last)
    return max(0.0, left.total_seconds())


def mirror_for_image(image: str | None, mirrors: Iterable[RegistryMirror]) -> RegistryMirror | None:
    """The mirror whose ``serves`` is the image's registry host[:port], if any."""
    if image is None:
        return None
    parts = split_image(image)
    if parts is None:
        return None
    host = parts[0]
    for mirror in mirrors:
        if mirror.spec.serves is not None and mirror.spec.serves == host:
            return mirror
    return None
