"""An IPPool's Docker network on a host's engine: the plan, and how it differs.

Each host with an engine and a block gets the pool's network (the pool's
``network_name``, ``dcos-<pool>`` unless the pool names one): a bridge
with the pool's cidr as subnet, the host's block as ip-range and the pool's
gateway, labelled ``dcos.managed-by``, ``dcos.pool`` and ``dcos.host``. A
network of that name that exists with another subnet, ip-range or gateway
is reported as drift (``network/<name>.subnet`` ...) and left alone:
containers may be attached to it, and a network is never recreated.
"""

from __future__ import annotations

from ipaddress import IPv4Network

from adapters.protocols import BridgeState, NetworkPlan
from crds.ippool import IPPool
from reconciler.hosts.drift import ABSENT, Drift

__all__ = ["MANAGED_BY", "network_drift", "network_plan"]

MANAGED_BY = "dcos-controller"
"""The ``dcos.managed-by`` label of networks the Host controller creates."""


def network_plan(pool: IPPool, *, host: str, block: IPv4Network) -> NetworkPlan:
    """The network ``host`` must have for ``pool``, given its ``block``."""
    return NetworkPlan(
        name=pool.network_name,
        subnet=pool.spec.cidr,
        ip_range=block,
        gateway=pool.spec.gateway,
        labels={
            "dcos.managed-by": MANAGED_BY,
            "dcos.pool": pool.metadata.name,
            "dcos.host": host,
        },
    )


def network_drift(plan: NetworkPlan, observed: BridgeState) -> list[Drift]:
    """How the network found differs from ``plan``: one row per setting."""
    rows = [
        ("subnet", plan.subnet, observed.subnet),
        ("ipRange", plan.ip_range, observed.ip_range),
        ("gateway", plan.gateway, observed.gateway),
    ]
    drifts = []
    for setting, want, have in rows:
        if want != have:
            shown = ABSENT if have is None else str(have)
            message = (
                f"network {plan.name} has {setting} {shown}, the pool wants {want}; "
                "it is not recreated (containers may use it)"
            )
            drifts.append(Drift(f"network/{plan.name}.{setting}", str(want), shown, message))
    return drifts
