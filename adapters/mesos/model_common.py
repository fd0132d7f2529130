"""Shared ``mesos.proto`` messages: ids, values, resources and the *Info records.

Field names, required-ness and nesting follow ``mesos.proto`` (v1) exactly;
only nested proto names are flattened (``Value.Scalar`` is :class:`Scalar`,
``Resource.ReservationInfo`` is :class:`ReservationInfo`). Proto ``required``
fields are required here too; ``optional`` fields default to ``None``;
``repeated`` fields and maps default to empty. A field named after a Python
builtin that would shadow a type (``set``) is ``set_`` with the wire alias.

Ids are messages on the wire (``{"value": "..."}``), frozen and hashable here
so they can key dictionaries; :meth:`FrameworkID.of` and friends build them
from the ``NewType`` strings in ``types``.

Task-level messages (TaskInfo, TaskStatus, Task) are in ``model_task``;
offers and operations in ``model_offer``.
"""

from __future__ import annotations

from typing import Self

from pydantic import ConfigDict, Field, model_validator

from adapters.mesos.model_base import Double, WireModel
from adapters.mesos.model_enums import (
    AgentCapabilityType,
    DiskSourceType,
    FrameworkCapabilityType,
    ImageType,
    MasterCapabilityType,
    ReservationType,
    ValueType,
    VolumeMode,
)
from adapters.mesos.types import AgentId, ExecutorId, FrameworkId, OfferId, TaskId

__all__ = [
    "URL",
    "Address",
    "AgentCapability",
    "AgentID",
    "AgentInfo",
    "AllocationInfo",
    "Attribute",
    "ContainerID",
    "DiskInfo",
    "DiskPersistence",
    "DiskSource",
    "DiskSourcePath",
    "DomainInfo",
    "DurationInfo",
    "ExecutorID",
    "FaultDomain",
    "FrameworkCapability",
    "FrameworkID",
    "FrameworkInfo",
    "Image",
    "ImageAppc",
    "ImageDocker",
    "Label",
    "Labels",
    "MachineID",
    "MasterCapability",
    "MasterInfo",
    "Named",
    "OfferID",
    "OperationID",
    "Parameter",
    "Parameters",
    "ProtoDuration",
    "Range",
    "Ranges",
    "ReservationInfo",
    "Resource",
    "ResourceProviderID",
    "Scalar",
    "TaskID",
    "Text",
    "TimeInfo",
    "Unavailability",
    "ValueSet",
    "Volume",
]


class _Id(WireModel):
    model_config = ConfigDict(frozen=True)

    value: str


class FrameworkID(_Id):
    """``{"value": ...}`` naming a framework."""

    @classmethod
    def of(cls, value: FrameworkId | str) -> Self:
        return cls(value=value)


class OfferID(_Id):
    """``{"value": ...}`` naming an offer or an inverse offer."""

    @classmethod
    def of(cls, value: OfferId | str) -> Self:
        return cls(value=value)


class AgentID(_Id):
    """``{"value": ...}`` naming an agent (``slave_id`` in the v0 API)."""

    @classmethod
    def of(cls, value: AgentId | str) -> Self:
        return cls(value=value)


class TaskID(_Id):
    """``{"value": ...}`` naming a task, unique within its framework."""

    @classmethod
    def of(cls, value: TaskId | str) -> Self:
        return cls(value=value)


class ExecutorID(_Id):
    """``{"value": ...}`` naming an executor, unique within its framework."""

    @classmethod
    def of(cls, value: ExecutorId | str) -> Self:
        return cls(value=value)


class OperationID(_Id):
    """``{"value": ...}`` naming an offer operation with feedback."""


class ResourceProviderID(_Id):
    """``{"value": ...}`` naming a resource provider."""


class ContainerID(WireModel):
    """A container, optionally nested in ``parent``."""

    model_config = ConfigDict(frozen=True)

    value: str
    parent: ContainerID | None = None


class TimeInfo(WireModel):
    """A point in time: ``{"nanoseconds": N}`` since the epoch."""

    nanoseconds: int


class DurationInfo(WireModel):
    """A duration in Mesos' own form: ``{"nanoseconds": N}``."""

    nanoseconds: int


class ProtoDuration(WireModel):
    """``google.protobuf.Duration`` (only DRAIN_AGENT's ``max_grace_period``)."""

    seconds: int
    nanos: int | None = None


class Address(WireModel):
    hostname: str | None = None
    ip: str | None = None
    port: int


class Parameter(WireModel):
    key: str
    value: str


class Parameters(WireModel):
    parameter: list[Parameter] = Field(default_factory=list)


class URL(WireModel):
    scheme: str
    address: Address
    path: str | None = None
    query: list[Parameter] = Field(default_factory=list)
    fragment: str | None = None


class Unavailability(WireModel):
    """A maintenance window: ``start`` and an optional ``duration``."""

    start: TimeInfo
    duration: DurationInfo | None = None


class MachineID(WireModel):
    """A machine for maintenance: hostname and/or IP."""

    hostname: str | None = None
    ip: str | None = None


class Label(WireModel):
    key: str
    value: str | None = None


class Labels(WireModel):
    """``{"labels": [{"key": ..., "value": ...}]}``."""

    labels: list[Label] = Field(default_factory=list)


class Scalar(WireModel):
    """``Value.Scalar``; accepts a bare number (``"Infinity"``) as shorthand on input."""

    value: Double

    @model_validator(mode="before")
    @classmethod
    def _bare_number(cls, data: object) -> object:
        if isinstance(data, int | float | str):
            return {"value": data}
        return data


class Range(WireModel):
    """Inclusive ``[begin, end]``."""

    begin: int
    end: int


class Ranges(WireModel):
    """``{"range": [...]}`` (the key is singular)."""

    range: list[Range] = Field(default_factory=list)


class ValueSet(WireModel):
    """``Value.Set``: ``{"item": [...]}``."""

    item: list[str] = Field(default_factory=list)


class Text(WireModel):
    value: str


class Named(WireModel):
    """The ``name``/``type`` + one-of value shape shared by Attribute and Resource."""

    name: str
    type: ValueType
    scalar: Scalar | None = None
    ranges: Ranges | None = None
    set_: ValueSet | None = Field(default=None, alias="set")


class Attribute(Named):
    """An agent attribute (``text`` is only valid here, not on resources)."""

    text: Text | None = None


class AllocationInfo(WireModel):
    """The role an offered or allocated resource belongs to."""

    role: str | None = None


class ReservationInfo(WireModel):
    type: ReservationType | None = None
    role: str | None = None
    principal: str | None = None
    labels: Labels | None = None


class ImageAppc(WireModel):
    name: str
    id: str | None = None
    labels: Labels | None = None


class ImageDocker(WireModel):
    name: str


class Image(WireModel):
    type: ImageType
    appc: ImageAppc | None = None
    docker: ImageDocker | None = None
    cached: bool | None = None


class Volume(WireModel):
    """A volume mounted into a container (``source`` is kept as a JSON object)."""

    mode: VolumeMode
    container_path: str
    host_path: str | None = None
    image: Image | None = None
    source: dict[str, object] | None = None


class DiskPersistence(WireModel):
    id: str
    principal: str | None = None


class DiskSourcePath(WireModel):
    """``DiskInfo.Source.Path`` and ``.Mount``: an optional root."""

    root: str | None = None


class DiskSource(WireModel):
    type: DiskSourceType
    path: DiskSourcePath | None = None
    mount: DiskSourcePath | None = None
    vendor: str | None = None
    id: str | None = None
    metadata: Labels | None = None
    profile: str | None = None


class DiskInfo(WireModel):
    persistence: DiskPersistence | None = None
    volume: Volume | None = None
    source: DiskSource | None = None


class Resource(Named):
    """A resource; ``role``/``reservation`` are the pre-refinement (legacy) form."""

    provider_id: ResourceProviderID | None = None
    role: str | None = None
    allocation_info: AllocationInfo | None = None
    reservation: ReservationInfo | None = None
    reservations: list[ReservationInfo] = Field(default_factory=list)
    disk: DiskInfo | None = None
    revocable: dict[str, object] | None = None
    shared: dict[str, object] | None = None


class FaultDomain(WireModel):
    """``{"region": {"name": ...}, "zone": {"name": ...}}`` (kept loosely typed)."""

    region: dict[str, str]
    zone: dict[str, str]


class DomainInfo(WireModel):
    fault_domain: FaultDomain | None = None


class FrameworkCapability(WireModel):
    type: FrameworkCapabilityType | None = None


class FrameworkInfo(WireModel):
    """A framework's identity; ``user`` and ``name`` are required."""

    user: str
    name: str
    id: FrameworkID | None = None
    failover_timeout: Double | None = None
    checkpoint: bool | None = None
    role: str | None = None
    roles: list[str] = Field(default_factory=list)
    hostname: str | None = None
    principal: str | None = None
    webui_url: str | None = None
    capabilities: list[FrameworkCapability] = Field(default_factory=list)
    labels: Labels | None = None
    offer_filters: dict[str, dict[str, object]] = Field(default_factory=dict)

    def has_capability(self, kind: FrameworkCapabilityType) -> bool:
        return any(c.type == kind for c in self.capabilities)


class MasterCapability(WireModel):
    type: MasterCapabilityType | None = None


class MasterInfo(WireModel):
    """The leading master; ``ip`` is the IPv4 address packed in a uint32."""

    id: str
    ip: int
    port: int
    pid: str | None = None
    hostname: str | None = None
    version: str | None = None
    address: Address | None = None
    domain: DomainInfo | None = None
    capabilities: list[MasterCapability] = Field(default_factory=list)


class AgentCapability(WireModel):
    type: AgentCapabilityType | None = None


class AgentInfo(WireModel):
    hostname: str
    port: int | None = None
    resources: list[Resource] = Field(default_factory=list)
    attributes: list[Attribute] = Field(default_factory=list)
    id: AgentID | None = None
    domain: DomainInfo | None = None
