"""A Host's profile against what its Docker engine reports: a list of :class:`Drift`.

The desired state is the Host's ``spec.profile.docker``; the bridge's
``fixed-cidr`` and the containers' default gateway come from the profile when
it sets them, else from the host's IPPool block and the pool's gateway.
Observed values the engine does not report (``iptables`` on engines before
API 1.48) are not compared. Containers carrying the task label whose task id
Mesos does not know are orphans, one :class:`Drift` each.

Values are printed as the daemon options spell them (``true``, ``json-file``,
``10.20.0.16/28``), so a row reads like the ``daemon.json`` line to fix.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from adapters.protocols import TASK_ID_LABEL, DockerHostState, LabelledContainer
from crds.host import HostProfile

__all__ = ["TASK_ID_LABEL", "Drift", "compare", "desired_block", "orphans", "profile_drift"]

"""The label carrying a container's Mesos task id (set by the Docker containerizer)."""

ABSENT = "(none)"
"""How a value that is not set is printed."""


@dataclass(frozen=True)
class Drift:
    """One difference: ``field`` (e.g. ``docker.storageDriver``), the wanted and the
    observed value as text, and a sentence for events and conditions."""

    field: str
    want: str
    have: str
    message: str


def _text(value: object) -> str:
    if value is None:
        return ABSENT
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def desired_block(profile: HostProfile, block: IPv4Network | None) -> IPv4Network | None:
    """The fixed-cidr the host should have: the profile's, else its IPAM block."""
    return profile.docker.fixed_cidr or block


def profile_drift(
    profile: HostProfile,
    state: DockerHostState,
    *,
    block: IPv4Network | None = None,
    gateway: IPv4Address | None = None,
) -> list[Drift]:
    """The daemon options and bridge settings that differ from ``profile``.

    ``block`` is the host's block in its IPPool and ``gateway`` the pool's
    gateway; the profile's own ``fixedCidr``/``defaultGateway`` win over them.
    """
    docker = profile.docker
    checks: list[tuple[str, str, object, object]] = [
        (
            "docker.storageDriver",
            "storage driver",
            docker.storage_driver.value,
            state.storage_driver,
        ),
        ("docker.logDriver", "log driver", docker.log_driver.value, state.logging_driver),
    ]
    if state.iptables is not None:
        checks.append(("docker.iptables", "iptables", docker.iptables, state.iptables))
    if state.ip_forward is not None:
        checks.append(("docker.ipForward", "IPv4 forwarding", docker.ip_forward, state.ip_forward))
    bridge = state.bridge
    want_block = desired_block(profile, block)
    if want_block is not None:
        have_block = None if bridge is None else bridge.ip_range
        checks.append(("docker.fixedCidr", "bridge ip-range", want_block, have_block))
    want_gateway = docker.default_gateway or gateway
    if want_gateway is not None:
        have_gateway = None if bridge is None else bridge.default_gateway or bridge.gateway
        checks.append(("docker.defaultGateway", "default gateway", want_gateway, have_gateway))
    drifts = []
    for field, what, want, have in checks:
        if want != have:
            where = (
                ""
                if bridge is not None or not field.endswith(("Cidr", "Gateway"))
                else (" (no bridge network)")
            )
            message = f"{what} is {_text(have)}{where}, the profile wants {_text(want)}"
            drifts.append(Drift(field, _text(want), _text(have), message))
    return drifts


def orphans(
    state: DockerHostState, known_task_ids: Collection[str], *, label: str = TASK_ID_LABEL
) -> list[LabelledContainer]:
    """Containers with the task label whose task Mesos does not know, by name."""
    found = [c for c in state.containers if c.labels.get(label, "") not in known_task_ids]
    return sorted(found, key=lambda c: (c.name, c.id))


def compare(
    profile: HostProfile,
    state: DockerHostState,
    *,
    known_task_ids: Collection[str] | None = None,
    block: IPv4Network | None = None,
    gateway: IPv4Address | None = None,
    label: str = TASK_ID_LABEL,
) -> list[Drift]:
    """Profile drift, then one ``container/NAME`` row per orphan.

    ``known_task_ids`` None means Mesos was not asked: no orphan check.
    """
    drifts = profile_drift(profile, state, block=block, gateway=gateway)
    if known_task_ids is None:
        return drifts
    for container in orphans(state, known_task_ids, label=label):
        task = container.labels.get(label, "")
        have = f"{container.state} {task} {_text(container.ip)}"
        message = (
            f"container {container.name} ({container.id[:12]}) runs task {task}, "
            "which Mesos does not know"
        )
        drifts.append(Drift(f"container/{container.name}", "absent", have, message))
    return drifts
