"""The ACCEPT of plain launches, written straight to its wire form.

The framework sends one ACCEPT per offer it uses, carrying one LAUNCH with
every task placed there. Building the wire models for that call
(:func:`adapters.mesos.tasks.build_task_info`, ``accept_call``) and dumping
them costs a few hundred microseconds per call, most of it in validation and
in :class:`~adapters.mesos.model_base.WireModel`'s omission of unset lists.
This module writes the same JSON from the plain
:class:`~adapters.protocols.TaskLaunch` values instead: the same field names
in the same order, the same enum spellings, a field omitted exactly when the
model dump omits it (``None``, or a list never set) and an empty list
written exactly when the model was given one. ``tests/adapters/mesos``
checks the output against the model dump, byte for byte.

Only what :func:`~adapters.mesos.tasks.build_task_info` builds is covered;
every other call, and an ACCEPT of operations given as models, goes through
the models.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pydantic_core

from adapters.protocols import TaskLaunch
from crds.common import HealthCheckProtocol

__all__ = ["accept_call_json", "launch_operation_json", "task_info_json"]


def _double(value: float) -> float | str:
    """A ``Double`` as the model writes it (infinities and NaN as strings)."""
    value = float(value)
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def accept_call_json(
    framework_id: str,
    offer_ids: Sequence[str],
    operations: Sequence[dict[str, Any]],
    *,
    refuse_seconds: float | None = None,
    filters: bool = False,
) -> bytes:
    """The ACCEPT call as compact UTF-8 JSON, as ``dumps(accept_call(...))`` writes it.

    ``operations`` are wire dicts (:func:`launch_operation_json`). With
    ``filters``, a ``Filters`` body goes along (``refuse_seconds`` in it when
    given); without, the call has none.
    """
    body: dict[str, Any] = {
        "offer_ids": [{"value": offer_id} for offer_id in offer_ids],
        "operations": list(operations),
    }
    if filters:
        body["filters"] = (
            {} if refuse_seconds is None else {"refuse_seconds": _double(refuse_seconds)}
        )
    call = {"framework_id": {"value": framework_id}, "type": "ACCEPT", "accept": body}
    return pydantic_core.to_json(call)


def launch_operation_json(launches: Sequence[TaskLaunch]) -> dict[str, Any]:
    """One LAUNCH operation carrying every launch, as a wire dict."""
    return {"type": "LAUNCH", "launch": {"task_infos": [task_info_json(x) for x in launches]}}


def task_info_json(launch: TaskLaunch) -> dict[str, Any]:
    """The wire dict of ``build_task_info(launch)`` (see ``adapters.mesos.tasks``)."""
    command = launch.command or ()
    cmd: dict[str, Any] = {
        "environment": {
            "variables": [{"name": k, "value": v} for k, v in sorted(launch.env.items())]
        },
        "shell": False,
    }
    if launch.image is None:  # a command task: value is the program, arguments its argv
        cmd["value"] = command[0]
        cmd["arguments"] = [*command, *(launch.args or ())]
    else:
        cmd["arguments"] = [*command[1:], *(launch.args or ())]
    info: dict[str, Any] = {
        "name": launch.name,
        "task_id": {"value": launch.task_id},
        "agent_id": {"value": launch.agent_id},
        "resources": _resources(launch),
        "command": cmd,
    }
    if launch.image is not None:
        info["container"] = _container(launch)
    if launch.health_checks:
        info["health_check"] = _health_check(launch)
    info["labels"] = {"labels": [{"key": k, "value": v} for k, v in sorted(launch.labels.items())]}
    return info


def _resources(launch: TaskLaunch) -> list[dict[str, Any]]:
    role, reserved = launch.role, launch.reserved
    kind, principal = launch.reservation
    reservation: dict[str, Any] = {"type": kind, "role": role}
    if principal is not None:
        reservation["principal"] = principal
    out: list[dict[str, Any]] = []
    for name, value in (("cpus", launch.cpus), ("mem", launch.mem), ("disk", launch.disk)):
        if value > 0:
            res: dict[str, Any] = {
                "name": name,
                "type": "SCALAR",
                "scalar": {"value": _double(value)},
                "allocation_info": {"role": role},
            }
            if reserved:
                res["reservations"] = [reservation]
            out.append(res)
    if launch.host_ports:
        ports: dict[str, Any] = {
            "name": "ports",
            "type": "RANGES",
            "ranges": {"range": [{"begin": p, "end": p} for p in sorted(launch.host_ports)]},
            "allocation_info": {"role": role},
        }
        if reserved:
            ports["reservations"] = [reservation]
        out.append(ports)
    return out


def _container(launch: TaskLaunch) -> dict[str, Any]:
    ip = launch.ip
    parameters = [{"key": "entrypoint", "value": launch.command[0]}] if launch.command else []
    volumes = []
    for v in launch.volumes:
        volume: dict[str, Any] = {
            "mode": "RO" if str(v.mode) == "RO" else "RW",
            "container_path": v.container_path,
        }
        host_path = v.host_path_for(ip) if ip else v.host_path
        if host_path is not None:
            volume["host_path"] = host_path
        volumes.append(volume)
    mappings = [
        {"host_port": host, "container_port": port.container_port}
        for host, port in zip(launch.host_ports, launch.container_ports, strict=False)
    ]
    networks: list[dict[str, Any]] = []
    network = "BRIDGE"
    if launch.host_network:
        network, mappings = "HOST", []
    elif ip is not None:
        attached: dict[str, Any] = {"ip_addresses": [{"ip_address": ip}]}
        if launch.network is not None:
            attached["name"] = launch.network
        networks.append(attached)
        if launch.pin_ip:
            network = "USER"
            parameters.append({"key": "ip", "value": ip})
    docker = {
        "image": launch.image,
        "network": network,
        "port_mappings": mappings,
        "parameters": parameters,
    }
    return {"type": "DOCKER", "volumes": volumes, "docker": docker, "network_infos": networks}


def _health_check(launch: TaskLaunch) -> dict[str, Any]:
    check = launch.health_checks[0]
    out: dict[str, Any] = {
        "delay_seconds": _double(check.delay_seconds),
        "interval_seconds": _double(check.interval_seconds),
        "timeout_seconds": _double(check.timeout_seconds),
        "consecutive_failures": check.max_consecutive_failures,
        "grace_period_seconds": _double(check.grace_period_seconds),
    }
    if check.protocol is HealthCheckProtocol.COMMAND:
        out["type"] = "COMMAND"
        command: dict[str, Any] = {"shell": True}
        if check.command is not None:
            command["value"] = check.command
        out["command"] = command
        return out
    port = check.port
    if port is None:
        port = launch.container_ports[check.port_index or 0].container_port
    if check.protocol is HealthCheckProtocol.TCP:
        out["type"] = "TCP"
        out["tcp"] = {"port": port}
        return out
    out["type"] = "HTTP"
    out["http"] = {
        "scheme": "https" if check.protocol is HealthCheckProtocol.HTTPS else "http",
        "port": port,
        "path": check.path or "/",
    }
    return out
