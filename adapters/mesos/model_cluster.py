"""Cluster-level records the operator API reports and changes.

Quota (``quota.proto``: :class:`QuotaConfig` maps resource names to
:class:`Scalar`, ``{"cpus": {"value": 2}}``), maintenance
(``maintenance.proto``: :class:`Schedule` of :class:`Window`, and
:class:`ClusterStatus`), agent draining (:class:`DrainInfo`), and the small
``mesos.proto`` records behind GET_VERSION, GET_FLAGS, GET_METRICS,
GET_ROLES, GET_WEIGHTS and LIST_FILES. The operator unions that carry them
are in ``model_operator``.
"""

from __future__ import annotations

from pydantic import Field

from adapters.mesos.model_base import Double, WireModel
from adapters.mesos.model_common import (
    DurationInfo,
    FrameworkID,
    MachineID,
    Resource,
    Scalar,
    TimeInfo,
    Unavailability,
)
from adapters.mesos.model_enums import DrainState

__all__ = [
    "ClusterStatus",
    "DrainConfig",
    "DrainInfo",
    "DrainingMachine",
    "FileInfo",
    "Flag",
    "Metric",
    "QuotaConfig",
    "QuotaInfo",
    "QuotaRequest",
    "QuotaStatus",
    "Role",
    "Schedule",
    "VersionInfo",
    "WeightInfo",
    "Window",
]


class QuotaInfo(WireModel):
    """Deprecated pre-1.9 quota form (``guarantee`` as resources)."""

    role: str | None = None
    principal: str | None = None
    guarantee: list[Resource] = Field(default_factory=list)


class QuotaRequest(WireModel):
    force: bool | None = None
    role: str | None = None
    guarantee: list[Resource] = Field(default_factory=list)


class QuotaConfig(WireModel):
    """A role's quota: ``guarantees`` and ``limits`` map resource names to scalars."""

    role: str
    guarantees: dict[str, Scalar] = Field(default_factory=dict)
    limits: dict[str, Scalar] = Field(default_factory=dict)


class QuotaStatus(WireModel):
    """``configs`` is a sibling of the deprecated ``infos``, not nested in it."""

    infos: list[QuotaInfo] = Field(default_factory=list)
    configs: list[QuotaConfig] = Field(default_factory=list)


class Window(WireModel):
    machine_ids: list[MachineID] = Field(default_factory=list)
    unavailability: Unavailability


class Schedule(WireModel):
    windows: list[Window] = Field(default_factory=list)


class DrainingMachine(WireModel):
    """A machine in DRAINING mode; ``statuses`` are the frameworks' inverse-offer answers."""

    id: MachineID
    statuses: list[dict[str, object]] = Field(default_factory=list)


class ClusterStatus(WireModel):
    draining_machines: list[DrainingMachine] = Field(default_factory=list)
    down_machines: list[MachineID] = Field(default_factory=list)


class DrainConfig(WireModel):
    max_grace_period: DurationInfo | None = None
    mark_gone: bool | None = None


class DrainInfo(WireModel):
    state: DrainState
    config: DrainConfig


class WeightInfo(WireModel):
    weight: Double
    role: str | None = None


class VersionInfo(WireModel):
    version: str
    build_date: str | None = None
    build_time: Double | None = None
    build_user: str | None = None
    git_sha: str | None = None
    git_branch: str | None = None
    git_tag: str | None = None


class Flag(WireModel):
    name: str
    value: str | None = None


class Metric(WireModel):
    name: str
    value: Double | None = None


class Role(WireModel):
    name: str
    weight: Double
    frameworks: list[FrameworkID] = Field(default_factory=list)
    resources: list[Resource] = Field(default_factory=list)


class FileInfo(WireModel):
    path: str
    nlink: int | None = None
    size: int | None = None
    mtime: TimeInfo | None = None
    mode: int | None = None
    uid: str | None = None
    gid: str | None = None
