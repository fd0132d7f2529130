"""The Mesos quota of each Domain's role, from ``spec.quota``.

A Domain's quota becomes the *limits* of a ``QuotaConfig`` on its role:
``cpus``, ``mem`` and ``disk`` when set (``instances`` is ours alone, enforced
at placement by the QuotaChecker). Guarantees stay empty: the domain's own
hosts are already reserved to its role, which guarantees them better than a
quota guarantee would. :func:`quota_changes` compares with what GET_QUOTA
reports and returns only the configs that differ, so UPDATE_QUOTA is sent
when something changed and not on every reconcile; a role whose Domain no
longer limits it gets an empty config, which removes its limits.
"""

from __future__ import annotations

from collections.abc import Iterable

from adapters.mesos.model_cluster import QuotaConfig, QuotaStatus
from adapters.mesos.model_common import Scalar
from crds.domain import Domain

__all__ = ["quota_changes", "quota_config"]


def quota_config(domain: Domain) -> QuotaConfig:
    """The QuotaConfig of the domain's role: its cpus/mem/disk quota as limits."""
    quota = domain.spec.quota
    limits = {
        name: Scalar(value=float(value))
        for name, value in (("cpus", quota.cpus), ("mem", quota.mem), ("disk", quota.disk))
        if value is not None
    }
    return QuotaConfig(role=domain.mesos_role, limits=limits)


def quota_changes(domains: Iterable[Domain], current: QuotaStatus) -> list[QuotaConfig]:
    """The configs to send with UPDATE_QUOTA so every domain role has its quota."""
    have = {config.role: config for config in current.configs}
    wanted = {config.role: config for config in map(quota_config, domains)}
    changes: list[QuotaConfig] = []
    for role in sorted(set(have) | set(wanted)):
        want = wanted.get(role)
        if want is None:
            continue  # a role that is not a Domain's is somebody else's business
        old = have.get(role)
        if old is None and not want.limits and not want.guarantees:
            continue
        if old is None or _values(old) != _values(want):
            changes.append(want)
    return changes


def _values(config: QuotaConfig) -> tuple[dict[str, float], dict[str, float]]:
    return (
        {name: scalar.value for name, scalar in config.guarantees.items()},
        {name: scalar.value for name, scalar in config.limits.items()},
    )
