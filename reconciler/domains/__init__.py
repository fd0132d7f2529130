"""Domains: which part of each host is reserved to which Mesos role."""

from reconciler.domains.quota import quota_changes, quota_config
from reconciler.domains.slice import (
    SYSTEM_PORTS_PER_APP,
    Amount,
    PortRanges,
    ReservationDiff,
    agent_ports,
    desired_reservations,
    host_domain,
    host_roles,
    reservation_diff,
    reservation_resources,
    reserved_by_role,
    system_slice,
)

__all__ = [
    "SYSTEM_PORTS_PER_APP",
    "Amount",
    "PortRanges",
    "ReservationDiff",
    "agent_ports",
    "desired_reservations",
    "host_domain",
    "host_roles",
    "quota_changes",
    "quota_config",
    "reservation_diff",
    "reservation_resources",
    "reserved_by_role",
    "system_slice",
]
