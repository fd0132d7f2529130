"""NetBox JSON ↔ the CMDB's plain values (:class:`CmdbDevice`, :class:`CmdbAddress`).

Reading is lenient where NetBox versions differ: a device's role is
``role`` (4.x) or ``device_role`` (3.x); nested objects may lack ``slug``
(racks have none) and custom fields absent from the server read as unset.
"""

from __future__ import annotations

from ipaddress import IPv4Address, ip_interface
from typing import Any

from adapters.protocols import CmdbAddress, CmdbDevice, DeviceStatus

__all__ = ["address_body", "address_from", "device_from", "first_error"]

DOMAIN_FIELD = "domain"
ADDRESS_FIELDS = ("host", "app", "task")


def _slug(nested: Any) -> str | None:
    if not isinstance(nested, dict):
        return None
    value = nested.get("slug") or nested.get("name")
    return None if value is None else str(value)


def _ipv4(value: Any) -> IPv4Address | None:
    if not isinstance(value, str):
        return None
    host = ip_interface(value).ip
    return host if isinstance(host, IPv4Address) else None


def device_from(data: dict[str, Any]) -> CmdbDevice:
    """A device as NetBox renders it."""
    custom = data.get("custom_fields") or {}
    primary = data.get("primary_ip4") or {}
    return CmdbDevice(
        id=int(data["id"]),
        name=str(data.get("name") or data.get("display") or data["id"]),
        status=DeviceStatus(data["status"]["value"]),
        site=_slug(data.get("site")),
        rack=(data.get("rack") or {}).get("name"),
        role=_slug(data.get("role") or data.get("device_role")),
        tags=tuple(sorted(s for s in map(_slug, data.get("tags") or []) if s is not None)),
        domain=custom.get(DOMAIN_FIELD) or None,
        address=_ipv4(primary.get("address")),
        attributes={
            key: str(value)
            for key, value in sorted(custom.items())
            if key != DOMAIN_FIELD and value not in (None, "")
        },
    )


def address_from(data: dict[str, Any]) -> CmdbAddress | None:
    """A container address; None for IP address objects that name no task."""
    custom = data.get("custom_fields") or {}
    address = _ipv4(data.get("address"))
    if not custom.get("task") or address is None:
        return None
    return CmdbAddress(
        task=str(custom["task"]),
        address=address,
        host=str(custom.get("host") or ""),
        app=str(custom.get("app") or ""),
        dns_name=str(data.get("dns_name") or ""),
    )


def address_body(address: CmdbAddress) -> dict[str, Any]:
    """The POST or PATCH body of a container address."""
    return {
        "address": f"{address.address}/32",
        "status": "active",
        "dns_name": address.dns_name,
        "description": f"container {address.task} of {address.app}",
        "custom_fields": {"host": address.host, "app": address.app, "task": address.task},
    }


def first_error(body: Any) -> tuple[str | None, str]:
    """The first field NetBox complained about (None for ``detail``) and its message."""
    if isinstance(body, dict) and body:
        key, value = next(iter(body.items()))
        message = value[0] if isinstance(value, list) and value else value
        if isinstance(message, dict):  # nested serializer errors
            inner, text = first_error(message)
            return (f"{key}.{inner}" if inner else key), text
        return (None if key == "detail" else str(key)), str(message)
    return None, str(body)[:200]
