"""Domains: which part of each host is reserved to which Mesos role."""

from reconciler.domains.quota import quota_changes, quota_config
from reconciler.domains.slice import (
    Amount,
    ReservationDiff,
    desired_reservations,
    host_domain,
    reservation_diff,
    reservation_resources,
    reserved_by_role,
    system_slice,
)

__all__ = [
    "Amount",
    "ReservationDiff",
    "desired_reservations",
    "host_domain",
    "quota_changes",
    "quota_config",
    "reservation_diff",
    "reservation_resources",
    "reserved_by_role",
    "system_slice",
]
