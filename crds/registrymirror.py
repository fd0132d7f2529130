"""RegistryMirror: a highly available Docker registry inside the data center.

Every host pulls images at launch; during a sale launch hundreds pull at once,
so images come from registry replicas near the hosts rather than from the
upstream registry. A RegistryMirror runs ``replicas`` registry containers,
each on a different host (never two on one host, so losing a server loses at
most one replica), and keeps the tags of the listed ``repositories`` identical
on every replica every ``syncIntervalSeconds`` through the Docker Registry HTTP
API v2: an image pushed to any replica appears on all (the primary's digest
wins a tag conflict); with ``upstream`` set the primary also copies from it.
Apps name the mirror's host name (``serves``) in their image references; a
rollout of such an App waits until the image is on every ready replica
(``gateTimeoutSeconds``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from crds.common import AbsolutePath, ImageRef, LabelSelector, MemoryMiB
from crds.meta import DcosModel, PrinterColumn, Resource, Scope, Status
from crds.registry import register

__all__ = ["RegistryMirror", "RegistryMirrorSpec", "RegistryMirrorStatus", "ReplicaStatus"]

_SERVES = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$")
_REPOSITORY_GLOB = re.compile(r"^[a-z0-9*?]([a-z0-9*?._/-]*[a-z0-9*?])?$")


class RegistryMirrorSpec(DcosModel):
    """How many replicas, where they run, and what they copy from where."""

    replicas: int = Field(default=1, ge=1)
    """Registry containers to run, each on a different host."""
    host_selector: LabelSelector = LabelSelector()
    """Hosts eligible for a replica, by label; empty selects every host. At least
    ``replicas`` hosts must match, since no two replicas share a host."""
    image: ImageRef = "registry:2"
    """The registry server image."""
    port: int = Field(default=5000, ge=1, le=65535)
    """Port each replica listens on, on the host's address."""
    storage_path: AbsolutePath = "/data/registry"
    """Directory on the host holding the replica's image layers."""
    upstream: str | None = None
    """URL of a registry the primary also copies from, e.g. https://registry.example.com;
    unset, the replicas only copy from each other."""
    repositories: list[str] = Field(min_length=1)
    """Repositories to copy, by name (shop/cart) or glob (shop/*); "*" copies everything."""
    sync_interval_seconds: int = Field(default=300, ge=10)
    """Seconds between two syncs of the replicas."""
    cpus: float = Field(default=0.5, gt=0)
    """CPU shares of one replica (reserved in each host's system slice)."""
    mem: MemoryMiB = 256
    """Memory of one replica in MiB; "512Mi" is accepted."""
    serves: str | None = None
    """The registry host name (host[:port]) Apps' image references use for this
    mirror, e.g. registry.sh1.example.com:5000; their rollouts wait for the image."""
    gate_timeout_seconds: int = Field(default=300, ge=1)
    """How long a rollout waits for its image on every replica before it fails."""

    @field_validator("serves")
    @classmethod
    def _serves_is_host(cls, value: str | None) -> str | None:
        if value is not None and not _SERVES.fullmatch(value):
            raise ValueError(
                f"serves {value!r} must be a lower-case registry host name with an optional"
                " port, e.g. registry.sh1.example.com:5000"
            )
        return value

    @field_validator("upstream")
    @classmethod
    def _upstream_is_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream {value!r} must be an http:// or https:// URL with a host")
        return value

    @field_validator("repositories")
    @classmethod
    def _repository_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _REPOSITORY_GLOB.fullmatch(name):
                raise ValueError(
                    f"repository {name!r} must be a lower-case repository name or glob (shop/*)"
                )
        return value


class ReplicaStatus(DcosModel):
    """One replica as the last sync saw it."""

    host: str
    """Host running the replica."""
    address: str
    """host:port of its registry API."""
    instance: str | None = None
    """The instance (Mesos task) of the replica App running it."""
    ready: bool = False
    """Answers the registry API."""
    primary: bool = False
    """The replica whose digests win (the first ready one)."""
    missing_tags: int | None = None
    """Tags whose digest differs from the wanted one after the last sync (the lag)."""
    last_sync_time: datetime | None = None
    """When the last sync of this replica finished."""
    error: str | None = None
    """Why the last sync of this replica stopped, when it did."""


class RegistryMirrorStatus(Status):
    """What the RegistryMirror controller observed."""

    ready_replicas: int | None = None
    """Replicas answering the registry API."""
    hosts: list[str] = Field(default_factory=list)
    """Hosts running a replica."""
    last_sync_time: datetime | None = None
    """When the last copy from upstream finished."""
    synced_repositories: int | None = None
    """Repositories copied by the last sync."""
    replicas: list[ReplicaStatus] = Field(default_factory=list)
    """Each replica: host, address, readiness and lag."""


@register
class RegistryMirror(Resource):
    """Registry replicas on distinct hosts, copying repositories from an upstream registry."""

    SCOPE: ClassVar[Scope] = Scope.CLUSTER
    PLURAL: ClassVar[str] = "registrymirrors"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("registrymirror", "rm", "mirror")
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = (
        PrinterColumn(name="REPLICAS", path="spec.replicas"),
        PrinterColumn(name="READY", path="status.readyReplicas"),
        PrinterColumn(name="LAST-SYNC", path="status.lastSyncTime"),
        PrinterColumn(name="UPSTREAM", path="spec.upstream", wide=True),
        PrinterColumn(name="PORT", path="spec.port", wide=True),
    )

    kind: Literal["RegistryMirror"] = "RegistryMirror"
    """Always RegistryMirror."""
    spec: RegistryMirrorSpec
    """How many replicas, where they run, and what they copy from where."""
    status: RegistryMirrorStatus = RegistryMirrorStatus()
    """What the RegistryMirror controller observed."""
