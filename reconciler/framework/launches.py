"""From a placed launch request to the plain :class:`~adapters.protocols.TaskLaunch`.

The codec (``adapters/mesos/tasks.py``) turns a ``TaskLaunch`` into a Mesos
``TaskInfo``; this module decides what goes into it from the App's spec:
resources from the placement (role, reserved or shared part, host ports),
the environment with the Domain's ``TZ`` (:func:`crds.app.effective_env`),
and our labels, which name the app, domain and version of every task so a
task found on Mesos can always be traced back to its App. An instance with
an address of its own gets it with its pool's Docker network, pinned
(``pin_ip``) when the host declares its Docker engine.
"""

from __future__ import annotations

import logging

from adapters.protocols import ReservationKind, TaskLaunch
from crds.app import ContainerNetwork, effective_env
from reconciler.framework.queue import LaunchRequest
from reconciler.placement import Placement

__all__ = ["LABEL_APP", "LABEL_DOMAIN", "LABEL_VERSION", "host_ports_for", "task_launch"]

logger = logging.getLogger(__name__)

LABEL_APP = "dcos/app"
LABEL_DOMAIN = "dcos/domain"
LABEL_VERSION = "dcos/version"


def host_ports_for(request: LaunchRequest) -> int:
    """Host ports to take from the offer: one per container port without an own IP."""
    return 0 if request.instance.ip else len(request.spec.ports)


def task_launch(
    request: LaunchRequest,
    placement: Placement,
    *,
    ip: str | None = None,
    network: str | None = None,
    pin_ip: bool = False,
    reservation: ReservationKind = ("STATIC", None),
) -> TaskLaunch:
    """The launch of ``request`` on ``placement``. ``ip`` is the instance's address
    (else the instance's own ``ip``), ``network`` its pool's Docker network (else the
    spec's ``ipPool``), ``pin_ip`` whether the host's engine joins that network at
    the address (``docker run --ip``) rather than only requesting it. ``reservation`` is
    the offer's (:attr:`OfferView.reservation`), carried by reserved resources."""
    inst, spec = request.instance, request.spec
    ip = ip if ip is not None else inst.ip
    labels = {
        **spec.labels,
        LABEL_APP: inst.app,
        LABEL_DOMAIN: inst.domain,
        LABEL_VERSION: inst.version,
    }
    return TaskLaunch(
        task_id=inst.instance_id,
        name=f"{inst.app}.{inst.domain}",
        agent_id=placement.agent_id,
        role=placement.role,
        reserved=placement.reserved,
        cpus=spec.cpus,
        mem=float(spec.mem),
        disk=float(spec.disk),
        image=spec.image,
        command=tuple(spec.command) if spec.command is not None else None,
        args=tuple(spec.args) if spec.args is not None else None,
        env=effective_env(request.app, request.domain),
        host_ports=placement.ports,
        container_ports=tuple(spec.ports),
        ip=ip,
        network=(network or spec.ip_pool) if ip is not None else None,
        pin_ip=pin_ip and ip is not None,
        host_network=spec.network is ContainerNetwork.HOST,
        volumes=tuple(spec.volumes),
        health_checks=tuple(spec.health_checks),
        labels=labels,
        reservation=reservation,
    )
