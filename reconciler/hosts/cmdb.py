"""A CMDB device as Host fields: which fields the CMDB owns and how they map.

The CMDB (NetBox) owns where a server is and whether it is in service; the
operator's Host spec (``specs/``) owns what the platform needs from it. The
mirror writes only these fields of ``spec``:

============================  ==========================================
Host field                    from the device
============================  ==========================================
``lifecycle``                 ``status``: active → Active, decommissioning →
                              Draining, offline → Decommissioned
``domain``                    the ``domain`` custom field (empty: shared pool)
``address``                   the primary IPv4 address (kept when unset)
``attributes.rack``           the rack's name
``attributes.dc``             the site's slug
============================  ==========================================

``profile``, ``engine``, ``resources``, ``attributes.custom`` and labels
stay as the operator wrote them. Devices that are not in service
(planned, staged, inventory, failed) get no Host; a Host whose device is
back in one of those statuses keeps its lifecycle, while its other
CMDB-owned fields are still mirrored.

A device in service without a Host becomes one when it carries the
resources as custom fields (``cpus``, ``mem`` and optionally ``disk``, in
the Host's own notation: ``mem: 64Gi``); otherwise it is reported
(:func:`host_from_device` says why). All functions here are pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from adapters.protocols import CmdbDevice, DeviceStatus
from crds.host import Host, HostAttributes, HostLifecycle, HostResources, HostSpec

__all__ = [
    "LIFECYCLES",
    "RESOURCE_FIELDS",
    "Creation",
    "changed_fields",
    "host_from_device",
    "lifecycle_of",
    "mirror_spec",
]

LIFECYCLES: Mapping[DeviceStatus, HostLifecycle] = {
    DeviceStatus.ACTIVE: HostLifecycle.ACTIVE,
    DeviceStatus.DECOMMISSIONING: HostLifecycle.DRAINING,
    DeviceStatus.OFFLINE: HostLifecycle.DECOMMISSIONED,
}
"""Device statuses that are in service, and the Host lifecycle each one means."""

RESOURCE_FIELDS = ("cpus", "mem", "disk")
"""The device custom fields a Host is created from (``disk`` may be left out)."""


def lifecycle_of(status: DeviceStatus) -> HostLifecycle | None:
    """The Host lifecycle of a device status; None when the device is not in service."""
    return LIFECYCLES.get(status)


def mirror_spec(spec: HostSpec, device: CmdbDevice) -> HostSpec:
    """``spec`` with the CMDB-owned fields taken from ``device`` (equal when nothing differs)."""
    lifecycle = lifecycle_of(device.status) or spec.lifecycle
    attributes = spec.attributes.model_copy(update={"rack": device.rack, "dc": device.site})
    return spec.model_copy(
        update={
            "lifecycle": lifecycle,
            "domain": device.domain or None,
            "address": device.address or spec.address,
            "attributes": attributes,
        }
    )


def changed_fields(old: HostSpec, new: HostSpec) -> list[str]:
    """The CMDB-owned fields that differ, as the spec spells them."""
    pairs = [
        ("lifecycle", old.lifecycle, new.lifecycle),
        ("domain", old.domain, new.domain),
        ("address", old.address, new.address),
        ("attributes.rack", old.attributes.rack, new.attributes.rack),
        ("attributes.dc", old.attributes.dc, new.attributes.dc),
    ]
    return [name for name, a, b in pairs if a != b]


@dataclass(frozen=True)
class Creation:
    """What :func:`host_from_device` decided: the Host to create, or why there is none."""

    host: Host | None
    reason: str = ""
    """Set when ``host`` is None: one CamelCase word (NotInService, NoResources, NoAddress)."""
    message: str = ""


def host_from_device(device: CmdbDevice) -> Creation:
    """A new Host for a device that has none, when the device says enough."""
    lifecycle = lifecycle_of(device.status)
    if lifecycle is None:
        return Creation(None, "NotInService", f"CMDB device {device.name} is {device.status}")
    missing = [f for f in RESOURCE_FIELDS[:2] if not device.attributes.get(f)]
    if missing:
        return Creation(
            None,
            "NoResources",
            f"CMDB device {device.name} has no Host and no {' or '.join(missing)} custom "
            "field to create one from; apply a Host for it",
        )
    if device.address is None:
        return Creation(
            None,
            "NoAddress",
            f"CMDB device {device.name} has no primary IPv4 address; no Host created",
        )
    raw = {f: device.attributes[f] for f in RESOURCE_FIELDS if device.attributes.get(f)}
    try:
        resources = HostResources.model_validate(raw)
        spec = HostSpec(
            lifecycle=lifecycle,
            domain=device.domain or None,
            address=device.address,
            attributes=HostAttributes(rack=device.rack, dc=device.site),
            resources=resources,
        )
        host = Host.model_validate(
            {"metadata": {"name": device.name}, "spec": spec.model_dump(by_alias=True)}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return Creation(
            None,
            "BadDevice",
            f"CMDB device {device.name}: {where}: {first['msg']}; no Host created",
        )
    return Creation(host)
